/**
 * The one error base. Every family (cluster-admin, the state store, secrets, the request layer's
 * own) extends `ChatopsError`: a stable `code` to match on, `retryable` (whether the same call
 * later may succeed), and a one-line `message` the family wrote itself, safe to show a person
 * (never a secret, never SDK metadata). Callers match with `instanceof`, never by parsing
 * messages. Anything else thrown (a bug, an SDK surprise) is unknown: retried by the queue, never
 * shown.
 *
 * A family may write its message as `Prose` (values marked as code, people as ids): `prose` keeps
 * it for the edges to render, and `message` is its plain text for logs.
 */
import { asProse, plainText, type Prose } from './prose';

export abstract class ChatopsError extends Error {
  abstract readonly code: string;
  /** Whether repeating the same call later may succeed. */
  readonly retryable: boolean = false;
  /** The message as prose, for a person. */
  readonly prose: Prose;

  constructor(message: string | Prose, options?: { cause?: unknown }) {
    super(plainText(message), options);
    this.name = this.constructor.name;
    this.prose = asProse(message);
  }
}

/** True when a later try may succeed: the error says so, or it is unknown (queue retries, then the final-attempt rollback). */
export function isRetryable(error: unknown): boolean {
  return error instanceof ChatopsError ? error.retryable : true;
}

/** The user-safe one-line message of a known error; undefined for anything else (which is logged, never shown). */
export function userSafeMessage(error: unknown): Prose | undefined {
  return error instanceof ChatopsError ? error.prose : undefined;
}
