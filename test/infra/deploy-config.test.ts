/**
 * The config file, as a deployment reads it: what cannot work on Lambda fails the synth with the
 * key named, and secrets travel by reference only. No bundling here: these tests are fast.
 */
import { Stack } from 'aws-cdk-lib';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../infra/chatops-stack';
import { tempDir } from '../support/temp-dirs';
import { ConfigError } from '../../lib/config';
import { assertEnvironmentFits, LAMBDA_ENV_LIMIT_BYTES } from '../../infra/chatops-function';
import { loadDeployConfig } from '../../infra/deploy-config';
import { configSecretResources, kmsKeyStatement, userSecretResource } from '../../infra/permissions';
import { deployableDocument, EXAMPLE_CONFIG, normalise, projectApp, writeConfig } from './support';

/** A PEM private-key block with no key in it, assembled here so the repository holds no key-shaped text. */
const FAKE_KEY_BLOCK = ['BEGIN', 'END'].map((edge) => `-----${edge} ${['PRIVATE', 'KEY'].join(' ')}-----\n`).join('not-a-key\n');

const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

function refusal(document: unknown, files?: Record<string, string>): ConfigError {
  try {
    loadDeployConfig(writeConfig(document, files));
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected the config to be refused');
}

const cluster = (overrides: Record<string, unknown> = {}) => ({ alias: 'prod-eu', backend: 'cloud', clusterId: 'abc', apiKey: { secretId: 'crdb-chatops/cloud-api-key' }, ...overrides });
const sqlCluster = (overrides: Record<string, unknown> = {}) => ({
  alias: 'onprem',
  backend: 'sql',
  connection: { host: 'db.internal', user: 'chatops_admin', password: { secretId: 'crdb-chatops/onprem-admin' } },
  hba: { kind: 'cockroach-setting' },
  ...overrides,
});
const slack = (overrides: Record<string, unknown>) => ({ ...(deployableDocument().slack as object), ...overrides });

describe('deploy config', () => {
  it('loads the example config: every secret by reference, read by the functions that resolve it', () => {
    const config = loadDeployConfig(EXAMPLE_CONFIG);
    expect(config.secrets).toEqual([
      { key: 'slack.signingSecret', secretId: 'crdb-chatops/slack-signing-secret', readBy: ['slack'] },
      { key: 'slack.botToken', secretId: 'crdb-chatops/slack-bot-token', readBy: ['slack', 'worker', 'audit'] },
      { key: 'clusters.0.apiKey', secretId: 'crdb-chatops/cloud-api-key', readBy: ['worker', 'audit'] },
      { key: 'clusters.0.adminSql.password', secretId: 'crdb-chatops/prod-eu-admin-sql', readBy: ['worker', 'audit'] },
      { key: 'clusters.1.connection.password', secretId: 'crdb-chatops/onprem-admin', readBy: ['worker', 'audit'] },
    ]);
    expect(JSON.parse(config.json)).not.toHaveProperty('clusters.1.caFile', 'example-ca.pem');
  });

  it('requires CHATOPS_CONFIG', () => {
    expect(() => loadDeployConfig(undefined)).toThrow(/^CHATOPS_CONFIG is not set/);
  });

  it('fails with the schema error of local mode, naming the key', () => {
    expect(refusal(deployableDocument({ clusters: [cluster({ policy: { maxFor: '2 weeks' } })] })).message).toBe(
      'config: clusters.0.policy.maxFor: "2 weeks" is not a duration like 30m, 8h or 7d',
    );
  });

  it.each([
    ['slack.botToken', { slack: slack({ botToken: { env: 'SLACK_BOT_TOKEN' } }) }, /not \{ env \}: the value would end up in the template/],
    ['slack.signingSecret', { slack: slack({ signingSecret: { value: 'not-a-real-signing-secret' } }) }, /not \{ value \}/],
    ['clusters.0.apiKey', { clusters: [cluster({ apiKey: { file: 'key.txt' } })] }, /not \{ file \}/],
    ['clusters.0.connection.password', { clusters: [sqlCluster({ connection: { host: 'h', user: 'u', password: { env: 'PGPASSWORD' } } })] }, /secretId/],
    ['slack.botToken', { slack: slack({ botToken: { secretId: 'has spaces' } }) }, /neither a Secrets Manager secret name/],
    ['clusters.0.apiKey', { clusters: [cluster({ apiKey: { secretId: 'crdb-chatops/prod-eu/api-key' } })] }, /inside crdb-chatops\/prod-eu\/, where the bot keeps SQL users' passwords/],
    [
      'clusters.0.apiKey',
      { clusters: [cluster({ apiKey: { secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:crdb-chatops/prod-eu/key-AbCdEf' } })] },
      /inside crdb-chatops\/prod-eu\//,
    ],
  ])('refuses a secret that is not a Secrets Manager reference outside the users\' prefix: %s', (key, overrides, message) => {
    const error = refusal(deployableDocument(overrides));
    expect(error.key).toBe(key);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
  });

  it('never echoes a secret value it refuses', () => {
    const error = refusal(deployableDocument({ slack: slack({ botToken: { value: 'xoxb-1234-sentinel-refused-token' } }) }));
    expect(error.message).not.toContain('xoxb-1234-sentinel-refused-token');
  });

  it.each([
    ['secrets.store', { secrets: { store: 'file', path: 'secrets.json' } }],
    ['secrets.endpoint', { secrets: { store: 'aws', endpoint: 'http://127.0.0.1:4566' } }],
    ['state.endpoint', { state: { endpoint: 'http://127.0.0.1:8000' } }],
    ['queue.kind', { queue: { kind: 'in-process' } }],
    ['queue.endpoint', { queue: { kind: 'sqs', endpoint: 'http://127.0.0.1:9324' } }],
    ['slack.botUserId', { slack: slack({ botUserId: undefined }) }],
    ['slack.botId', { slack: slack({ botId: undefined }) }],
    ['audit.reportAt', { audit: { reportAt: '24:00' } }],
    ['audit.timeZone', { audit: { timeZone: 'Mars/Olympus_Mons' } }],
    ['clusters.0.hba.kind', { clusters: [sqlCluster({ hba: { kind: 'pg-hba-file', path: '/etc/postgresql/pg_hba.conf' } })] }],
  ])('refuses what cannot work on Lambda: %s', (key, overrides) => {
    const error = refusal(deployableDocument(overrides));
    expect(error.key).toBe(key);
    expect(error.message).toMatch(new RegExp(`^config: ${key.replace(/\./g, '\\.')}: `));
  });

  it('accepts any propagation wait: the request waits in the table, not inside a worker invocation', () => {
    expect(() => loadDeployConfig(writeConfig(deployableDocument({ requests: { propagationTimeout: '30m' } })))).not.toThrow();
  });

  it('bundles CA files by content and points the transported config at them', () => {
    const config = loadDeployConfig(
      writeConfig(deployableDocument({ clusters: [sqlCluster({ caFile: 'ca.pem', connection: { host: 'h', user: 'u', password: { secretId: 's' }, caFile: 'ca.pem' } })] }), { 'ca.pem': CA_PEM }),
    );
    const entries = [...config.bundledFiles];
    expect(entries).toEqual([[expect.stringMatching(/^certs\/[0-9a-f]{16}\.pem$/), expect.stringMatching(/ca\.pem$/)]]);
    const inBundle = entries[0]?.[0];
    const transported = JSON.parse(config.json) as { clusters: Array<{ caFile: string; connection: { caFile: string } }> };
    expect(transported.clusters[0]?.caFile).toBe(inBundle);
    expect(transported.clusters[0]?.connection.caFile).toBe(inBundle);
  });

  it.each([
    ['a missing file', {}, /cannot read/],
    ['a private key', { 'ca.pem': `${CA_PEM}${FAKE_KEY_BLOCK}` }, /contains a private key/],
    ['not a certificate', { 'ca.pem': 'hello' }, /is not a PEM certificate/],
  ])('refuses a caFile that is %s', (_what, files, message) => {
    const error = refusal(deployableDocument({ clusters: [sqlCluster({ caFile: 'ca.pem' })] }), files);
    expect(error.key).toBe('clusters.0.caFile');
    expect(error.message).toMatch(message);
  });
});

describe('function environment size', () => {
  it("fails the synth, naming the variable, beyond Lambda's 4 KB", () => {
    expect(() => assertEnvironmentFits('Stack/Worker', { CHATOPS_CONFIG_JSON: 'x'.repeat(LAMBDA_ENV_LIMIT_BYTES) })).toThrow(/over Lambda's 4096; the largest variable is CHATOPS_CONFIG_JSON/);
    expect(() => assertEnvironmentFits('Stack/Worker', { CHATOPS_CONFIG_JSON: 'x'.repeat(3000) })).not.toThrow();
  });
});

describe('secret and key ARNs', () => {
  // In an app whose output directory this file removes (a stack without one makes its own in the temp dir).
  const stack = new Stack(projectApp(), 'Arns');
  const rendered = (value: string): string => JSON.stringify(stack.resolve(value));

  it('matches a secret name with the six-character suffix Secrets Manager appends, and nothing wider', () => {
    const [arn] = configSecretResources({ stack }, 'crdb-chatops/slack-bot-token');
    expect(rendered(arn ?? '')).toContain(':secret:crdb-chatops/slack-bot-token-??????');
  });

  it('takes an ARN as given, complete or partial', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:crdb-chatops/slack-bot-token';
    expect(configSecretResources({ stack }, arn)).toEqual([arn, `${arn}-??????`]);
  });

  it('uses secrets.region when the secrets live in another region', () => {
    expect(rendered(configSecretResources({ stack, region: 'us-west-2' }, 'crdb-chatops/k')[0] ?? '')).toContain(':secretsmanager:us-west-2:');
    expect(rendered(userSecretResource({ stack, region: 'us-west-2' }, 'prod-eu'))).toMatch(/:secretsmanager:us-west-2:.*:secret:crdb-chatops\/prod-eu\/\*"/);
  });

  it.each([
    ['a key id', '1234abcd-12ab-34cd-56ef-1234567890ab', /:key\/1234abcd-12ab-34cd-56ef-1234567890ab"/, undefined],
    ['a key ARN', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab', /^"arn:aws:kms:eu-west-1:123456789012:key\/1234abcd/, undefined],
    ['an alias', 'alias/crdb-chatops', /:key\/\*"/, 'alias/crdb-chatops'],
    ['an alias ARN', 'arn:aws:kms:eu-west-1:123456789012:alias/crdb-chatops', /:key\/\*"/, 'alias/crdb-chatops'],
  ])('scopes KMS to the secrets key given as %s, through Secrets Manager only', (_what, kmsKeyId, resource, alias) => {
    const json = stack.resolve(kmsKeyStatement(stack, kmsKeyId, 'eu-west-1', ['kms:Decrypt', 'kms:GenerateDataKey']).toStatementJson()) as Parameters<typeof normalise>[0];
    const statement = normalise(json);
    expect(statement.actions).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(JSON.stringify(json.Resource)).toMatch(resource);
    expect(statement.conditions).toEqual({
      StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' },
      ...(alias !== undefined && { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': alias } }),
    });
  });
});

describe('the example, copied as the README says', () => {
  const readmeCopySteps = (): string => {
    const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    const block = /```sh\n(cp infra\/example\.config\.yml chatops\.aws\.yml\n[\s\S]*?)```/.exec(readme)?.[1];
    if (block === undefined) throw new Error('README: the copy commands of "Write the config" are gone');
    return block;
  };
  /** A folder shaped like the repository root, holding the files the commands copy. */
  const checkout = (): string => {
    const root = tempDir('chatops-copy-');
    mkdirSync(path.join(root, 'infra'));
    for (const name of ['example.config.yml', 'example-ca.pem']) copyFileSync(path.join(PROJECT_ROOT, 'infra', name), path.join(root, 'infra', name));
    return root;
  };

  it('loads, CA file included, after the README commands', () => {
    const root = checkout();
    execFileSync('bash', ['-euc', readmeCopySteps()], { cwd: root });
    const config = loadDeployConfig(path.join(root, 'chatops.aws.yml'));
    expect([...config.bundledFiles.values()]).toEqual([path.join(root, 'certs', 'example-ca.pem')]);
  });

  it('says in one line where a relative caFile is read from when the file was copied alone', () => {
    const root = checkout();
    copyFileSync(path.join(root, 'infra', 'example.config.yml'), path.join(root, 'chatops.aws.yml'));
    expect(() => loadDeployConfig(path.join(root, 'chatops.aws.yml'))).toThrow(
      new RegExp(`^config: clusters\\.1\\.connection\\.caFile: cannot read ${root}/example-ca\\.pem \\(a relative caFile is read from the config file's folder, ${root}\\)\\. Example: caFile: certs/example-ca\\.pem next to the config, or an absolute path\\.$`),
    );
  });
});
