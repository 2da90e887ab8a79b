/**
 * The time-driven half of requests: pending requests expire, password DMs are deleted after their
 * TTL. The scheduled audit function runs these every 15 minutes; each action is written to the
 * audit trail (request events) or logged as a structured record.
 */
import { type Logger } from '../log';
import { type RequestExecutor } from './executor';
import { type Notifier } from './notifier';
import { type RequestStore } from './store';

export interface MaintenanceOptions {
  readonly store: RequestStore;
  readonly notifier: Notifier;
  readonly executor: Pick<RequestExecutor, 'expire'>;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export interface MaintenanceReport {
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
    const expiredRequests = await this.expireStaleRequests();
    const { deleted, failed } = await this.deleteDueDms();
    return { expiredRequests, deletedDms: deleted, failedDmDeletions: failed };
  }
}
