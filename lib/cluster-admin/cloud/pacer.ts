/**
 * Client-side pacing for the CockroachDB Cloud API, which allows at most 10 requests per second
 * per API key. Every HTTP request a `CloudApiClient` sends (retries included) first takes a slot
 * from the pacer of its key, so a burst from one Lambda invocation never earns a 429 by itself.
 *
 * Why not a library: `bottleneck` (with `minTime`) would do, but is not a dependency and does far
 * more than this needs; cockatiel has no rate limiter. Spacing requests evenly is a dozen lines
 * whose correctness is easy to see (below), so it lives here.
 *
 * Scope: `SpacingPacer` paces one process. Where several processes share a key (concurrent worker
 * instances and the audit on Lambda), `SharedSlotPacer` paces them all: each request claims a send
 * slot that no other process may claim (`SlotClaims`, a conditional write to the state table).
 * The client's 429 handling (honouring `Retry-After`) stays as the last line.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { RateLimitedError } from '../errors';

/** The documented Cloud API limit. */
export const CLOUD_API_REQUESTS_PER_SECOND = 10;

/**
 * Default gap between two request starts. With a gap of `g` ms, any 1000 ms window holds at most
 * `floor(1000 / g) + 1` starts: 10 for g = 105, but 11 for g = 100 (starts at 0 and 1000 both fall
 * in a closed window). The extra 5 ms also absorbs timer rounding (Node may fire a timer up to
 * 1 ms early) and small differences in network delay between consecutive requests.
 */
export const DEFAULT_CLOUD_API_SPACING_MS = 105;

/** Hands out send slots; `acquire` resolves when the caller may send one request. */
export interface RequestPacer {
  acquire(signal?: AbortSignal): Promise<void>;
}

export interface SpacingPacerOptions {
  /** Minimum gap between two request starts; default `DEFAULT_CLOUD_API_SPACING_MS`. */
  readonly spacingMs?: number;
  /** Clock, injectable for tests. */
  readonly now?: () => number;
  /** Sleep, injectable for tests. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Spaces request starts at least `spacingMs` apart, first come first served. Slots are reserved
 * synchronously in `acquire`, so concurrent callers queue in call order without a lock.
 */
export class SpacingPacer implements RequestPacer {
  private readonly spacingMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private nextSlot = Number.NEGATIVE_INFINITY;

  constructor({
    spacingMs = DEFAULT_CLOUD_API_SPACING_MS,
    now = Date.now,
    sleep = (ms, signal) => sleepFor(ms, undefined, signal ? { signal } : undefined),
  }: SpacingPacerOptions = {}) {
    if (!(spacingMs >= 0)) throw new RangeError('spacingMs must be a non-negative number');
    this.spacingMs = spacingMs;
    this.now = now;
    this.sleep = sleep;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const now = this.now();
    const slot = Math.max(now, this.nextSlot);
    // Reserve before awaiting: the next caller computes its slot from ours. A slot abandoned by an
    // aborted caller stays used, which only ever makes pacing more conservative.
    this.nextSlot = slot + this.spacingMs;
    const waitMs = slot - now;
    if (waitMs > 0) await this.sleep(waitMs, signal);
  }
}

/**
 * Send slots of an API key, shared by every process that uses it: a slot is claimed at most once.
 * `keyId` identifies the key without being it (a hash prefix).
 */
export interface SlotClaims {
  /** True when the caller now owns `slot` of `keyId`; false when another caller claimed it first. */
  claimSendSlot(keyId: string, slot: number): Promise<boolean>;
}

/**
 * Width of a shared send slot. Time is cut into slots `[k·w, (k+1)·w)`; no two requests claim the
 * same slot, and a request is sent in the first `SEND_WINDOW` of the one it claimed (or not at
 * all: it claims another). Eleven requests then start at least 10·w − 0.4·w = 1200 ms apart from
 * first to last, so the server sees at most 10 in any second unless network and event-loop delays
 * squeeze them by over 200 ms. The price: at most 1000 / 125 = 8 requests per second per key.
 * (120 ms slots sent in their first half left 140 ms, and a CI run on a machine loaded by other
 * builds saw one 429.)
 */
export const SHARED_SLOT_MS = 125;
/** The part of its slot a request may start in. */
export const SEND_WINDOW = 0.4;

export interface SharedSlotPacerOptions {
  readonly claims: SlotClaims;
  readonly keyId: string;
  readonly slotMs?: number;
  /** Claims tried before giving up (each a conditional write); default 600, a minute of slots at 9/s. */
  readonly maxClaims?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Paces every process sharing an API key: each request claims a slot that has not started yet (so
 * the claim's round trip fits before it), waits for its start and sends early in it. A slot
 * claimed too late to use that way (the claim or the timer ran late) is left unused and the next
 * one is tried: pacing only ever errs on the slow side. Callers in one process take distinct slots
 * without asking the table (the local cursor), so they contend only with other processes.
 */
export class SharedSlotPacer implements RequestPacer {
  private readonly o: Required<Omit<SharedSlotPacerOptions, 'now' | 'sleep'>>;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private cursor = Number.NEGATIVE_INFINITY;

  constructor({ claims, keyId, slotMs = SHARED_SLOT_MS, maxClaims = 600, now = Date.now, sleep = (ms, signal) => sleepFor(ms, undefined, signal ? { signal } : undefined) }: SharedSlotPacerOptions) {
    if (!(slotMs > 0)) throw new RangeError('slotMs must be a positive number');
    this.o = { claims, keyId, slotMs, maxClaims };
    this.now = now;
    this.sleep = sleep;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    const { slotMs } = this.o;
    for (let tries = 0; tries < this.o.maxClaims; tries++) {
      signal?.throwIfAborted();
      // The next slot not yet started, and not taken by this process: reserved before awaiting.
      const slot = Math.max(Math.floor(this.now() / slotMs) + 1, this.cursor);
      this.cursor = slot + 1;
      if (!(await this.o.claims.claimSendSlot(this.o.keyId, slot))) continue;
      const start = slot * slotMs;
      let now = this.now();
      if (now < start) {
        await this.sleep(start - now, signal);
        now = this.now();
      }
      if (now < start + slotMs * SEND_WINDOW) return;
    }
    // Retryable: the key is saturated by other processes; the job backs off and comes back.
    throw new RateLimitedError(`No Cloud API send slot was free after ${this.o.maxClaims} tries: other processes are using this API key at its limit.`);
  }
}

export interface CloudApiPacersOptions extends SpacingPacerOptions {
  /** Slots shared across processes: each key gets a `SharedSlotPacer` instead of a `SpacingPacer`. */
  readonly claims?: SlotClaims;
}

/** The id a key's shared slots are stored under: a SHA-256 prefix, never the key. */
export function apiKeyId(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex').slice(0, 32);
}

/**
 * One pacer per Cloud API key, shared by every client using that key. The composition root creates
 * one registry and passes it to each `CloudApiClient`; nothing here is a module-level singleton, so
 * tests get fresh state by creating a fresh registry.
 *
 * Keys are indexed by a SHA-256 hash so the registry never holds the key itself.
 */
export class CloudApiPacers {
  private readonly pacers = new Map<string, RequestPacer>();
  private readonly options: CloudApiPacersOptions;

  constructor(options: CloudApiPacersOptions = {}) {
    this.options = options;
  }

  /** The pacer every request made with `apiKey` must go through. */
  forKey(apiKey: string): RequestPacer {
    const id = apiKeyId(apiKey);
    let pacer = this.pacers.get(id);
    if (pacer === undefined) {
      const { claims, ...spacing } = this.options;
      pacer = claims !== undefined ? new SharedSlotPacer({ claims, keyId: id, ...(spacing.now && { now: spacing.now }), ...(spacing.sleep && { sleep: spacing.sleep }) }) : new SpacingPacer(spacing);
      this.pacers.set(id, pacer);
    }
    return pacer;
  }
}
