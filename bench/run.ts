/**
 * `npm run bench [-- --quick] [-- --only=<figure,...>]`: builds the bundles, starts the local
 * stand-ins, measures every figure next to its baseline, prints a table and writes
 * bench/results.json. Never part of `npm test` (jest's roots are test/ only).
 *
 * Figures (see README, "Performance"): warm (with the ack's write alone), cold, size, burst, trips,
 * audit.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildAll } from './build';
import { auditFigures } from './figures/audit';
import { bundleSizeFigures } from './figures/bundle-size';
import { burstFigures } from './figures/burst';
import { coldStartFigures } from './figures/cold-start';
import { roundTripFigures } from './figures/round-trips';
import { warmAckFigures } from './figures/warm-ack';
import { writeFloorFigures } from './figures/write-floor';
import { type Figure } from './lib/figure';
import { formatTable } from './lib/table';
import { startWorld } from './lib/world';

const FIGURES = ['warm', 'cold', 'size', 'burst', 'trips', 'audit'] as const;
type FigureKey = (typeof FIGURES)[number];

interface Plan {
  readonly quick: boolean;
  readonly only: ReadonlySet<FigureKey>;
}

function parseArgs(argv: readonly string[]): Plan {
  let quick = false;
  let only = new Set<FigureKey>(FIGURES);
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg.startsWith('--only=')) {
      const picked = arg.slice('--only='.length).split(',');
      const unknown = picked.filter((p) => !FIGURES.includes(p as FigureKey));
      if (unknown.length > 0) throw new Error(`--only: unknown figure(s) ${unknown.join(', ')}; choose from ${FIGURES.join(', ')}`);
      only = new Set(picked as FigureKey[]);
    } else throw new Error(`unknown argument ${arg}; usage: npm run bench [-- --quick] [-- --only=${FIGURES.join(',')}]`);
  }
  return { quick, only };
}

async function main(): Promise<void> {
  const plan = parseArgs(process.argv.slice(2));
  // The SDK's notice that it will drop Node.js 20 (Lambda runs 22): noise in the bench's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const started = Date.now();
  const log = (message: string): void => void process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
  log(`building bundles${plan.quick ? ' (quick run)' : ''}`);
  const builds = await buildAll();
  const world = await startWorld(builds.scripts.services);
  const figures: Figure[] = [];
  try {
    if (plan.only.has('size')) figures.push(...bundleSizeFigures(builds));
    if (plan.only.has('warm')) {
      log('warm ack latency');
      figures.push(...(await warmAckFigures(world, builds, plan.quick ? { rounds: 3, perRound: 200, warmup: 50 } : { rounds: 9, perRound: 400, warmup: 100 })));
      log('the ack\'s write alone');
      figures.push(...(await writeFloorFigures(world, plan.quick ? { rounds: 4, perRound: 200 } : { rounds: 8, perRound: 400 })));
    }
    if (plan.only.has('cold')) {
      log('cold starts');
      figures.push(...(await coldStartFigures(world, builds, plan.quick ? 7 : 25)));
    }
    if (plan.only.has('burst')) {
      log('burst of 500');
      figures.push(...(await burstFigures(world, builds, { rounds: plan.quick ? 1 : 3, size: 500 })));
    }
    if (plan.only.has('trips')) {
      log('round trips per operation');
      figures.push(...(await roundTripFigures(plan.quick ? 1 : 3)));
    }
    if (plan.only.has('audit')) {
      log('audit at scale');
      figures.push(...(await auditFigures(builds, { sizes: plan.quick ? [1_000, 10_000] : [1_000, 5_000, 10_000], runs: plan.quick ? 1 : 3 })));
    }
  } finally {
    await world.stop();
  }
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node.js ${process.version}, ${os.platform()} ${os.arch()}`;
  process.stdout.write(`\n${formatTable(figures)}\n\n${machine}; ${plan.quick ? 'quick run' : 'full run'} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  const out = path.join(__dirname, 'results.json');
  writeFileSync(out, `${JSON.stringify({ generatedAt: new Date().toISOString(), machine, quick: plan.quick, figures }, null, 2)}\n`);
  log(`wrote ${path.relative(process.cwd(), out)}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
