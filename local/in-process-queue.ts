/**
 * The job queue in one process (local mode and tests). It builds real SQS event records and hands
 * them to the same `processJobBatch` the Lambda worker runs, with SQS's semantics: one message at
 * a time per group, deduplication for five minutes, redelivery of failed messages with an
 * increasing receive count, and a dead-letter list after `maxReceiveCount`. With
 * `duplicateDeliveries`, it also plays SQS's at-least-once delivery: every message comes back that
 * many more times after it was handled (as when a delete is lost), so consumers prove they are
 * idempotent.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type SQSBatchResponse, type SQSEvent, type SQSRecord } from 'aws-lambda';
import { type Logger } from '../lib/log';
import { parseJob } from '../lib/queue/job-schema';
import { type EnqueueOptions, type Job, type JobQueue } from '../lib/requests/jobs';

export interface InProcessJobQueueOptions {
  /** The worker: a Lambda-shaped SQS handler. */
  readonly deliver: (event: SQSEvent) => Promise<SQSBatchResponse | void>;
  readonly logger: Logger;
  readonly maxReceiveCount?: number;
  /** Delay before redelivering a failed message (SQS: the visibility timeout). */
  readonly redeliveryDelayMs?: (receiveCount: number) => number;
  readonly deduplicationWindowMs?: number;
  /**
   * Deliver each message this many extra times after it was handled successfully, with the next
   * receive count (SQS is at-least-once: a delete can be lost). Default 0.
   */
  readonly duplicateDeliveries?: number;
}

interface Message {
  readonly id: string;
  readonly body: string;
  readonly groupId: string;
  readonly deduplicationId: string;
  receiveCount: number;
  /** Set by `retryIn` for the next redelivery (SQS: the changed visibility timeout). */
  retryInMs?: number;
}

export class InProcessJobQueue implements JobQueue {
  /** Messages that exhausted their receives, as a DLQ would keep them. */
  readonly deadLetters: Job[] = [];
  /** Deliveries made: all of them, redeliveries after a failure, and at-least-once duplicates. */
  readonly stats = { deliveries: 0, redeliveries: 0, duplicates: 0 };
  private readonly groups = new Map<string, Promise<void>>();
  private readonly seen = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  private readonly o: InProcessJobQueueOptions;

  constructor(options: InProcessJobQueueOptions) {
    this.o = options;
  }

  enqueue(job: Job, { deduplicationId, groupId }: EnqueueOptions): Promise<void> {
    const now = Date.now();
    const window = this.o.deduplicationWindowMs ?? 5 * 60_000;
    for (const [id, at] of this.seen) if (now - at > window) this.seen.delete(id);
    if (this.seen.has(deduplicationId)) return Promise.resolve();
    this.seen.set(deduplicationId, now);
    const message: Message = { id: randomUUID(), body: JSON.stringify(job), groupId, deduplicationId, receiveCount: 0 };
    const previous = this.groups.get(groupId) ?? Promise.resolve();
    const run = previous.then(() => this.deliverUntilDone(message));
    const tracked = run.finally(() => {
      this.pending.delete(tracked);
      if (this.groups.get(groupId) === run) this.groups.delete(groupId);
    });
    this.groups.set(groupId, run);
    this.pending.add(tracked);
    return Promise.resolve();
  }

  /** Messages in flight, by the receipt handle of their current delivery. */
  private readonly inFlight = new Map<string, Message>();

  retryIn(receiptHandle: string, delayMs: number): Promise<void> {
    const message = this.inFlight.get(receiptHandle);
    if (message !== undefined) message.retryInMs = delayMs;
    return Promise.resolve();
  }

  /** Resolves when every job enqueued so far, and every job they enqueued, has finished. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async deliverUntilDone(message: Message): Promise<void> {
    const max = this.o.maxReceiveCount ?? 5;
    if (!(await this.deliverOnce(message))) return;
    // A duplicate past the receive limit would go to the dead-letter queue undelivered: not worth playing.
    for (let extra = 0; extra < (this.o.duplicateDeliveries ?? 0) && message.receiveCount < max; extra++) {
      this.stats.duplicates += 1;
      if (!(await this.deliverOnce(message))) return;
    }
  }

  /** Delivers until the worker handles the message (true), or it is dead-lettered (false). */
  private async deliverOnce(message: Message): Promise<boolean> {
    const max = this.o.maxReceiveCount ?? 5;
    for (let attempt = 0; ; attempt++) {
      message.receiveCount += 1;
      this.stats.deliveries += 1;
      if (attempt > 0) this.stats.redeliveries += 1;
      let failed: boolean;
      const record = this.record(message);
      message.retryInMs = undefined;
      this.inFlight.set(record.receiptHandle, message);
      try {
        const response = await this.o.deliver({ Records: [record] });
        failed = (response?.batchItemFailures ?? []).some((f) => f.itemIdentifier === message.id);
      } catch (error) {
        this.o.logger.error({ event: 'queue.handler-threw', err: error }, 'worker threw');
        failed = true;
      } finally {
        this.inFlight.delete(record.receiptHandle);
      }
      if (!failed) return true;
      if (message.receiveCount >= max) {
        const job = parseJob(message.body);
        if (job) this.deadLetters.push(job);
        this.o.logger.error({ event: 'queue.dead-letter', groupId: message.groupId }, 'job moved to the dead-letter list');
        return false;
      }
      // A fixed test delay wins; else the delay the worker asked for, as SQS honours it.
      await sleep(this.o.redeliveryDelayMs?.(message.receiveCount) ?? message.retryInMs ?? 50 * 2 ** message.receiveCount);
    }
  }

  private record(message: Message): SQSRecord {
    const now = String(Date.now());
    return {
      messageId: message.id,
      receiptHandle: `local-${message.id}-${message.receiveCount}`,
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: now,
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: now,
        MessageGroupId: message.groupId,
        MessageDeduplicationId: message.deduplicationId,
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:local:000000000000:crdb-chatops-jobs.fifo',
      awsRegion: 'local',
    };
  }
}
