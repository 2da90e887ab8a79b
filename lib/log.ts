/**
 * Structured JSON logging (pino) with two layers of redaction:
 *
 * 1. by key: any field named like a credential (`password`, `token`, `authorization`, ...) is censored;
 * 2. by value: every secret the process handles (generated passwords, the bot token, the signing
 *    secret, API keys) is registered with a `SecretRedactor`, and each serialized line is scrubbed
 *    of those values before it is written, wherever they hide (messages, error stacks, URLs).
 */
import { randomBytes } from 'node:crypto';
import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

const REDACTED = '[REDACTED]';

/** Keys censored wherever they appear (two levels deep, plus common wrappers). */
const SENSITIVE_KEYS = [
  'password',
  'newPassword',
  'token',
  'botToken',
  'apiKey',
  'signingSecret',
  'secret',
  'SecretString',
  'authorization',
  'Authorization',
  'connectionString',
];
const REDACT_PATHS = SENSITIVE_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `headers.${k.toLowerCase()}`]);

/** The set of secret values this process must never write. Shared by every logger it creates. */
export class SecretRedactor {
  private readonly values = new Set<string>();

  /** Registers a value (ignores short strings, which would redact ordinary words). */
  add(value: string | undefined): void {
    if (value === undefined || value.length < 8) return;
    this.values.add(value);
    // JSON-escaped and URL-encoded forms appear in serialized lines too.
    const jsonForm = JSON.stringify(value).slice(1, -1);
    if (jsonForm !== value) this.values.add(jsonForm);
    const urlForm = encodeURIComponent(value);
    if (urlForm !== value) this.values.add(urlForm);
  }

  /** Registers every spelling of one secret (e.g. `passwordRenderings(password)`). */
  addAll(values: Iterable<string>): void {
    for (const value of values) this.add(value);
  }

  scrub(text: string): string {
    let out = text;
    for (const value of this.values) {
      if (out.includes(value)) out = out.split(value).join(REDACTED);
    }
    return out;
  }

  get size(): number {
    return this.values.size;
  }
}

export interface LoggerOptions {
  readonly level?: string;
  readonly name?: string;
  readonly redactor?: SecretRedactor;
  /** Where lines go; default stdout (Lambda ships it to CloudWatch). Tests pass a capture stream. */
  readonly destination?: DestinationStream;
  readonly base?: Record<string, unknown>;
}

/** The Lambda invocation being served, as every log line names it (`enterInvocation`). */
export interface InvocationIds {
  readonly awsRequestId: string;
  readonly functionName: string;
}

let invocation: InvocationIds | undefined;

/**
 * Wraps a Lambda entry point (the `handler` each of handlers/*.ts exports): from the start of an
 * invocation on, every line of every logger names it (`awsRequestId`, `functionName`), so
 * CloudWatch Logs Insights finds all of one invocation's lines, and Lambda's own REPORT line, by
 * one id. A module variable, not AsyncLocalStorage: an execution environment serves one
 * invocation at a time, and the ack path pays nothing for it. Local mode and the tests call the
 * handler factories unwrapped (one process serves many "invocations" at once there), so their
 * lines carry neither field.
 */
export function invocationLogged<E, C extends { readonly awsRequestId: string; readonly functionName: string }, R>(handler: (event: E, context: C) => Promise<R>): (event: E, context: C) => Promise<R> {
  return async function invocationLoggedHandler(event: E, context: C): Promise<R> {
    invocation = { awsRequestId: context.awsRequestId, functionName: context.functionName };
    return handler(event, context);
  };
}

export function createLogger({ level = 'info', name = 'crdb-chatops', redactor, destination, base }: LoggerOptions = {}): Logger {
  return pino(
    {
      name,
      level,
      base: base ?? null,
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      mixin: () => invocation ?? {},
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      hooks: redactor ? { streamWrite: (line: string) => redactor.scrub(line) } : {},
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that writes nothing, for code paths that take an optional logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * A reference for a failure told to a person as "something went wrong": short enough to read out,
 * logged as `ref` on the line with the details, so the bot team finds them from what the person
 * quotes. Random, and never derived from anything secret.
 */
export function failureReference(): string {
  return randomBytes(4).toString('hex');
}
