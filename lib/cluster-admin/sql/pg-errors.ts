/**
 * Translates `pg` and socket errors into the cluster-admin error family, once, with one-line
 * messages that never quote the SQL text (which could carry a password verifier) or server detail.
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

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN']);

export function translatePgError(error: unknown, cluster: string, what: string): ClusterAdminError {
  if (error instanceof ClusterAdminError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as PgErrorLike;
  const code = e.code ?? '';
  const message = typeof e.message === 'string' ? e.message : '';
  const options = { cause: error };
  if (CONNECTION_CODES.has(code) || /Connection terminated|connect ECONN|timeout expired/i.test(message)) {
    return new UnavailableError(`Could not reach the SQL endpoint of ${cluster} to ${what}; try again shortly.`, options);
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
