/**
 * The Secrets Manager stand-in itself: that it speaks the protocol the way the service does, so
 * tests against it mean something, and that its fault injection is deterministic.
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  InvalidRequestException,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createSecretsManagerClient } from '../../lib/secrets/aws-secrets-manager';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';

const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };
const standIn = new SecretsManagerStandIn();
let endpoint: string;
let client: SecretsManagerClient;
const TOKEN = '11111111-2222-4333-8444-555555555555';

beforeAll(async () => {
  ({ endpoint } = await standIn.start());
  client = createSecretsManagerClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1 });
});

afterAll(async () => {
  client.destroy();
  await standIn.stop();
});

beforeEach(() => standIn.reset());

describe('Secrets Manager stand-in', () => {
  it('refuses an unsigned request with MissingAuthenticationTokenException', async () => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'secretsmanager.ListSecrets' },
      body: '{}',
    });

    expect(response.status).toBe(400);
    await expect(response.json()).resolves.toEqual({ __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' });
  });

  it('answers a read of a secret marked for deletion with InvalidRequestException, as the service does', async () => {
    await client.send(new CreateSecretCommand({ Name: 'crdb-chatops/dev/a', SecretString: '{}' }));
    await client.send(new DeleteSecretCommand({ SecretId: 'crdb-chatops/dev/a', RecoveryWindowInDays: 7 }));

    const error: unknown = await client.send(new GetSecretValueCommand({ SecretId: 'crdb-chatops/dev/a' })).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(InvalidRequestException);
    expect((error as Error).message).toBe("You can't perform this operation on the secret because it was marked for deletion.");
  });

  it('makes a repeated ClientRequestToken with the same value the same version, and with another value ResourceExistsException', async () => {
    await client.send(new CreateSecretCommand({ Name: 'crdb-chatops/dev/a', SecretString: '{"v":1}' }));
    const first = await client.send(new PutSecretValueCommand({ SecretId: 'crdb-chatops/dev/a', SecretString: '{"v":2}', ClientRequestToken: TOKEN }));
    const again = await client.send(new PutSecretValueCommand({ SecretId: 'crdb-chatops/dev/a', SecretString: '{"v":2}', ClientRequestToken: TOKEN }));

    expect(first.VersionId).toBe(TOKEN);
    expect(again.VersionId).toBe(TOKEN);
    await expect(
      client.send(new PutSecretValueCommand({ SecretId: 'crdb-chatops/dev/a', SecretString: '{"v":3}', ClientRequestToken: TOKEN })),
    ).rejects.toBeInstanceOf(ResourceExistsException);
    expect(standIn.secret('crdb-chatops/dev/a')?.versions.map((v) => v.stages)).toEqual([['AWSPREVIOUS'], ['AWSCURRENT']]);
  });

  it('fails only the named operation with failNext', async () => {
    standIn.failNext(1, { type: 'ThrottlingException', operation: 'CreateSecret' });

    await client.send(new ListSecretsCommand({}));
    await expect(client.send(new CreateSecretCommand({ Name: 'crdb-chatops/dev/a', SecretString: '{}' }))).rejects.toMatchObject({ name: 'ThrottlingException' });

    expect(standIn.calls().map((c) => [c.operation, c.injected])).toEqual([['ListSecrets', false], ['CreateSecret', true]]);
  });

  it('fails the same calls for the same seed in probability mode', async () => {
    async function pattern(): Promise<boolean[]> {
      standIn.reset();
      standIn.setFaultRate({ probability: 0.5, seed: 42, faults: ['InternalServiceError', 503] });
      for (let i = 0; i < 20; i++) await client.send(new ListSecretsCommand({})).catch(() => undefined);
      return standIn.calls('ListSecrets').map((c) => c.injected);
    }

    const first = await pattern();
    const second = await pattern();

    expect(second).toEqual(first);
    expect(first.filter(Boolean).length).toBeGreaterThan(0);
    expect(first.filter((injected) => !injected).length).toBeGreaterThan(0);
  });
});
