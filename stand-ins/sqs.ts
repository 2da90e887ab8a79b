/**
 * An SQS FIFO queue stand-in speaking the AWS JSON 1.0 protocol `@aws-sdk/client-sqs` uses
 * (`POST /`, `X-Amz-Target: AmazonSQS.<Operation>`, `__type` + `x-amzn-query-error` errors), so
 * the real SDK — serialisation, error parsing, the MD5 checks of bodies on send and receive — runs
 * against it unchanged. The slack function's `SendMessage` and the worker's
 * `ChangeMessageVisibility` run exactly their Lambda code path (`SqsJobQueue`); a test plays
 * Lambda's event source mapping with `ReceiveMessage` / `DeleteMessage` (test/support/sqs-poller.ts).
 *
 * Semantics, as SQS has them for a FIFO queue:
 * - `SendMessage`: the queue URL, `MessageGroupId` and `MessageDeduplicationId` are required; a
 *   duplicate within five minutes is accepted and dropped (same MessageId).
 * - `ReceiveMessage` (MaxNumberOfMessages 1–10, VisibilityTimeout 0–43200, WaitTimeSeconds 0–20):
 *   messages of a group in send order; never a message of a group while another message of that
 *   group is in flight. A received message is invisible for the request's VisibilityTimeout, else
 *   the queue's (`visibilityTimeoutSeconds`); each receive gets a new receipt handle and counts
 *   (`ApproximateReceiveCount`). With `maxReceiveCount`, a message that would be received once more
 *   goes to `deadLetters` instead (the redrive policy). Long polling is not played: an empty
 *   queue answers at once.
 * - `DeleteMessage`: with the receipt handle of the message's latest receive, while it is still in
 *   flight (FIFO: an expired handle fails with "The receipt handle has expired.", a superseded one
 *   with `ReceiptHandleIsInvalid`); deleting a deleted message again with its latest handle succeeds.
 * - `ChangeMessageVisibility` (0–43200 s, and at most 12 h after the receive): from now; a handle
 *   never issued or superseded by a later receive is `ReceiptHandleIsInvalid`, a message no longer
 *   in flight `MessageNotInflight`.
 * - Time is the injectable `now` (default `Date.now`): a test advances a `ManualClock` instead of
 *   sleeping, and asks whether a message is receivable just before and just after a deadline.
 *
 * Malformed calls (wrong queue URL, missing or out-of-range parameters, other operations) are
 * answered as SQS answers them and recorded in `violations`; errors of state (an expired or
 * superseded handle, a message not in flight) are recorded in `errors`. Every call is in `calls`.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { close, listen } from './http';

export interface SqsMessage {
  readonly messageId: string;
  readonly body: string;
  readonly groupId: string;
  readonly deduplicationId: string;
  /** The stand-in clock at the send. */
  readonly sentAt: number;
  readonly sequenceNumber: string;
}

export interface SqsStandInOptions {
  /** Default `crdb-chatops-jobs.fifo`. */
  readonly queueName?: string;
  readonly accountId?: string;
  /** The queue's default visibility timeout; default 30 (SQS's default). */
  readonly visibilityTimeoutSeconds?: number;
  /** The redrive policy's maxReceiveCount; default none (messages are never dead-lettered). */
  readonly maxReceiveCount?: number;
  /** The clock (ms since the epoch) of visibility, timestamps and deduplication; default `Date.now`. */
  readonly now?: () => number;
}

export interface SqsCall {
  /** From `X-Amz-Target`, without `AmazonSQS.`. */
  readonly operation: string;
  readonly input: Record<string, unknown>;
  /** The stand-in clock at arrival. */
  readonly at: number;
  /** The error's type, when the answer was an error. */
  errorType?: string;
}

/** Where a message is, for assertions. */
export interface SqsMessageState {
  readonly message: SqsMessage;
  readonly state: 'visible' | 'in-flight' | 'deleted' | 'dead-lettered';
  readonly receiveCount: number;
  /** When an in-flight message becomes visible again (stand-in clock). */
  readonly visibleAt: number;
}

/** A clock a test moves by hand. */
export class ManualClock {
  constructor(private time = Date.now()) {}
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

const JSON_10 = 'application/x-amz-json-1.0';
const DEDUPLICATION_WINDOW_MS = 5 * 60_000;
const MAX_VISIBILITY_SECONDS = 12 * 60 * 60;

/** Status and `x-amzn-query-error` code of each error, as the SDK's model has them. */
const ERRORS: Record<string, { status: number; queryCode: string }> = {
  ReceiptHandleIsInvalid: { status: 404, queryCode: 'ReceiptHandleIsInvalid' },
  MessageNotInflight: { status: 400, queryCode: 'AWS.SimpleQueueService.MessageNotInflight' },
  QueueDoesNotExist: { status: 400, queryCode: 'AWS.SimpleQueueService.NonExistentQueue' },
  UnsupportedOperation: { status: 400, queryCode: 'AWS.SimpleQueueService.UnsupportedOperation' },
  InvalidParameterValue: { status: 400, queryCode: 'InvalidParameterValue' },
  MissingParameter: { status: 400, queryCode: 'MissingParameter' },
  SerializationException: { status: 400, queryCode: 'SerializationException' },
};

class SqsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    /** A malformed call (a `violation`), rather than a call the queue's state refuses. */
    readonly violation: boolean,
  ) {
    super(message);
  }
}

interface Stored {
  readonly message: SqsMessage;
  receiveCount: number;
  firstReceivedAt?: number;
  /** The latest receive: its handle, when it happened, and when the message is visible again. */
  receiptHandle?: string;
  receivedAt: number;
  visibleAt: number;
  state: 'queued' | 'deleted' | 'dead-lettered';
}

export class SqsStandIn {
  /** Every message accepted, in send order (duplicates dropped), deleted or not. */
  readonly messages: SqsMessage[] = [];
  /** Messages moved by the redrive policy, as the dead-letter queue would hold them. */
  readonly deadLetters: SqsMessage[] = [];
  readonly violations: string[] = [];
  /** Refusals because of the queue's state (expired handle, message not in flight). */
  readonly errors: string[] = [];
  readonly calls: SqsCall[] = [];
  /** Every SendMessage call, duplicates included. */
  sendCount = 0;
  private readonly queueName: string;
  private readonly accountId: string;
  private readonly visibilityTimeoutSeconds: number;
  private readonly maxReceiveCount: number | undefined;
  private readonly now: () => number;
  private readonly seen = new Map<string, { at: number; messageId: string }>();
  /** Messages by id, and every receipt handle ever issued (to tell a stale handle from a forged one). */
  private readonly stored = new Map<string, Stored>();
  private readonly handles = new Map<string, Stored>();
  private server: Server | undefined;
  private endpointUrl: string | undefined;
  private sequence = 0n;

  constructor({ queueName = 'crdb-chatops-jobs.fifo', accountId = '000000000000', visibilityTimeoutSeconds = 30, maxReceiveCount, now = Date.now }: SqsStandInOptions = {}) {
    this.queueName = queueName;
    this.accountId = accountId;
    this.visibilityTimeoutSeconds = visibilityTimeoutSeconds;
    this.maxReceiveCount = maxReceiveCount;
    this.now = now;
  }

  async start(): Promise<{ endpoint: string; queueUrl: string }> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.violations.push(`stand-in failure: ${String(error)}`);
        if (!res.headersSent) this.reply(res, 500, { __type: 'com.amazonaws.sqs#InternalError', message: String(error) });
      });
    });
    server.keepAliveTimeout = 5_000;
    const port = await listen(server);
    this.server = server;
    this.endpointUrl = `http://127.0.0.1:${port}`;
    return { endpoint: this.endpoint, queueUrl: this.queueUrl };
  }

  get endpoint(): string {
    if (this.endpointUrl === undefined) throw new Error('SqsStandIn is not started');
    return this.endpointUrl;
  }

  get queueUrl(): string {
    return `${this.endpoint}/${this.accountId}/${this.queueName}`;
  }

  /** The queue's ARN (an event source mapping's `eventSourceARN`). */
  get queueArn(): string {
    return `arn:aws:sqs:us-east-1:${this.accountId}:${this.queueName}`;
  }

  /** The calls of one operation, oldest first. */
  callsOf(operation: string): SqsCall[] {
    return this.calls.filter((c) => c.operation === operation);
  }

  /** Where a message is now (stand-in clock). */
  messageState(messageId: string): SqsMessageState {
    const stored = this.stored.get(messageId);
    if (stored === undefined) throw new Error(`no message ${messageId}`);
    const state = stored.state === 'queued' ? (this.inFlight(stored) ? 'in-flight' : 'visible') : stored.state;
    return { message: stored.message, state, receiveCount: stored.receiveCount, visibleAt: stored.visibleAt };
  }

  /** Messages not deleted nor dead-lettered (SQS's ApproximateNumberOfMessages + …NotVisible). */
  get depth(): number {
    return [...this.stored.values()].filter((s) => s.state === 'queued').length;
  }

  reset(): void {
    this.messages.length = 0;
    this.deadLetters.length = 0;
    this.violations.length = 0;
    this.errors.length = 0;
    this.calls.length = 0;
    this.seen.clear();
    this.stored.clear();
    this.handles.clear();
    this.sendCount = 0;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await close(server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : target;
    let input: Record<string, unknown> | undefined;
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) input = parsed as Record<string, unknown>;
    } catch {
      // answered below
    }
    const call: SqsCall = { operation, input: input ?? {}, at: this.now() };
    this.calls.push(call);
    try {
      if (input === undefined) throw new SqsError('SerializationException', 'The request body is not a JSON object.', true);
      if (operation !== 'SendMessage' && operation !== 'ReceiveMessage' && operation !== 'DeleteMessage' && operation !== 'ChangeMessageVisibility') {
        throw new SqsError('UnsupportedOperation', `${target || '(no X-Amz-Target)'} is not emulated`, true);
      }
      if (input.QueueUrl !== this.queueUrl) throw new SqsError('QueueDoesNotExist', `The specified queue ${String(input.QueueUrl)} does not exist.`, true);
      const output =
        operation === 'SendMessage'
          ? this.send(input)
          : operation === 'ReceiveMessage'
            ? this.receive(input)
            : operation === 'DeleteMessage'
              ? this.delete(input)
              : this.changeVisibility(input);
      this.reply(res, 200, output);
    } catch (error) {
      if (!(error instanceof SqsError)) throw error;
      call.errorType = error.type;
      (error.violation ? this.violations : this.errors).push(`${operation}: ${error.type}: ${error.message}`);
      const { status, queryCode } = ERRORS[error.type] ?? { status: 400, queryCode: error.type };
      this.reply(res, status, { __type: `com.amazonaws.sqs#${error.type}`, message: error.message }, { 'x-amzn-query-error': `${queryCode};Sender` });
    }
  }

  private send(input: Record<string, unknown>): Record<string, unknown> {
    const body = input.MessageBody;
    const groupId = input.MessageGroupId;
    const deduplicationId = input.MessageDeduplicationId;
    if (typeof body !== 'string' || body === '') throw new SqsError('InvalidParameterValue', 'MessageBody is required.', true);
    if (typeof groupId !== 'string' || groupId === '') throw new SqsError('MissingParameter', 'The request must contain the parameter MessageGroupId.', true);
    if (typeof deduplicationId !== 'string' || deduplicationId === '' || deduplicationId.length > 128) {
      throw new SqsError('InvalidParameterValue', 'MessageDeduplicationId is required (the queue has no content-based deduplication).', true);
    }
    if (input.DelaySeconds !== undefined) throw new SqsError('InvalidParameterValue', 'The request include parameter that is not valid for this queue type.', true);
    this.sendCount++;
    const now = this.now();
    const earlier = this.seen.get(deduplicationId);
    this.sequence += 1n;
    const sequenceNumber = String(18_000_000_000_000_000_000n + this.sequence);
    let messageId: string;
    if (earlier !== undefined && now - earlier.at < DEDUPLICATION_WINDOW_MS) {
      messageId = earlier.messageId;
    } else {
      messageId = randomUUID();
      this.seen.set(deduplicationId, { at: now, messageId });
      const message: SqsMessage = { messageId, body, groupId, deduplicationId, sentAt: now, sequenceNumber };
      this.messages.push(message);
      this.stored.set(messageId, { message, receiveCount: 0, receivedAt: 0, visibleAt: now, state: 'queued' });
    }
    return { MessageId: messageId, MD5OfMessageBody: md5(body), SequenceNumber: sequenceNumber };
  }

  private receive(input: Record<string, unknown>): Record<string, unknown> {
    const max = integerIn(input, 'MaxNumberOfMessages', 1, 10) ?? 1;
    const visibilitySeconds = integerIn(input, 'VisibilityTimeout', 0, MAX_VISIBILITY_SECONDS) ?? this.visibilityTimeoutSeconds;
    integerIn(input, 'WaitTimeSeconds', 0, 20);
    const wanted = new Set([...stringList(input, 'AttributeNames'), ...stringList(input, 'MessageSystemAttributeNames')]);
    const now = this.now();

    const queued = [...this.stored.values()].filter((s) => s.state === 'queued');
    const blocked = new Set(queued.filter((s) => this.inFlight(s)).map((s) => s.message.groupId));
    const taken: Stored[] = [];
    // Oldest group first; within a group, its messages in order, as many as the batch holds.
    for (const stored of queued) {
      if (taken.length >= max) break;
      const group = stored.message.groupId;
      if (blocked.has(group)) continue;
      if (this.maxReceiveCount !== undefined && stored.receiveCount >= this.maxReceiveCount) {
        stored.state = 'dead-lettered';
        this.deadLetters.push(stored.message);
        continue;
      }
      taken.push(stored);
    }
    for (const stored of taken) {
      stored.receiveCount += 1;
      stored.firstReceivedAt ??= now;
      stored.receivedAt = now;
      stored.visibleAt = now + visibilitySeconds * 1000;
      stored.receiptHandle = randomBytes(96).toString('base64');
      this.handles.set(stored.receiptHandle, stored);
    }
    if (taken.length === 0) return {};
    return { Messages: taken.map((s) => this.wire(s, wanted)) };
  }

  private delete(input: Record<string, unknown>): Record<string, unknown> {
    const stored = this.byHandle(input.ReceiptHandle);
    if (stored.state === 'deleted') return {};
    if (stored.state === 'dead-lettered' || !this.inFlight(stored)) {
      throw new SqsError('InvalidParameterValue', `Value ${String(input.ReceiptHandle)} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.`, false);
    }
    stored.state = 'deleted';
    return {};
  }

  private changeVisibility(input: Record<string, unknown>): Record<string, unknown> {
    const seconds = integerIn(input, 'VisibilityTimeout', 0, MAX_VISIBILITY_SECONDS);
    if (seconds === undefined) throw new SqsError('MissingParameter', 'The request must contain the parameter VisibilityTimeout.', true);
    const stored = this.byHandle(input.ReceiptHandle);
    if (stored.state === 'deleted') throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle "${String(input.ReceiptHandle)}" is not a valid receipt handle.`, false);
    if (stored.state === 'dead-lettered' || !this.inFlight(stored)) {
      throw new SqsError('MessageNotInflight', 'The message referred to is not in flight.', false);
    }
    const now = this.now();
    if (now + seconds * 1000 > stored.receivedAt + MAX_VISIBILITY_SECONDS * 1000) {
      throw new SqsError('InvalidParameterValue', `Value ${seconds} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds].`, true);
    }
    stored.visibleAt = now + seconds * 1000;
    return {};
  }

  /** The message of the latest receive with this handle; a forged or superseded handle is invalid. */
  private byHandle(handle: unknown): Stored {
    if (typeof handle !== 'string' || handle === '') throw new SqsError('MissingParameter', 'The request must contain the parameter ReceiptHandle.', true);
    const stored = this.handles.get(handle);
    if (stored === undefined || stored.receiptHandle !== handle) {
      throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle "${handle}" is not a valid receipt handle.`, stored === undefined);
    }
    return stored;
  }

  private inFlight(stored: Stored): boolean {
    return stored.state === 'queued' && stored.receiptHandle !== undefined && stored.visibleAt > this.now();
  }

  private wire(stored: Stored, wanted: ReadonlySet<string>): Record<string, unknown> {
    const all: Record<string, string> = {
      SenderId: `AROAEXAMPLE:${this.accountId}`,
      SentTimestamp: String(stored.message.sentAt),
      ApproximateReceiveCount: String(stored.receiveCount),
      ApproximateFirstReceiveTimestamp: String(stored.firstReceivedAt ?? stored.receivedAt),
      SequenceNumber: stored.message.sequenceNumber,
      MessageDeduplicationId: stored.message.deduplicationId,
      MessageGroupId: stored.message.groupId,
    };
    const attributes = Object.fromEntries(Object.entries(all).filter(([name]) => wanted.has('All') || wanted.has(name)));
    return {
      MessageId: stored.message.messageId,
      ReceiptHandle: stored.receiptHandle,
      MD5OfBody: md5(stored.message.body),
      Body: stored.message.body,
      ...(Object.keys(attributes).length > 0 ? { Attributes: attributes } : {}),
    };
  }

  private reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': JSON_10, 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID(), ...headers });
    res.end(text);
  }
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** An optional integer parameter within SQS's bounds. */
function integerIn(input: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SqsError('InvalidParameterValue', `Value ${JSON.stringify(value)} for parameter ${name} is invalid. Reason: Must be between ${min} and ${max}.`, true);
  }
  return value;
}

function stringList(input: Record<string, unknown>, name: string): string[] {
  const value = input[name];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new SqsError('InvalidParameterValue', `${name} must be a list of strings.`, true);
  return value;
}
