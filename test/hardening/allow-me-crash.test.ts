/**
 * `allow me` survives a kill -9 at each step boundary of its confirmation: `npm start --
 * --headless` SIGKILLs itself (`CHATOPS_TEST_CRASH_AT`) right after the link is marked used
 * (`link:used`: nothing requested yet) and right after the request is written (`link:requested`:
 * the link does not name it yet). Started again on the same data directory, the same Confirm from
 * the same address finishes the confirmation into exactly one request, which is approved, applied
 * to pg_hba.conf, and heard of by its requester. Nothing is left half made: no link used without
 * its request once the flow is done, no request twice.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SlackDriver, SlackWebApiServer } from '../../stand-ins/slack';
import { APPROVERS_CHANNEL, GENERAL_CHANNEL, LOCAL_BOT, LOCAL_USERS } from '../../local/workspace';
import { messageText } from '../support/app-harness';
import { freePort } from '../support/global-setup';
import { freshDataDir, LocalProcess } from '../support/local-process';
import { confirmForm, waitUntil } from '../support/observe';
import { runningPostmaster } from '../../local/data-dir';

const SIGNING_SECRET = 'test-signing-secret-allow-me-crash';
const BOT_TOKEN = 'xoxb-test-allow-me-crash';
const DEV = 'U0LOCALDEV';
const APPROVER = 'U0APPROVER';

let slack: SlackWebApiServer;
let data: { dir: string; remove(): Promise<void> };
let ports: { port: number; pg: number; dynamo: number };
const running: LocalProcess[] = [];

beforeAll(async () => {
  slack = new SlackWebApiServer({ bot: { ...LOCAL_BOT, token: BOT_TOKEN }, users: LOCAL_USERS, channels: [GENERAL_CHANNEL, APPROVERS_CHANNEL] });
  await slack.start();
  data = await freshDataDir();
  ports = { port: await freePort(), pg: await freePort(), dynamo: await freePort() };
});

afterAll(async () => {
  for (const local of running) {
    try {
      local.signalGroup('SIGKILL');
    } catch {
      // Already gone.
    }
    await local.exited;
  }
  await slack.stop();
  await data.remove();
});

function start(crashAt?: string): LocalProcess {
  const local = LocalProcess.start({
    args: ['--headless', '--data-dir', data.dir, '--pg-port', String(ports.pg), '--dynamo-port', String(ports.dynamo)],
    env: { PORT: String(ports.port), SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slack.apiUrl, ...(crashAt ? { CHATOPS_TEST_CRASH_AT: crashAt } : {}) },
  });
  running.push(local);
  return local;
}

async function ready(local: LocalProcess): Promise<void> {
  await local.waitFor(/"event":"local\.ready"/, { timeoutMs: 60_000 });
}

const driver = (): SlackDriver => new SlackDriver({ server: slack, signingSecret: SIGNING_SECRET, target: { kind: 'http', url: `http://127.0.0.1:${ports.port}/slack/events` } });

/** `/crdb allow me …` as dev: the link's path and the command's response_url id. */
async function link(text: string): Promise<{ path: string; responseUrlId: string | undefined }> {
  const result = await driver().slashCommand({ user: DEV, text, channel: GENERAL_CHANNEL.id });
  const match = /\/allow-me\/[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}/.exec(messageText(result.response.json<{ text?: string; blocks?: unknown[] }>()));
  if (match === null) throw new Error('no link in the ack');
  return { path: match[0], responseUrlId: result.responseUrlId };
}

async function page(pathname: string, form?: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${ports.port}${pathname}`, form === undefined ? {} : { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  return { status: response.status, body: await response.text() };
}

const hba = (): Promise<string> => readFile(path.join(data.dir, 'postgres', 'data', 'pg_hba.conf'), 'utf8');

describe('allow me: kill -9 during a confirmation, then start again', () => {
  it.each(['link:used', 'link:requested'])('finishes a confirmation killed at %s into one request, applied and heard of', async (crashAt) => {
    const suffix = crashAt === 'link:used' ? 'used' : 'requested';
    const first = start(crashAt);
    await ready(first);
    const { path: linkPath, responseUrlId } = await link(`allow me --cluster local --for 1h --reason "crash at ${suffix}"`);
    const shown = await page(linkPath);
    expect(shown.status).toBe(200);
    // The Confirm that kills the process: no answer comes back.
    await expect(page(linkPath, confirmForm(shown.body))).rejects.toThrow();
    const exit = await first.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(first.output).toContain(`"step":"${crashAt}"`);
    // A dead container takes its PostgreSQL with it: the rest of the process group goes too.
    try {
      first.signalGroup('SIGKILL');
    } catch {
      // Already gone.
    }
    await waitUntil('the killed run\'s PostgreSQL to exit', async () => ((await runningPostmaster(path.join(data.dir, 'postgres', 'data'))) === undefined ? true : undefined));

    const second = start();
    await ready(second);
    // The same Confirm from the same address resumes; a stranger's address would not.
    const resumed = await page(linkPath, confirmForm(shown.body));
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatch(crashAt === 'link:used' ? /127\.0\.0\.1\/32 needs an approval on local/ : /Already requested/);
    const again = await page(linkPath, confirmForm(shown.body));
    expect(again.status).toBe(410);

    // One card for this link's request, approved; the entry reaches pg_hba.conf; the requester hears it.
    // The restart's reconciler and the resumed Confirm both drive the request: if both post a card,
    // the first recorded stays and the other is deleted at once. Wait until one card has stood alone
    // for a second, then click it.
    const liveCards = () => slack.messages(APPROVERS_CHANNEL.id).filter((m) => !m.thread_ts && messageText(m).includes(`crash at ${suffix}`));
    let standing: { ts: string; since: number } | undefined;
    const card = await waitUntil('one standing approval card', () => {
      const cards = liveCards();
      const [only] = cards;
      if (cards.length !== 1 || only === undefined) return (standing = undefined);
      if (standing?.ts !== only.ts) standing = { ts: only.ts, since: Date.now() };
      return Date.now() - standing.since >= 1_000 ? only : undefined;
    });
    expect(liveCards()).toHaveLength(1);
    await driver().clickButton({ user: APPROVER, message: card, actionId: 'crdb_approve' });
    await waitUntil('the pg_hba.conf rule', async () => ((await hba()).match(/hostssl all all 127\.0\.0\.1\/32 scram-sha-256 # crdb-chatops/) ? true : undefined));
    await waitUntil('"You can connect now"', () =>
      responseUrlId !== undefined && slack.responses(responseUrlId).some((r) => /127\.0\.0\.1\/32.*You can connect now/s.test(messageText(r.body))) ? true : undefined,
    );

    // Revoked again, so the next case starts from an allowlist without it.
    await driver().slashCommand({ user: DEV, text: 'revoke 127.0.0.1/32 --cluster local', channel: GENERAL_CHANNEL.id });
    await waitUntil('the rule removed', async () => (!/hostssl all all 127\.0\.0\.1\/32/.test(await hba()) ? true : undefined));
    second.signal('SIGTERM');
    await expect(second.exited).resolves.toEqual({ code: 0, signal: null });
  }, 180_000);
});
