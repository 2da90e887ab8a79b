/**
 * Runs `npm start`'s command (package.json's `scripts.start`, through `sh -c` as npm runs it) as a
 * child process for the local-mode tests:
 * scripted stdin, captured output, waits on what it prints, and a process-group kill so neither
 * the child nor its PostgreSQL outlives a failed test.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** What `npm start` runs (`exec node --import tsx local/main.ts`); the tests run exactly that. */
export const START_SCRIPT = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;

export interface LocalProcessOptions {
  readonly args: readonly string[];
  /** Added to a clean copy of the environment (no CHATOPS_CONFIG, SLACK_* or DYNAMODB_ENDPOINT). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class LocalProcess {
  private stdout = '';
  private stderr = '';
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((this.exit = { code, signal }))));
  }

  static start({ args, env = {} }: LocalProcessOptions): LocalProcess {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(CHATOPS_|SLACK_|DYNAMODB_ENDPOINT$|PORT$)/.test(name)));
    // As npm does: `sh -c "<script> <args>"`, with node_modules/.bin on the PATH.
    const child = spawn('sh', ['-c', `${START_SCRIPT} "$@"`, 'npm-start', ...args], {
      cwd: REPO_ROOT,
      env: { ...clean, PATH: `${path.join(REPO_ROOT, 'node_modules', '.bin')}${path.delimiter}${clean.PATH ?? ''}`, NO_COLOR: '1', ...env },
      // Its own process group: one kill reaches node and PostgreSQL.
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new LocalProcess(child);
  }

  /** Everything printed on stdout so far. */
  get output(): string {
    return this.stdout;
  }

  get errors(): string {
    return this.stderr;
  }

  /** Types lines into the console. */
  send(...lines: string[]): void {
    this.child.stdin.write(lines.map((l) => `${l}\n`).join(''));
  }

  endInput(): void {
    this.child.stdin.end();
  }

  /** Resolves with the first match of `pattern` in stdout after `from` (an offset into `output`). */
  async waitFor(pattern: RegExp, { from = 0, timeoutMs = 20_000 }: { from?: number; timeoutMs?: number } = {}): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.stdout.slice(from));
      if (match) return match;
      if (this.exit !== undefined) throw new Error(`local mode exited (${JSON.stringify(this.exit)}) before printing ${pattern}\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`local mode did not print ${pattern} within ${timeoutMs} ms\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The end of both streams, for failure messages. */
  tail(): string {
    return `--- stdout (end) ---\n${this.stdout.slice(-4000)}\n--- stderr (end) ---\n${this.stderr.slice(-2000)}`;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Signals the whole process group, as a terminal's Ctrl-C or `kill -TERM -<pgid>` does. */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.child.pid !== undefined) process.kill(-this.child.pid, signal);
  }

  /** Kills the whole process group unless it already exited. */
  async kill(): Promise<void> {
    if (this.exit !== undefined || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await this.exited;
  }
}

/** A fresh data directory PostgreSQL can reach when the tests run as root (mkdtemp makes 0700). */
export async function freshDataDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'crdb-chatops-local-'));
  await chmod(root, 0o755);
  return { dir: path.join(root, 'data'), remove: () => rm(root, { recursive: true, force: true }) };
}
