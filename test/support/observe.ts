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
