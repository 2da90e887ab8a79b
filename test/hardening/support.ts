/**
 * What the hardening files share: log capture, Slack's redelivery of a request, a redactor that
 * remembers what it was given, and the line each file prints with its figures (for the README).
 */
import { Writable } from 'node:stream';
import { createLogger, type Logger, SecretRedactor } from '../../lib/log';
import { type ChatRequest } from '../../lib/requests/types';
import { type BuiltRequest, type SlackAppResponse } from '../../stand-ins/slack';
import { type Harness, messageText, USERS } from '../support/app-harness';

export interface LogCapture {
  readonly lines: string[];
  readonly logger: Logger;
  /** Parsed records, optionally of one `event`. */
  records(event?: string): Array<Record<string, unknown>>;
}

/**
 * A pino logger writing JSON lines into memory, scrubbing with the redactor given (the runtime's,
 * one that knows nothing, or none), unlike `test/support/observe.ts`'s, which brings its own.
 */
export function captureLogs({ level = 'info', redactor }: { level?: string; redactor?: SecretRedactor } = {}): LogCapture {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return {
    lines,
    logger: createLogger({ level, destination, ...(redactor ? { redactor } : {}) }),
    records: (event) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => event === undefined || r.event === event),
  };
}

/** A redactor that also remembers every value it was asked to redact (the runtime registers each secret it handles). */
export class RecordingRedactor extends SecretRedactor {
  readonly seen = new Set<string>();

  override add(value: string | undefined): void {
    if (value !== undefined) this.seen.add(value);
    super.add(value);
  }
}

/**
 * Delivers one signed Slack request four times with the same body and signature (so the same
 * `trigger_id`): the original and Slack's retry #1 at once (the ack was slow), retry #2 right
 * after, and retry #3 once every job the first one queued has finished (a late retry, which finds
 * the work done). Returns the four answers, in that order.
 */
export async function deliverWithRetries(h: Harness, built: BuiltRequest<unknown>): Promise<SlackAppResponse[]> {
  const retry = (n: number) => ({ ...built.request, headers: { ...built.request.headers, 'X-Slack-Retry-Num': String(n), 'X-Slack-Retry-Reason': 'http_timeout' } });
  const first = await Promise.all([h.driver.send(built.request), h.driver.send(retry(1))]);
  const second = await h.driver.send(retry(2));
  await h.settle();
  const third = await h.driver.send(retry(3));
  return [...first, second, third];
}

/** Text of an app answer body (`{ text, blocks }` JSON), or the raw body. */
export function bodyText(response: SlackAppResponse): string {
  try {
    return messageText(JSON.parse(response.body) as { text?: string; blocks?: unknown[] });
  } catch {
    return response.body;
  }
}

/** Every request in the table made by the harness's people, newest first. */
export async function allRequests(h: Harness, requesters: readonly string[] = [...Object.values(USERS)]): Promise<ChatRequest[]> {
  const lists = await Promise.all(requesters.map((r) => h.runtime.store.listByRequester(r, 1_000)));
  return lists.flat();
}

/** Prints one file's figures as a block the README's Security section is built from. */
export function printFigures(title: string, figures: Readonly<Record<string, unknown>>): void {
  const width = Math.max(...Object.keys(figures).map((k) => k.length));
  const body = Object.entries(figures)
    .map(([k, v]) => `  ${k.padEnd(width)}  ${typeof v === 'number' ? v.toLocaleString('en-US') : String(v)}`)
    .join('\n');
  console.log(`[hardening] ${title}\n${body}`);
}
