/**
 * Translates `pg` and socket errors into the cluster-admin error family, once, with one-line
 * messages that never quote the SQL text (which could carry a password verifier) or server detail.
 *
 * Transient means `retryable` (`UnavailableError`, `TimeoutError`, a retryable `ConflictError`):
 * the server cannot be reached or is restarting, so the same call may succeed shortly. That covers
 * socket errors, pg's own connect failures (pool checkout timeout, connect timeout, a connection
 * closed under it), SQLSTATE class 08 (connection exception) except 08P01 (a protocol violation
 * does not fix itself), 57P01/57P02/57P03/57P05 (admin shutdown, crash shutdown, "cannot connect
 * now": starting up or shutting down, idle-session timeout), 53300 (too many connections), 57014
 * (statement timeout) and 40001/40P01 (serialization failure, deadlock). Everything else is
 * permanent: credentials, privileges, TLS verification, a server without TLS.
 */
import {
  AlreadyExistsError,
  BackendError,
  ClusterAdminError,
  ConflictError,
  NotFoundError,
  PermissionDeniedError,
  TimeoutError,
  UnauthenticatedError,
  UnavailableError,
} from '../errors';

interface PgErrorLike {
  code?: string;
  message?: string;
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EPIPE',
  'EAI_AGAIN',
]);

/**
 * pg's own messages for a connection that failed or went away, which carry no code:
 * "Connection terminated unexpectedly", "Connection terminated due to connection timeout",
 * pg-pool's "timeout exceeded when trying to connect", "Client has encountered a connection error".
 */
const CONNECTION_MESSAGES = /Connection terminated|connect ECONN|timeout expired|timeout exceeded when trying to connect|connection error and is not queryable|socket hang up/i;

/** SQLSTATEs of a server that is restarting, shutting down or full: it may accept the same call shortly. */
const SERVER_UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown: "terminating connection due to administrator command"
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: "the database system is starting up" / "is shutting down"
  '57P05', // idle_session_timeout
  '53300', // too_many_connections
]);

/** Connection exceptions (class 08), except a protocol violation, which no retry fixes. */
function isConnectionException(code: string): boolean {
  return /^08[0-9A-Z]{3}$/.test(code) && code !== '08P01';
}

export function translatePgError(error: unknown, cluster: string, what: string): ClusterAdminError {
  if (error instanceof ClusterAdminError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as PgErrorLike;
  const code = e.code ?? '';
  const message = typeof e.message === 'string' ? e.message : '';
  const options = { cause: error };
  if (CONNECTION_CODES.has(code) || isConnectionException(code) || CONNECTION_MESSAGES.test(message)) {
    return new UnavailableError(`Could not reach the SQL endpoint of ${cluster} to ${what}; try again shortly.`, options);
  }
  if (SERVER_UNAVAILABLE_CODES.has(code)) {
    return new UnavailableError(`Could not ${what} on ${cluster}: it is restarting, shutting down or at its connection limit; try again shortly.`, options);
  }
  switch (code) {
    case '28P01':
    case '28000':
      return new UnauthenticatedError(`The bot's admin SQL credentials for ${cluster} were rejected.`, options);
    case '42501':
      return new PermissionDeniedError(`The bot's admin SQL user on ${cluster} lacks the privilege to ${what}.`, options);
    case '57014':
      return new TimeoutError(`${cluster} took too long to ${what}; nothing was changed.`, options);
    case '42710':
    case '23505':
      return new AlreadyExistsError(`Could not ${what} on ${cluster}: it already exists.`, options);
    case '42704':
      return new NotFoundError(`Could not ${what} on ${cluster}: it does not exist.`, options);
    case '2BP01':
      return new ConflictError(`Could not ${what} on ${cluster}: other objects still depend on it.`, options);
    case '40001':
    case '40P01':
      return new ConflictError(`Could not ${what} on ${cluster} because of a concurrent change; try again.`, { ...options, retryable: true });
    case 'XX000':
      // PostgreSQL's "tuple concurrently updated": two catalog changes (DROP OWNED, GRANT) hit one row at once.
      if (/concurrently (updated|deleted)/i.test(message)) {
        return new ConflictError(`Could not ${what} on ${cluster} because of a concurrent change; try again.`, { ...options, retryable: true });
      }
      return new BackendError(`${cluster} refused to ${what} (SQLSTATE ${code}).`, options);
    default:
      return new BackendError(`${cluster} refused to ${what}${code ? ` (SQLSTATE ${code})` : ''}.`, options);
  }
}
