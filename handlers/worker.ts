/**
 * Lambda entry point for the job queue (SQS FIFO, partial batch responses): lib/compose/worker-function.ts.
 */
import { createRuntime, type Runtime } from '../lib/compose/runtime';
import { workerHandler } from '../lib/compose/worker-function';
import { loadConfig } from '../lib/config';
import { EmfMetrics } from '../lib/emf-metrics';
import { invocationLogged } from '../lib/log';

let runtime: Runtime | undefined;

export const handler = invocationLogged(workerHandler(() => (runtime ??= createRuntime(loadConfig(process.env), { env: process.env, metrics: new EmfMetrics({ service: 'worker' }) }))));
