/* eslint-disable jest/no-export -- a shared suite, not a test file: each adapter's test file imports and runs it */
/**
 * The SecretStore contract: one suite every adapter must pass, so local mode (file) and AWS
 * (Secrets Manager) behave the same to the code above them. An adapter's test file calls
 * `describeSecretStoreContract` with a harness factory, then adds its adapter-specific tests.
 */
import { inspect } from 'node:util';
import { generatePassword } from '../../lib/secrets/password';
import {
  SecretExistsError,
  SecretInvalidError,
  SecretNotFoundError,
  type SecretStoreError,
} from '../../lib/secrets/errors';
import { type DatabaseSecret, type SecretStore, secretName, TAG_CLUSTER, TAG_MANAGED_BY, TAG_OWNER } from '../../lib/secrets/types';

export interface SecretStoreHarness {
  /** A store with no secrets in it. */
  readonly store: SecretStore & Required<Pick<SecretStore, 'restore'>>;
  /** Moves the clock the store (or its backend) uses for recovery windows forward. */
  advance(ms: number): void;
}

export interface SecretStoreContractOptions {
  /** Called before each test: a fresh, empty store. */
  readonly setup: () => Promise<SecretStoreHarness>;
  readonly teardown?: () => Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const OWNER = 'U0TESTOWNER';

/** A database secret with an obviously fake host and a freshly generated password. */
export function databaseSecret(overrides: Partial<DatabaseSecret> = {}): DatabaseSecret {
  return {
    engine: 'cockroachdb',
    host: 'free-tier.example.test',
    port: 26257,
    username: 'maxroach',
    password: generatePassword(),
    dbname: 'defaultdb',
    cluster: 'dev',
    ...overrides,
  };
}

/** Runs `action`, expecting it to reject; returns the error. */
async function rejection(action: () => Promise<unknown>): Promise<SecretStoreError> {
  try {
    await action();
  } catch (error) {
    return error as SecretStoreError;
  }
  throw new Error('expected the call to fail');
}

function expectNoSecretIn(error: unknown, secret: string): void {
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).not.toContain(secret);
  // The whole object graph, cause included, as a logger or a crash report would print it.
  expect(inspect(error, { depth: 10 })).not.toContain(secret);
}

export function describeSecretStoreContract(label: string, { setup, teardown }: SecretStoreContractOptions): void {
  describe(`${label}: SecretStore contract`, () => {
    let store: SecretStoreHarness['store'];
    let advance: SecretStoreHarness['advance'];
    const name = secretName('dev', 'maxroach');
    const tags = { owner: OWNER, cluster: 'dev' };

    beforeEach(async () => {
      ({ store, advance } = await setup());
    });

    afterEach(async () => {
      await teardown?.();
    });

    it('creates a secret that get returns and list shows with its tags', async () => {
      const value = databaseSecret();
      await store.create(name, value, { tags, description: 'SQL user maxroach on dev' });

      await expect(store.get(name)).resolves.toEqual(value);
      const listed = await store.list('crdb-chatops/dev/');
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ name, tags: { [TAG_OWNER]: OWNER, [TAG_CLUSTER]: 'dev', [TAG_MANAGED_BY]: 'crdb-chatops' } });
      expect(listed[0]?.createdAt).toBeInstanceOf(Date);
      expect(listed[0]?.deletedAt).toBeUndefined();
    });

    it('refuses to create a secret that exists and keeps the first value', async () => {
      const first = databaseSecret();
      await store.create(name, first, { tags });

      const error = await rejection(() => store.create(name, databaseSecret(), { tags }));

      expect(error).toBeInstanceOf(SecretExistsError);
      expect(error.code).toBe('already_exists');
      await expect(store.get(name)).resolves.toEqual(first);
    });

    it('treats a create retried with the same idempotency key and value as done', async () => {
      const value = databaseSecret();
      await store.create(name, value, { tags, idempotencyKey: 'req-123' });

      await expect(store.create(name, value, { tags, idempotencyKey: 'req-123' })).resolves.toBeUndefined();
      await expect(store.get(name)).resolves.toEqual(value);
      await expect(store.list('crdb-chatops/')).resolves.toHaveLength(1);
    });

    it('refuses a create retried with the same idempotency key but another value', async () => {
      const value = databaseSecret();
      await store.create(name, value, { tags, idempotencyKey: 'req-123' });

      await expect(store.create(name, databaseSecret(), { tags, idempotencyKey: 'req-123' })).rejects.toBeInstanceOf(SecretExistsError);
      await expect(store.create(name, value, { tags, idempotencyKey: 'req-456' })).rejects.toBeInstanceOf(SecretExistsError);
      await expect(store.get(name)).resolves.toEqual(value);
    });

    it('stores a new current version with put', async () => {
      await store.create(name, databaseSecret(), { tags });
      const rotated = databaseSecret();

      await store.put(name, rotated);

      await expect(store.get(name)).resolves.toEqual(rotated);
    });

    it('treats a put retried with the same idempotency key and value as done, and another value as a conflict', async () => {
      await store.create(name, databaseSecret(), { tags });
      const rotated = databaseSecret();
      await store.put(name, rotated, { idempotencyKey: 'rotate-1' });

      await expect(store.put(name, rotated, { idempotencyKey: 'rotate-1' })).resolves.toBeUndefined();
      await expect(store.put(name, databaseSecret(), { idempotencyKey: 'rotate-1' })).rejects.toBeInstanceOf(SecretExistsError);
      await expect(store.get(name)).resolves.toEqual(rotated);
    });

    it('refuses put to a missing secret', async () => {
      const error = await rejection(() => store.put(name, databaseSecret()));

      expect(error).toBeInstanceOf(SecretNotFoundError);
      expect((error as SecretNotFoundError).scheduledForDeletion).toBe(false);
    });

    it('returns undefined for a missing secret', async () => {
      await expect(store.get(secretName('dev', 'nobody'))).resolves.toBeUndefined();
    });

    it('lists every secret under a prefix, across pages, and nothing outside it', async () => {
      const prod = Array.from({ length: 12 }, (_, i) => secretName('prod', `user${String(i).padStart(2, '0')}`));
      // `prod-eu` shares the text prefix `crdb-chatops/prod` but not `crdb-chatops/prod/`.
      const others = [secretName('prod-eu', 'user00'), secretName('staging', 'user00')];
      for (const n of [...prod, ...others]) await store.create(n, databaseSecret({ cluster: 'prod' }), { tags: { owner: OWNER, cluster: 'prod' } });

      const listed = await store.list('crdb-chatops/prod/');

      expect(listed.map((s) => s.name).sort()).toEqual(prod);
      await expect(store.list('crdb-chatops/')).resolves.toHaveLength(14);
      await expect(store.list('crdb-chatops/nowhere/')).resolves.toEqual([]);
    });

    it('schedules deletion: get is undefined, list shows deletedAt, put and create refuse, restore brings it back', async () => {
      const value = databaseSecret();
      await store.create(name, value, { tags });

      await store.delete(name, { recoveryWindowDays: 7 });

      await expect(store.get(name)).resolves.toBeUndefined();
      const [listed] = await store.list('crdb-chatops/dev/');
      expect(listed?.deletedAt).toBeInstanceOf(Date);
      const putError = await rejection(() => store.put(name, databaseSecret()));
      expect(putError).toBeInstanceOf(SecretNotFoundError);
      expect((putError as SecretNotFoundError).scheduledForDeletion).toBe(true);
      const createError = await rejection(() => store.create(name, databaseSecret(), { tags }));
      expect(createError).toBeInstanceOf(SecretExistsError);
      expect((createError as SecretExistsError).scheduledForDeletion).toBe(true);

      await store.restore(name);

      await expect(store.get(name)).resolves.toEqual(value);
      const [restored] = await store.list('crdb-chatops/dev/');
      expect(restored?.deletedAt).toBeUndefined();
    });

    it('succeeds when deleting a missing secret or one already scheduled for deletion', async () => {
      await expect(store.delete(secretName('dev', 'nobody'))).resolves.toBeUndefined();
      await store.create(name, databaseSecret(), { tags });
      await store.delete(name);

      await expect(store.delete(name)).resolves.toBeUndefined();
      await expect(store.get(name)).resolves.toBeUndefined();
    });

    it('leaves a live secret as it is on restore, and refuses to restore a missing one', async () => {
      const value = databaseSecret();
      await store.create(name, value, { tags });

      await expect(store.restore(name)).resolves.toBeUndefined();
      await expect(store.get(name)).resolves.toEqual(value);
      await expect(store.restore(secretName('dev', 'nobody'))).rejects.toBeInstanceOf(SecretNotFoundError);
    });

    it('deletes at once with force: the name is free and nothing can be restored', async () => {
      await store.create(name, databaseSecret(), { tags });

      await store.delete(name, { force: true });

      await expect(store.get(name)).resolves.toBeUndefined();
      await expect(store.restore(name)).rejects.toBeInstanceOf(SecretNotFoundError);
      await expect(store.list('crdb-chatops/')).resolves.toEqual([]);
      const again = databaseSecret();
      await store.create(name, again, { tags });
      await expect(store.get(name)).resolves.toEqual(again);
    });

    it('purges a scheduled deletion once its recovery window has passed, not before', async () => {
      const kept = secretName('dev', 'kept');
      await store.create(name, databaseSecret(), { tags });
      await store.create(kept, databaseSecret(), { tags });
      await store.delete(name, { recoveryWindowDays: 7 });
      await store.delete(kept, { recoveryWindowDays: 10 });

      advance(8 * DAY_MS);

      await expect(store.restore(name)).rejects.toBeInstanceOf(SecretNotFoundError);
      expect((await store.list('crdb-chatops/')).map((s) => s.name)).toEqual([kept]);
      await expect(store.create(name, databaseSecret(), { tags })).resolves.toBeUndefined();
      await expect(store.restore(kept)).resolves.toBeUndefined();
    });

    it('refuses recovery windows outside 7-30 days, and force combined with a window', async () => {
      await store.create(name, databaseSecret(), { tags });

      for (const recoveryWindowDays of [0, 6, 31, 7.5]) {
        await expect(store.delete(name, { recoveryWindowDays })).rejects.toBeInstanceOf(SecretInvalidError);
      }
      await expect(store.delete(name, { force: true, recoveryWindowDays: 7 })).rejects.toBeInstanceOf(SecretInvalidError);
      await expect(store.get(name)).resolves.toBeDefined();
      await expect(store.delete(name, { recoveryWindowDays: 30 })).resolves.toBeUndefined();
    });

    it('refuses names Secrets Manager would refuse', async () => {
      for (const bad of ['', 'crdb-chatops/dev/max roach', 'crdb-chatops/dev/max!', 'crdb-chatops/dev/mäx']) {
        await expect(store.create(bad, databaseSecret(), { tags })).rejects.toBeInstanceOf(SecretInvalidError);
        await expect(store.get(bad)).rejects.toBeInstanceOf(SecretInvalidError);
      }
    });

    it('refuses a value that is not a database secret, without quoting it', async () => {
      const value = databaseSecret({ port: 0 });

      const error = await rejection(() => store.create(name, value, { tags }));

      expect(error).toBeInstanceOf(SecretInvalidError);
      expect(error.message).toContain("'port'");
      expectNoSecretIn(error, value.password);
      await expect(store.get(name)).resolves.toBeUndefined();
    });

    it('never puts the secret value in an error', async () => {
      const value = databaseSecret();
      await store.create(name, value, { tags, idempotencyKey: 'req-1' });
      const errors = [
        await rejection(() => store.create(name, value, { tags })),
        await rejection(() => store.create(name, databaseSecret({ password: `${value.password}x` }), { tags, idempotencyKey: 'req-1' })),
        await rejection(() => store.put(secretName('dev', 'nobody'), value)),
      ];
      await store.delete(name);
      errors.push(await rejection(() => store.put(name, value)));

      for (const error of errors) expectNoSecretIn(error, value.password);
      expect(errors.map((e) => e.code)).toEqual(['already_exists', 'already_exists', 'not_found', 'not_found']);
    });
  });
}
