/**
 * The cluster-admin error family. Every error carries a stable `code` to match on and a
 * one-line `message` that is safe to show a requester (no secret, no SDK metadata).
 * Callers match with `instanceof`, never by parsing messages.
 */
import { ChatopsError } from '../errors';
import { type Prose } from '../prose';

export type ClusterAdminErrorCode =
  | 'invalid_input'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'already_exists'
  | 'rate_limited'
  | 'unavailable'
  | 'timeout'
  | 'propagation_timeout'
  | 'conflict'
  | 'backend_error';

export abstract class ClusterAdminError extends ChatopsError {
  abstract override readonly code: ClusterAdminErrorCode;
}

/** Input the backend refuses (a bad CIDR, a bad user name, a privilege keyword it does not know). */
export class InvalidInputError extends ClusterAdminError {
  readonly code = 'invalid_input';
  constructor(
    message: string | Prose,
    /** A corrected example for the requester, when there is one. */
    readonly example?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class UnauthenticatedError extends ClusterAdminError {
  readonly code = 'unauthenticated';
}

export class PermissionDeniedError extends ClusterAdminError {
  readonly code = 'permission_denied';
}

export class NotFoundError extends ClusterAdminError {
  readonly code = 'not_found';
}

export class AlreadyExistsError extends ClusterAdminError {
  readonly code = 'already_exists';
}

/**
 * The change collided with another. `retryable` when the same change will likely succeed on a
 * later try (a serialization failure, a deadlock, a catalog row updated concurrently).
 */
export class ConflictError extends ClusterAdminError {
  readonly code = 'conflict';
  override readonly retryable: boolean;

  constructor(message: string | Prose, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options === undefined ? undefined : { cause: options.cause });
    this.retryable = options?.retryable === true;
  }
}

export class RateLimitedError extends ClusterAdminError {
  readonly code = 'rate_limited';
  override readonly retryable = true;
  constructor(
    message: string | Prose,
    /** Milliseconds the server asked us to wait, when it said. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class UnavailableError extends ClusterAdminError {
  readonly code = 'unavailable';
  override readonly retryable = true;
}

export class TimeoutError extends ClusterAdminError {
  readonly code = 'timeout';
  override readonly retryable = true;
}

export class PropagationTimeoutError extends ClusterAdminError {
  readonly code = 'propagation_timeout';
  override readonly retryable = true;
}

/** Anything the backend said that fits no other class; the message is still one safe line. */
export class BackendError extends ClusterAdminError {
  readonly code = 'backend_error';
}
