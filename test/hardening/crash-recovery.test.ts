/**
 * Nothing acked is lost: `npm start -- --headless` killed with SIGKILL at the step boundaries of
 * allow, revoke, user create/rotate/delete, extend and approval, and started again on the same data
 * directory, finishes every request, and every requester hears how it ended.
 *
 * Each crash is a real kill -9 of a real child process: `CHATOPS_TEST_CRASH_AT=<step>` makes local
 * mode SIGKILL itself at the first boundary of that name a request made in this run reaches
 * (never in use; see local/local-mode.ts), and the test then kills the rest of its process group
 * (PostgreSQL) too, as a container's death would. Nothing unwinds, no finally runs. Restarts
 * recover what the last run left (every open request is driven on at start), while the next
 * crash waits at its own boundary.
 *
 * At the end, against the files, the table and PostgreSQL themselves: every request is final and
 * its requester was told; the bot's users, their secrets and their records are the same set (no
 * user without a secret, no secret without a user); the managed pg_hba.conf lines and the entry
 * records are the same set; a name whose request crashed can be created again; and every DM
 * that carries a password is recorded for deletion.
 *
 * Network plays: this file's rules name only 127.0.0.91–127.0.0.95.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { parseHba } from '../../lib/cluster-admin/sql/hba';
import { DynamoRequestStore } from '../../lib/requests/dynamo-store';
import { type ChatRequest } from '../../lib/requests/types';
import { SlackDriver, SlackWebApiServer } from '../../stand-ins/slack';
import { localPaths } from '../../local/data-dir';
import { renderDefaultConfig } from '../../local/default-config';
import { APPROVERS_CHANNEL, LOCAL_BOT } from '../../local/workspace';
import { messageText } from '../support/app-harness';
import { freePort } from '../support/global-setup';
import { freshDataDir, LocalProcess } from '../support/local-process';
import { waitUntil } from '../support/observe';
import { printFigures } from './support';

const SIGNING_SECRET = 'test-signing-secret-crash-suite';
const BOT_TOKEN = 'xoxb-test-crash-suite-token';
const DEV = 'U0LOCALDEV';
const APPROVER = 'U0APPROVER';

interface Cycle {
  /** The step boundary the process is killed at. */
  readonly crashAt: string;
  /** What is asked of the bot in that run. */
  readonly act: (world: World) => Promise<void>;
}

interface World {
  readonly driver: SlackDriver;
  readonly slack: SlackWebApiServer;
  command(text: string): Promise<void>;
  approve(cidr: string): Promise<void>;
  approveExtension(cidr: string): Promise<void>;
}

const figures: Record<string, number | string> = {};
let slack: SlackWebApiServer;
let data: { dir: string; remove(): Promise<void> };
let ports: { port: number; pg: number; dynamo: number };
let store: DynamoRequestStore;
const running: LocalProcess[] = [];

function start(crashAt?: string): LocalProcess {
  const local = LocalProcess.start({
    args: ['--headless', '--data-dir', data.dir, '--pg-port', String(ports.pg), '--dynamo-port', String(ports.dynamo)],
    env: {
      PORT: String(ports.port),
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_API_URL: slack.apiUrl,
      ...(crashAt !== undefined ? { CHATOPS_TEST_CRASH_AT: crashAt } : {}),
    },
  });
  running.push(local);
  return local;
}

/** Kills what is left of a run's process group (PostgreSQL survives its parent's SIGKILL). */
function killGroup(local: LocalProcess): void {
  try {
    if (local.child.pid !== undefined) process.kill(-local.child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

async function ready(local: LocalProcess): Promise<void> {
  await local.waitFor(/"event":"local\.ready"/, { timeoutMs: 60_000 });
}

/** Waits up to a minute: a restarted run drives every open request on first. */
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => waitUntil(what, probe, { timeoutMs });

function world(): World {
  const driver = new SlackDriver({ server: slack, signingSecret: SIGNING_SECRET, target: { kind: 'http', url: `http://127.0.0.1:${ports.port}/slack/events` } });
  return {
    driver,
    slack,
    // The process may die before it answers (the crash is right after the durable write).
    command: async (text) => {
      await driver.slashCommand({ user: DEV, text }).catch(() => undefined);
    },
    approve: async (cidr) => {
      // The card as the request records it (a click on a card posted but not yet recorded is refused).
      const recorded = await until(`the card of ${cidr}`, async () => (await allRequests()).find((r) => r.params.kind === 'allow' && r.params.allow.cidr === `${cidr}/32` && r.card !== undefined)?.card);
      const card = await until(`the card message of ${cidr}`, () => Promise.resolve(slack.messages(recorded.channel).find((m) => m.ts === recorded.ts)));
      await driver.clickButton({ user: APPROVER, message: card, actionId: 'crdb_approve' }).catch(() => undefined);
    },
    approveExtension: async (cidr) => {
      const recorded = await until(`the card of the extension of ${cidr}`, async () =>
        (await allRequests()).find((r) => r.params.kind === 'extend' && r.params.extend.subject.type === 'entry' && r.params.extend.subject.cidr === cidr && r.card !== undefined)?.card,
      );
      const card = await until(`the card message of the extension of ${cidr}`, () => Promise.resolve(slack.messages(recorded.channel).find((m) => m.ts === recorded.ts)));
      await driver.clickButton({ user: APPROVER, message: card, actionId: 'crdb_approve' }).catch(() => undefined);
    },
  };
}

/** One run that is killed at `crashAt` while doing `act`. */
async function crashRun({ crashAt, act }: Cycle): Promise<void> {
  const local = start(crashAt);
  try {
    await ready(local);
    await act(world());
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([local.exited, new Promise<'alive'>((r) => (timer = setTimeout(() => r('alive'), 30_000)))]);
    clearTimeout(timer);
    if (exit === 'alive') throw new Error(`the run did not crash at ${crashAt}\n${local.tail()}`);
    expect(local.output).toContain(`"step":"${crashAt}"`);
  } finally {
    killGroup(local);
    await local.exited;
  }
}

async function allRequests(): Promise<ChatRequest[]> {
  return store.listByRequester(DEV, 1_000);
}

/** A clean run that drives on whatever was left, until nothing is open; then stops with SIGTERM. */
async function recoverRun(): Promise<void> {
  const local = start();
  try {
    await ready(local);
    let unfinished = '';
    await until(
      'every request to be final and told',
      async () => {
        const requests = await allRequests();
        const open = requests.filter((r) => !['applied', 'failed', 'denied', 'expired', 'refused'].includes(r.status) || r.step !== 'told');
        unfinished = open.map((r) => `${r.id} ${r.params.kind} ${r.status} ${r.step ?? ''} due ${r.dueAt ?? '-'}`).join('; ');
        return open.length === 0 ? requests : undefined;
      },
      90_000,
    ).catch(async (error: unknown) => {
      // What the run said about the requests left open: enough to tell a lost job from a stuck one.
      const ids = unfinished.split('; ').map((u) => u.split(' ')[0] ?? '').filter(Boolean);
      const said = local.output
        .split('\n')
        .filter((line) => ids.some((id) => line.includes(id)) || /local\.(recovered|reconciled|schedule-failed|ready)|"level":"(error|fatal)"/.test(line))
        .slice(-25)
        .join('\n');
      const due = (await store.listDue(new Date(Date.now() + 365 * 86_400_000))).map((r) => `${r.id} ${r.status} ${r.dueAt ?? ''}`);
      const base = await Promise.all(ids.map(async (id) => JSON.stringify(await store.getRequest(id))));
      throw new Error(`${error instanceof Error ? error.message : String(error)}; unfinished: ${unfinished}\n${said}\nOPEN index: ${due.join(', ')}\nbase items: ${base.join('\n')}`);
    });
    local.signal('SIGTERM');
    await local.exited;
  } finally {
    killGroup(local);
    await local.exited;
  }
}

const createAndAllow: Cycle[] = [
  { crashAt: 'intake:written', act: (w) => w.command('user create crash_intake') },
  { crashAt: 'admitted', act: (w) => w.command('user create crash_admitted') },
  { crashAt: 'applying', act: (w) => w.command('user create crash_applying') },
  { crashAt: 'user-create:secret-written', act: (w) => w.command('user create crash_secret') },
  { crashAt: 'user-create:user-created', act: (w) => w.command('user create crash_created') },
  {
    crashAt: 'told',
    act: async (w) => {
      await w.command('user create crash_told');
      // A temporary user for the extension below; told (or crashed at told, and recovered) alike.
      await w.command('user create crash_temp --for 1d');
    },
  },
  {
    crashAt: 'decision:written',
    act: async (w) => {
      await w.command('allow 127.0.0.91');
      await w.approve('127.0.0.91');
    },
  },
  {
    crashAt: 'allow:entry-upserted',
    act: async (w) => {
      await w.command('allow 127.0.0.92');
      await w.approve('127.0.0.92');
    },
  },
  {
    crashAt: 'allow:progress-told',
    act: async (w) => {
      await w.command('allow 127.0.0.93 --for 1d');
      await w.approve('127.0.0.93');
    },
  },
];

const changeAndRemove: Cycle[] = [
  { crashAt: 'user-rotate:secret-written', act: (w) => w.command('user rotate crash_created') },
  { crashAt: 'user-rotate:password-set', act: (w) => w.command('user rotate crash_secret') },
  { crashAt: 'user-delete:user-dropped', act: (w) => w.command('user delete crash_told') },
  { crashAt: 'user-delete:record-deleted', act: (w) => w.command('user delete crash_applying') },
  { crashAt: 'revoke:entry-removed', act: (w) => w.command('revoke 127.0.0.92/32') },
  // Extensions: the user's VALID UNTIL is moved, then its record; an entry's record alone.
  { crashAt: 'extend:cluster-updated', act: (w) => w.command('user extend crash_temp --for 3d') },
  {
    crashAt: 'extend:recorded',
    act: async (w) => {
      await w.command('extend 127.0.0.93/32 --for 2d');
      // Single hosts need an approval in the default config, so keeping one longer does too.
      await w.approveExtension('127.0.0.93/32');
    },
  },
];

beforeAll(async () => {
  slack = new SlackWebApiServer({ bot: { ...LOCAL_BOT, token: BOT_TOKEN }, channels: [{ id: APPROVERS_CHANNEL.id, name: APPROVERS_CHANNEL.name }] });
  await slack.start();
  data = await freshDataDir();
  ports = { port: await freePort(), pg: await freePort(), dynamo: await freePort() };
  // The default config, with room for this suite's twenty-odd requests from one person.
  const paths = localPaths(data.dir);
  await mkdir(path.dirname(paths.config), { recursive: true });
  const config = renderDefaultConfig({ paths, pgPort: ports.pg, dynamoPort: ports.dynamo }).replace(/^requests:\n/m, 'requests:\n  rateLimit: { max: 100, window: 10m, maxPending: 100 }\n');
  if (!config.includes('rateLimit')) throw new Error('the default config has no requests: section to extend');
  await writeFile(paths.config, config);
});

afterAll(async () => {
  for (const local of running) {
    killGroup(local);
    await local.exited;
  }
  store?.close();
  await slack.stop();
  await data.remove();
  printFigures('crash recovery (kill -9 of npm start -- --headless)', figures);
});

describe('crash recovery: kill -9 at every step boundary, then start again', () => {
  it('finishes every acked request and tells its requester, leaving nothing half made', async () => {
    store = new DynamoRequestStore({
      client: { endpoint: `http://127.0.0.1:${ports.dynamo}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } },
      tableName: 'crdb-chatops',
    });
    for (const cycle of createAndAllow) await crashRun(cycle);
    await recoverRun();
    for (const cycle of changeAndRemove) await crashRun(cycle);
    await recoverRun();

    // A name whose create and delete were both cut short can be created again (no blocked name).
    const local = start();
    try {
      await ready(local);
      await world().command('user create crash_told');
      await until('the re-created user', async () => {
        const latest = (await allRequests()).find((r) => r.params.kind === 'user-create' && r.params.userCreate.user === 'crash_told' && r.step === 'told' && Date.parse(r.createdAt) > Date.now() - 120_000 && r.status === 'applied');
        return latest;
      });
      local.signal('SIGTERM');
      await local.exited;
    } finally {
      killGroup(local);
      await local.exited;
    }

    // Users, secrets and records: one set.
    const password = (await readFile(path.join(data.dir, 'postgres', 'admin-password'), 'utf8')).trim();
    const ca = await readFile(path.join(data.dir, 'postgres', 'ca.crt'), 'utf8');
    const pg = new Client({ host: '127.0.0.1', port: ports.pg, user: 'postgres', password, database: 'defaultdb', ssl: { ca, servername: 'localhost' } });
    const roles: string[] = [];
    const local2 = start();
    try {
      await ready(local2);
      const requests = await allRequests();
      figures['crash points (step boundaries killed at)'] = createAndAllow.length + changeAndRemove.length;
      figures['requests acked'] = requests.length;
      figures['requests applied / failed'] = `${requests.filter((r) => r.status === 'applied').length} / ${requests.filter((r) => r.status === 'failed').length}`;

      // Every request is final, its requester told; each outcome reached the requester in Slack.
      expect(requests.filter((r) => r.step !== 'told' || !['applied', 'failed'].includes(r.status)).map((r) => `${r.id} ${r.status} ${r.step ?? ''}`)).toEqual([]);
      expect(requests.map((r) => r.status)).not.toContain('failed');
      const heard = [...slack.messages(slack.dmChannelFor(DEV), { includeDeleted: true }), ...slack.responses().filter((p) => p.status === 200).map((p) => p.body as { text?: string; blocks?: unknown[] })].map((m) => messageText(m)).join('\n');
      for (const request of requests) {
        const subject = request.params.kind === 'allow' ? request.params.allow.cidr : request.params.kind === 'revoke' ? request.params.revoke.cidr : request.params.kind === 'user-create' ? request.params.userCreate.user : request.params.kind === 'extend' ? (request.params.extend.subject.type === 'entry' ? request.params.extend.subject.cidr : request.params.extend.subject.user) : request.params.user.user;
        expect(heard).toContain(subject);
      }

      await pg.connect();
      roles.push(...(await pg.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE 'crash\\_%' ORDER BY rolname")).rows.map((r) => r.rolname));
      await pg.end();
      const secrets = JSON.parse(await readFile(path.join(data.dir, 'secrets.json'), 'utf8')) as { secrets?: Record<string, { deletedAt?: string }> };
      const liveSecrets = Object.entries(secrets.secrets ?? {})
        .filter(([name, s]) => name.startsWith('crdb-chatops/local/crash_') && s.deletedAt === undefined)
        .map(([name]) => name.replace('crdb-chatops/local/', ''))
        .sort();
      const records = (await store.listManagedUsers('local')).map((u) => u.user).filter((u) => u.startsWith('crash_')).sort();
      expect(roles).toEqual(['crash_admitted', 'crash_created', 'crash_intake', 'crash_secret', 'crash_temp', 'crash_told']);
      expect(liveSecrets).toEqual(roles);
      expect(records).toEqual(roles);
      figures['users / secrets / records (crash_*)'] = `${roles.length} / ${liveSecrets.length} / ${records.length}`;

      // The extensions cut short were finished: the user's VALID UNTIL and its record agree, about
      // three days out; the entry's record is about two days out.
      const pg2 = new Client({ host: '127.0.0.1', port: ports.pg, user: 'postgres', password, database: 'defaultdb', ssl: { ca, servername: 'localhost' } });
      await pg2.connect();
      const until3d = (await pg2.query<{ until: Date | null }>("SELECT rolvaliduntil AS until FROM pg_roles WHERE rolname = 'crash_temp'")).rows[0]?.until?.getTime() ?? 0;
      await pg2.end();
      const tempRecord = Date.parse((await store.getManagedUser('local', 'crash_temp'))?.expiresAt ?? '');
      expect(until3d).toBeGreaterThan(Date.now() + 2.9 * 86_400_000);
      expect(Math.abs(until3d - tempRecord)).toBeLessThan(60_000);
      expect(Date.parse((await store.getManagedEntry('local', '127.0.0.93/32'))?.expiresAt ?? '')).toBeGreaterThan(Date.now() + 1.9 * 86_400_000);

      // Allowlist lines and entry records: one set.
      const hba = parseHba(await readFile(path.join(data.dir, 'postgres', 'data', 'pg_hba.conf'), 'utf8'));
      const lines = hba.managed.map((e) => e.cidr).filter((c) => c.startsWith('127.0.0.9')).sort();
      const entryRecords = (await store.listManagedEntries('local')).map((e) => e.cidr).filter((c) => c.startsWith('127.0.0.9')).sort();
      expect(lines).toEqual(['127.0.0.91/32', '127.0.0.93/32']);
      expect(entryRecords).toEqual(lines);

      // Every live DM that carries a password is recorded for deletion.
      const receipts = await store.listDueDmReceipts(new Date(Date.now() + 365 * 86_400_000));
      const recorded = new Set(receipts.map((r) => `${r.channel} ${r.ts}`));
      // A DM whose URL carries a password (the formats in its thread carry the `PASSWORD` placeholder).
      const passwordDms = slack.messages(slack.dmChannelFor(DEV)).filter((m) => /postgresql:\/\/[^:\s]+:(?!PASSWORD@)[^@\s]+@/.test(messageText(m)));
      expect(passwordDms.length).toBeGreaterThan(0);
      expect(passwordDms.filter((m) => !recorded.has(`${m.channel} ${m.ts}`)).map((m) => m.ts)).toEqual([]);
      figures['password DMs live / recorded for deletion'] = `${passwordDms.length} / ${passwordDms.filter((m) => recorded.has(`${m.channel} ${m.ts}`)).length}`;
      local2.signal('SIGTERM');
      await local2.exited;
    } finally {
      killGroup(local2);
      await local2.exited;
    }
  }, 600_000);
});
