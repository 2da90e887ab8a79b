/**
 * Client-side pacing for the CockroachDB Cloud API, which allows at most 10 requests per second
 * per API key. Every HTTP request a `CloudApiClient` sends (retries included) first takes a slot
 * from the pacer of its key, so a burst from one Lambda invocation never earns a 429 by itself.
 *
 * Why not a library: `bottleneck` (with `minTime`) would do, but is not a dependency and does far
 * more than this needs; cockatiel has no rate limiter. Spacing requests evenly is a dozen lines
 * whose correctness is easy to see (below), so it lives here.
 *
 * Scope: one process. Concurrent Lambda instances sharing a key each pace themselves, so the key
 * can still see more than 10/s across instances; the client's 429 handling (honouring
 * `Retry-After`) covers that.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';

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

export type CloudApiPacersOptions = SpacingPacerOptions;

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
    const id = createHash('sha256').update(apiKey, 'utf8').digest('hex');
    let pacer = this.pacers.get(id);
    if (pacer === undefined) {
      pacer = new SpacingPacer(this.options);
      this.pacers.set(id, pacer);
    }
    return pacer;
  }
}
