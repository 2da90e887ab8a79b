/**
 * Rules both SecretStore adapters share, so they refuse and accept the same things: the value's
 * shape, the recovery window, and how an idempotency key becomes a version id.
 * Internal to lib/secrets.
 */
import { createHash } from 'node:crypto';
import { SecretInvalidError } from './errors';
import { type DatabaseEngine, type DatabaseSecret, type DeleteSecretOptions } from './types';

const ENGINES: ReadonlySet<string> = new Set<DatabaseEngine>(['cockroachdb', 'postgres']);
const STRING_FIELDS = ['host', 'username', 'password', 'dbname', 'cluster'] as const;

export const MIN_RECOVERY_WINDOW_DAYS = 7;
export const MAX_RECOVERY_WINDOW_DAYS = 30;
export const DEFAULT_RECOVERY_WINDOW_DAYS = 7;
export const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Checks that `input` is a database secret and returns a copy holding only the known fields.
 * Messages name the offending field, never a value: the input holds a password.
 * @throws SecretInvalidError
 */
export function toDatabaseSecret(input: unknown, name: string): DatabaseSecret {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new SecretInvalidError(`Secret ${name} is not a database secret (expected a JSON object).`);
  }
  const record = input as Record<string, unknown>;
  const engine = record.engine;
  if (typeof engine !== 'string' || !ENGINES.has(engine)) {
    throw new SecretInvalidError(`Secret ${name} is not a database secret: 'engine' must be one of ${[...ENGINES].join(', ')}.`);
  }
  for (const field of STRING_FIELDS) {
    if (typeof record[field] !== 'string' || record[field] === '') {
      throw new SecretInvalidError(`Secret ${name} is not a database secret: '${field}' must be a non-empty string.`);
    }
  }
  // AWS's own templates write the port as a number, some tools as a string: accept both.
  const port = typeof record.port === 'string' && /^\d+$/.test(record.port) ? Number(record.port) : record.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new SecretInvalidError(`Secret ${name} is not a database secret: 'port' must be an integer from 1 to 65535.`);
  }
  return {
    engine: engine as DatabaseEngine,
    host: record.host as string,
    port,
    username: record.username as string,
    password: record.password as string,
    dbname: record.dbname as string,
    cluster: record.cluster as string,
    ...(typeof record.requestId === 'string' && record.requestId !== '' ? { requestId: record.requestId } : {}),
  };
}

/** Parses a stored SecretString. Never attaches the parse error: its message quotes the input. */
export function parseDatabaseSecret(json: string, name: string): DatabaseSecret {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new SecretInvalidError(`Secret ${name} does not hold JSON.`);
  }
  return toDatabaseSecret(parsed, name);
}

/** The SecretString for a value: the known fields in a fixed order (so equal values compare equal as text). */
export function serializeDatabaseSecret(value: DatabaseSecret): string {
  const { engine, host, port, username, password, dbname, cluster, requestId } = value;
  return JSON.stringify({ engine, host, port, username, password, dbname, cluster, ...(requestId !== undefined ? { requestId } : {}) });
}

/** `{ force: true }` or the validated recovery window. @throws SecretInvalidError */
export function resolveDeletion({ recoveryWindowDays, force = false }: DeleteSecretOptions = {}): { force: true } | { force: false; days: number } {
  if (force) {
    if (recoveryWindowDays !== undefined) {
      throw new SecretInvalidError('Choose either a recovery window or force deletion, not both.');
    }
    return { force: true };
  }
  const days = recoveryWindowDays ?? DEFAULT_RECOVERY_WINDOW_DAYS;
  if (!Number.isInteger(days) || days < MIN_RECOVERY_WINDOW_DAYS || days > MAX_RECOVERY_WINDOW_DAYS) {
    throw new SecretInvalidError(`The recovery window is ${MIN_RECOVERY_WINDOW_DAYS} to ${MAX_RECOVERY_WINDOW_DAYS} days.`);
  }
  return { force: false, days };
}

/**
 * A deterministic ClientRequestToken (which Secrets Manager makes the VersionId) for an
 * idempotency key: the same request retried maps to the same version, a different operation or
 * secret to a different one. UUID-shaped (version 8, RFC 9562 "custom") from SHA-256, because
 * Secrets Manager wants 32-64 characters and recommends a UUID.
 */
export function idempotencyToken(operation: 'create' | 'put', name: string, key: string): string {
  const digest = createHash('sha256').update(`crdb-chatops\0${operation}\0${name}\0${key}`).digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A fingerprint of a value, to tell "same retry" from "different value" without keeping old passwords. */
export function valueFingerprint(value: DatabaseSecret): string {
  return createHash('sha256').update(serializeDatabaseSecret(value)).digest('hex');
}
