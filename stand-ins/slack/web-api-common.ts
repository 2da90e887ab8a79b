/**
 * What the parts of the Slack Web API stand-in (`web-api-server.ts` and the directory, messages
 * and views it is composed of) share: the error a method answers with, argument readers, the
 * context each part is given, and the fault type the server injects.
 */
import { randomBytes } from 'node:crypto';
import { BlockKitError, parseBlocks } from './block-kit';
import { type SlackBlock, type SlackBotIdentity, type SlackEmulatorEvents, type SlackTeam } from './model';

/**
 * An injected failure for the next call(s) of a method:
 * - `{ error: 'ratelimited', retryAfterSeconds }`: HTTP 429 with `Retry-After` (default 1 s);
 * - `{ error: 'channel_not_found' }` (any code): HTTP 200 `{ok:false,error}`;
 * - `{ status: 500, body? }`: that HTTP status.
 * With `afterApply`, the call takes effect and then the failure is answered: the response lost
 * after the work was done, which is what makes retries post twice.
 */
export type SlackFault =
  | { readonly error: string; readonly retryAfterSeconds?: number; readonly afterApply?: boolean }
  | { readonly status: number; readonly body?: string; readonly afterApply?: boolean };

/** A Web API method's refusal: answered as HTTP 200 `{ ok: false, error, ...extra }`. */
export class ApiError extends Error {
  constructor(
    readonly error: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(error);
  }
}

export type Args = Record<string, unknown>;
export type MethodHandler = (args: Args) => Record<string, unknown>;

/** Answers an HTTP request: a JSON object or plain text, with that status and extra headers. */
export type Reply = (status: number, payload: Record<string, unknown> | string, headers?: Record<string, string>) => void;

/** Emits a server event (see `SlackWebApiServer.on`). */
export type Emit = <E extends keyof SlackEmulatorEvents>(event: E, payload: SlackEmulatorEvents[E]) => void;

/** What every part of the server is given. */
export interface WebApiContext {
  readonly team: SlackTeam;
  readonly bot: SlackBotIdentity;
  /** The platform's clock, in ms. */
  readonly now: () => number;
}

const ALNUM_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function randomId(prefix: string, length = 10): string {
  return prefix + Array.from(randomBytes(length), (b) => ALNUM_UPPER[b % ALNUM_UPPER.length]).join('');
}

export function str(args: Args, key: string): string | undefined {
  const value = args[key];
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

export function bool(args: Args, key: string): boolean {
  const value = args[key];
  return value === true || value === 'true' || value === '1' || value === 1;
}

export function blocksOf(raw: unknown, maxBlocks: number): SlackBlock[] | undefined {
  try {
    return parseBlocks(raw, { maxBlocks });
  } catch (error) {
    if (error instanceof BlockKitError) throw new ApiError(error.error, { response_metadata: { messages: error.messages } });
    throw error;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
