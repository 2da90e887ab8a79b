/**
 * Figure 2: cold start. A fresh `node` process (with the stack's NODE_OPTIONS) loads a bundled
 * handler and answers its first slash command; the figure is the wall time from `spawn` in the
 * bench until the answer is on the bench's side of the pipe. Runs alternate the bot and the
 * bolt-sample baseline; each run gets a freshly signed event.
 */
import { type Builds } from '../build';
import { figure, type Figure } from '../lib/figure';
import { spawnUntilLine } from '../lib/processes';
import { interleaved, median } from '../lib/stats';
import { ALLOW_COMMAND, FUNCTION_NODE_FLAGS, functionEnv, REQUESTER, type World } from '../lib/world';
import { toFunctionUrlEvent } from '../../stand-ins/slack';

interface ChildReport {
  readonly bootMs: number;
  readonly loadMs: number;
  readonly firstInvokeMs: number;
  readonly sinceProcessStartMs: number;
  readonly statusCode?: number;
  readonly body?: string;
}

interface Run extends ChildReport {
  readonly wallMs: number;
}

async function coldStart(world: World, bundle: string, script: string, expect: (body: string) => boolean, flags: readonly string[]): Promise<Run> {
  const built = world.driver.buildSlashCommand({ user: REQUESTER, text: ALLOW_COMMAND });
  const event = toFunctionUrlEvent(built.request);
  const { line, wallMs, stop } = await spawnUntilLine(script, [bundle], {
    env: functionEnv(world, { BENCH_EVENT: JSON.stringify(event) }),
    flags,
    marker: 'BENCH ',
  });
  await stop();
  const report = JSON.parse(line) as ChildReport;
  if (report.statusCode !== 200 || !expect(report.body ?? '')) throw new Error(`cold start of ${bundle} answered ${report.statusCode ?? '?'}: ${String(report.body).slice(0, 300)}`);
  return { ...report, wallMs };
}

async function compare(world: World, builds: Builds, runs: number, flags: readonly string[]): Promise<{ a: Run[]; b: Run[] }> {
  const script = builds.scripts['cold-start'];
  const ours = (): Promise<Run> => coldStart(world, builds.functions.slack.file, script, (body) => body.includes('Request `'), flags);
  const sample = (): Promise<Run> => coldStart(world, builds.functions['bolt-sample'].file, script, (body) => body.includes('Hey there'), flags);
  // One unmeasured start of each: the file system cache, not the function, is warmed.
  await ours();
  await sample();
  return interleaved(runs, ours, sample);
}

export async function coldStartFigures(world: World, builds: Builds, runs: number): Promise<Figure[]> {
  const ms = (value: number): number => Math.round(value * 10) / 10;
  const pick = (xs: readonly Run[], key: keyof ChildReport): number => ms(median(xs.map((x) => Number(x[key]))));
  const phases = (xs: readonly Run[]) => ({ nodeBootMs: pick(xs, 'bootMs'), loadMs: pick(xs, 'loadMs'), firstInvokeMs: pick(xs, 'firstInvokeMs'), sinceProcessStartMs: pick(xs, 'sinceProcessStartMs') });
  const row = (name: string, { a, b }: { a: Run[]; b: Run[] }, target?: string) =>
    figure({
      name,
      ours: ms(median(a.map((r) => r.wallMs))),
      baseline: ms(median(b.map((r) => r.wallMs))),
      unit: 'ms',
      runs,
      versus: 'bolt-sample',
      ...(target !== undefined && { target }),
      details: { ours: phases(a), baseline: phases(b), oursAllMs: a.map((r) => ms(r.wallMs)), baselineAllMs: b.map((r) => ms(r.wallMs)) },
    });
  // As the stack runs its functions: NODE_OPTIONS=--enable-source-maps.
  const deployed = row('cold start (spawn → first answer)', await compare(world, builds, runs, FUNCTION_NODE_FLAGS), 'ratio ≤ 0.7');
  // For the record: both without source maps (a bolt-sample deployed as Slack's example is).
  const plain = row('cold start, no source maps (both)', await compare(world, builds, runs, []));
  return [{ ...deployed, met: deployed.ratio !== null && deployed.ratio <= 0.7 }, plain];
}
