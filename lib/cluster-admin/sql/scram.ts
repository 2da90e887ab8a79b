/**
 * SCRAM-SHA-256 password verifiers (RFC 5802 / RFC 7677), computed client-side.
 *
 * Sending `CREATE USER ... PASSWORD 'SCRAM-SHA-256$...'` instead of the plaintext means the password
 * never reaches the server's statement log, `pg_stat_statements` or CockroachDB's SQL audit log.
 * PostgreSQL (10+) and CockroachDB (22.2+, `server.user_login.store_client_pre_hashed_passwords.enabled`)
 * both store such a verifier as is.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** PostgreSQL's default `scram_iterations`; CockroachDB accepts any cost from 4096 up. */
export const SCRAM_ITERATIONS = 4096;

/**
 * SASLprep is the identity for printable ASCII, so the verifier computed here equals the server's.
 * Other passwords go to the server as escaped literals and are hashed there.
 */
export function canPreHash(password: string): boolean {
  return /^[\x21-\x7e]+$/.test(password);
}

export function scramSha256Verifier(password: string, { iterations = SCRAM_ITERATIONS, salt = randomBytes(16) } = {}): string {
  if (!canPreHash(password)) throw new RangeError('Only printable ASCII passwords can be pre-hashed.');
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
