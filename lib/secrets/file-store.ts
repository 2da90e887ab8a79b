/**
 * `SecretStore` in one local JSON file, for local mode (`npm start`). Same contract as the AWS
 * adapter: tags, create-exists, idempotency keys, scheduled deletion with a recovery window,
 * restore, and the purge of secrets whose window has passed.
 *
 * Protection of the file:
 * - written with mode 0600 (owner only), its directory created 0700 when missing;
 * - a file that group or others may access is REFUSED (`SecretAccessDeniedError` naming the
 *   `chmod 600` fix), the way ssh refuses an unprotected private key: silently fixing the mode
 *   would hide that the passwords were already exposed. Not checked on Windows (no POSIX modes).
 *
 * Durability and concurrency:
 * - every write replaces the file atomically: a temp file in the same directory, created
 *   exclusively (O_EXCL) with mode 0600 at open so it is never readable by others even for a
 *   moment, fsync, rename over the original, then a best-effort fsync of the directory. A crash or
 *   a failed write leaves the previous file whole, never a partial one;
 * - a crash (kill -9, power loss) between creating the temp file and renaming it leaves that temp
 *   file behind, holding every secret. When a store is opened (constructed) it removes the
 *   leftover temp files of its file: those of a process that is gone, of this process when no
 *   write of it is in flight, and any older than 5 minutes. The previous file is intact (the
 *   rename never happened), so nothing is lost;
 * - writes are serialised within the process (a promise chain), each one re-reading the file, so
 *   concurrent creates do not lose each other's updates;
 * - there is NO cross-process lock: two processes writing the same file at once may lose an
 *   update (last rename wins). Local mode runs one bot process per file; use AWS otherwise.
 */
import { randomUUID } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rename as fsRename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Logger, silentLogger } from '../log';
import { DAY_MS, idempotencyToken, resolveDeletion, toDatabaseSecret, valueFingerprint } from './common';
import { SecretAccessDeniedError, SecretExistsError, SecretNotFoundError, SecretStoreBackendError, SecretStoreError } from './errors';
import {
  assertValidSecretName,
  type CreateSecretOptions,
  type DatabaseSecret,
  type DeleteSecretOptions,
  type PutSecretOptions,
  type SecretStore,
  type SecretSummary,
  secretTagRecord,
} from './types';

export interface FileSecretStoreOptions {
  /** The JSON file; created (with its directory) on the first write. */
  readonly path: string;
  readonly logger?: Logger;
  /** The clock that starts and ends recovery windows; tests move it forward. */
  readonly now?: () => Date;
  /** The rename that commits a write. A seam for tests, which make it fail to simulate a crash. */
  readonly rename?: (from: string, to: string) => Promise<void>;
}

const FORMAT = 'crdb-chatops-secrets/1';
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Fingerprints of recent versions kept per secret, to recognise retried writes. */
const MAX_VERSIONS = 20;
/** A temp file this old is a leftover even if its writer's pid is alive (reused): no write takes this long. */
const LEFTOVER_AGE_MS = 5 * 60_000;
/** Temp files of writes in flight in this process, by every store instance: never leftovers. */
const IN_FLIGHT = new Set<string>();

interface StoredVersion {
  readonly id: string;
  /** SHA-256 of the value: enough to tell a retry from a conflict without keeping old passwords. */
  readonly fingerprint: string;
}

interface StoredSecret {
  value: DatabaseSecret;
  tags: Record<string, string>;
  description?: string;
  createdAt: string;
  updatedAt: string;
  versions: StoredVersion[];
  /** When deletion was requested. */
  deletedAt?: string;
  /** When the recovery window ends and the entry is purged. */
  purgeAt?: string;
}

interface StoredFile {
  format: typeof FORMAT;
  secrets: Record<string, StoredSecret>;
}

export class FileSecretStore implements SecretStore {
  private readonly path: string;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly rename: (from: string, to: string) => Promise<void>;
  /** Tail of the write queue; never rejects, so one failed write does not block the next. */
  private tail: Promise<void> = Promise.resolve();
  /** The removal of leftover temp files, started on open; every read and write waits for it. */
  private readonly opened: Promise<void>;

  constructor({ path, logger = silentLogger(), now = () => new Date(), rename = fsRename }: FileSecretStoreOptions) {
    this.path = path;
    this.logger = logger;
    this.now = now;
    this.rename = rename;
    this.opened = this.removeLeftoverTempFiles();
  }

  async create(name: string, value: DatabaseSecret, { tags, description, idempotencyKey }: CreateSecretOptions): Promise<void> {
    assertValidSecretName(name);
    const secret = toDatabaseSecret(value, name);
    const version = { id: idempotencyKey === undefined ? randomUUID() : idempotencyToken('create', name, idempotencyKey), fingerprint: valueFingerprint(secret) };
    await this.update((secrets, now) => {
      const existing = secrets[name];
      if (existing !== undefined) {
        if (existing.deletedAt !== undefined) {
          throw new SecretExistsError(`Secret ${name} already exists and is scheduled for deletion: restore it or wait until it is purged.`, true);
        }
        if (idempotencyKey !== undefined && isRetry(existing, version, name)) return false;
        throw new SecretExistsError(`Could not create secret ${name}: it already exists.`);
      }
      const at = now.toISOString();
      secrets[name] = {
        value: secret,
        tags: secretTagRecord(tags),
        ...(description !== undefined && { description }),
        createdAt: at,
        updatedAt: at,
        versions: [version],
      };
      return true;
    });
  }

  async put(name: string, value: DatabaseSecret, { idempotencyKey }: PutSecretOptions = {}): Promise<void> {
    assertValidSecretName(name);
    const secret = toDatabaseSecret(value, name);
    const version = { id: idempotencyKey === undefined ? randomUUID() : idempotencyToken('put', name, idempotencyKey), fingerprint: valueFingerprint(secret) };
    await this.update((secrets, now) => {
      const existing = secrets[name];
      if (existing === undefined) throw new SecretNotFoundError(`Could not store a new version of secret ${name}: it does not exist.`);
      if (existing.deletedAt !== undefined) throw new SecretNotFoundError(`Secret ${name} is scheduled for deletion: restore it first.`, true);
      if (idempotencyKey !== undefined && isRetry(existing, version, name)) return false;
      existing.value = secret;
      existing.updatedAt = now.toISOString();
      existing.versions = [...existing.versions, version].slice(-MAX_VERSIONS);
      return true;
    });
  }

  async get(name: string): Promise<DatabaseSecret | undefined> {
    assertValidSecretName(name);
    const entry = (await this.load()).secrets[name];
    if (entry === undefined || entry.deletedAt !== undefined) return undefined;
    return toDatabaseSecret(entry.value, name);
  }

  async delete(name: string, options?: DeleteSecretOptions): Promise<void> {
    assertValidSecretName(name);
    const deletion = resolveDeletion(options);
    const changed = await this.update((secrets, now) => {
      const existing = secrets[name];
      if (existing === undefined) return false;
      if (deletion.force) {
        delete secrets[name];
        return true;
      }
      // Already scheduled: keep the original window rather than extending it.
      if (existing.deletedAt !== undefined) return false;
      existing.deletedAt = now.toISOString();
      existing.purgeAt = new Date(now.getTime() + deletion.days * DAY_MS).toISOString();
      return true;
    });
    if (changed) this.logger.info({ secretName: name, operation: 'delete', ...deletion }, 'secret deleted or scheduled for deletion');
  }

  async list(prefix: string): Promise<SecretSummary[]> {
    assertValidSecretName(prefix, { allowEmpty: true });
    const { secrets } = await this.load();
    return Object.entries(secrets)
      .filter(([name]) => name.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, entry]) => ({
        name,
        tags: { ...entry.tags },
        createdAt: new Date(entry.createdAt),
        ...(entry.deletedAt !== undefined && { deletedAt: new Date(entry.deletedAt) }),
      }));
  }

  async restore(name: string): Promise<void> {
    assertValidSecretName(name);
    const changed = await this.update((secrets, now) => {
      const existing = secrets[name];
      if (existing === undefined) throw new SecretNotFoundError(`Could not restore secret ${name}: it does not exist or was already purged.`);
      if (existing.deletedAt === undefined) return false;
      delete existing.deletedAt;
      delete existing.purgeAt;
      existing.updatedAt = now.toISOString();
      return true;
    });
    if (changed) this.logger.info({ secretName: name, operation: 'restore' }, 'secret restored');
  }

  /**
   * Runs `change` on the current contents inside the write queue, then writes the file if
   * `change` returned true or the purge removed something. A throw from `change` writes nothing.
   * Resolves to what `change` returned.
   */
  private update(change: (secrets: Record<string, StoredSecret>, now: Date) => boolean): Promise<boolean> {
    const run = this.tail.then(async () => {
      const now = this.now();
      const contents = await this.load(false);
      const purged = this.purgeExpired(contents.secrets, now);
      const changed = change(contents.secrets, now);
      if (changed || purged) await this.write(contents);
      return changed;
    });
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Removes entries whose recovery window has ended. Reports whether anything was removed. */
  private purgeExpired(secrets: Record<string, StoredSecret>, now: Date): boolean {
    const expired = Object.keys(secrets).filter((name) => isExpired(secrets[name], now));
    for (const name of expired) delete secrets[name];
    if (expired.length > 0) this.logger.info({ secretNames: expired }, 'purged secrets past their recovery window');
    return expired.length > 0;
  }

  /**
   * Reads the file (missing = empty). Unless `purgeView` is false, entries past their recovery
   * window are hidden, so readers see the purge before the next write performs it.
   */
  private async load(purgeView = true): Promise<StoredFile> {
    await this.opened;
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return { format: FORMAT, secrets: {} };
      throw this.fileError('read', error);
    }
    let text: string;
    try {
      // fstat the handle we read from, not the path, so the checked file is the read file.
      const { mode } = await handle.stat();
      if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
        const refusal = new SecretAccessDeniedError(
          `Secret file ${this.path} is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${this.path}`,
        );
        this.logger.warn({ path: this.path, code: refusal.code }, refusal.message);
        throw refusal;
      }
      text = await handle.readFile('utf8');
    } catch (error) {
      throw error instanceof SecretStoreError ? error : this.fileError('read', error);
    } finally {
      await handle.close();
    }
    const contents = parseFile(text, this.path);
    if (purgeView) {
      const now = this.now();
      for (const name of Object.keys(contents.secrets)) if (isExpired(contents.secrets[name], now)) delete contents.secrets[name];
    }
    return contents;
  }

  private async write(contents: StoredFile): Promise<void> {
    const dir = dirname(this.path);
    const temp = join(dir, `.${basename(this.path)}.${process.pid}.${randomUUID()}.tmp`);
    let handle: FileHandle | undefined;
    IN_FLIGHT.add(temp);
    try {
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
      // 'wx': never follow or reuse an existing file at the temp path.
      handle = await open(temp, 'wx', FILE_MODE);
      // The umask may only narrow the mode; set it exactly anyway.
      await handle.chmod(FILE_MODE);
      await handle.writeFile(`${JSON.stringify(contents, null, 2)}\n`, 'utf8');
      await handle.sync();
      await handle.close();
      handle = undefined;
      await this.rename(temp, this.path);
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await rm(temp, { force: true }).catch(() => undefined);
      throw this.fileError('write', error);
    } finally {
      IN_FLIGHT.delete(temp);
    }
    await syncDirectory(dir);
  }

  /**
   * Removes temp files that interrupted writes of this file left behind (see the top of this
   * file). Never throws: a leftover that cannot be removed is logged, and reads and writes go on.
   */
  private async removeLeftoverTempFiles(): Promise<void> {
    const dir = dirname(this.path);
    const prefix = `.${basename(this.path)}.`;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return; // No directory yet: nothing was ever written.
    }
    let removed = 0;
    for (const name of names) {
      const pid = name.startsWith(prefix) ? TEMP_SUFFIX.exec(name.slice(prefix.length))?.[1] : undefined;
      if (pid === undefined) continue;
      const temp = join(dir, name);
      try {
        if (IN_FLIGHT.has(temp)) continue;
        const writer = Number(pid);
        if (writer !== process.pid && processAlive(writer) && Date.now() - (await stat(temp)).mtimeMs < LEFTOVER_AGE_MS) continue;
        await rm(temp, { force: true });
        removed++;
      } catch (error) {
        this.logger.warn({ path: this.path, fsError: errorCode(error) }, 'could not remove a temp file left by an interrupted write');
      }
    }
    if (removed > 0) this.logger.warn({ path: this.path, removed }, 'removed temp files left by interrupted writes of the secret file');
  }

  private fileError(action: 'read' | 'write', error: unknown): SecretStoreError {
    const code = errorCode(error);
    const result =
      code === 'EACCES' || code === 'EPERM'
        ? new SecretAccessDeniedError(`Cannot ${action} secret file ${this.path}: permission denied.`, { cause: error })
        : new SecretStoreBackendError(`Cannot ${action} secret file ${this.path}${code === undefined ? '' : ` (${code})`}.`, { cause: error });
    this.logger.warn({ path: this.path, code: result.code, fsError: code }, result.message);
    return result;
  }
}

/** What follows `.<file name>.` in a temp file's name: `<pid>.<uuid>.tmp`. */
const TEMP_SUFFIX = /^(\d+)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return errorCode(error) === 'EPERM';
  }
}

/** Whether `version` repeats an earlier write; the same id with another value is a conflict. */
function isRetry(existing: StoredSecret, version: StoredVersion, name: string): boolean {
  const earlier = existing.versions.find((v) => v.id === version.id);
  if (earlier === undefined) return false;
  if (earlier.fingerprint === version.fingerprint) return true;
  throw new SecretExistsError(`Could not write secret ${name}: that idempotency key was already used with another value.`);
}

function isExpired(entry: StoredSecret | undefined, now: Date): boolean {
  return entry?.purgeAt !== undefined && Date.parse(entry.purgeAt) <= now.getTime();
}

/** Parses the file; the parse error is not attached, since its message quotes file content. */
function parseFile(text: string, path: string): StoredFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SecretStoreBackendError(`Secret file ${path} is not valid JSON.`);
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { format?: unknown }).format !== FORMAT) {
    throw new SecretStoreBackendError(`Secret file ${path} is not a ${FORMAT} file.`);
  }
  const secrets = (parsed as { secrets?: unknown }).secrets;
  if (typeof secrets !== 'object' || secrets === null || Array.isArray(secrets)) {
    throw new SecretStoreBackendError(`Secret file ${path} has no secrets table.`);
  }
  return parsed as StoredFile;
}

/** Makes the rename itself durable. Best effort: some platforms cannot open a directory. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // The data is already renamed into place; only its durability across power loss is at stake.
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
