/**
 * AwsSecretStore with the real SDK v3 client over HTTP to the Secrets Manager stand-in: request
 * serialisation, SigV4 signing, the SDK's retries and error parsing all run for real.
 */
import { createServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { inspect } from 'node:util';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createLogger } from '../../lib/log';
import { AwsSecretStore, createSecretsManagerClient } from '../../lib/secrets/aws-secrets-manager';
import {
  SecretAccessDeniedError,
  SecretExistsError,
  SecretInvalidError,
  SecretStoreUnavailableError,
} from '../../lib/secrets/errors';
import { secretName, TAG_MANAGED_BY, TAG_OWNER } from '../../lib/secrets/types';
import { databaseSecret, describeSecretStoreContract } from '../contracts/secret-store-contract';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';

// Obviously fake credentials: the stand-in only checks that requests are signed with this key id.
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };
const region = 'us-east-1';
const PAGE_SIZE = 5;
const tags = { owner: 'U0TESTOWNER', cluster: 'dev' };
const name = secretName('dev', 'maxroach');

let offsetMs = 0;
const standIn = new SecretsManagerStandIn({
  region,
  accessKeyIds: [credentials.accessKeyId],
  maxPageSize: PAGE_SIZE,
  now: () => new Date(Date.now() + offsetMs),
});
let endpoint: string;
const stores: AwsSecretStore[] = [];

function newStore(options: { kmsKeyId?: string; accessKeyId?: string; endpoint?: string } = {}): AwsSecretStore {
  const store = new AwsSecretStore({
    region,
    endpoint: options.endpoint ?? endpoint,
    credentials: { ...credentials, ...(options.accessKeyId !== undefined && { accessKeyId: options.accessKeyId }) },
    ...(options.kmsKeyId !== undefined && { kmsKeyId: options.kmsKeyId }),
  });
  stores.push(store);
  return store;
}

beforeAll(async () => {
  ({ endpoint } = await standIn.start());
});

afterAll(async () => {
  for (const store of stores) store.close();
  await standIn.stop();
});

describeSecretStoreContract('AwsSecretStore', {
  setup: () => {
    standIn.reset();
    offsetMs = 0;
    return Promise.resolve({ store: newStore(), advance: (ms: number) => void (offsetMs += ms) });
  },
});

describe('AwsSecretStore on the Secrets Manager protocol', () => {
  let store: AwsSecretStore;

  beforeEach(() => {
    standIn.reset();
    offsetMs = 0;
    store = newStore({ kmsKeyId: 'alias/crdb-chatops' });
  });

  it('sends tags, description and the KMS key with one CreateSecret', async () => {
    await store.create(name, databaseSecret(), { tags, description: 'SQL user maxroach on dev' });

    expect(standIn.callCount('CreateSecret')).toBe(1);
    expect(standIn.secret(name)).toMatchObject({
      description: 'SQL user maxroach on dev',
      kmsKeyId: 'alias/crdb-chatops',
      tags: { [TAG_OWNER]: 'U0TESTOWNER', [TAG_MANAGED_BY]: 'crdb-chatops' },
    });
  });

  it('sends the same ClientRequestToken for a create retried with the same idempotency key, leaving one version', async () => {
    const value = databaseSecret();
    await store.create(name, value, { tags, idempotencyKey: 'req-123' });
    await store.create(name, value, { tags, idempotencyKey: 'req-123' });

    const tokens = standIn.calls('CreateSecret').map((c) => c.input.ClientRequestToken);
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(tokens[1]).toBe(tokens[0]);
    expect(standIn.secret(name)?.versions).toHaveLength(1);
  });

  it('survives a CreateSecret whose response was lost: the SDK retries with its token and no SecretExistsError', async () => {
    standIn.failNext(1, { type: 'InternalServiceError', operation: 'CreateSecret', afterApply: true });

    await store.create(name, databaseSecret(), { tags });

    const calls = standIn.calls('CreateSecret');
    expect(calls.map((c) => c.status)).toEqual([500, 200]);
    expect(calls[1]?.input.ClientRequestToken).toBe(calls[0]?.input.ClientRequestToken);
    expect(standIn.secret(name)?.versions).toHaveLength(1);
  });

  it('pages ListSecrets with NextToken, filtering by name and including planned deletions', async () => {
    for (let i = 0; i < 12; i++) await store.create(secretName('prod', `user${i}`), databaseSecret(), { tags });
    await store.delete(secretName('prod', 'user0'));

    const listed = await store.list('crdb-chatops/prod/');

    expect(listed).toHaveLength(12);
    const calls = standIn.calls('ListSecrets');
    expect(calls).toHaveLength(3);
    expect(calls[0]?.input).toMatchObject({ Filters: [{ Key: 'name', Values: ['crdb-chatops/prod/'] }], IncludePlannedDeletion: true });
    expect(calls[0]?.input.NextToken).toBeUndefined();
    expect(calls[1]?.input.NextToken).toEqual(expect.any(String));
    expect(listed.filter((s) => s.deletedAt !== undefined).map((s) => s.name)).toEqual([secretName('prod', 'user0')]);
  });

  it('retries throttling and succeeds', async () => {
    const value = databaseSecret();
    await store.create(name, value, { tags });
    standIn.failNext(2, { type: 'ThrottlingException', operation: 'GetSecretValue' });

    await expect(store.get(name)).resolves.toEqual(value);

    expect(standIn.calls('GetSecretValue').map((c) => c.errorType ?? c.status)).toEqual(['ThrottlingException', 'ThrottlingException', 200]);
  });

  it('retries a 500 and succeeds', async () => {
    await store.create(name, databaseSecret(), { tags });
    standIn.failNext(1, 500);
    const rotated = databaseSecret();

    await store.put(name, rotated);

    expect(standIn.calls('PutSecretValue').map((c) => c.status)).toEqual([500, 200]);
    await expect(store.get(name)).resolves.toEqual(rotated);
  });

  it('gives up after 3 attempts with a retryable SecretStoreUnavailableError', async () => {
    standIn.failNext(3, 503);

    const error: unknown = await store.get(name).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SecretStoreUnavailableError);
    expect((error as SecretStoreUnavailableError).retryable).toBe(true);
    expect(standIn.callCount('GetSecretValue')).toBe(3);
  });

  it('maps AccessDeniedException to SecretAccessDeniedError without retrying', async () => {
    standIn.failNext(1, 'AccessDeniedException');

    await expect(store.create(name, databaseSecret(), { tags })).rejects.toThrow(SecretAccessDeniedError);

    expect(standIn.callCount('CreateSecret')).toBe(1);
  });

  it('maps credentials the service does not recognise to SecretAccessDeniedError', async () => {
    const stranger = newStore({ accessKeyId: 'AKIDUNKNOWN' });

    await expect(stranger.get(name)).rejects.toThrow(SecretAccessDeniedError);
  });

  it('maps an endpoint nobody listens on to SecretStoreUnavailableError', async () => {
    const port = await freePort();
    const nowhere = newStore({ endpoint: `http://127.0.0.1:${port}` });

    await expect(nowhere.list('crdb-chatops/')).rejects.toThrow(SecretStoreUnavailableError);
  });

  it('keeps the secret value out of errors from the service, the retries and the network', async () => {
    const value = databaseSecret();
    const errors: unknown[] = [];
    standIn.failNext(3, 500);
    errors.push(await store.create(name, value, { tags }).catch((e: unknown) => e));
    standIn.failNext(1, 'AccessDeniedException');
    errors.push(await store.create(name, value, { tags }).catch((e: unknown) => e));
    await store.create(name, value, { tags });
    errors.push(await store.create(name, value, { tags }).catch((e: unknown) => e));

    expect(errors.map((e) => (e as Error).constructor)).toEqual([SecretStoreUnavailableError, SecretAccessDeniedError, SecretExistsError]);
    for (const error of errors) {
      expect((error as Error).message).not.toContain(value.password);
      expect(inspect(error, { depth: 10 })).not.toContain(value.password);
    }
  });

  it('logs failures with the secret name, AWS error and attempts, and never the value', async () => {
    const lines: string[] = [];
    const destination = new PassThrough();
    destination.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
    const logged = new AwsSecretStore({ region, endpoint, credentials, logger: createLogger({ level: 'debug', destination }) });
    stores.push(logged);
    const value = databaseSecret();
    await logged.create(name, value, { tags });
    standIn.failNext(3, 500);

    await expect(logged.put(name, value)).rejects.toThrow(SecretStoreUnavailableError);

    const output = lines.join('');
    expect(output).not.toContain(value.password);
    const failure = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'warn');
    expect(failure).toMatchObject({ secretName: name, operation: 'put', code: 'unavailable', awsError: 'InternalServiceError', httpStatus: 500, attempts: 3 });
  });

  it('reports a stored value that is not a database secret as SecretInvalidError without quoting it', async () => {
    await store.create(name, databaseSecret(), { tags });
    const raw = 'not-json fake-password-0123456789';
    const client = createSecretsManagerClient({ region, endpoint, credentials });
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: raw }));
    client.destroy();

    const error: unknown = await store.get(name).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SecretInvalidError);
    expect(inspect(error, { depth: 10 })).not.toContain('fake-password-0123456789');
  });
});

/** A port that was free a moment ago: bound, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
