/**
 * Config secret references (Slack signing secret, bot token, Cloud API keys) resolved through the
 * real Secrets Manager client against the protocol stand-in, cached like Powertools Parameters.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createSecretsManagerClient } from '../../lib/secrets/aws-secrets-manager';
import { SecretRedactor } from '../../lib/log';
import { SecretReferenceError, SecretResolver } from '../../lib/secrets/references';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';
import { tempDir } from '../support/temp-dirs';

describe('secret references', () => {
  let standIn: SecretsManagerStandIn;
  let endpoint: string;

  beforeAll(async () => {
    standIn = new SecretsManagerStandIn();
    ({ endpoint } = await standIn.start());
  });
  afterAll(() => standIn.stop());

  const client = () =>
    createSecretsManagerClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' }, maxAttempts: 1 });

  it('fetches a Secrets Manager secret once, serves it from cache, and refreshes after maxAge', async () => {
    const sm = client();
    await sm.send(new CreateSecretCommand({ Name: 'crdb-chatops/slack-signing-secret', SecretString: 'test-signing-secret-v1' }));
    let now = 0;
    const resolver = new SecretResolver({ secretsManager: sm, maxAgeMs: 1_000, now: () => now });
    const ref = { secretId: 'crdb-chatops/slack-signing-secret' };
    const calls = () => standIn.callCount('GetSecretValue');
    const before = calls();

    await expect(Promise.all([resolver.resolve(ref, 'slack.signingSecret'), resolver.resolve(ref, 'slack.signingSecret')])).resolves.toEqual([
      'test-signing-secret-v1',
      'test-signing-secret-v1',
    ]);
    expect(calls() - before).toBe(1);

    await sm.send(new PutSecretValueCommand({ SecretId: ref.secretId, SecretString: 'test-signing-secret-v2' }));
    now = 500;
    expect(await resolver.resolve(ref, 'slack.signingSecret')).toBe('test-signing-secret-v1');
    now = 1_500;
    expect(await resolver.resolve(ref, 'slack.signingSecret')).toBe('test-signing-secret-v2');
    expect(calls() - before).toBe(2);
  });

  it('resolves env and file references and registers every value with the redactor', async () => {
    const dir = tempDir('refs-');
    writeFileSync(path.join(dir, 'token'), 'xoxb-test-token-from-file\n');
    const redactor = new SecretRedactor();
    const resolver = new SecretResolver({ env: { BOT_TOKEN: 'xoxb-test-token-from-env' }, baseDir: dir, redactor });
    expect(await resolver.resolve({ env: 'BOT_TOKEN' }, 'slack.botToken')).toBe('xoxb-test-token-from-env');
    expect(await resolver.resolve({ file: 'token' }, 'slack.botToken')).toBe('xoxb-test-token-from-file');
    expect(redactor.scrub('a xoxb-test-token-from-env b xoxb-test-token-from-file')).toBe('a [REDACTED] b [REDACTED]');
  });

  it('fails with a message naming the reference, never a value, and does not cache the failure', async () => {
    const resolver = new SecretResolver({ secretsManager: client(), env: {} });
    await expect(resolver.resolve({ env: 'MISSING_VAR' }, 'clusters.prod.apiKey')).rejects.toThrow('clusters.prod.apiKey: environment variable MISSING_VAR is not set.');
    const missing = resolver.resolve({ secretId: 'crdb-chatops/absent' }, 'slack.botToken');
    await expect(missing).rejects.toBeInstanceOf(SecretReferenceError);
    await expect(missing).rejects.toThrow('slack.botToken: cannot read secret crdb-chatops/absent from Secrets Manager (ResourceNotFoundException).');
    await client().send(new CreateSecretCommand({ Name: 'crdb-chatops/absent', SecretString: 'xoxb-test-late' }));
    expect(await resolver.resolve({ secretId: 'crdb-chatops/absent' }, 'slack.botToken')).toBe('xoxb-test-late');
  });
});
