/**
 * What local mode started, and how to stop it: cleanups run last-started-first, each with a time
 * limit, so a stuck server cannot keep `npm start` from exiting on Ctrl-C or SIGTERM.
 */

export interface LifecycleOptions {
  /** Per-step limit; default 10 s. */
  readonly stepTimeoutMs?: number;
  /** Told about each step that failed or timed out (shutdown carries on). */
  readonly onStepError?: (step: string, error: unknown) => void;
}

interface Step {
  readonly name: string;
  readonly close: () => Promise<void> | void;
}

/** Thrown by `assertOpen` when a shutdown began while starting up. */
export class ShutdownRequested extends Error {
  constructor() {
    super('shutdown requested while starting');
    this.name = 'ShutdownRequested';
  }
}

export class Lifecycle {
  private readonly steps: Step[] = [];
  private closing: Promise<void> | undefined;
  private announce!: () => void;
  /** Resolves when a shutdown begins (a signal, `quit`, an error). */
  readonly stopping: Promise<void> = new Promise((resolve) => (this.announce = resolve));
  private readonly stepTimeoutMs: number;
  private readonly onStepError: (step: string, error: unknown) => void;

  constructor({ stepTimeoutMs = 10_000, onStepError = () => undefined }: LifecycleOptions = {}) {
    this.stepTimeoutMs = stepTimeoutMs;
    this.onStepError = onStepError;
  }

  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  /** Registers how to stop something just started; if shutdown already began, stops it now. */
  defer(name: string, close: () => Promise<void> | void): void {
    if (this.closing !== undefined) {
      void this.run({ name, close });
      return;
    }
    this.steps.push({ name, close });
  }

  /** Between start-up steps: gives up when a shutdown began meanwhile. */
  assertOpen(): void {
    if (this.closing !== undefined) throw new ShutdownRequested();
  }

  /** Stops everything, once; later calls share the first. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.announce();
      this.closing = (async () => {
        for (let step = this.steps.pop(); step !== undefined; step = this.steps.pop()) await this.run(step);
      })();
    }
    return this.closing;
  }

  private async run(step: Step): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not stop within ${this.stepTimeoutMs} ms`)), this.stepTimeoutMs);
    });
    try {
      await Promise.race([Promise.resolve().then(step.close), timeout]);
    } catch (error) {
      this.onStepError(step.name, error);
    } finally {
      clearTimeout(timer);
    }
  }
}
