/**
 * Builds what the bench runs into bench/.build/ (gitignored):
 *
 * - the bot's `slack` and `audit` functions, from their handlers, with the esbuild settings the
 *   stack deploys them with (infra/bundling.ts, `CHATOPS_ESBUILD`): the same `index.js` the CDK
 *   asset holds;
 * - the baselines `bolt-sample`, `noop-ack` and `durable-ack` with the same settings minus the bot's
 *   Lambda-only aliases (`LAMBDA_ESBUILD`): a Bolt app as its team would deploy it; and, for the
 *   record, `bolt-sample` with those aliases too (`bolt-sample-trimmed`);
 * - the bench's child-process scripts (bench/children: cold-start runner, warm-ack driver, HTTP
 *   endpoint, audit runner, the AWS services process), plain bundles that load packages from
 *   node_modules.
 */
import { build, type BuildOptions } from 'esbuild';
import { statSync } from 'node:fs';
import path from 'node:path';
import { CHATOPS_ESBUILD, esbuildOptions, LAMBDA_ESBUILD, type LambdaBundleSettings } from '../infra/bundling';

/** The repository root (bench/..). */
export const PROJECT_ROOT = path.resolve(__dirname, '..');
export const BUILD_DIR = path.join(PROJECT_ROOT, 'bench', '.build');

export type FunctionBundleName = 'slack' | 'audit' | 'bolt-sample' | 'noop-ack' | 'durable-ack' | 'bolt-sample-trimmed';

const FUNCTIONS: Readonly<Record<FunctionBundleName, { entry: string; settings: LambdaBundleSettings }>> = {
  slack: { entry: 'handlers/slack.ts', settings: CHATOPS_ESBUILD },
  audit: { entry: 'handlers/audit.ts', settings: CHATOPS_ESBUILD },
  'bolt-sample': { entry: 'bench/baselines/bolt-sample.ts', settings: LAMBDA_ESBUILD },
  'noop-ack': { entry: 'bench/baselines/noop-ack.ts', settings: LAMBDA_ESBUILD },
  'durable-ack': { entry: 'bench/baselines/durable-ack.ts', settings: LAMBDA_ESBUILD },
  'bolt-sample-trimmed': { entry: 'bench/baselines/bolt-sample.ts', settings: CHATOPS_ESBUILD },
};

export type ScriptName = 'cold-start' | 'warm' | 'serve' | 'audit-run' | 'services';

export interface FunctionBundle {
  readonly name: FunctionBundleName;
  /** `index.js`: what Lambda loads. */
  readonly file: string;
  readonly bytes: number;
  /** `index.js.map`, shipped next to it (read by `--enable-source-maps`). */
  readonly mapBytes: number;
}

export interface Builds {
  readonly functions: Readonly<Record<FunctionBundleName, FunctionBundle>>;
  readonly scripts: Readonly<Record<ScriptName, string>>;
}

/** Bundles every function and script; returns where they are. */
export async function buildAll(): Promise<Builds> {
  const functions = {} as Record<FunctionBundleName, FunctionBundle>;
  await Promise.all(
    (Object.keys(FUNCTIONS) as FunctionBundleName[]).map(async (name) => {
      const { entry, settings } = FUNCTIONS[name];
      // NodejsFunction's asset layout: index.js and index.js.map in a directory of their own.
      const file = path.join(BUILD_DIR, name, 'index.js');
      await build(esbuildOptions(PROJECT_ROOT, entry, file, settings));
      functions[name] = { name, file, bytes: statSync(file).size, mapBytes: statSync(`${file}.map`).size };
    }),
  );
  const scripts = {} as Record<ScriptName, string>;
  await Promise.all(
    (['cold-start', 'warm', 'serve', 'audit-run', 'services'] as const).map(async (name) => {
      const file = path.join(BUILD_DIR, 'scripts', `${name}.js`);
      const options: BuildOptions = {
        absWorkingDir: PROJECT_ROOT,
        entryPoints: [`bench/children/${name}.ts`],
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        outfile: file,
        logLevel: 'warning',
        // Packages load from node_modules (dynalite's LevelDB is native); the function bundle under
        // test is loaded at run time by path.
        packages: 'external',
      };
      await build(options);
      scripts[name] = file;
    }),
  );
  return { functions, scripts };
}
