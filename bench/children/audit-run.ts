/**
 * One run of the audit function, in a fresh process (forked by bench/figures/audit.ts): load the
 * bundled `audit` handler as Lambda does and invoke it with the daily report's event
 * (`{ "mode": "report" }`). Reports over IPC how long the invocation took and the process's peak
 * memory (its maximum resident set size: what Lambda reports as "Max Memory Used").
 *
 * Usage: node --enable-source-maps audit-run.js <bundle/index.js> (fork, with IPC).
 */
import { createLambdaContext } from '../../stand-ins/slack/lambda-function-url';

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

export interface AuditRunResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly loadMs: number;
  readonly invokeMs: number;
  /** KiB. */
  readonly maxRssKiB: number;
  /** Largest V8 heap in use, sampled every 10 ms (bytes). */
  readonly peakHeapBytes: number;
  readonly summary?: unknown;
}

async function main(): Promise<AuditRunResult> {
  const bundle = process.argv[2];
  if (bundle === undefined) throw new Error('usage: audit-run.js <bundle>');
  let peakHeapBytes = 0;
  const sampler = setInterval(() => (peakHeapBytes = Math.max(peakHeapBytes, process.memoryUsage().heapUsed)), 10);
  const loadStart = performance.now();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the function's bundle, loaded by path as Lambda does
  const { handler } = require(bundle) as { handler: Handler };
  const loaded = performance.now();
  let summary: unknown;
  let error: string | undefined;
  try {
    summary = await handler({ mode: 'report' }, createLambdaContext({ functionName: 'bench-audit', memoryLimitInMB: 1024, timeoutMs: 600_000 }));
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
  }
  const invokeMs = performance.now() - loaded;
  clearInterval(sampler);
  peakHeapBytes = Math.max(peakHeapBytes, process.memoryUsage().heapUsed);
  return { ok: error === undefined, ...(error !== undefined && { error }), loadMs: loaded - loadStart, invokeMs, maxRssKiB: process.resourceUsage().maxRSS, peakHeapBytes, summary };
}

main().then(
  (result) => process.send?.(result, () => process.exit(0)),
  (error: unknown) => {
    process.stderr.write(`audit runner failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
