/**
 * How the bot's functions are bundled, in one place. `ChatopsFunction` hands these settings to
 * NodejsFunction (which runs the esbuild CLI in the project root), and `bench/` hands the same
 * settings to esbuild's API, so the benchmarks measure exactly the code that is deployed and build
 * their baselines the way a deployment of theirs would be built.
 *
 * - CommonJS for Node.js 22, minified, with linked source maps but not the sources themselves
 *   (stack traces need file names and lines, not our code; the asset stays small).
 * - Everything bundled, the AWS SDK included (see chatops-function.ts). `pg-native` is pg's
 *   optional native binding, required lazily and only when asked for; we never ask.
 * - ES module builds first (`mainFields: module, main`), as the AWS SDK's guide recommends for
 *   esbuild: the SDK's CommonJS builds are single files esbuild cannot tree-shake, so every
 *   command of every client we use was bundled (0.2 MB more in the slack function).
 * - `import()` lowered to `require()` (`supported: dynamic-import=false`). The AWS SDK's ES module
 *   builds load `node:http` and `node:async_hooks` with `import()`; left as is in a CommonJS bundle,
 *   the first one starts Node's ES module loader (ten internal modules) inside the first request.
 * - `LAMBDA_ONLY_ALIASES` (the bot's own functions only): Bolt's index module loads every receiver
 *   it ships, and with them Express, Socket Mode and OAuth (about 1.4 MB minified, half the slack
 *   function's bundle) although a Lambda function only ever runs `AwsLambdaReceiver`. Those
 *   packages are replaced by `infra/lambda-stubs`, which throws a clear error if anything calls it.
 */
import type { BuildOptions } from 'esbuild';
import { type BundlingOptions, LogLevel, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import path from 'node:path';

/** What esbuild is told, independent of who runs it. Paths are relative to the project root. */
export interface LambdaBundleSettings {
  /** esbuild's `--target`. */
  readonly target: string;
  readonly minify: boolean;
  readonly sourceMap: boolean;
  readonly sourcesContent: boolean;
  /** Packages left out of the bundle (`--external`). */
  readonly external: readonly string[];
  /** Package -> replacement module (`--alias`), a `./` path from the project root. */
  readonly alias: Readonly<Record<string, string>>;
  /** package.json fields tried, in order, for packages without an `exports` map (`--main-fields`). */
  readonly mainFields: readonly string[];
  /** Syntax features esbuild is told the target lacks, so it lowers them (`--supported`). */
  readonly supported: Readonly<Record<string, boolean>>;
}

/** The settings every Node.js function gets from us, whatever it runs: what a baseline is built with. */
export const LAMBDA_ESBUILD: LambdaBundleSettings = {
  target: 'node22',
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  external: ['pg-native'],
  alias: {},
  mainFields: ['module', 'main'],
  supported: { 'dynamic-import': false },
};

/**
 * Packages no Lambda function of the bot runs, each replaced by a stub. Bolt requires them at load
 * time only for the receivers Lambda never uses (`ExpressReceiver`, `HTTPReceiver`,
 * `SocketModeReceiver`) and the OAuth installer; `yaml` is required only for a YAML config file.
 */
export const LAMBDA_ONLY_ALIASES: Readonly<Record<string, string>> = {
  express: './infra/lambda-stubs/express.ts',
  'raw-body': './infra/lambda-stubs/raw-body.ts',
  '@slack/socket-mode': './infra/lambda-stubs/slack-socket-mode.ts',
  '@slack/oauth': './infra/lambda-stubs/slack-oauth.ts',
  // The functions read their config from CHATOPS_CONFIG_JSON; YAML files are for local mode and
  // the CDK app (112 KiB of the slack function's bundle, compiled at every cold start).
  yaml: './infra/lambda-stubs/yaml.ts',
};

/** What the bot's functions are bundled with. */
export const CHATOPS_ESBUILD: LambdaBundleSettings = { ...LAMBDA_ESBUILD, alias: LAMBDA_ONLY_ALIASES };

/** The settings as NodejsFunction `bundling` props (local esbuild, run in `projectRoot`). */
export function nodejsBundling(projectRoot: string, settings: LambdaBundleSettings = CHATOPS_ESBUILD): BundlingOptions {
  const aliases = Object.entries(settings.alias).map(([name, replacement]) => `${name}=${replacement}`);
  const supported = Object.entries(settings.supported).map(([feature, yes]) => `${feature}=${String(yes)}`);
  return {
    forceDockerBundling: false,
    format: OutputFormat.CJS,
    target: settings.target,
    minify: settings.minify,
    sourceMap: settings.sourceMap,
    ...(settings.sourceMap && { sourceMapMode: SourceMapMode.DEFAULT }),
    sourcesContent: settings.sourcesContent,
    // Bundle the AWS SDK too; `externalModules` lists the only packages left out.
    bundleAwsSDK: true,
    externalModules: [...settings.external],
    mainFields: [...settings.mainFields],
    tsconfig: path.join(projectRoot, 'tsconfig.json'),
    // esbuild's per-file size summary is noise in synth and test output; warnings still show.
    logLevel: LogLevel.WARNING,
    esbuildArgs: {
      ...(aliases.length > 0 && { '--alias': aliases }),
      ...(supported.length > 0 && { '--supported': supported }),
    },
  };
}

/**
 * The same settings as esbuild API options, for bundling `entry` to `outfile` as NodejsFunction
 * would (its asset is `index.js` next to `index.js.map`).
 */
export function esbuildOptions(projectRoot: string, entry: string, outfile: string, settings: LambdaBundleSettings = CHATOPS_ESBUILD): BuildOptions {
  return {
    absWorkingDir: projectRoot,
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: settings.target,
    outfile,
    minify: settings.minify,
    sourcemap: settings.sourceMap,
    sourcesContent: settings.sourcesContent,
    external: [...settings.external],
    alias: { ...settings.alias },
    mainFields: [...settings.mainFields],
    supported: { ...settings.supported },
    tsconfig: path.join(projectRoot, 'tsconfig.json'),
    logLevel: 'warning',
  };
}
