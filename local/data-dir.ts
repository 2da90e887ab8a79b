/**
 * The data directory (`.local/` by default): everything local mode keeps between starts.
 *
 * ```
 * .local/
 *   .crdb-chatops-local    marker: --reset only wipes a directory that has it
 *   config.yaml            the default config, written on first start
 *   secrets.json           SQL users' passwords (FileSecretStore, 0600)
 *   chatops.log            the bot's JSON log (console mode; 0600)
 *   dynamodb/              dynalite's LevelDB (0700)
 *   postgres/              ca.crt, admin-password (0600), postgres.log (0600)
 *     data/                PGDATA (0700), with tls/ and pg_hba.conf (owned by `postgres` when run as root)
 * ```
 *
 * Every file holding a secret or the bot's state is created owner-only (the mode given at open,
 * never a chmod afterwards), so none is readable by others even for a moment; files an earlier
 * version left with a wider mode are narrowed on start.
 *
 * As root, PostgreSQL runs as the `postgres` user, which must be able to traverse every directory
 * down to its data: the directories created here are 0755. Where an ancestor shuts it out (a
 * private clone), `postgres/data` is a symlink to a PGDATA under /var/lib/crdb-chatops
 * (postgres-runtime.ts), which `--reset` removes too.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalModeError } from './errors';
import { removeRelocatedData } from './postgres-runtime';

export interface LocalPaths {
  readonly root: string;
  readonly marker: string;
  readonly config: string;
  readonly secrets: string;
  readonly log: string;
  readonly dynamoDir: string;
  readonly pgDir: string;
  readonly pgData: string;
  readonly pgHba: string;
  readonly pgCa: string;
  readonly pgLog: string;
  readonly pgAdminPassword: string;
}

const MARKER = '.crdb-chatops-local';

export function localPaths(root: string): LocalPaths {
  const pgDir = path.join(root, 'postgres');
  const pgData = path.join(pgDir, 'data');
  return {
    root,
    marker: path.join(root, MARKER),
    config: path.join(root, 'config.yaml'),
    secrets: path.join(root, 'secrets.json'),
    log: path.join(root, 'chatops.log'),
    dynamoDir: path.join(root, 'dynamodb'),
    pgDir,
    pgData,
    // Where startEmbeddedPostgres puts them.
    pgHba: path.join(pgData, 'pg_hba.conf'),
    pgCa: path.join(pgDir, 'ca.crt'),
    pgLog: path.join(pgDir, 'postgres.log'),
    pgAdminPassword: path.join(pgDir, 'admin-password'),
  };
}

async function makeDir(dir: string): Promise<void> {
  if (existsSync(dir)) return;
  await mkdir(dir, { recursive: true });
  // The umask may have narrowed it; PostgreSQL (as `postgres`) must traverse it.
  await chmod(dir, 0o755);
}

/**
 * Creates (or with `reset`, re-creates) the data directory and the embedded cluster's admin
 * password; returns its paths.
 * @throws LocalModeError (`data-dir`) with what to do.
 */
export async function prepareDataDir(root: string, { reset }: { reset: boolean }): Promise<LocalPaths> {
  const paths = localPaths(root);
  if (reset && existsSync(root)) {
    const entries = await readdir(root);
    if (entries.length > 0 && !entries.includes(MARKER)) {
      throw new LocalModeError('data-dir', `refusing to --reset ${root}: local mode did not create it (no ${MARKER} file). Remove it yourself or choose another --data-dir.`);
    }
    const running = await runningPostmaster(paths.pgData);
    if (running !== undefined) throw new LocalModeError('data-dir', `refusing to --reset ${root}: its PostgreSQL is running (pid ${running}); stop that npm start first.`);
    await removeRelocatedData(paths.pgData);
    await rm(root, { recursive: true, force: true });
  }
  try {
    await makeDir(root);
    if (!existsSync(paths.marker)) await writeFile(paths.marker, 'Data of crdb-chatops local mode (npm start). `npm start -- --reset` wipes this directory.\n');
    await makeDir(paths.pgDir);
  } catch (error) {
    throw new LocalModeError('data-dir', `cannot create the data directory ${root}: ${(error as Error).message}`, { cause: error });
  }
  if (!existsSync(paths.pgAdminPassword)) {
    await writeFile(paths.pgAdminPassword, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  }
  await chmod(paths.pgAdminPassword, 0o600);
  if (existsSync(paths.log)) await chmod(paths.log, 0o600);
  return paths;
}

export async function readAdminPassword(paths: LocalPaths): Promise<string> {
  return (await readFile(paths.pgAdminPassword, 'utf8')).trim();
}

/** The pid in a PostgreSQL data directory's `postmaster.pid`, when that process is alive. */
export async function runningPostmaster(pgData: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(pgData, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}
