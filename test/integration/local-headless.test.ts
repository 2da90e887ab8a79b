/**
 * `npm start -- --headless`: no console; another tool plays Slack (here: this test's own
 * `SlackWebApiServer` and a `SlackDriver` over HTTP, with the credentials given in the
 * environment). Also the one-line errors a newcomer meets first.
 */
import { createServer, type Server } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { localPaths } from '../../local/data-dir';
import { renderDefaultConfig } from '../../local/default-config';
import { SlackDriver, SlackWebApiServer } from '../../local/slack-emulator';
import { freePort } from '../support/global-setup';
import { freshDataDir, LocalProcess } from '../support/local-process';

const SIGNING_SECRET = 'test-signing-secret-headless';
const BOT_TOKEN = 'xoxb-test-headless-token';

const processes: LocalProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function dataDir(): Promise<string> {
  const data = await freshDataDir();
  cleanups.push(data.remove);
  return data.dir;
}

function start(args: string[], env: Record<string, string>): LocalProcess {
  const child = LocalProcess.start({ args, env });
  processes.push(child);
  return child;
}

describe('npm start -- --headless', () => {
  it('serves signed slash commands over HTTP, logs JSON lines, and exits 0 on SIGTERM', async () => {
    const slack = new SlackWebApiServer({ bot: { token: BOT_TOKEN, userId: 'U0CRDBBOT', botId: 'B0CRDBBOT' } });
    await slack.start();
    cleanups.push(() => slack.stop());
    const [port, pgPort, dynamoPort] = [await freePort(), await freePort(), await freePort()];
    const local = start(['--headless', '--data-dir', await dataDir(), '--pg-port', String(pgPort), '--dynamo-port', String(dynamoPort)], {
      PORT: String(port),
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_API_URL: slack.apiUrl,
    });

    const ready = JSON.parse((await local.waitFor(/^\{.*"event":"local\.ready".*\}$/m, { timeoutMs: 45_000 }))[0]) as { endpoint: string; slackApiUrl: string; mode: string };
    expect(ready).toMatchObject({ mode: 'headless', endpoint: `http://localhost:${port}/slack/events`, slackApiUrl: slack.apiUrl });

    const driver = new SlackDriver({ server: slack, signingSecret: SIGNING_SECRET, target: { kind: 'http', url: `http://127.0.0.1:${port}/slack/events` } });
    const result = await driver.slashCommand({ user: 'U0LOCALDEV', text: 'check 127.0.0.1' });
    expect(result.response.statusCode).toBe(200);
    expect(result.acknowledged).toBe(true);
    expect(result.response.body).toMatch(/Looking up whether `127\.0\.0\.1` is allowed on `local`/);
    // The worker answers through the response_url, from the embedded cluster's real pg_hba.conf.
    const answered = async (): Promise<string> => {
      for (let i = 0; i < 200; i++) {
        const posts = slack.responses(result.responseUrlId).filter((p) => p.status === 200);
        if (posts.length > 0) return JSON.stringify(posts.map((p) => p.body));
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no response_url answer\n${local.tail()}`);
    };
    expect(await answered()).toMatch(/`127\.0\.0\.1` is \*not\* allowed on `local`/);

    // Signed with another secret: refused by the Lambda handler's gate, before Bolt.
    const forged = driver.buildSlashCommand({ user: 'U0LOCALDEV', text: 'allow 127.0.0.1' }).request;
    expect((await driver.send({ ...forged, headers: { ...forged.headers, 'X-Slack-Signature': `v0=${'0'.repeat(64)}` } })).statusCode).toBe(401);

    const stopping = Date.now();
    local.signal('SIGTERM');
    await expect(local.exited).resolves.toEqual({ code: 0, signal: null });
    expect(Date.now() - stopping).toBeLessThan(5_000);
    const lines = local.output.trim().split('\n');
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(lines.at(-1)).toMatch(/"event":"local\.stopped"/);
    expect(local.output).not.toContain(SIGNING_SECRET);
    expect(local.output).not.toContain(BOT_TOKEN);
  }, 60_000);
});

describe('one-line start-up errors', () => {
  it('names the port in use and how to choose another', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const local = start(['--headless', '--data-dir', await dataDir()], { PORT: String(port) });
    await expect(local.exited).resolves.toEqual({ code: 1, signal: null });
    expect(local.errors).toBe(`crdb-chatops: port ${port} is in use: the Slack endpoint needs it. Choose another with PORT=<port> npm start.\n`);
  });

  it('names the bad config key', async () => {
    const dir = await dataDir();
    const config = path.join(path.dirname(dir), 'bad.yaml');
    const good = renderDefaultConfig({ paths: localPaths(dir), pgPort: await freePort(), dynamoPort: await freePort() });
    await writeFile(config, good.replace('autoApproveSingleHost: false', 'maxFor: 2 weeks'));
    const local = start(['--headless', '--data-dir', dir], { CHATOPS_CONFIG: config, PORT: String(await freePort()) });
    await expect(local.exited).resolves.toEqual({ code: 1, signal: null });
    expect(local.errors).toBe('crdb-chatops: config: clusters.0.policy.maxFor: "2 weeks" is not a duration like 30m, 8h or 7d\n');
  });

  it('says why the embedded PostgreSQL did not start, and where its log is', async () => {
    const dir = await dataDir();
    // A data directory that claims to be initialised but is not.
    await mkdir(path.join(dir, 'postgres', 'data'), { recursive: true });
    await writeFile(path.join(dir, 'postgres', 'data', 'PG_VERSION'), '17\n');
    const [pgPort, dynamoPort] = [await freePort(), await freePort()];
    const local = start(['--headless', '--data-dir', dir, '--pg-port', String(pgPort), '--dynamo-port', String(dynamoPort)], { PORT: String(await freePort()) });
    await expect(local.exited).resolves.toEqual({ code: 1, signal: null });
    expect(local.errors).toBe(
      `crdb-chatops: Embedded PostgreSQL on port ${pgPort} failed to start: postgres: could not access the server configuration file "${path.join(dir, 'postgres', 'data', 'postgresql.conf')}": No such file or directory (log: ${path.join(dir, 'postgres', 'postgres.log')})\n`,
    );
  });
});
