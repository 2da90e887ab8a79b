/**
 * The time-driven half of requests: pending requests expire, password DMs are deleted after their
 * TTL. The scheduled audit function runs these every 15 minutes; each action is written to the
 * audit trail (request events) or logged as a structured record.
 */
import { type Logger } from '../log';
import { type RequestExecutor } from './executor';
import { driveJob, type JobQueue } from './jobs';
import { type Notifier } from './notifier';
import { type RequestStore } from './store';

export interface MaintenanceOptions {
  readonly store: RequestStore;
  readonly notifier: Notifier;
  readonly executor: Pick<RequestExecutor, 'expire'>;
  /** Where the reconciler's drive jobs go. */
  readonly queue: JobQueue;
  readonly logger: Logger;
  readonly now?: () => Date;
  /** A pending request whose card is still not posted this long after it was made is driven on. Default 60 s. */
  readonly cardlessAfterMs?: number;
}

export interface MaintenanceReport {
  /** Open requests the reconciler drove on (their ids). */
  readonly driven: readonly string[];
  readonly expiredRequests: readonly string[];
  readonly deletedDms: number;
  readonly failedDmDeletions: number;
}

export class Maintenance {
  private readonly o: MaintenanceOptions;
  private readonly now: () => Date;

  constructor(options: MaintenanceOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * The reconciler: every open request nothing has moved on by its `dueAt` (a crash, a Lambda
   * timeout, a job lost or dead-lettered), and every pending request whose card was never posted,
   * is driven on by a `drive` job. The table is the only source of truth; a job is only a way to
   * get there sooner. One drive per state a request is stuck in (deduplicated by version).
   */
  async reconcile({ everyOpen = false }: { everyOpen?: boolean } = {}): Promise<string[]> {
    const now = this.now();
    // `everyOpen`: a single process starting again (local mode) knows that nothing else is
    // working on any of them: the process that was is gone. It reads the table itself, not the
    // index: a process killed in the middle of a write can leave the emulator's index behind.
    const due = everyOpen ? await this.o.store.scanOpen() : await this.o.store.listDue(now);
    const cardless = (await this.o.store.listPending()).filter(
      (r) => r.card === undefined && Date.parse(r.createdAt) <= now.getTime() - (this.o.cardlessAfterMs ?? 60_000) && Date.parse(r.expiresAt) > now.getTime(),
    );
    const driven: string[] = [];
    for (const request of [...due, ...cardless]) {
      const { job, options } = driveJob(request);
      try {
        await this.o.queue.enqueue(job, options);
        driven.push(request.id);
        this.o.logger.info({ event: 'request.redriven', requestId: request.id, status: request.status, step: request.step, dueAt: request.dueAt }, 'open request driven on');
      } catch (error) {
        // The next run tries again; the request is still in the table.
        this.o.logger.warn({ event: 'request.redrive-failed', requestId: request.id, err: error }, 'could not enqueue a drive job');
      }
    }
    return driven;
  }

  /** Pending requests past their expiry become `expired`; their cards and requesters are told. */
  async expireStaleRequests(): Promise<string[]> {
    const stale = await this.o.store.listExpiredPending(this.now());
    const expired: string[] = [];
    for (const request of stale) {
      await this.o.executor.expire(request);
      expired.push(request.id);
      this.o.logger.info({ event: 'request.expired', requestId: request.id, cluster: request.cluster }, 'pending request expired');
    }
    return expired;
  }

  /** DMs that carry a password are deleted once their TTL has passed. */
  async deleteDueDms(): Promise<{ deleted: number; failed: number }> {
    const due = await this.o.store.listDueDmReceipts(this.now());
    let deleted = 0;
    let failed = 0;
    for (const receipt of due) {
      try {
        await this.o.notifier.deleteMessage(receipt.channel, receipt.ts);
        await this.o.store.deleteDmReceipt(receipt.channel, receipt.ts);
        deleted += 1;
        this.o.logger.info({ event: 'dm.deleted', user: receipt.user, channel: receipt.channel, ts: receipt.ts }, 'password DM deleted');
      } catch (error) {
        // Kept for the next sweep; the audit reports DMs past their TTL.
        failed += 1;
        this.o.logger.warn({ event: 'dm.delete-failed', user: receipt.user, err: error }, 'could not delete a password DM');
      }
    }
    return { deleted, failed };
  }

  async run(): Promise<MaintenanceReport> {
    const driven = await this.reconcile();
    const expiredRequests = await this.expireStaleRequests();
    const { deleted, failed } = await this.deleteDueDms();
    return { driven, expiredRequests, deletedDms: deleted, failedDmDeletions: failed };
  }
}
