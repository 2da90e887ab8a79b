/**
 * The secrets error family. Every error carries a stable `code` to match on and a one-line
 * `message` naming the secret (never its value, never SDK metadata), so it is safe to log and
 * to show an operator. Callers match with `instanceof`, never by parsing messages.
 */
import { ChatopsError } from '../errors';
import { type Prose } from '../prose';

export type SecretStoreErrorCode = 'already_exists' | 'not_found' | 'unavailable' | 'access_denied' | 'invalid' | 'backend_error';

export abstract class SecretStoreError extends ChatopsError {
  abstract override readonly code: SecretStoreErrorCode;
}

/**
 * `create` of a name that is taken, or a retried write whose idempotency key was already used
 * with a different value.
 */
export class SecretExistsError extends SecretStoreError {
  readonly code = 'already_exists';
  constructor(
    message: string | Prose,
    /** The name is taken by a secret scheduled for deletion: `restore` it, or wait for the purge. */
    readonly scheduledForDeletion = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A write or restore of a secret that does not exist (or is scheduled for deletion, for `put`). */
export class SecretNotFoundError extends SecretStoreError {
  readonly code = 'not_found';
  constructor(
    message: string | Prose,
    /** The secret exists but is scheduled for deletion: `restore` it first. */
    readonly scheduledForDeletion = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The store did not answer, or answered with a server-side fault, after the SDK's own retries. */
export class SecretStoreUnavailableError extends SecretStoreError {
  readonly code = 'unavailable';
  override readonly retryable = true;
}

/** Credentials, IAM or KMS key policy refused the call; retrying will not help, an operator will. */
export class SecretAccessDeniedError extends SecretStoreError {
  readonly code = 'access_denied';
}

/** A bad name, a bad option (recovery window), or a stored value that is not a database secret. */
export class SecretInvalidError extends SecretStoreError {
  readonly code = 'invalid';
}

/** Anything the store said that fits no other class; the message is still one safe line. */
export class SecretStoreBackendError extends SecretStoreError {
  readonly code = 'backend_error';
}
