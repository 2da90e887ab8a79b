/**
 * The time-driven half of requests: pending requests expire, password DMs are deleted after their
 * TTL. The scheduled audit function runs these every 15 minutes; each action is written to the
 * audit trail (request events) or logged as a structured record.
 */
import { type Logger } from '../log';
import { type RequestExecutor } from './executor';
import { driveJob, type JobQueue } from './jobs';
import { type ExpiryReminder, type Notifier } from './notifier';
import { type RequestStore } from './store';
import { type ExtendSubject } from './types';

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
  /**
   * Expiry reminders (config `requests.remindBefore`): how long before a temporary entry or user
   * expires its holder is DMed, and what Extend asks for on a cluster. Absent: none.
   */
  readonly reminders?: { readonly beforeMs: number; readonly extendByMs: (cluster: string) => number };
}

/** A reminder's mark lives a day past the expiry it was for (a later expiry is a new reminder). */
const REMINDED_TTL_SECONDS = 24 * 60 * 60;

export interface MaintenanceReport {
  /** Open requests the reconciler drove on (their ids). */
  readonly driven: readonly string[];
  readonly expiredRequests: readonly string[];
  readonly deletedDms: number;
  readonly failedDmDeletions: number;
  /** Expiry reminders sent. */
  readonly reminded: number;
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

  /**
   * DMs the holder of every temporary entry and user that expires within `reminders.beforeMs` (and
   * has not yet), once per expiry: a mark claimed in the table after the DM, keyed by the expiry,
   * so an extended subject is reminded again before its new expiry. At least once: a crash between
   * the DM and its mark sends it again on the next run. A failed DM is logged and tried next run.
   */
  async remindExpiring(): Promise<number> {
    const reminders = this.o.reminders;
    if (reminders === undefined) return 0;
    const now = this.now();
    const horizon = new Date(now.getTime() + reminders.beforeMs);
    const [entries, users] = await Promise.all([this.o.store.listExpiredEntries(horizon), this.o.store.listExpiredUsers(horizon)]);
    const due: { holder: string; cluster: string; subject: ExtendSubject; expiresAt: string }[] = [
      ...entries.flatMap((e) => (e.expiresAt === undefined ? [] : [{ holder: e.requester, cluster: e.cluster, subject: { type: 'entry' as const, cidr: e.cidr }, expiresAt: e.expiresAt }])),
      ...users.flatMap((u) => (u.expiresAt === undefined ? [] : [{ holder: u.owner, cluster: u.cluster, subject: { type: 'user' as const, user: u.user }, expiresAt: u.expiresAt }])),
    ].filter((d) => Date.parse(d.expiresAt) > now.getTime());
    let sent = 0;
    for (const item of due) {
      const key = `reminded:${item.cluster}:${item.subject.type === 'entry' ? item.subject.cidr : item.subject.user}:${item.expiresAt}`;
      try {
        if ((await this.o.store.idempotencyKeyHolder(key)) !== undefined) continue;
        const reminder: ExpiryReminder = { ...item, extendByMs: reminders.extendByMs(item.cluster) };
        await this.o.notifier.remindExpiry(reminder);
        await this.o.store.claimIdempotencyKey(key, 'reminder', Math.ceil((Date.parse(item.expiresAt) - now.getTime()) / 1000) + REMINDED_TTL_SECONDS);
        sent += 1;
        this.o.logger.info({ event: 'expiry.reminded', user: item.holder, cluster: item.cluster, subject: item.subject.type, expiresAt: item.expiresAt }, 'expiry reminder sent');
      } catch (error) {
        this.o.logger.warn({ event: 'expiry.remind-failed', user: item.holder, cluster: item.cluster, err: error }, 'could not send an expiry reminder; the next run tries again');
      }
    }
    return sent;
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
    const reminded = await this.remindExpiring();
    return { driven, expiredRequests, deletedDms: deleted, failedDmDeletions: failed, reminded };
  }
}
