/**
 * Lambda entry point for the scheduled audit (EventBridge Scheduler): reconcile every minute,
 * the expiry sweep every 15 minutes, the report daily (lib/compose/audit-function.ts).
 */
import { auditHandler } from '../lib/compose/audit-function';
import { createRuntime, type Runtime } from '../lib/compose/runtime';
import { loadConfig } from '../lib/config';
import { EmfMetrics } from '../lib/emf-metrics';
import { invocationLogged } from '../lib/log';

let runtime: Runtime | undefined;

export const handler = invocationLogged(auditHandler(() => (runtime ??= createRuntime(loadConfig(process.env), { env: process.env, metrics: new EmfMetrics({ service: 'audit' }) }))));
