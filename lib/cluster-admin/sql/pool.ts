/**
 * The bot's admin connection to a self-hosted cluster: a small `pg` pool, TLS with full
 * verification (hostname and chain), bounded connect and statement times.
 */
import { Pool, type PoolClient } from 'pg';

export interface SqlConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** PEM of the cluster CA; omit to trust the system roots. */
  readonly caPem?: string;
  /** Name to verify the server certificate against when `host` is an address; default `host`. */
  readonly tlsServerName?: string;
  readonly connectTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  /** Lambda keeps this small: one or two connections per warm instance. */
  readonly maxConnections?: number;
}

export function createAdminPool({
  host,
  port,
  database,
  user,
  password,
  caPem,
  tlsServerName,
  connectTimeoutMs = 5_000,
  statementTimeoutMs = 15_000,
  maxConnections = 2,
}: SqlConnectionOptions): Pool {
  const pool = new Pool({
    host,
    port,
    database,
    user,
    password,
    // verify-full: rejectUnauthorized checks the chain; pg checks the name against `host`
    // (DNS name or IP SAN), or against `servername` when given.
    ssl: {
      rejectUnauthorized: true,
      ...(caPem !== undefined ? { ca: caPem } : {}),
      ...(tlsServerName !== undefined ? { servername: tlsServerName } : {}),
    },
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    idleTimeoutMillis: 30_000,
    max: maxConnections,
    application_name: 'crdb-chatops',
  });
  // An idle client losing its connection must not crash the process; the next checkout reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `fn` inside BEGIN/COMMIT on `client`, rolling back on any error. */
export async function inTransaction<T>(client: PoolClient, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
