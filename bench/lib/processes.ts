/** Child processes of the bench: spawned `node` with the function's flags and environment. */
import { fork, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LineResult {
  /** The first stdout line starting with `marker`, without it. */
  readonly line: string;
  /** ms from just before `spawn` until that line arrived. */
  readonly wallMs: number;
}

/**
 * Runs `node <flags> <script> <args>` and resolves with the first stdout line starting with
 * `marker`; the process is killed if it has not exited by then (use `keep` to leave it running).
 */
export function spawnUntilLine(
  script: string,
  args: readonly string[],
  { env, flags = [], marker, timeoutMs = 60_000 }: { env: NodeJS.ProcessEnv; flags?: readonly string[]; marker: string; timeoutMs?: number },
): Promise<LineResult & { stop: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...flags, script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(new Error(`${script} gave no ${marker} line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    };
    createInterface({ input: child.stdout }).on('line', (text) => {
      if (done || !text.startsWith(marker)) return;
      done = true;
      clearTimeout(timer);
      resolve({ line: text.slice(marker.length).trim(), wallMs: performance.now() - started, stop });
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('exit', (code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${String(code)} before a ${marker} line; stderr: ${stderr.slice(-2000)}`));
    });
  });
}

/** Forks `script` with an IPC channel, sends it `message`, resolves with its one reply. */
export function forkForReply<T>(script: string, args: readonly string[], message: unknown, { env, flags = [], timeoutMs = 600_000 }: { env: NodeJS.ProcessEnv; flags?: readonly string[]; timeoutMs?: number }): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(script, [...args], { env, execArgv: [...flags], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let replied = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not answer within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('message', (reply) => {
      replied = true;
      clearTimeout(timer);
      resolve(reply as T);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!replied) reject(new Error(`${script} exited with ${String(code)} without answering; stderr: ${stderr.slice(-2000)}`));
    });
    if (message !== undefined) child.send(message as object);
  });
}

export interface ForkedServer<M> {
  /** The first message the child sent. */
  readonly ready: M;
  /** SIGTERM, then the child's last message (if any) before it exited. */
  stop(): Promise<unknown>;
}

/** Forks a long-running child with an IPC channel; resolves with its first message. */
export function forkServer<M>(script: string, args: readonly string[], { env, flags = [], timeoutMs = 60_000 }: { env: NodeJS.ProcessEnv; flags?: readonly string[]; timeoutMs?: number }): Promise<ForkedServer<M>> {
  return new Promise((resolve, reject) => {
    const child = fork(script, [...args], { env, execArgv: [...flags], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    const failed = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${String(code)} before it was ready; stderr: ${stderr.slice(-2000)}`));
    };
    child.once('exit', failed);
    child.once('message', (ready) => {
      clearTimeout(timer);
      child.off('exit', failed);
      let last: unknown;
      child.on('message', (message) => (last = message));
      const exited = new Promise<unknown>((r) => child.once('exit', () => r(last)));
      resolve({
        ready: ready as M,
        stop: () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      });
    });
  });
}
