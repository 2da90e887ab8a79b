/**
 * Figure 4: a burst. 500 signed slash commands fired at once at the function served over HTTP
 * the way local mode serves it (bench/children/serve.ts: node:http, each request a Function URL
 * event, one process). Each command's ack time is from the moment it is sent until its answer
 * has arrived; Slack gives up after 3,000 ms. Rounds alternate the bot and noop-ack, each round
 * a fresh function process warmed by one command; the DynamoDB and SQS stand-ins run in their own
 * process, and the bench sends with a lean node:http client (bench/lib/http-send.ts).
 */
import { type Builds, type FunctionBundleName } from '../build';
import { figure, type Figure } from '../lib/figure';
import { forkServer } from '../lib/processes';
import { interleaved, max, median, percentile } from '../lib/stats';
import { ALLOW_COMMAND, FUNCTION_NODE_FLAGS, functionEnv, REQUESTER, type World } from '../lib/world';
import { send } from '../lib/http-send';

const SLACK_DEADLINE_MS = 3_000;
const WARM_UP_COMMANDS = 20;

interface Round {
  readonly ackMs: number[];
  readonly failures: number;
  /** The first wrong answer, for the error message. */
  readonly firstFailure?: string;
  /** CPU time of the function's process over the round (µs). */
  readonly cpuMicros: number;
}

async function burst(world: World, builds: Builds, bundle: FunctionBundleName, size: number, expect: (body: string) => boolean): Promise<Round> {
  const server = await forkServer<{ url: string }>(builds.scripts.serve, [builds.functions[bundle].file], { env: functionEnv(world), flags: FUNCTION_NODE_FLAGS });
  const stopped = (): Promise<number> => server.stop().then((last) => (last as { cpuMicros?: number } | undefined)?.cpuMicros ?? Number.NaN);
  let ackMs: number[];
  let failures = 0;
  let firstFailure: string | undefined;
  try {
    const { url } = server.ready;
    // A few commands one after another first (a warm instance takes the burst), then all at once.
    for (let i = 0; i < WARM_UP_COMMANDS; i++) {
      const warm = await send(url, world.driver.buildSlashCommand({ user: REQUESTER, text: ALLOW_COMMAND }).request);
      if (warm.statusCode !== 200 || !expect(warm.body)) throw new Error(`burst warm-up of ${bundle}: ${warm.statusCode} ${warm.body.slice(0, 200)}`);
    }
    const requests = Array.from({ length: size }, () => world.driver.buildSlashCommand({ user: REQUESTER, text: ALLOW_COMMAND }).request);
    ackMs = await Promise.all(
      requests.map(async (request) => {
        const started = performance.now();
        const response = await send(url, request);
        const elapsed = performance.now() - started;
        if (response.statusCode !== 200 || !expect(response.body)) {
          failures++;
          firstFailure ??= `${response.statusCode} ${response.body.slice(0, 300)}`;
        }
        return elapsed;
      }),
    );
  } catch (error) {
    await stopped();
    throw error;
  }
  return { ackMs, failures, ...(firstFailure !== undefined && { firstFailure }), cpuMicros: await stopped() };
}

export async function burstFigures(world: World, builds: Builds, { rounds, size }: { rounds: number; size: number }): Promise<Figure[]> {
  const oursOk = (body: string): boolean => body.includes('Request `');
  // One unmeasured burst first: the local DynamoDB is JavaScript, and its first burst runs with a
  // cold JIT (a few hundred ms slower) that DynamoDB itself does not have.
  await burst(world, builds, 'slack', size, oursOk);
  const { a, b } = await interleaved(
    rounds,
    () => burst(world, builds, 'slack', size, oursOk),
    () => burst(world, builds, 'noop-ack', size, (body) => body === ''),
  );
  // A noop-ack that answers wrongly is a broken bench, not a figure.
  const baselineFailure = b.find((r) => r.failures > 0);
  if (baselineFailure) throw new Error(`burst: noop-ack answered ${baselineFailure.failures} commands wrongly, e.g. ${baselineFailure.firstFailure ?? ''}`);
  const ms = (value: number): number => Math.round(value * 10) / 10;
  // Slack shows an error for both: an answer after 3 s, and an answer that is the bot's failure line.
  const over = (rs: readonly Round[]): number => rs.reduce((n, r) => n + r.ackMs.filter((t) => t > SLACK_DEADLINE_MS).length + r.failures, 0);
  const maxF = figure({ name: `burst ${size}: max ack`, ours: ms(median(a.map((r) => max(r.ackMs)))), baseline: ms(median(b.map((r) => max(r.ackMs)))), unit: 'ms', runs: rounds, versus: 'noop-ack' });
  const p99F = figure({ name: `burst ${size}: p99 ack`, ours: ms(median(a.map((r) => percentile(r.ackMs, 99)))), baseline: ms(median(b.map((r) => percentile(r.ackMs, 99)))), unit: 'ms', runs: rounds, versus: 'noop-ack' });
  const oursOver = over(a);
  const overF = figure({
    name: `burst ${size}: acks over 3,000 ms or failed`,
    ours: oursOver,
    baseline: over(b),
    ratio: null,
    unit: `of ${(size * rounds).toLocaleString('en-US')}`,
    runs: rounds,
    target: '0',
    versus: 'noop-ack',
    details: {
      oursFailed: a.reduce((n, r) => n + r.failures, 0),
      oursFirstFailure: a.find((r) => r.firstFailure !== undefined)?.firstFailure,
      oursMaxPerRoundMs: a.map((r) => ms(max(r.ackMs))),
      baselineMaxPerRoundMs: b.map((r) => ms(max(r.ackMs))),
      worstOursMs: ms(max(a.flatMap((r) => r.ackMs))),
      worstBaselineMs: ms(max(b.flatMap((r) => r.ackMs))),
      // CPU of the function's process per command (the burst and its warm-up commands).
      oursCpuMsPerCommand: ms(median(a.map((r) => r.cpuMicros / 1000 / (size + WARM_UP_COMMANDS)))),
      baselineCpuMsPerCommand: ms(median(b.map((r) => r.cpuMicros / 1000 / (size + WARM_UP_COMMANDS)))),
    },
  });
  return [maxF, p99F, { ...overF, met: oursOver === 0 }];
}
