/**
 * Where a self-hosted cluster keeps its host-based authentication rules, and how the bot changes
 * them without losing anyone's edit or locking itself out.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { escapeLiteral, type Pool, type PoolClient } from 'pg';
import { BackendError } from '../errors';
import { translatePgError } from './pg-errors';
import { HBA_REWRITE } from '../../retry-policies';

export interface HbaStore {
  read(): Promise<string>;
  /**
   * Applies `change` to the current text under the store's concurrency control. `change` returns
   * the new text, or `undefined` to leave it alone. Resolves to whether anything was written.
   */
  modify(change: (current: string) => string | undefined): Promise<boolean>;
  /** True while a written change is not yet in force for new connections. */
  propagating(): Promise<boolean>;
}

/** Arbitrary but fixed: every bot process editing the same server's HBA file takes this lock. */
const HBA_LOCK_KEY = 0x63726462; // "crdb"

export interface PgHbaFileStoreOptions {
  readonly cluster: string;
  readonly pool: Pool;
  /** The `hba_file` the server reads; the bot must run on the server's host (local mode). */
  readonly file: string;
}

/**
 * PostgreSQL's `pg_hba.conf`, edited in place and reloaded with `pg_reload_conf()`.
 *
 * - A session advisory lock serialises editors across processes.
 * - Writes are atomic (temp file + rename) and keep the file's owner and mode, because the server
 *   may run as another user than the bot.
 * - After a reload, `pg_hba_file_rules` must report no error; otherwise the previous file is
 *   restored and reloaded, so a bad rule can never lock everyone out.
 */
export class PgHbaFileStore implements HbaStore {
  constructor(private readonly options: PgHbaFileStoreOptions) {}

  async read(): Promise<string> {
    return readFile(this.options.file, 'utf8');
  }

  async modify(change: (current: string) => string | undefined): Promise<boolean> {
    const { pool, cluster } = this.options;
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw translatePgError(error, cluster, 'change the allowlist');
    }
    try {
      await client.query('SELECT pg_advisory_lock($1)', [HBA_LOCK_KEY]);
      try {
        const current = await this.read();
        const next = change(current);
        if (next === undefined || next === current) return false;
        await this.writeAtomically(next);
        await client.query('SELECT pg_reload_conf()');
        const errors = await client.query<{ line_number: number | null; error: string }>(
          'SELECT line_number, error FROM pg_catalog.pg_hba_file_rules WHERE error IS NOT NULL ORDER BY line_number',
        );
        const first = errors.rows[0];
        if (first !== undefined) {
          await this.writeAtomically(current);
          await client.query('SELECT pg_reload_conf()');
          throw new BackendError(
            `${cluster} rejected the new HBA rules (line ${first.line_number ?? '?'}: ${first.error}); the previous rules were restored.`,
          );
        }
        return true;
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [HBA_LOCK_KEY]).catch(() => undefined);
      }
    } catch (error) {
      throw translatePgError(error, cluster, 'change the allowlist');
    } finally {
      client.release();
    }
  }

  /** The file is newer than the server's last configuration load. */
  async propagating(): Promise<boolean> {
    const [{ mtimeMs }, loaded] = await Promise.all([
      stat(this.options.file),
      this.options.pool
        .query<{ loaded: Date }>('SELECT pg_conf_load_time() AS loaded')
        .catch((error: unknown) => {
          throw translatePgError(error, this.options.cluster, 'check the allowlist');
        }),
    ]);
    const loadedAt = loaded.rows[0]?.loaded.getTime() ?? 0;
    // pg_conf_load_time has microsecond precision but Date keeps milliseconds: allow 1 ms.
    return mtimeMs > loadedAt + 1;
  }

  private async writeAtomically(text: string): Promise<void> {
    const { file } = this.options;
    const before = await stat(file);
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, text, { mode: before.mode & 0o777, flush: true });
      await chmod(temp, before.mode & 0o777);
      if (process.getuid?.() === 0) await chown(temp, before.uid, before.gid);
      await rename(temp, file);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }
}

export interface CockroachHbaSettingStoreOptions {
  readonly cluster: string;
  readonly pool: Pool;
  /** Attempts of the optimistic read-check-write loop. */
  readonly maxAttempts?: number;
}

const HBA_SETTING = 'server.host_based_authentication.configuration';

/**
 * CockroachDB's `server.host_based_authentication.configuration` cluster setting.
 *
 * CockroachDB has no advisory locks (`pg_advisory_lock` is a no-op there) and cluster settings
 * cannot be changed inside a transaction, so edits are optimistic: read, compute, re-read just
 * before writing and start over if someone else changed the setting meanwhile. The request layer
 * additionally applies one allowlist change per cluster at a time.
 */
export class CockroachHbaSettingStore implements HbaStore {
  constructor(private readonly options: CockroachHbaSettingStoreOptions) {}

  async read(): Promise<string> {
    try {
      const { rows } = await this.options.pool.query<Record<string, string>>(`SHOW CLUSTER SETTING ${HBA_SETTING}`);
      const row = rows[0] ?? {};
      return Object.values(row)[0] ?? '';
    } catch (error) {
      throw translatePgError(error, this.options.cluster, 'read the HBA configuration');
    }
  }

  async modify(change: (current: string) => string | undefined): Promise<boolean> {
    const { maxAttempts = HBA_REWRITE.maxAttempts, pool, cluster } = this.options;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const current = await this.read();
      const next = change(current);
      if (next === undefined || next === current) return false;
      if ((await this.read()) !== current) continue;
      try {
        // Cluster settings take no placeholders; escapeLiteral quotes the whole text safely.
        await pool.query(`SET CLUSTER SETTING ${HBA_SETTING} = ${escapeLiteral(next)}`);
      } catch (error) {
        throw translatePgError(error, cluster, 'change the HBA configuration');
      }
      return true;
    }
    throw new BackendError(`The HBA configuration of ${cluster} kept changing while the bot edited it; try again.`);
  }

  /** Cluster settings reach every node within seconds; SQL offers no per-node view to wait on. */
  async propagating(): Promise<boolean> {
    return Promise.resolve(false);
  }
}
