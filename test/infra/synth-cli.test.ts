/**
 * `npm run synth` as an operator runs it: the cdk CLI, cdk.json, infra/app.ts. No AWS credentials
 * (the stack is environment-agnostic and makes no lookups); a bad config is one line naming the key.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { deployableDocument, EXAMPLE_CONFIG, ROOT, writeConfig } from './support';
import { tempDir } from '../support/temp-dirs';

// The CLI, tsx and three esbuild runs: ~10 s on an idle machine, slower when tests run in parallel.
const CLI_TIMEOUT_MS = 120_000;
jest.setTimeout(CLI_TIMEOUT_MS + 10_000);

function synth(configPath: string) {
  const outdir = tempDir('cdk-cli-');
  // Nothing AWS from the developer's shell: no credentials, profile or region.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('CDK_')));
  const result = spawnSync('npx', ['--no-install', 'cdk', 'synth', '--quiet', '--output', outdir], {
    cwd: ROOT,
    // The CLI's own temp files (an empty `cdk.out*` directory) land in a directory this file removes.
    env: { ...env, CHATOPS_CONFIG: configPath, CDK_DISABLE_CLI_TELEMETRY: 'true', TMPDIR: tempDir('cdk-cli-tmp-') },
    encoding: 'utf8',
    timeout: CLI_TIMEOUT_MS,
  });
  return { ...result, outdir };
}

describe('npm run synth', () => {
  it('synthesizes the stack without AWS credentials', () => {
    const { status, stderr, outdir } = synth(EXAMPLE_CONFIG);
    expect({ status, stderr: status === 0 ? '' : stderr }).toEqual({ status: 0, stderr: '' });
    const templatePath = path.join(outdir, 'CrdbChatops.template.json');
    expect(existsSync(templatePath)).toBe(true);
    const template = JSON.parse(readFileSync(templatePath, 'utf8')) as { Resources: Record<string, { Type: string }> };
    expect(Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function')).toHaveLength(4);
    rmSync(outdir, { recursive: true, force: true });
  });

  it('stops on a bad config with one line naming the key', () => {
    // The app alone (what cdk.json runs), which is all that a config error involves.
    const outdir = tempDir('cdk-app-');
    const { status, stderr } = spawnSync('npx', ['--no-install', 'tsx', 'infra/app.ts'], {
      cwd: ROOT,
      env: { ...process.env, CHATOPS_CONFIG: writeConfig(deployableDocument({ audit: { reportAt: '25:00' } })), CDK_OUTDIR: outdir, TMPDIR: tempDir('cdk-app-tmp-') },
      encoding: 'utf8',
      timeout: CLI_TIMEOUT_MS,
    });
    rmSync(outdir, { recursive: true, force: true });
    expect(status).not.toBe(0);
    expect(stderr).toContain('config: audit.reportAt: "25:00" is not a time of day like 09:00.');
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
