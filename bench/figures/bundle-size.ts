/**
 * Figure 3: the size of the slack function's bundle (index.js, what Lambda loads) next to the
 * bolt-sample baseline's, both built by bench/build.ts with the stack's esbuild settings.
 */
import { type Builds } from '../build';
import { figure, type Figure } from '../lib/figure';

export function bundleSizeFigures(builds: Builds): Figure[] {
  const { slack, 'bolt-sample': sample, 'bolt-sample-trimmed': trimmed } = builds.functions;
  const kb = (bytes: number): number => Math.round((bytes / 1024) * 10) / 10;
  const size = figure({
    name: 'bundle size (slack index.js)',
    ours: kb(slack.bytes),
    baseline: kb(sample.bytes),
    unit: 'KiB',
    runs: 1,
    target: 'ratio ≤ 0.6',
    versus: 'bolt-sample',
    details: {
      oursBytes: slack.bytes,
      baselineBytes: sample.bytes,
      oursMapBytes: slack.mapBytes,
      baselineMapBytes: sample.mapBytes,
      // The sample bundled with the bot's Lambda-only aliases too: how much is the trim, how much our code.
      baselineWithOurAliasesBytes: trimmed.bytes,
    },
  });
  return [{ ...size, met: size.ratio !== null && size.ratio <= 0.6 }];
}
