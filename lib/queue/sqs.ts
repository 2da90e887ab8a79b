/**
 * The job queue on AWS: an SQS FIFO queue (deduplication id + message group), as deployed. The
 * ack path sends with it (through the table's stream relay), the worker delays retries with it.
 */
import { ChangeMessageVisibilityCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type EnqueueOptions, type Job, type JobQueue } from '../requests/jobs';

/** SQS FIFO: deduplication ids are at most 128 characters of this alphabet. */
function fifoId(text: string): string {
  return text.replace(/[^A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g, '_').slice(0, 128);
}

export interface SqsJobQueueOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
}

export class SqsJobQueue implements JobQueue {
  constructor(private readonly options: SqsJobQueueOptions) {}

  async enqueue(job: Job, { deduplicationId, groupId }: EnqueueOptions): Promise<void> {
    await this.options.client.send(
      new SendMessageCommand({
        QueueUrl: this.options.queueUrl,
        MessageBody: JSON.stringify(job),
        MessageGroupId: fifoId(groupId),
        MessageDeduplicationId: fifoId(deduplicationId),
      }),
    );
  }

  async retryIn(receiptHandle: string, delayMs: number): Promise<void> {
    await this.options.client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: this.options.queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: Math.min(MAX_VISIBILITY_SECONDS, Math.ceil(delayMs / 1000)) }),
    );
  }
}

/** SQS's ceiling on a message's visibility timeout. */
const MAX_VISIBILITY_SECONDS = 12 * 60 * 60;
