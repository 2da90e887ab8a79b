/**
 * Lambda entry point for the state table's stream: the outbox relay sends each new request to
 * the job queue (lib/compose/outbox-function.ts). It needs the queue and nothing else.
 */
import { outboxDependencies, outboxHandler } from '../lib/compose/outbox-function';
import { loadConfig } from '../lib/config';
import { invocationLogged } from '../lib/log';

let dependencies: ReturnType<typeof outboxDependencies> | undefined;

export const handler = invocationLogged(outboxHandler(() => (dependencies ??= outboxDependencies(loadConfig(process.env)))));
