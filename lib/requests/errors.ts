/**
 * The state store's error family. Every error carries a stable `code` to match on and a one-line
 * `message` written by the store (never copied from AWS, never SDK metadata), so it is safe to log
 * and to show an operator. Callers match with `instanceof`, never by parsing messages.
 *
 * Answers the port defines as results (a refused transition, a duplicate approval, a claimed
 * idempotency key) are not errors: they come back as values.
 */
import { ChatopsError } from '../errors';
import { type Prose } from '../prose';

export type StateStoreErrorCode = 'already_exists' | 'held' | 'guard' | 'unavailable' | 'contention' | 'access_denied' | 'table_not_found' | 'invalid' | 'backend_error';

export abstract class StateStoreError extends ChatopsError {
  abstract override readonly code: StateStoreErrorCode;
}

/** `createRequest` with the id of a request that exists. */
export class RequestExistsError extends StateStoreError {
  readonly code = 'already_exists';
}

/** The table did not answer, throttled, or failed server-side, after the SDK's own retries. */
export class StateStoreUnavailableError extends StateStoreError {
  readonly code = 'unavailable';
  override readonly retryable = true;
}

/**
 * An optimistic update lost the race more times than its retry budget allows. Unexpected under
 * Slack-sized load; the caller (an SQS redelivery, the user clicking again) may simply retry.
 */
export class StateStoreContentionError extends StateStoreError {
  readonly code = 'contention';
  override readonly retryable = true;
}

/** Credentials or IAM refused the call; retrying will not help, an operator will. */
export class StateStoreAccessDeniedError extends StateStoreError {
  readonly code = 'access_denied';
}

/** The configured table does not exist (not deployed, wrong name or region). */
export class StateStoreTableNotFoundError extends StateStoreError {
  readonly code = 'table_not_found';
}

/** A bad argument (a timestamp that is not one, an empty `from`) or a request DynamoDB refused as invalid. */
export class StateStoreInvalidError extends StateStoreError {
  readonly code = 'invalid';
}

/** Anything the table said that fits no other class; the message is still one safe line. */
export class StateStoreBackendError extends StateStoreError {
  readonly code = 'backend_error';
}

/**
 * A transition's record (a managed entry or user) is held by someone else: another requester's
 * entry on the same CIDR, another request's user of the same name. Nothing was written.
 */
export class RecordHeldError extends StateStoreError {
  readonly code = 'held';
  constructor(
    message: string | Prose,
    /** The requester holding the record, when it is an entry. */
    readonly holder?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A transition's guard did not hold (./store.ts `TransitionGuards`): the idempotency key is
 * another request's (`holder`: its id), or the rate window has no token left. Nothing was written.
 */
export class GuardFailedError extends StateStoreError {
  readonly code = 'guard';
  constructor(
    readonly guard: 'claim' | 'rate-token',
    message: string | Prose,
    /** For a claim: the request holding the key. */
    readonly holder?: string,
  ) {
    super(message);
  }
}
