/**
 * Local mode runs the schedules AWS runs (infra/audit-schedules.ts), on timers in this process:
 *
 * - on start, every open request is driven on (this process is the only worker: whatever is open
 *   was left by a run that is gone), then the reconciler every few seconds;
 * - the expiry sweep every `audit.sweepEvery` (expired entries and users removed, pending requests
 *   expired, password DMs past their TTL deleted), and once at start;
 * - the daily report at `audit.reportAt` in `audit.timeZone`.
 *
 * One task at a time, in order; a failed task is logged and tried again at its next time.
 */
import { type Logger } from '../lib/log';

export interface LocalScheduleTasks {
  /** Every open request, due or not (at start). */
  recoverAll(): Promise<unknown>;
  /** Open requests that are due. */
  reconcile(): Promise<unknown>;
  sweep(): Promise<unknown>;
  report(): Promise<unknown>;
}

export interface LocalSchedulesOptions {
  readonly tasks: LocalScheduleTasks;
  readonly reconcileEveryMs: number;
  readonly sweepEveryMs: number;
  /** `HH:MM`, 24-hour. */
  readonly reportAt: string;
  /** IANA zone name. */
  readonly timeZone: string;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export class LocalSchedules {
  private readonly o: LocalSchedulesOptions;
  private readonly now: () => Date;
  private nextReconcile = 0;
  private nextSweep = 0;
  /** The day (`YYYY-MM-DD` in the zone) of the last report, so it runs once a day. */
  private lastReportDay: string | undefined;
  private started = false;
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: LocalSchedulesOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  /** Runs what is due now (the timer calls it every second; tests call it with their clock). */
  tick(): Promise<void> {
    this.chain = this.chain.then(() => this.runDue());
    return this.chain;
  }

  /** Starts the timer; the first tick recovers every open request and sweeps. */
  start(tickMs = 1_000): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), tickMs);
  }

  /** Stops the timer and waits for the task in progress. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.chain;
  }

  private async runDue(): Promise<void> {
    const now = this.now();
    if (!this.started) {
      this.started = true;
      // A report time already past today waits for tomorrow, as a schedule created now would.
      const today = zonedDay(now, this.o.timeZone);
      if (zonedTime(now, this.o.timeZone) >= this.o.reportAt) this.lastReportDay = today;
      await this.run('recover', () => this.o.tasks.recoverAll());
      this.nextReconcile = now.getTime() + this.o.reconcileEveryMs;
    }
    if (now.getTime() >= this.nextReconcile) {
      this.nextReconcile = now.getTime() + this.o.reconcileEveryMs;
      await this.run('reconcile', () => this.o.tasks.reconcile());
    }
    if (now.getTime() >= this.nextSweep) {
      this.nextSweep = now.getTime() + this.o.sweepEveryMs;
      await this.run('sweep', () => this.o.tasks.sweep());
    }
    const day = zonedDay(now, this.o.timeZone);
    if (day !== this.lastReportDay && zonedTime(now, this.o.timeZone) >= this.o.reportAt) {
      this.lastReportDay = day;
      await this.run('report', () => this.o.tasks.report());
    }
  }

  private async run(task: string, work: () => Promise<unknown>): Promise<void> {
    try {
      const result = await work();
      this.o.logger.debug({ event: 'local.schedule', task, result }, 'scheduled task ran');
    } catch (error) {
      this.o.logger.warn({ event: 'local.schedule-failed', task, err: error }, 'scheduled task failed; it runs again at its next time');
    }
  }
}

function parts(at: Date, timeZone: string): Record<string, string> {
  const formatted = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  return Object.fromEntries(formatted.map((p) => [p.type, p.value]));
}

/** `YYYY-MM-DD` of `at` in `timeZone`. */
function zonedDay(at: Date, timeZone: string): string {
  const p = parts(at, timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}

/** `HH:MM` of `at` in `timeZone`. */
function zonedTime(at: Date, timeZone: string): string {
  const p = parts(at, timeZone);
  return `${p.hour}:${p.minute}`;
}
