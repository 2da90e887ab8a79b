/**
 * `FileSecretStore` temp files: created 0600 at open, and the leftovers of a write interrupted by
 * a crash (they hold every secret) are removed when the store is opened again.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSecretStore } from '../../lib/secrets/file-store';
import { secretName } from '../../lib/secrets/types';
import { databaseSecret } from '../contracts/secret-store-contract';
import { REPO_ROOT } from '../support/local-process';

const tags = { owner: 'U0TESTOWNER', cluster: 'dev' };
const UUID = '0b6f7c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e';

let dir: string;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crdb-chatops-leftovers-'));
  path = join(dir, 'secrets.json');
});

afterEach(() => rm(dir, { recursive: true, force: true }));

/** A process id that is certainly not running (beyond the kernel's pid range). */
const GONE_PID = 4_194_305;

async function leftover(pid: number, file = 'secrets.json', { ageMs = 0 } = {}): Promise<string> {
  const temp = join(dir, `.${file}.${pid}.${UUID}.tmp`);
  await writeFile(temp, '{"every":"secret"}\n', { mode: 0o600 });
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    await utimes(temp, then, then);
  }
  return temp;
}

describe('FileSecretStore leftovers of interrupted writes', () => {
  it('a kill -9 between writing the temp file and renaming it: the temp file was 0600, and the next open removes it', async () => {
    // A first, committed write.
    await new FileSecretStore({ path }).create(secretName('dev', 'kept'), databaseSecret({ username: 'kept' }), { tags });
    const committed = await readFile(path, 'utf8');

    const writer = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'support', 'file-store-crash-writer.ts'), path], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    writer.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => writer.once('exit', (_code, signal) => resolve(signal)));
    const deadline = Date.now() + 30_000;
    while (!/^temp (.+)$/m.test(out)) {
      if (Date.now() > deadline) throw new Error(`the writer did not reach its rename: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const temp = /^temp (.+)$/m.exec(out)?.[1] ?? '';
    // Mid-write: the temp file holds the new secret and is private.
    expect((await stat(temp)).mode & 0o777).toBe(0o600);
    expect(await readFile(temp, 'utf8')).toContain('"crashed"');

    writer.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(await readdir(dir)).toContain(temp.slice(dir.length + 1));

    // The next start opens the store: the leftover is gone, the committed file is intact.
    const store = new FileSecretStore({ path });
    expect((await store.list('crdb-chatops/')).map((s) => s.name)).toEqual([secretName('dev', 'kept')]);
    expect(await readdir(dir)).toEqual(['secrets.json']);
    expect(await readFile(path, 'utf8')).toBe(committed);
  }, 45_000);

  it('removes leftovers of a process that is gone, and old ones whatever their pid', async () => {
    await leftover(GONE_PID);
    await leftover(1, 'secrets.json', { ageMs: 60 * 60_000 });
    const store = new FileSecretStore({ path });
    await expect(store.get(secretName('dev', 'nobody'))).resolves.toBeUndefined();
    expect(await readdir(dir)).toEqual([]);
  });

  it('removes leftovers carrying this process id when no write of this process is in flight (a restarted container reuses pids)', async () => {
    await leftover(process.pid);
    const store = new FileSecretStore({ path });
    await store.create(secretName('dev', 'maxroach'), databaseSecret(), { tags });
    expect(await readdir(dir)).toEqual(['secrets.json']);
  });

  it('keeps a fresh temp file of another live process (it may be writing right now) and files of other stores', async () => {
    const live = await leftover(process.ppid);
    const other = await leftover(GONE_PID, 'other.json');
    await writeFile(join(dir, 'notes.tmp'), 'not ours');
    const store = new FileSecretStore({ path });
    await expect(store.list('')).resolves.toEqual([]);
    expect((await readdir(dir)).sort()).toEqual([live, other, join(dir, 'notes.tmp')].map((f) => f.slice(dir.length + 1)).sort());
  });

  it('never removes the temp file of a write in flight in this process, even by another instance on the same file', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let temp = '';
    const writer = new FileSecretStore({
      path,
      rename: async (from, to) => {
        temp = from;
        await held;
        await rename(from, to);
      },
    });
    const writing = writer.create(secretName('dev', 'slow'), databaseSecret(), { tags });
    while (temp === '') await new Promise((r) => setTimeout(r, 5));

    const opened = new FileSecretStore({ path });
    await expect(opened.get(secretName('dev', 'slow'))).resolves.toBeUndefined();
    expect((await stat(temp)).mode & 0o777).toBe(0o600);

    release();
    await writing;
    await expect(opened.get(secretName('dev', 'slow'))).resolves.toMatchObject({ username: 'maxroach' });
    expect(await readdir(dir)).toEqual(['secrets.json']);
  });
});
