/**
 * Lambda entry point for the job queue (SQS FIFO, partial batch responses): each job runs through
 * the request executor; failures are reported per message so only they are delivered again.
 */
import { type Context, type SQSBatchResponse, type SQSEvent } from 'aws-lambda';
import { loadConfig } from '../lib/config';
import { invocationLogged } from '../lib/log';
import { processJobBatch } from '../lib/requests/queue';
import { createRuntime, type Runtime } from '../lib/runtime';
import { EmfMetrics } from '../lib/emf-metrics';

import { MAX_RECEIVE_COUNT } from '../lib/requests/jobs';

export { MAX_RECEIVE_COUNT };

export function workerHandler(runtime: () => Runtime, maxReceiveCount = MAX_RECEIVE_COUNT) {
  return async (event: SQSEvent, _context: Context): Promise<SQSBatchResponse> => {
    const rt = runtime();
    const executor = await rt.executor();
    return processJobBatch(event, executor, { maxReceiveCount, logger: rt.logger, queue: rt.queue });
  };
}

let runtime: Runtime | undefined;

export const handler = invocationLogged(workerHandler(() => (runtime ??= createRuntime(loadConfig(process.env), { env: process.env, metrics: new EmfMetrics({ service: 'worker' }) }))));
