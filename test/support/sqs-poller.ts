/**
 * Lambda's SQS event source mapping, played by hand against a real (or stand-in) SQS queue: one
 * `poll()` receives a batch (batch size 1, as deployed), invokes the function with the SQSEvent
 * Lambda would build from it, and, with ReportBatchItemFailures, deletes the messages the function
 * did not list in `batchItemFailures`. The others are left alone: they come back when their
 * visibility ends, which is whatever the function set (ChangeMessageVisibility), else the
 * queue's default. A function that throws (or times out) fails the whole batch, deleting nothing;
 * so does a response naming a message that was not in the batch.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { type Context, type SQSBatchResponse, type SQSEvent, type SQSRecord } from 'aws-lambda';

export type SqsFunction = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export interface SqsPollerOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  /** The `eventSourceARN` of the records. */
  readonly queueArn: string;
  readonly function: SqsFunction;
  /** Default 1 (infra: the worker's event source mapping). */
  readonly batchSize?: number;
  readonly region?: string;
}

export interface SqsInvocation {
  readonly event: SQSEvent;
  /** What the function answered, or that it threw. */
  readonly outcome: { kind: 'answered'; response: SQSBatchResponse | void } | { kind: 'threw'; error: unknown };
  /** Message ids deleted after the invocation. */
  readonly deleted: readonly string[];
}

export class SqsPoller {
  readonly invocations: SqsInvocation[] = [];
  private readonly o: SqsPollerOptions;

  constructor(options: SqsPollerOptions) {
    this.o = options;
  }

  /** One receive and, if it got messages, one invocation. Undefined when nothing was receivable. */
  async poll(): Promise<SqsInvocation | undefined> {
    const received = await this.o.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.o.queueUrl,
        MaxNumberOfMessages: this.o.batchSize ?? 1,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 0,
      }),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) return undefined;
    const event: SQSEvent = { Records: messages.map((m) => this.record(m)) };
    const context = { awsRequestId: `esm-${this.invocations.length + 1}`, functionName: 'worker' } as Context;
    let outcome: SqsInvocation['outcome'];
    try {
      outcome = { kind: 'answered', response: await this.o.function(event, context) };
    } catch (error) {
      outcome = { kind: 'threw', error };
    }
    const deleted: string[] = [];
    const failed = this.failedIds(event, outcome);
    for (const record of event.Records) {
      if (failed.has(record.messageId)) continue;
      await this.o.client.send(new DeleteMessageCommand({ QueueUrl: this.o.queueUrl, ReceiptHandle: record.receiptHandle }));
      deleted.push(record.messageId);
    }
    const invocation: SqsInvocation = { event, outcome, deleted };
    this.invocations.push(invocation);
    return invocation;
  }

  /** Polls until a receive comes back empty; the invocations made. */
  async drain(maxPolls = 50): Promise<SqsInvocation[]> {
    const made: SqsInvocation[] = [];
    for (let i = 0; i < maxPolls; i++) {
      const invocation = await this.poll();
      if (invocation === undefined) return made;
      made.push(invocation);
    }
    throw new Error(`the queue still had receivable messages after ${maxPolls} polls`);
  }

  /** Lambda's reading of the response: everything failed if the function threw or answered nonsense. */
  private failedIds(event: SQSEvent, outcome: SqsInvocation['outcome']): Set<string> {
    const all = new Set(event.Records.map((r) => r.messageId));
    if (outcome.kind === 'threw') return all;
    const failures = outcome.response?.batchItemFailures ?? [];
    const ids = failures.map((f) => f.itemIdentifier);
    if (ids.some((id) => typeof id !== 'string' || !all.has(id))) return all;
    return new Set(ids);
  }

  private record(message: Message): SQSRecord {
    const a = message.Attributes ?? {};
    const region = this.o.region ?? 'us-east-1';
    return {
      messageId: message.MessageId ?? '',
      receiptHandle: message.ReceiptHandle ?? '',
      body: message.Body ?? '',
      attributes: {
        ApproximateReceiveCount: a.ApproximateReceiveCount ?? '',
        SentTimestamp: a.SentTimestamp ?? '',
        SenderId: a.SenderId ?? '',
        ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? '',
        ...(a.SequenceNumber !== undefined ? { SequenceNumber: a.SequenceNumber } : {}),
        ...(a.MessageGroupId !== undefined ? { MessageGroupId: a.MessageGroupId } : {}),
        ...(a.MessageDeduplicationId !== undefined ? { MessageDeduplicationId: a.MessageDeduplicationId } : {}),
      },
      messageAttributes: {},
      md5OfBody: message.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.o.queueArn,
      awsRegion: region,
    };
  }
}
