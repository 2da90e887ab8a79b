/**
 * Serves a function bundle over HTTP as local mode does (local/http-endpoint.ts: `node:http` in
 * front of the Lambda handler, each request turned into a Function URL event), for the burst
 * figure. Forked with an IPC channel: sends `{ url }` when listening, and `{ cpu }` (its CPU time
 * since then, µs) before it exits on SIGTERM. Its stdout (the function's log lines) goes to
 * /dev/null: a pipe the busy bench would drain late would block pino's synchronous writes, which
 * Lambda's log pipe never does.
 *
 * Usage: fork(serve.js, [<bundle/index.js>])
 */
import { createLogger } from '../../lib/log';
import { startSlackEndpoint } from '../../local/http-endpoint';
import { type FunctionUrlHandler } from '../../stand-ins/slack';

async function main(): Promise<void> {
  const bundle = process.argv[2];
  if (bundle === undefined) throw new Error('usage: serve.js <bundle>');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the function's bundle, loaded by path as Lambda does
  const { handler } = require(bundle) as { handler: FunctionUrlHandler };
  const endpoint = await startSlackEndpoint({ handler, host: '127.0.0.1', port: 0, logger: createLogger({ level: 'warn' }) });
  const cpuAtStart = process.cpuUsage();
  process.send?.({ url: endpoint.directUrl });
  process.once('SIGTERM', () => {
    const { user, system } = process.cpuUsage(cpuAtStart);
    process.send?.({ cpuMicros: user + system }, () => void endpoint.close().finally(() => process.exit(0)));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`serve failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
