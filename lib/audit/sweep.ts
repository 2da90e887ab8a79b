/**
 * The expiry sweep (every 15 minutes): removes expired temporary entries, drops expired temporary
 * users (scheduling their secrets' deletion), deletes password DMs past their TTL and expires
 * stale pending requests. The last two are `Maintenance`'s; this adds the first two.
 *
 * Nothing is removed that the bot cannot prove it created: an expired entry goes only when the
 * allowlist entry's name carries the request id of the bot's record (`chatops:<id>`), unless the
 * policy `audit.removeUnprovenExpired` says otherwise. An unproven one stays, and the daily report
 * shows it. A user goes when the bot's record of creating it has expired.
 *
 * Each action is written to the audit trail (the cluster's, and the trail of the request that made
 * the entry or user) and logged as one structured record (`audit.swept`).
 */
import { requestIdFromEntryName } from '../cluster-admin/allowlist';
import { type AllowlistEntry } from '../cluster-admin/types';
import { type Logger } from '../log';
import { auditFailureText } from './failure';
import { type Maintenance } from '../requests/maintenance';
import { type RequestStore } from '../requests/store';
import { auditTrailId, type ManagedEntry, type ManagedUser, type RequestEvent } from '../requests/types';
import { type SecretStore } from '../secrets/types';
import { type AuditClusters } from './inspect';
import { code, joinProse, label, prose, type Prose } from '../prose';

export type SweepAction =
  /** An expired entry left the allowlist; `proven` is false only under `removeUnprovenExpired`. */
  | { readonly kind: 'entry-removed'; readonly cluster: string; readonly cidr: string; readonly requestId: string; readonly requester: string; readonly expiresAt: string; readonly proven: boolean }
  /**
   * An expired entry stays: the bot cannot prove it made the entry on the allowlist. Every sweep
   * finds it again; `announce` is true only on the first sweep after it expired (the daily report
   * lists it from then on, with a Remove button).
   */
  | {
      readonly kind: 'entry-kept';
      readonly cluster: string;
      readonly cidr: string;
      readonly requestId: string;
      readonly requester: string;
      readonly expiresAt: string;
      readonly reason: Prose;
      readonly announce: boolean;
    }
  /** The expired entry was already gone; only the bot's record was dropped. */
  | { readonly kind: 'record-dropped'; readonly cluster: string; readonly cidr: string; readonly requestId: string }
  | { readonly kind: 'user-dropped'; readonly cluster: string; readonly user: string; readonly owner: string; readonly requestId: string; readonly expiresAt: string; readonly existed: boolean }
  | { readonly kind: 'request-expired'; readonly cluster: string; readonly requestId: string }
  | { readonly kind: 'failed'; readonly cluster: string; readonly subject: string; readonly error: Prose };

export interface SweepResult {
  readonly actions: readonly SweepAction[];
  readonly dmsDeleted: number;
  readonly dmDeletionsFailed: number;
}

export interface ExpirySweepOptions {
  readonly clusters: AuditClusters;
  readonly store: RequestStore;
  readonly secrets: SecretStore;
  readonly maintenance: Pick<Maintenance, 'expireStaleRequests' | 'deleteDueDms'>;
  readonly removeUnprovenExpired: boolean;
  readonly recoveryWindowDays: number;
  /** How often the sweep runs (the schedule's rate): what "newly expired" means. Default 15 minutes. */
  readonly intervalMs?: number;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export class ExpirySweep {
  private readonly o: ExpirySweepOptions;
  private readonly now: () => Date;

  constructor(options: ExpirySweepOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  async run(): Promise<SweepResult> {
    const now = this.now();
    const actions: SweepAction[] = [];
    const [entries, users] = await Promise.all([this.o.store.listExpiredEntries(now), this.o.store.listExpiredUsers(now)]);
    for (const [cluster, records] of groupBy(entries, (e) => e.cluster)) actions.push(...(await this.sweepEntries(cluster, records, now)));
    for (const user of users) actions.push(await this.sweepUser(user));
    for (const id of await this.o.maintenance.expireStaleRequests()) {
      // Maintenance wrote the `expired` event and told the card and the requester; this attributes it for the report.
      const request = await this.o.store.getRequest(id);
      actions.push({ kind: 'request-expired', cluster: request?.cluster ?? '', requestId: id });
    }
    const dms = await this.o.maintenance.deleteDueDms();
    for (const action of actions) this.log(action);
    return { actions, dmsDeleted: dms.deleted, dmDeletionsFailed: dms.failed };
  }

  /** One paged list of the cluster's allowlist proves (or not) every expired entry of that cluster. */
  private async sweepEntries(cluster: string, records: readonly ManagedEntry[], now: Date): Promise<SweepAction[]> {
    let byCidr: Map<string, AllowlistEntry[]>;
    try {
      const admin = await this.o.clusters.get(cluster);
      byCidr = groupBy((await admin.listAllowlist()).entries, (e) => e.cidr);
    } catch (error) {
      return [{ kind: 'failed', cluster, subject: 'allowlist', error: this.failed(error, cluster, 'allowlist') }];
    }
    const actions: SweepAction[] = [];
    for (const record of records) {
      try {
        actions.push(await this.sweepEntry(record, byCidr.get(record.cidr) ?? [], now));
      } catch (error) {
        actions.push({ kind: 'failed', cluster, subject: record.cidr, error: this.failed(error, cluster, record.cidr) });
      }
    }
    return actions;
  }

  private async sweepEntry(record: ManagedEntry, onAllowlist: readonly AllowlistEntry[], now: Date): Promise<SweepAction> {
    const { cluster, cidr, requestId, requester } = record;
    const expiresAt = record.expiresAt ?? '';
    const announce = Date.parse(expiresAt) > now.getTime() - (this.o.intervalMs ?? 15 * 60_000);
    if (onAllowlist.length === 0) {
      await this.o.store.deleteManagedEntry(cluster, cidr);
      await this.trail(record.cluster, requestId, `expired ${cidr} was already gone from the allowlist; record dropped`);
      return { kind: 'record-dropped', cluster, cidr, requestId };
    }
    const proven = onAllowlist.some((e) => requestIdFromEntryName(e.name) === requestId);
    if (!proven && !this.o.removeUnprovenExpired) {
      // Entry names come from the cluster: labels, which every renderer quotes and makes safe.
      const names = joinProse(onAllowlist.map((e) => (e.name === undefined ? '(no name)' : [label(e.name)])), ', ');
      return { kind: 'entry-kept', cluster, cidr, requestId, requester, expiresAt, reason: prose`its name (${names}) does not carry request ${code(requestId)}`, announce };
    }
    const admin = await this.o.clusters.get(cluster);
    if (!(await admin.removeAllowlistEntry(cidr))) {
      // Listed but not removable: a self-hosted operator line the bot never edits.
      return { kind: 'entry-kept', cluster, cidr, requestId, requester, expiresAt, reason: prose`the backend refused to remove it (an operator rule)`, announce };
    }
    await this.o.store.deleteManagedEntry(cluster, cidr);
    await this.trail(cluster, requestId, `expired ${cidr} removed from the allowlist${proven ? '' : ' (unproven: audit.removeUnprovenExpired)'}`);
    return { kind: 'entry-removed', cluster, cidr, requestId, requester, expiresAt, proven };
  }

  private async sweepUser(user: ManagedUser): Promise<SweepAction> {
    const { cluster, requestId, owner } = user;
    try {
      const admin = await this.o.clusters.get(cluster);
      const existed = await admin.deleteUser(user.user);
      await this.o.secrets.delete(user.secretName, { recoveryWindowDays: this.o.recoveryWindowDays });
      await this.o.store.deleteManagedUser(cluster, user.user);
      await this.trail(cluster, requestId, `expired user ${user.user} ${existed ? 'dropped' : 'was already gone'}; secret ${user.secretName} scheduled for deletion in ${this.o.recoveryWindowDays} days`);
      return { kind: 'user-dropped', cluster, user: user.user, owner, requestId, expiresAt: user.expiresAt ?? '', existed };
    } catch (error) {
      return { kind: 'failed', cluster, subject: user.user, error: this.failed(error, cluster, user.user) };
    }
  }

  /** The same `swept` event on the request's trail and on the cluster's audit trail. */
  private async trail(cluster: string, requestId: string, detail: string): Promise<void> {
    const at = this.now().toISOString();
    const event = (id: string): RequestEvent => ({ requestId: id, at, actor: 'bot', type: 'swept', detail: id === requestId ? detail : `${detail} (request ${requestId})` });
    await this.o.store.appendEvent(event(requestId));
    await this.o.store.appendEvent(event(auditTrailId(cluster)));
  }

  private failed(error: unknown, cluster: string, subject: string): Prose {
    this.o.logger.error({ event: 'audit.sweep-failed', cluster, subject, err: error }, 'expiry sweep could not handle an item; the next sweep tries again');
    return auditFailureText(error);
  }

  private log(action: SweepAction): void {
    if (action.kind === 'failed') return;
    const { kind, ...fields } = action;
    const level = kind === 'entry-kept' ? 'warn' : 'info';
    this.o.logger[level]({ event: 'audit.swept', action: kind, ...fields }, `expiry sweep: ${kind}`);
  }
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
