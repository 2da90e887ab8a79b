/**
 * An SQS stand-in speaking the AWS JSON 1.0 protocol `@aws-sdk/client-sqs` uses, for the one call
 * the slack function makes: `SendMessage` to the FIFO job queue. With it the bundled handler runs
 * exactly its Lambda code path (`SqsJobQueue`, `QUEUE_URL`, the SDK's MD5 check of the body).
 *
 * Checked as SQS checks them: the queue URL, a FIFO queue's `MessageGroupId` and
 * `MessageDeduplicationId`; a duplicate within five minutes is accepted and dropped. Anything
 * else is answered `UnsupportedOperation` and recorded in `violations`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';

export interface SqsMessage {
  readonly messageId: string;
  readonly body: string;
  readonly groupId: string;
  readonly deduplicationId: string;
}

export interface SqsStandInOptions {
  /** Default `crdb-chatops-jobs.fifo`. */
  readonly queueName?: string;
  readonly accountId?: string;
}

const JSON_10 = 'application/x-amz-json-1.0';
const DEDUPLICATION_WINDOW_MS = 5 * 60_000;

export class SqsStandIn {
  readonly messages: SqsMessage[] = [];
  readonly violations: string[] = [];
  /** Every call, duplicates included. */
  sendCount = 0;
  private readonly queueName: string;
  private readonly accountId: string;
  private readonly seen = new Map<string, { at: number; messageId: string }>();
  private server: Server | undefined;
  private endpointUrl: string | undefined;
  private sequence = 0n;

  constructor({ queueName = 'crdb-chatops-jobs.fifo', accountId = '000000000000' }: SqsStandInOptions = {}) {
    this.queueName = queueName;
    this.accountId = accountId;
  }

  async start(): Promise<{ endpoint: string; queueUrl: string }> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.violations.push(`stand-in failure: ${String(error)}`);
        if (!res.headersSent) this.reply(res, 500, { __type: 'com.amazonaws.sqs#InternalError', message: String(error) });
      });
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.endpointUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { endpoint: this.endpoint, queueUrl: this.queueUrl };
  }

  get endpoint(): string {
    if (this.endpointUrl === undefined) throw new Error('SqsStandIn is not started');
    return this.endpointUrl;
  }

  get queueUrl(): string {
    return `${this.endpoint}/${this.accountId}/${this.queueName}`;
  }

  reset(): void {
    this.messages.length = 0;
    this.violations.length = 0;
    this.seen.clear();
    this.sendCount = 0;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target !== 'AmazonSQS.SendMessage') {
      this.violations.push(`unsupported operation ${target || '(no X-Amz-Target)'}`);
      return this.reply(res, 400, { __type: 'com.amazonaws.sqs#UnsupportedOperation', message: `${target} is not emulated` });
    }
    const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    const fail = (type: string, message: string): void => {
      this.violations.push(`${type}: ${message}`);
      this.reply(res, 400, { __type: `com.amazonaws.sqs#${type}`, message });
    };
    if (input.QueueUrl !== this.queueUrl) return fail('QueueDoesNotExist', `The specified queue ${String(input.QueueUrl)} does not exist.`);
    const body = input.MessageBody;
    const groupId = input.MessageGroupId;
    const deduplicationId = input.MessageDeduplicationId;
    if (typeof body !== 'string' || body === '') return fail('InvalidParameterValue', 'MessageBody is required.');
    if (typeof groupId !== 'string' || groupId === '') return fail('MissingParameter', 'The request must contain the parameter MessageGroupId.');
    if (typeof deduplicationId !== 'string' || deduplicationId === '' || deduplicationId.length > 128) {
      return fail('InvalidParameterValue', 'MessageDeduplicationId is required (the queue has no content-based deduplication).');
    }
    this.sendCount++;
    const now = Date.now();
    const earlier = this.seen.get(deduplicationId);
    let messageId: string;
    if (earlier !== undefined && now - earlier.at < DEDUPLICATION_WINDOW_MS) {
      messageId = earlier.messageId;
    } else {
      messageId = randomUUID();
      this.seen.set(deduplicationId, { at: now, messageId });
      this.messages.push({ messageId, body, groupId, deduplicationId });
    }
    this.sequence += 1n;
    this.reply(res, 200, {
      MessageId: messageId,
      MD5OfMessageBody: createHash('md5').update(body, 'utf8').digest('hex'),
      SequenceNumber: String(18_000_000_000_000_000_000n + this.sequence),
    });
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': JSON_10, 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID() });
    res.end(text);
  }
}
