/**
 * The scheduled audit function, composed (handlers/audit.ts is its Lambda entry point). EventBridge
 * Scheduler sends one of:
 *
 * - `{ "mode": "reconcile" }` every minute: open requests nothing has moved on are driven on, and
 *   expiry reminders are sent;
 * - `{ "mode": "sweep" }` every 15 minutes: the expiry sweep;
 * - `{ "mode": "report" }` daily: the report of every cluster to its audit channel.
 *
 * The work is all in `lib/audit`. When part of it failed (a cluster unreachable, an item the sweep
 * could not remove), the rest is still done, then the invocation fails, so the function's error
 * alarm fires; the next run retries what is left.
 */
import { type Context } from 'aws-lambda';
import { type ReportSummary, type SweepSummary } from '../audit/auditor';
import { type Runtime } from './runtime';

export type AuditEvent = { readonly mode: 'sweep' } | { readonly mode: 'report' } | { readonly mode: 'reconcile' };

/** Some of the run failed; the details are in the function's log records. */
export class AuditIncompleteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditIncompleteError';
  }
}

function parseEvent(event: unknown): AuditEvent {
  const mode = typeof event === 'object' && event !== null ? (event as { mode?: unknown }).mode : undefined;
  if (mode === 'sweep' || mode === 'report' || mode === 'reconcile') return { mode };
  // A misconfigured schedule: fail loudly rather than guess.
  throw new Error(`audit: the event must be {"mode":"reconcile"}, {"mode":"sweep"} or {"mode":"report"}, not ${JSON.stringify(event)?.slice(0, 200)}.`);
}

export function auditHandler(runtime: () => Runtime) {
  return async (event: unknown, _context: Context): Promise<SweepSummary | ReportSummary | { driven: number; reminded: number }> => {
    const { mode } = parseEvent(event);
    if (mode === 'reconcile') {
      // Every minute: open requests driven on, and expiry reminders (`requests.remindBefore`) sent.
      const maintenance = await runtime().maintenance();
      const driven = (await maintenance.reconcile()).length;
      return { driven, reminded: await maintenance.remindExpiring() };
    }
    const auditor = await runtime().audit();
    if (mode === 'sweep') {
      const summary = await auditor.sweep();
      const failed = summary.actions.failed ?? 0;
      if (failed > 0 || summary.dmDeletionsFailed > 0) {
        throw new AuditIncompleteError(`expiry sweep: ${failed} item(s) and ${summary.dmDeletionsFailed} DM deletion(s) failed; see the audit.sweep-failed log records.`);
      }
      return summary;
    }
    const summary = await auditor.report();
    const failed = summary.clusters.filter((c) => c.error !== undefined).map((c) => c.cluster);
    if (failed.length > 0) throw new AuditIncompleteError(`audit report: could not audit ${failed.join(', ')}; see the audit.cluster-failed log records.`);
    return summary;
  };
}
