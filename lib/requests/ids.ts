/**
 * Request ids: ULIDs (https://github.com/ulid/spec). 26 characters of Crockford base32: a 48-bit
 * millisecond timestamp, then 80 random bits.
 *
 * - Short and safe everywhere they travel: Slack button values, allowlist entry names
 *   (`chatops:<id>` must match /^[A-Za-z0-9_-]+$/), DynamoDB keys, log lines.
 * - Time-sortable: ids of different milliseconds sort by creation time as plain strings.
 * - Unguessable enough to not be enumerable (80 bits from the CSPRNG); an id is still not a
 *   credential: every action on a request checks who is acting.
 *
 * Written here (twenty lines) rather than pulling in a dependency for it.
 */
import { randomBytes } from 'node:crypto';

/** Crockford's base32: no I, L, O, U, so ids survive being read aloud or retyped. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
/** The largest timestamp 48 bits hold (year 10889). */
const MAX_TIME = 2 ** 48 - 1;

export const REQUEST_ID_LENGTH = TIME_CHARS + RANDOM_CHARS;
const REQUEST_ID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

export interface NewRequestIdOptions {
  /** Milliseconds since the epoch; default now. */
  readonly now?: number;
  /** Source of the 10 random bytes; default `crypto.randomBytes`. Tests pass a fixed one. */
  readonly random?: (size: number) => Uint8Array;
}

/** A new request id, e.g. `01J9ZK3V8Q4M7T2X5B6N0C1D2E`. */
export function newRequestId({ now = Date.now(), random = randomBytes }: NewRequestIdOptions = {}): string {
  if (!Number.isInteger(now) || now < 0 || now > MAX_TIME) throw new RangeError(`Cannot encode ${now} as a 48-bit millisecond timestamp.`);
  let time = '';
  for (let rest = now, i = 0; i < TIME_CHARS; i++, rest = Math.floor(rest / 32)) {
    time = charAt(rest % 32) + time;
  }
  const bytes = random(10);
  if (bytes.length < 10) throw new RangeError('The random source returned fewer than 10 bytes.');
  // 80 bits = 16 groups of 5 bits, most significant first: group i is bits 5i..5i+4 counted from
  // the top, read from the two bytes they fall in (on the ack path: no BigInt).
  let tail = '';
  for (let i = 0; i < RANDOM_CHARS; i++) {
    const bit = i * 5;
    const window = ((bytes[bit >> 3] ?? 0) << 8) | (bit >> 3 < 9 ? (bytes[(bit >> 3) + 1] ?? 0) : 0);
    tail += charAt((window >> (11 - (bit & 7))) & 31);
  }
  return time + tail;
}

/** Whether `text` is a request id this module could have made (canonical upper case). */
export function isRequestId(text: string): boolean {
  return REQUEST_ID.test(text);
}

/** When the id was made, or undefined for text that is not a request id. */
export function requestIdTime(id: string): Date | undefined {
  if (!isRequestId(id)) return undefined;
  let ms = 0;
  for (const char of id.slice(0, TIME_CHARS)) ms = ms * 32 + ALPHABET.indexOf(char);
  return new Date(ms);
}

function charAt(index: number): string {
  // Indexes are 0..31 by construction; the fallback only satisfies noUncheckedIndexedAccess.
  return ALPHABET[index] ?? '0';
}
