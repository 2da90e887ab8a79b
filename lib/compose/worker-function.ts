/**
 * The worker function, composed (handlers/worker.ts is its Lambda entry point): each job of an SQS
 * FIFO batch runs through the job router (lib/queue/router.ts); failures are reported per message
 * (partial batch response), so only they are delivered again.
 */
import { type Context, type SQSBatchResponse, type SQSEvent } from 'aws-lambda';
import { MAX_RECEIVE_COUNT } from '../requests/jobs';
import { processJobBatch } from '../queue/batch';
import { type Runtime } from './runtime';

export function workerHandler(runtime: () => Runtime, maxReceiveCount = MAX_RECEIVE_COUNT) {
  return async (event: SQSEvent, _context: Context): Promise<SQSBatchResponse> => {
    const rt = runtime();
    return processJobBatch(event, await rt.router(), { maxReceiveCount, logger: rt.logger, queue: rt.queue });
  };
}
