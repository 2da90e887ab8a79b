import { idempotencyToken, parseDatabaseSecret, resolveDeletion, serializeDatabaseSecret } from '../../lib/secrets/common';
import { SecretInvalidError } from '../../lib/secrets/errors';
import { assertValidSecretName, parseSecretName, secretName, secretTagRecord } from '../../lib/secrets/types';
import { databaseSecret } from '../contracts/secret-store-contract';

describe('secretName', () => {
  it('builds crdb-chatops/<cluster>/<user>', () => {
    expect(secretName('prod-eu', 'maxroach')).toBe('crdb-chatops/prod-eu/maxroach');
    expect(secretName('dev1', 'app_reader.v2-x')).toBe('crdb-chatops/dev1/app_reader.v2-x');
  });

  it('refuses cluster aliases outside [a-z0-9-]', () => {
    for (const cluster of ['', 'Prod', 'prod/eu', 'prod_eu', 'prod eu', 'a'.repeat(64)]) {
      expect(() => secretName(cluster, 'maxroach')).toThrow(SecretInvalidError);
    }
  });

  it("refuses user names with '/' or characters Secrets Manager forbids", () => {
    for (const user of ['', 'max/roach', 'max roach', 'max!', 'mäx', "max'"]) {
      expect(() => secretName('dev', user)).toThrow(SecretInvalidError);
    }
  });

  it('parses back what it builds, and nothing else', () => {
    expect(parseSecretName(secretName('dev', 'maxroach'))).toEqual({ cluster: 'dev', user: 'maxroach' });
    for (const other of ['crdb-chatops/dev', 'crdb-chatops/dev/a/b', 'other/dev/maxroach', 'crdb-chatops/Dev/maxroach', 'crdb-chatops//maxroach']) {
      expect(parseSecretName(other)).toBeUndefined();
    }
  });
});

describe('assertValidSecretName', () => {
  it('accepts Secrets Manager names and, when asked, an empty list prefix', () => {
    expect(() => assertValidSecretName('crdb-chatops/dev/max+roach=@.-_')).not.toThrow();
    expect(() => assertValidSecretName('', { allowEmpty: true })).not.toThrow();
  });

  it('refuses empty, over-long and badly charactered names', () => {
    for (const name of ['', 'a'.repeat(513), 'a b', 'a!b', 'a\nb']) expect(() => assertValidSecretName(name)).toThrow(SecretInvalidError);
  });
});

describe('secretTagRecord', () => {
  it('adds managed-by to owner and cluster', () => {
    expect(secretTagRecord({ owner: 'U0TESTOWNER', cluster: 'dev' })).toEqual({
      'crdb-chatops:owner': 'U0TESTOWNER',
      'crdb-chatops:cluster': 'dev',
      'managed-by': 'crdb-chatops',
    });
  });
});

describe('idempotencyToken', () => {
  it('is a stable UUID-shaped token per operation, secret and key', () => {
    const token = idempotencyToken('create', 'crdb-chatops/dev/maxroach', 'req-1');

    expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(idempotencyToken('create', 'crdb-chatops/dev/maxroach', 'req-1')).toBe(token);
    expect(new Set([
      token,
      idempotencyToken('put', 'crdb-chatops/dev/maxroach', 'req-1'),
      idempotencyToken('create', 'crdb-chatops/dev/other', 'req-1'),
      idempotencyToken('create', 'crdb-chatops/dev/maxroach', 'req-2'),
    ]).size).toBe(4);
  });
});

describe('resolveDeletion', () => {
  it('defaults to a 7-day window and accepts 7 to 30 days or force', () => {
    expect(resolveDeletion()).toEqual({ force: false, days: 7 });
    expect(resolveDeletion({ recoveryWindowDays: 30 })).toEqual({ force: false, days: 30 });
    expect(resolveDeletion({ force: true })).toEqual({ force: true });
  });
});

describe('parseDatabaseSecret', () => {
  it('round-trips a serialized secret and accepts a numeric-string port', () => {
    const value = databaseSecret();
    expect(parseDatabaseSecret(serializeDatabaseSecret(value), 'n')).toEqual(value);
    expect(parseDatabaseSecret(JSON.stringify({ ...value, port: '26257', extra: 1 }), 'n')).toEqual(value);
  });

  it('names the bad field and never quotes the input', () => {
    const value = databaseSecret();
    const cases = [
      JSON.stringify({ ...value, engine: 'mysql' }),
      JSON.stringify({ ...value, host: '' }),
      JSON.stringify({ ...value, port: 70_000 }),
      `{"password":"${value.password}"`,
      `"${value.password}"`,
    ];
    for (const json of cases) {
      let error: unknown;
      try {
        parseDatabaseSecret(json, 'crdb-chatops/dev/maxroach');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SecretInvalidError);
      expect((error as Error).message).toContain('crdb-chatops/dev/maxroach');
      expect((error as Error).message).not.toContain(value.password);
      expect((error as Error).cause).toBeUndefined();
    }
  });
});
