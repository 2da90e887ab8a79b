/** Test helpers to observe the app: captured structured logs, and a clock tests can move. */
import { Writable } from 'node:stream';
import { createLogger, type Logger, SecretRedactor } from '../../lib/log';

export interface CapturedLogs {
  /** Every JSON line written, in order. */
  readonly lines: string[];
  /** Give it to the harness too, so the runtime registers its secrets where this logger scrubs. */
  readonly redactor: SecretRedactor;
  readonly logger: Logger;
}

export function captureLogs(level: 'debug' | 'info' = 'info'): CapturedLogs {
  const lines: string[] = [];
  const redactor = new SecretRedactor();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, redactor, logger: createLogger({ level, redactor, destination }) };
}

/** The business clock, offset from real time (Slack signatures keep using the real clock). */
export class Clock {
  private offsetMs = 0;
  readonly now = (): Date => new Date(Date.now() + this.offsetMs);
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/**
 * Polls `probe` until it returns something other than undefined, and returns that; after
 * `timeoutMs`, fails naming `what` (and `detail()`, e.g. a child process's output).
 */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, { timeoutMs = 30_000, detail }: { timeoutMs?: number; detail?: () => string } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The Confirm form of an `allow me` page, urlencoded as a browser sends it. */
export function confirmForm(html: string): string {
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
  return new URLSearchParams({ address: field('address'), form: field('form') }).toString();
}
