/**
 * Figure 1: warm ack latency. Signed slash commands (`allow <ip>`: config, validation, the
 * request written to DynamoDB, the job enqueued on SQS) into the bot's bundled slack handler, and
 * the same commands into two baselines: durable-ack (one conditional `PutItem` to the same
 * DynamoDB, then the ack: what the target is judged against) and noop-ack (the ack alone, shown
 * for information). Each runs in a process of its own (bench/children/warm.ts), warmed up, then
 * sampled in rounds that rotate which goes first, second and third, so machine noise hits all
 * alike. Each round's p50 and p99 are computed per side; the figure is the median over rounds.
 */
import { fork } from 'node:child_process';
import { type Builds } from '../build';
import { type WarmReply, type WarmSetup } from '../children/warm';
import { figure, type Figure } from '../lib/figure';
import { median, percentile } from '../lib/stats';
import { ALLOW_COMMAND, BOT, FUNCTION_NODE_FLAGS, functionEnv, REQUESTER, SIGNING_SECRET, type World } from '../lib/world';

/** The bot, then the baselines; each process is named by its side. */
const SIDES = ['ours', 'durable-ack', 'noop-ack'] as const;
type Side = (typeof SIDES)[number];
/** Warm ack p50 and p99 ≤ 1.1 × durable-ack's. */
const TARGET_RATIO = 1.1;

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
  const setups: Readonly<Record<Side, WarmSetup>> = {
    ours: { ...common, bundle: builds.functions.slack.file, expect: 'Request `' },
    'durable-ack': { ...common, bundle: builds.functions['durable-ack'].file, expect: '' },
    'noop-ack': { ...common, bundle: builds.functions['noop-ack'].file, expect: '' },
  };
  const processes = new Map<Side, WarmProcess>();
  const samples: Record<Side, number[][]> = { ours: [], 'durable-ack': [], 'noop-ack': [] };
  const get = (side: Side): WarmProcess => {
    const p = processes.get(side);
    if (p === undefined) throw new Error(`warm ack: no process for ${side}`);
    return p;
  };
  try {
    for (const side of SIDES) processes.set(side, await startWarm(world, builds.scripts.warm, setups[side]));
    for (const side of SIDES) await get(side).run(warmup);
    for (let round = 0; round < rounds; round++) {
      // Round r starts with side r mod 3: over 3k rounds each side runs first, second and third alike.
      for (let k = 0; k < SIDES.length; k++) {
        const side = SIDES[(round + k) % SIDES.length] as Side;
        samples[side].push(await get(side).run(perRound));
      }
    }
  } finally {
    for (const p of processes.values()) p.stop();
  }
  const ms = (value: number): number => Math.round(value * 1000) / 1000;
  const at = (side: Side, p: number): number => ms(median(samples[side].map((s) => percentile(s, p))));
  const mean = (values: readonly number[]): number => values.reduce((x, y) => x + y, 0) / values.length;
  const details = {
    samplesPerRound: perRound,
    warmup,
    meanMs: Object.fromEntries(SIDES.map((side) => [side, ms(median(samples[side].map(mean)))])),
    p999Ms: Object.fromEntries(SIDES.map((side) => [side, at(side, 99.9)])),
    // The durable baseline's own cost over the bare ack: what one conditional PutItem adds.
    durableAckOverNoopAck: { p50: ms(at('durable-ack', 50) - at('noop-ack', 50)), p99: ms(at('durable-ack', 99) - at('noop-ack', 99)) },
  };
  const rows: Figure[] = [];
  for (const p of [50, 99] as const) {
    // The target: the bot's ack within 10 % of one durable write and an ack.
    const judged = figure({ name: `warm ack p${p}`, ours: at('ours', p), baseline: at('durable-ack', p), unit: 'ms', runs: rounds, versus: 'durable-ack', target: `ratio ≤ ${TARGET_RATIO}`, details });
    rows.push({ ...judged, met: judged.ratio !== null && judged.ratio <= TARGET_RATIO });
    // For information: the same samples next to the bare ack.
    rows.push(figure({ name: `warm ack p${p} vs noop-ack`, ours: at('ours', p), baseline: at('noop-ack', p), unit: 'ms', runs: rounds, versus: 'noop-ack', details }));
  }
  return rows;
}
