/**
 * How the functions are bundled (infra/bundling.ts): one set of settings for the stack and for
 * bench/, the slack function carrying only the ack path, and the stubs that stand in for the
 * packages Bolt requires but Lambda never runs. Sizes and contents, never timings (those are
 * bench/'s).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CHATOPS_ESBUILD, esbuildOptions, LAMBDA_ONLY_ALIASES } from '../../infra/bundling';
import { ChatopsFunction } from '../../infra/chatops-function';
import { UnbundledPackageError } from '../../infra/lambda-stubs/unbundled';
import { projectApp, ROOT } from './support';

const temp: string[] = [];
afterAll(() => temp.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  temp.push(dir);
  return dir;
}

interface Bundle {
  readonly code: string;
  /** The source files and packages esbuild put into it. */
  readonly inputs: string[];
}

/** The slack function, bundled once with the deployed settings as bench/ bundles it. */
let slack: Promise<Bundle> | undefined;
function slackBundle(): Promise<Bundle> {
  slack ??= (async () => {
    const outfile = path.join(tempDir('bench-build-'), 'index.js');
    const result = await build({ ...esbuildOptions(ROOT, 'handlers/slack.ts', outfile, CHATOPS_ESBUILD), metafile: true });
    return { code: readFileSync(outfile, 'utf8'), inputs: Object.keys(result.metafile.inputs) };
  })();
  return slack;
}

describe('function bundles', () => {
  it('are built by NodejsFunction exactly as bench/ builds them from the same settings', async () => {
    const app = projectApp();
    const stack = new Stack(app, 'BundlingProbe');
    new ChatopsFunction(stack, 'Slack', { entry: 'handlers/slack.ts', description: 'probe', timeout: Duration.seconds(10), memorySize: 1024, environment: {}, projectRoot: ROOT });
    const assembly = app.synth();
    temp.push(assembly.directory);
    const assetDir = readdirSync(assembly.directory).find((name) => name.startsWith('asset.'));
    if (assetDir === undefined) throw new Error('no asset in the assembly');

    expect(readFileSync(path.join(assembly.directory, assetDir, 'index.js'), 'utf8')).toBe((await slackBundle()).code);
  });

  it('give the slack function the ack path only: no cluster backends, executor, audit, SQL driver or unused Bolt receivers', async () => {
    const { inputs } = await slackBundle();

    const packages = new Set(inputs.flatMap((input) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1] ?? []));
    for (const absent of ['pg', 'pg-pool', 'openapi-fetch', 'cockatiel', 'express', 'raw-body', '@slack/socket-mode', '@slack/oauth', 'yaml', 'undici', 'jsonwebtoken']) {
      expect(packages).not.toContain(absent);
    }
    const ours = inputs.filter((input) => !input.includes('node_modules/'));
    for (const absent of ['lib/cluster-admin/cloud/', 'lib/cluster-admin/sql/', 'lib/cluster-admin/factory.ts', 'lib/requests/executor.ts', 'lib/audit/auditor.ts', 'lib/secrets/file-store.ts', 'lib/compose/runtime.ts']) {
      expect(ours.filter((input) => input.startsWith(absent))).toEqual([]);
    }
    // Still there: the framework and what the ack path writes to.
    for (const present of ['@slack/bolt', '@aws-sdk/client-dynamodb', '@aws-sdk/client-sqs', 'zod']) expect(packages).toContain(present);
  });

  it('load Node built-ins with require(): no import() starts the ES module loader in a request', async () => {
    const { code } = await slackBundle();
    // The AWS SDK's ES module builds write `await import("node:http")`; lowered, they are requires.
    expect(code).not.toMatch(/\bimport\(/);
    expect(code).toContain('require("node:http")');
  });

  it('replace only packages that exist, each with a stub module in the repository', () => {
    for (const [name, stub] of Object.entries(LAMBDA_ONLY_ALIASES)) {
      expect(existsSync(path.join(ROOT, 'node_modules', name, 'package.json'))).toBe(true);
      expect(existsSync(path.join(ROOT, stub))).toBe(true);
    }
  });
});

describe('config loading in a function bundle (yaml stubbed)', () => {
  const cluster = { alias: 'prod', backend: 'cloud', clusterId: 'abc', apiKey: { secretId: 'k' } };
  let bundle: string;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir('bundled-config-');
    bundle = path.join(dir, 'load-config.js');
    // loadConfig as the functions run it: built with their settings, run by a plain `node`.
    const contents = "import { loadConfig } from './lib/config';\ntry { process.stdout.write(loadConfig(process.env).clusters.map((c) => c.alias).join(',')); } catch (e) { process.stdout.write(`${e.name}: ${e.message}`); }\n";
    const { entryPoints: _entry, ...options } = esbuildOptions(ROOT, 'handlers/slack.ts', bundle);
    await build({ ...options, stdin: { contents, resolveDir: ROOT, loader: 'ts', sourcefile: 'load-config-probe.ts' } });
  });

  const run = (env: Record<string, string>): string => execFileSync(process.execPath, [bundle], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });

  it('reads CHATOPS_CONFIG_JSON, as the stack sets it, and a JSON file', () => {
    expect(run({ CHATOPS_CONFIG_JSON: JSON.stringify({ clusters: [cluster] }) })).toBe('prod');
    const file = path.join(dir, 'chatops.json');
    writeFileSync(file, JSON.stringify({ clusters: [cluster] }));
    expect(run({ CHATOPS_CONFIG: file })).toBe('prod');
  });

  it('refuses a YAML file with the reason, not as a syntax error', () => {
    const file = path.join(dir, 'chatops.yml');
    writeFileSync(file, 'clusters:\n  - alias: prod\n');
    expect(run({ CHATOPS_CONFIG: file })).toMatch(/^UnbundledPackageError: yaml\.parse\(\) is not available in this Lambda function: yaml is replaced by a stub/);
  });
});

describe('a stubbed package', () => {
  // The stubs are CommonJS (`export =`), as Bolt requires them.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded the way Bolt loads the package it replaces
  const oauth = require('../../infra/lambda-stubs/slack-oauth') as Record<string, unknown> & { __esModule?: unknown; then?: unknown };

  it('loads and passes through module interop harmlessly', () => {
    expect(oauth.__esModule).toBeUndefined();
    expect(oauth.then).toBeUndefined();
    expect(typeof oauth.InstallProvider).toBe('function');
  });

  it('throws an error naming the package and the alias when it is used', () => {
    const InstallProvider = oauth.InstallProvider as new () => unknown;
    expect(() => new InstallProvider()).toThrow(UnbundledPackageError);
    expect(() => new InstallProvider()).toThrow(/new @slack\/oauth\.InstallProvider\(\) is not available in this Lambda function: @slack\/oauth is replaced by a stub .*LAMBDA_ONLY_ALIASES/);
  });
});
