/**
 * One cold start, in a fresh `node` process (spawned by bench/figures/cold-start.ts): load a
 * function bundle as Lambda's runtime does (`require` of index.js), hand it the one event it is
 * given (a signed slash command as a Function URL delivers it), and report when the answer is
 * ready. Writes one line, `BENCH {json}`, to stdout and exits at once, as a Lambda instance
 * is frozen after answering.
 *
 * Usage: node --enable-source-maps cold-start.js <bundle/index.js>, with BENCH_EVENT set.
 */
import { createLambdaContext, type FunctionUrlEvent } from '../../stand-ins/slack/lambda-function-url';

type Handler = (event: FunctionUrlEvent, context: unknown) => Promise<{ statusCode?: number; body?: string }>;

async function main(): Promise<void> {
  const bundle = process.argv[2];
  const eventJson = process.env.BENCH_EVENT;
  if (bundle === undefined || eventJson === undefined) throw new Error('usage: cold-start.js <bundle> (BENCH_EVENT set)');
  const event = JSON.parse(eventJson) as FunctionUrlEvent;
  const loadStart = performance.now();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the function's bundle, loaded by path as Lambda does
  const { handler } = require(bundle) as { handler: Handler };
  const loaded = performance.now();
  const response = await handler(event, createLambdaContext({ functionName: 'bench-cold-start', memoryLimitInMB: 1024 }));
  const answered = performance.now();
  const line = `BENCH ${JSON.stringify({
    // performance.now() counts from the process's time origin: Node's own start-up is included.
    bootMs: loadStart,
    loadMs: loaded - loadStart,
    firstInvokeMs: answered - loaded,
    sinceProcessStartMs: answered,
    statusCode: response.statusCode,
    body: response.body,
  })}\n`;
  process.stdout.write(line, () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`cold-start runner failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
