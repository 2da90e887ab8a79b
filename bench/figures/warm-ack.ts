/**
 * Figure 1: warm ack latency. Signed slash commands (`allow <ip>`: config, validation, the
 * request written to DynamoDB, the job enqueued on SQS) into the bot's bundled slack handler, and
 * the same commands into the noop-ack baseline. Each runs in a process of its own
 * (bench/children/warm.ts), warmed up, then sampled in rounds that alternate which goes first, so
 * machine noise hits both alike. Each round's p50 and p99 are computed per side; the figure is the
 * median over rounds.
 */
import { fork } from 'node:child_process';
import { type Builds } from '../build';
import { type WarmReply, type WarmSetup } from '../children/warm';
import { figure, type Figure } from '../lib/figure';
import { median, percentile } from '../lib/stats';
import { ALLOW_COMMAND, BOT, FUNCTION_NODE_FLAGS, functionEnv, REQUESTER, SIGNING_SECRET, type World } from '../lib/world';

interface WarmProcess {
  run(n: number): Promise<number[]>;
  stop(): void;
}

async function startWarm(world: World, script: string, setup: WarmSetup): Promise<WarmProcess> {
  const child = fork(script, [], { env: functionEnv(world), execArgv: [...FUNCTION_NODE_FLAGS], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const ask = (message: object): Promise<WarmReply> =>
    new Promise((resolve, reject) => {
      const exited = (code: number | null): void => reject(new Error(`warm ack process for ${setup.bundle} exited (${String(code)}); stderr: ${stderr.slice(-2000)}`));
      child.once('exit', exited);
      child.once('message', (reply: WarmReply) => {
        child.off('exit', exited);
        resolve(reply);
      });
      child.send(message);
    });
  const check = (reply: WarmReply): WarmReply => {
    if ('error' in reply) throw new Error(`warm ack process for ${setup.bundle}: ${reply.error}`);
    return reply;
  };
  check(await ask({ setup }));
  return {
    run: async (n) => {
      const reply = check(await ask({ run: n }));
      if (!('samples' in reply)) throw new Error('warm ack process: unexpected reply');
      if (reply.failures.length > 0) throw new Error(`warm ack: ${reply.failures.length} answers of ${setup.bundle} were wrong, e.g. ${reply.failures[0] ?? ''}`);
      return reply.samples;
    },
    stop: () => void child.kill('SIGTERM'),
  };
}

export async function warmAckFigures(world: World, builds: Builds, { rounds, perRound, warmup }: { rounds: number; perRound: number; warmup: number }): Promise<Figure[]> {
  const common = { signingSecret: SIGNING_SECRET, bot: BOT, user: REQUESTER, text: ALLOW_COMMAND };
  const ours = await startWarm(world, builds.scripts.warm, { ...common, bundle: builds.functions.slack.file, expect: 'Request `' });
  const baseline = await startWarm(world, builds.scripts.warm, { ...common, bundle: builds.functions['noop-ack'].file, expect: '' });
  const oursRounds: number[][] = [];
  const baselineRounds: number[][] = [];
  try {
    await ours.run(warmup);
    await baseline.run(warmup);
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        oursRounds.push(await ours.run(perRound));
        baselineRounds.push(await baseline.run(perRound));
      } else {
        baselineRounds.push(await baseline.run(perRound));
        oursRounds.push(await ours.run(perRound));
      }
    }
  } finally {
    ours.stop();
    baseline.stop();
  }
  const ms = (value: number): number => Math.round(value * 1000) / 1000;
  const at = (p: number) => ({ ours: median(oursRounds.map((s) => percentile(s, p))), baseline: median(baselineRounds.map((s) => percentile(s, p))) });
  const mean = (samples: readonly number[]): number => samples.reduce((x, y) => x + y, 0) / samples.length;
  const p50 = at(50);
  const p99 = at(99);
  const details = { samplesPerRound: perRound, warmup, oursMeanMs: ms(median(oursRounds.map(mean))), baselineMeanMs: ms(median(baselineRounds.map(mean))), oursP999Ms: ms(median(oursRounds.map((s) => percentile(s, 99.9)))) };
  const f50 = figure({ name: 'warm ack p50', ours: ms(p50.ours), baseline: ms(p50.baseline), unit: 'ms', runs: rounds, versus: 'noop-ack', details });
  const f99 = figure({ name: 'warm ack p99', ours: ms(p99.ours), baseline: ms(p99.baseline), unit: 'ms', runs: rounds, versus: 'noop-ack', target: 'ratio ≤ 1.1', details });
  return [f50, { ...f99, met: f99.ratio !== null && f99.ratio <= 1.1 }];
}
