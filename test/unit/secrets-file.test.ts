import { chmod, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../lib/log';
import { SecretAccessDeniedError, SecretStoreBackendError } from '../../lib/secrets/errors';
import { FileSecretStore } from '../../lib/secrets/file-store';
import { secretName } from '../../lib/secrets/types';
import { databaseSecret, describeSecretStoreContract } from '../contracts/secret-store-contract';

const DAY_MS = 24 * 60 * 60 * 1000;
const tags = { owner: 'U0TESTOWNER', cluster: 'dev' };

let dir: string;

async function tempDir(): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'crdb-chatops-secrets-'));
  return dir;
}

async function removeTempDir(): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

describeSecretStoreContract('FileSecretStore', {
  setup: async () => {
    let offsetMs = 0;
    const store = new FileSecretStore({ path: join(await tempDir(), 'secrets.json'), now: () => new Date(Date.now() + offsetMs) });
    return { store, advance: (ms) => (offsetMs += ms) };
  },
  teardown: removeTempDir,
});

describe('FileSecretStore file handling', () => {
  let path: string;

  beforeEach(async () => {
    // A directory that does not exist yet, to see the store create it.
    path = join(await tempDir(), 'state', 'secrets.json');
  });

  afterEach(removeTempDir);

  it('writes the file with mode 0600 in a directory it creates with mode 0700', async () => {
    const store = new FileSecretStore({ path });

    await store.create(secretName('dev', 'maxroach'), databaseSecret(), { tags });
    await store.put(secretName('dev', 'maxroach'), databaseSecret());

    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
  });

  it('treats a missing file as an empty store and creates nothing on reads', async () => {
    const store = new FileSecretStore({ path });

    await expect(store.get(secretName('dev', 'maxroach'))).resolves.toBeUndefined();
    await expect(store.list('crdb-chatops/')).resolves.toEqual([]);
    await expect(readdir(dir)).resolves.toEqual([]);
  });

  it('refuses a file that group or others may read, naming the chmod that fixes it', async () => {
    const store = new FileSecretStore({ path });
    await store.create(secretName('dev', 'maxroach'), databaseSecret(), { tags });
    await chmod(path, 0o644);

    await expect(store.get(secretName('dev', 'maxroach'))).rejects.toThrow(SecretAccessDeniedError);
    await expect(store.list('crdb-chatops/')).rejects.toThrow(`chmod 600 ${path}`);
    await expect(store.create(secretName('dev', 'other'), databaseSecret(), { tags })).rejects.toThrow(SecretAccessDeniedError);
    expect((await stat(path)).mode & 0o777).toBe(0o644);
  });

  it('leaves the previous file whole and no temp file behind when the committing rename fails', async () => {
    let crash = false;
    const store = new FileSecretStore({
      path,
      rename: async (from, to) => {
        if (crash) throw Object.assign(new Error('simulated crash before rename'), { code: 'EIO' });
        await rename(from, to);
      },
    });
    await store.create(secretName('dev', 'first'), databaseSecret(), { tags });
    const before = await readFile(path);

    crash = true;
    await expect(store.create(secretName('dev', 'second'), databaseSecret(), { tags })).rejects.toThrow(SecretStoreBackendError);

    await expect(readFile(path)).resolves.toEqual(before);
    await expect(readdir(join(dir, 'state'))).resolves.toEqual(['secrets.json']);
    await expect(store.get(secretName('dev', 'second'))).resolves.toBeUndefined();
    // The write queue is not stuck behind the failed write.
    crash = false;
    await store.create(secretName('dev', 'second'), databaseSecret(), { tags });
    expect((await store.list('crdb-chatops/')).map((s) => s.name)).toEqual([secretName('dev', 'first'), secretName('dev', 'second')]);
  });

  it('keeps all of 20 concurrent creates of different names', async () => {
    const store = new FileSecretStore({ path });
    const names = Array.from({ length: 20 }, (_, i) => secretName('dev', `user${String(i).padStart(2, '0')}`));
    const values = names.map(() => databaseSecret());

    await Promise.all(names.map((n, i) => store.create(n, values[i] ?? databaseSecret(), { tags })));

    const reopened = new FileSecretStore({ path });
    expect((await reopened.list('crdb-chatops/dev/')).map((s) => s.name)).toEqual(names);
    for (const [i, n] of names.entries()) await expect(reopened.get(n)).resolves.toEqual(values[i]);
  });

  it('lets exactly one of concurrent creates of the same name win', async () => {
    const store = new FileSecretStore({ path });
    const name = secretName('dev', 'maxroach');

    const results = await Promise.allSettled(Array.from({ length: 5 }, () => store.create(name, databaseSecret(), { tags })));

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('removes secrets past their recovery window from the file on the next write', async () => {
    let offsetMs = 0;
    const store = new FileSecretStore({ path, now: () => new Date(Date.now() + offsetMs) });
    await store.create(secretName('dev', 'gone'), databaseSecret(), { tags });
    await store.delete(secretName('dev', 'gone'), { recoveryWindowDays: 7 });
    expect(await readFile(path, 'utf8')).toContain(secretName('dev', 'gone'));

    offsetMs = 7 * DAY_MS + 1;
    await store.create(secretName('dev', 'new'), databaseSecret(), { tags });

    expect(await readFile(path, 'utf8')).not.toContain(secretName('dev', 'gone'));
  });

  it('logs deletions, restores and failures with secret names and never a value', async () => {
    const lines: string[] = [];
    const destination = new PassThrough();
    destination.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
    const store = new FileSecretStore({ path, logger: createLogger({ level: 'debug', destination }) });
    const value = databaseSecret();
    await store.create(secretName('dev', 'maxroach'), value, { tags });
    await store.delete(secretName('dev', 'maxroach'));
    await store.restore(secretName('dev', 'maxroach'));
    await chmod(path, 0o640);
    await expect(store.get(secretName('dev', 'maxroach'))).rejects.toThrow(SecretAccessDeniedError);

    expect(lines.join('')).not.toContain(value.password);
    const entries = lines.map((l) => JSON.parse(l) as { level: string; message: string; secretName?: string; path?: string });
    expect(entries.map((e) => [e.level, e.secretName ?? e.path])).toEqual([
      ['info', secretName('dev', 'maxroach')],
      ['info', secretName('dev', 'maxroach')],
      ['warn', path],
    ]);
    expect(entries[2]?.message).toContain('chmod 600');
  });

  it('reports a file that is not JSON as a backend error without quoting it', async () => {
    const leaked = 'password=fake-but-long-value-0123456789';
    await writeFile(join(dir, 'plain.json'), leaked, { mode: 0o600 });
    const store = new FileSecretStore({ path: join(dir, 'plain.json') });

    const error: unknown = await store.get(secretName('dev', 'maxroach')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SecretStoreBackendError);
    expect((error as Error).message).not.toContain(leaked);
    expect((error as Error).cause).toBeUndefined();
  });
});
