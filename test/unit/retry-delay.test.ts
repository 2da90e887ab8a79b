/**
 * The backoff of a failed job (`retryDelayMs`) and what the worker's batch loop asks the queue
 * for: 2 s, 4 s, 8 s, … capped at a minute, half fixed and half jitter; a Retry-After wins (capped
 * too); `SqsJobQueue` turns it into whole seconds of visibility.
 */
import { type SQSClient } from '@aws-sdk/client-sqs';
import { type SQSEvent } from 'aws-lambda';
import { RateLimitedError, UnavailableError } from '../../lib/cluster-admin/errors';
import { createLogger } from '../../lib/log';
import { processJobBatch, RETRY_BASE_MS, RETRY_CAP_MS, retryDelayMs } from '../../lib/queue/batch';
import { SqsJobQueue } from '../../lib/queue/sqs';

describe('retryDelayMs', () => {
  // [receive count, lowest, highest]: the ceiling doubles from 2 s, at most 60 s; the delay is in [ceiling/2, ceiling].
  const bounds: Array<[number, number, number]> = [
    [1, 1_000, 2_000],
    [2, 2_000, 4_000],
    [3, 4_000, 8_000],
    [4, 8_000, 16_000],
    [5, 16_000, 32_000],
    [6, 30_000, 60_000],
    [7, 30_000, 60_000],
    [1_000, 30_000, 60_000],
  ];

  it.each(bounds)('receive count %i: from %i ms (no jitter) to %i ms (full jitter)', (count, low, high) => {
    expect(retryDelayMs(count, () => 0)).toBe(low);
    expect(retryDelayMs(count, () => 1)).toBe(high);
    expect(retryDelayMs(count, () => 0.5)).toBe(Math.round((low + high) / 2));
  });

  it('stays within the bounds with the real jitter, and never exceeds the cap', () => {
    for (const [count, low, high] of bounds) {
      for (let i = 0; i < 200; i++) {
        const delay = retryDelayMs(count);
        expect(delay).toBeGreaterThanOrEqual(low);
        expect(delay).toBeLessThanOrEqual(high);
        expect(delay).toBeLessThanOrEqual(RETRY_CAP_MS);
      }
    }
  });

  it('treats a missing or zero receive count as the first', () => {
    expect(retryDelayMs(0, () => 1)).toBe(RETRY_BASE_MS);
    expect(retryDelayMs(-3, () => 0)).toBe(RETRY_BASE_MS / 2);
  });
});

describe('processJobBatch: the delay it asks the queue for', () => {
  const logger = createLogger({ level: 'silent' });
  const event = (receiveCount: number): SQSEvent => ({
    Records: [
      {
        messageId: 'm-1',
        receiptHandle: 'handle-1',
        body: JSON.stringify({ type: 'submit', requestId: 'r-1' }),
        attributes: { ApproximateReceiveCount: String(receiveCount), SentTimestamp: '0', SenderId: 'x', ApproximateFirstReceiveTimestamp: '0' },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q.fifo',
        awsRegion: 'us-east-1',
      },
    ],
  });
  async function askedDelay(error: Error, receiveCount: number): Promise<number[]> {
    const asked: number[] = [];
    const response = await processJobBatch(event(receiveCount), { run: () => Promise.reject(error) }, {
      maxReceiveCount: 5,
      logger,
      queue: { retryIn: (handle, delayMs) => (expect(handle).toBe('handle-1'), asked.push(delayMs), Promise.resolve()) },
    });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm-1' }]);
    return asked;
  }

  it('backs off by the receive count', async () => {
    const [first] = await askedDelay(new UnavailableError('down'), 1);
    expect(first).toBeGreaterThanOrEqual(1_000);
    expect(first).toBeLessThanOrEqual(2_000);
    const [third] = await askedDelay(new UnavailableError('down'), 3);
    expect(third).toBeGreaterThanOrEqual(4_000);
    expect(third).toBeLessThanOrEqual(8_000);
  });

  it("uses a RateLimitedError's retryAfterMs instead, at most the cap", async () => {
    await expect(askedDelay(new RateLimitedError('slow down', 45_000), 1)).resolves.toEqual([45_000]);
    await expect(askedDelay(new RateLimitedError('slow down', 120_000), 1)).resolves.toEqual([RETRY_CAP_MS]);
    const [unsaid] = await askedDelay(new RateLimitedError('slow down'), 1);
    expect(unsaid).toBeLessThanOrEqual(2_000);
  });

  it('still reports the failure when the queue cannot set the delay', async () => {
    const response = await processJobBatch(event(1), { run: () => Promise.reject(new UnavailableError('down')) }, {
      maxReceiveCount: 5,
      logger,
      queue: { retryIn: () => Promise.reject(new Error('SQS down too')) },
    });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm-1' }]);
  });
});

describe('SqsJobQueue.retryIn', () => {
  it('sets the visibility to the delay in whole seconds, rounded up, within SQS bounds', async () => {
    const sent: unknown[] = [];
    const client = { send: (command: { input: unknown }) => (sent.push(command.input), Promise.resolve({})) } as unknown as SQSClient;
    const queue = new SqsJobQueue({ client, queueUrl: 'https://sqs.example/q.fifo' });
    await queue.retryIn('h', 1_001);
    await queue.retryIn('h', 2_000);
    await queue.retryIn('h', 0);
    await queue.retryIn('h', 100 * 3_600_000);
    expect(sent).toEqual([
      { QueueUrl: 'https://sqs.example/q.fifo', ReceiptHandle: 'h', VisibilityTimeout: 2 },
      { QueueUrl: 'https://sqs.example/q.fifo', ReceiptHandle: 'h', VisibilityTimeout: 2 },
      { QueueUrl: 'https://sqs.example/q.fifo', ReceiptHandle: 'h', VisibilityTimeout: 0 },
      { QueueUrl: 'https://sqs.example/q.fifo', ReceiptHandle: 'h', VisibilityTimeout: 43_200 },
    ]);
  });
});
