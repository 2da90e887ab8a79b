/**
 * The worker's loop over one SQS batch: each message parsed by the job schema (./job-schema.ts),
 * run, and reported per message when it fails (partial batch response), with the delay before
 * its next delivery (`JOB_REDELIVERY`, or what the failure asked for).
 */
import { type SQSBatchResponse, type SQSEvent } from 'aws-lambda';
import { type Logger } from '../log';
import { type Job, type JobQueue } from '../requests/jobs';
import { JOB_REDELIVERY } from '../retry-policies';
import { parseJob } from './job-schema';

/** Backoff of a retried job (`JOB_REDELIVERY`): 2 s, 4 s, 8 s, … at most a minute, with jitter (half fixed, half random). */
export const RETRY_BASE_MS = JOB_REDELIVERY.baseMs;
export const RETRY_CAP_MS = JOB_REDELIVERY.capMs;
export function retryDelayMs(receiveCount: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, receiveCount - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** How long the failed job should wait: what the failure asked for (a 429's Retry-After), else the backoff. */
function delayAfter(error: unknown, receiveCount: number): number {
  const asked = typeof error === 'object' && error !== null && 'retryAfterMs' in error ? Number((error as { retryAfterMs?: unknown }).retryAfterMs) : Number.NaN;
  return Number.isFinite(asked) && asked > 0 ? Math.min(RETRY_CAP_MS, asked) : retryDelayMs(receiveCount);
}

export interface JobRunner {
  run(job: Job, options: { finalAttempt: boolean }): Promise<void>;
}

/**
 * The worker's loop over one SQS batch. Failures are reported per message (partial batch
 * response); after the first failure the rest of the batch is reported too, because FIFO order
 * within a group must hold and the batch may mix groups.
 */
export async function processJobBatch(
  event: SQSEvent,
  runner: JobRunner,
  { maxReceiveCount, logger, queue }: { maxReceiveCount: number; logger: Logger; queue?: Pick<JobQueue, 'retryIn'> },
): Promise<SQSBatchResponse> {
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    if (failures.length > 0) {
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    const job = parseJob(record.body);
    if (job === undefined) {
      logger.error({ event: 'job.poison', messageId: record.messageId }, 'unreadable job dropped');
      continue;
    }
    const receiveCount = Number(record.attributes.ApproximateReceiveCount) || 1;
    try {
      await runner.run(job, { finalAttempt: receiveCount >= maxReceiveCount });
    } catch (error) {
      // Back in seconds, not after the visibility timeout: the worker never sleeps, the queue waits.
      const delayMs = delayAfter(error, receiveCount);
      logger.warn({ event: 'job.failed', messageId: record.messageId, type: job.type, receiveCount, retryInMs: delayMs, err: error }, 'job failed; it will be delivered again');
      failures.push({ itemIdentifier: record.messageId });
      try {
        await queue?.retryIn?.(record.receiptHandle, delayMs);
      } catch (visibilityError) {
        // The message comes back after the visibility timeout instead.
        logger.warn({ event: 'job.retry-delay-failed', messageId: record.messageId, err: visibilityError }, 'could not set the retry delay');
      }
    }
  }
  return { batchItemFailures: failures };
}
