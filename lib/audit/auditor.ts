/**
 * The audit's use cases: the expiry sweep (every 15 minutes), the report (daily, and `/crdb audit`)
 * and the fix behind a finding's Remove button.
 *
 * A report inspects each cluster in turn (one paged list per source, through the shared Cloud API
 * pacer), logs one structured JSON record per finding (`audit.finding`), and posts the findings an
 * approver has not kept to the cluster's audit channel, each with Remove and Keep buttons.
 */
import { failureReference, type Logger } from '../log';
import { type JobQueue } from '../requests/jobs';
import { isRetryable } from '../errors';
import { type RequestExecutor } from '../requests/executor';
import { type AuditJobs } from '../queue/router';
import { type Job } from '../requests/jobs';
import { type Maintenance } from '../requests/maintenance';
import { type Notifier, type Tone } from '../requests/notifier';
import { type RequestStore } from '../requests/store';
import { auditTrailId, type RequestEvent } from '../requests/types';
import { parseSecretName, secretName, type SecretStore } from '../secrets/types';
import { auditFailureText } from './failure';
import { compareFindings, type Finding, type FindingFix, RULE_TITLES, type Severity } from './findings';
import { type AuditClusters, ClusterInspector, type SharedInputs } from './inspect';
import { countBySeverity } from './rules';
import { ExpirySweep, type SweepAction } from './sweep';
import { channel, code, joinProse, person, plainText, prose, type Prose } from '../prose';

/** One cluster's report, as the reporter renders it. */
export interface ClusterReport {
  readonly cluster: string;
  readonly at: string;
  /** The findings to show (not kept), most severe first. */
  readonly findings: readonly Finding[];
  /** Findings an approver kept earlier, not shown again. */
  readonly kept: number;
  readonly entries: number;
  readonly users: number;
  readonly cap?: number;
  /** The admin who ran `/crdb audit`; absent for the daily schedule. */
  readonly requestedBy?: string;
}

/** Where the audit speaks: the cluster's audit channel. `SlackAuditReporter` implements it. */
export interface AuditReporter {
  /** Posts the report; returns where its first message is (Remove outcomes go to its thread). */
  postReport(channel: string, report: ClusterReport): Promise<{ readonly channel: string; readonly ts: string } | undefined>;
  /** What an expiry sweep did on one cluster. */
  postSweep(channel: string, cluster: string, actions: readonly SweepAction[]): Promise<void>;
  /**
   * The bot itself failed to audit `cluster`: one line saying so, with `reason` (user-safe) and the
   * reference of the log line that has the details, so the channel never silently misses a report.
   */
  postFailure(channel: string, cluster: string, reason: Prose, ref: string): Promise<void>;
  /** One line in a report's thread: the outcome of a Remove. */
  postOutcome(thread: { readonly channel: string; readonly ts: string }, text: Prose, tone: Tone): Promise<void>;
}

export interface AuditorOptions {
  readonly clusters: AuditClusters;
  readonly store: RequestStore;
  readonly secrets: SecretStore;
  readonly reporter: AuditReporter;
  readonly notifier: Pick<Notifier, 'reply' | 'deleteMessage'>;
  readonly maintenance: Pick<Maintenance, 'expireStaleRequests' | 'deleteDueDms'>;
  readonly executor: Pick<RequestExecutor, 'expire'>;
  /** Where a cancel of a request that does not finish goes (the request's own job group). */
  readonly queue: JobQueue;
  /** `audit.removeUnprovenExpired`. */
  readonly removeUnprovenExpired: boolean;
  /** Days a deleted secret stays restorable. */
  readonly recoveryWindowDays: number;
  readonly commandName: string;
  readonly logger: Logger;
  readonly now?: () => Date;
}

/** What a report did for one cluster (also the Lambda's result, so it holds no secret). */
export interface ClusterOutcome {
  readonly cluster: string;
  /** Every finding, kept ones included. */
  readonly findings: number;
  /** Findings shown in the report (not kept). */
  readonly shown: number;
  readonly kept: number;
  readonly bySeverity: Readonly<Record<Severity, number>>;
  /** The audit channel the report went to. */
  readonly postedTo?: string;
  /** Set when the cluster could not be audited or its report not posted (a user-safe line, plain text). */
  readonly error?: string;
}

export interface ReportSummary {
  readonly clusters: readonly ClusterOutcome[];
}

export interface SweepSummary {
  /** Actions by kind: `entry-removed`, `user-dropped`, `request-expired`, `entry-kept`, `failed`, ... */
  readonly actions: Readonly<Record<string, number>>;
  readonly dmsDeleted: number;
  readonly dmDeletionsFailed: number;
}

type AuditJob = Extract<Job, { type: 'audit' }>;
type AuditFixJob = Extract<Job, { type: 'audit-fix' }>;

export class Auditor implements AuditJobs {
  readonly inspector: ClusterInspector;
  private readonly sweeper: ExpirySweep;
  private readonly o: AuditorOptions;
  private readonly now: () => Date;

  constructor(options: AuditorOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
    const { clusters, store, secrets, logger } = options;
    const now = options.now ? { now: options.now } : {};
    this.inspector = new ClusterInspector({ clusters, store, secrets, ...now });
    this.sweeper = new ExpirySweep({
      clusters,
      store,
      secrets,
      maintenance: options.maintenance,
      removeUnprovenExpired: options.removeUnprovenExpired,
      recoveryWindowDays: options.recoveryWindowDays,
      logger,
      ...now,
    });
  }

  /** The 15-minute expiry sweep; what it did is posted to each cluster's audit channel. */
  async sweep(): Promise<SweepSummary> {
    const result = await this.sweeper.run();
    const byCluster = new Map<string, SweepAction[]>();
    // Dropping a stale record changes nothing anyone can see, and an unproven entry is announced
    // once (the daily report lists it from then on): the log has every action.
    for (const action of result.actions.filter((a) => a.kind !== 'record-dropped' && (a.kind !== 'entry-kept' || a.announce))) {
      byCluster.set(action.cluster, [...(byCluster.get(action.cluster) ?? []), action]);
    }
    for (const [cluster, actions] of byCluster) {
      const channel = this.o.clusters.config(cluster)?.auditChannel;
      if (channel === undefined) continue;
      try {
        await this.o.reporter.postSweep(channel, cluster, actions);
      } catch (error) {
        this.o.logger.warn({ event: 'audit.post-failed', cluster, channel, err: error }, 'could not post the sweep to the audit channel');
      }
    }
    const counts: Record<string, number> = {};
    for (const action of result.actions) counts[action.kind] = (counts[action.kind] ?? 0) + 1;
    const summary = { actions: counts, dmsDeleted: result.dmsDeleted, dmDeletionsFailed: result.dmDeletionsFailed };
    this.o.logger.info({ event: 'audit.sweep', ...summary }, 'expiry sweep done');
    return summary;
  }

  /** The daily report of every cluster. */
  async report(): Promise<ReportSummary> {
    return { clusters: await this.reportClusters(this.o.clusters.aliases) };
  }

  /** `/crdb audit [--cluster c]`: the same report, posted to the audit channels, summarised to the admin. */
  async runCommand(job: AuditJob): Promise<void> {
    const outcomes = await this.reportClusters(job.cluster !== undefined ? [job.cluster] : this.o.clusters.aliases, job.requester);
    const lines = outcomes.map((o) => prose`• ${outcomeLine(o)}`);
    const failed = outcomes.some((o) => o.error !== undefined);
    await this.o.notifier.reply(
      { user: job.requester, ...(job.responseUrl !== undefined ? { responseUrl: job.responseUrl } : {}) },
      { kind: 'text', text: joinProse(['Audit finished.', ...lines], '\n'), tone: failed ? 'warning' : 'success' },
    );
  }

  /**
   * An approver's Remove: re-inspects the cluster and applies the fix only if a finding with the
   * clicked fingerprint still exists (so a stale or forged click changes nothing). Retryable
   * failures are rethrown for the queue to deliver again, unless this is the final attempt.
   */
  async fix(job: AuditFixJob, { finalAttempt }: { finalAttempt: boolean }): Promise<void> {
    const log = this.o.logger.child({ cluster: job.cluster, fingerprint: job.fingerprint, actor: job.actor });
    let finding: Finding | undefined;
    try {
      finding = (await this.inspector.inspect(job.cluster)).findings.find((f) => f.fingerprint === job.fingerprint);
      if (finding?.fix === undefined) {
        log.info({ event: 'audit.remove-stale', found: finding !== undefined }, 'Remove clicked on a finding that no longer holds');
        const text =
          finding === undefined
            ? prose`Nothing was changed: this finding was resolved or has changed since the report. ${code(`${this.o.commandName} audit --cluster ${job.cluster}`)} shows the current state.`
            : prose`Nothing was changed: “${RULE_TITLES[finding.rule]}” has no automatic fix; change it on the cluster, or Keep it.`;
        await this.outcome(job, text, 'warning');
        return;
      }
      const done = await this.apply(job.cluster, finding.fix, job.actor);
      await this.trail(finding, job.actor, 'removed', plainText(done));
      log.info({ event: 'audit.removed', rule: finding.rule, subject: finding.subject, fix: finding.fix.kind }, plainText(done));
      await this.outcome(job, prose`${person(job.actor)} removed “${RULE_TITLES[finding.rule]}” ${code(finding.subject)}: ${done}`, 'success');
    } catch (error) {
      if (isRetryable(error) && !finalAttempt) {
        log.warn({ event: 'audit.remove-retry', err: error }, 'Remove failed; it will be retried');
        throw error;
      }
      log.error({ event: 'audit.remove-failed', err: error }, 'Remove failed');
      await this.outcome(job, prose`Remove${finding ? prose` of ${code(finding.subject)}` : ''} failed: ${auditFailureText(error)}`, 'error');
    }
  }

  private async reportClusters(aliases: readonly string[], requestedBy?: string): Promise<ClusterOutcome[]> {
    const shared = await this.inspector.shared();
    const outcomes: ClusterOutcome[] = [];
    // One cluster at a time: clusters sharing a Cloud API key share its pacer, and a report never
    // needs more than one cluster's pages in flight.
    for (const alias of aliases) {
      try {
        outcomes.push(await this.reportCluster(alias, shared, requestedBy));
      } catch (error) {
        const ref = failureReference();
        this.o.logger.error({ event: 'audit.cluster-failed', cluster: alias, ref, err: error }, 'could not audit a cluster');
        outcomes.push({ cluster: alias, findings: 0, shown: 0, kept: 0, bySeverity: { high: 0, medium: 0, low: 0 }, error: `could not be audited: ${plainText(auditFailureText(error))}` });
        await this.tellFailure(alias, auditFailureText(error), ref);
      }
    }
    return outcomes;
  }

  /** The cluster's audit channel hears that its report is missing (best effort: the alarm fires anyway). */
  private async tellFailure(alias: string, reason: Prose, ref: string): Promise<void> {
    const channel = this.o.clusters.config(alias)?.auditChannel;
    if (channel === undefined) return;
    try {
      await this.o.reporter.postFailure(channel, alias, reason, ref);
    } catch (error) {
      this.o.logger.warn({ event: 'audit.post-failed', cluster: alias, channel, err: error }, 'could not tell the audit channel that the audit failed');
    }
  }

  private async reportCluster(alias: string, shared: SharedInputs, requestedBy?: string): Promise<ClusterOutcome> {
    const [inspection, acks] = await Promise.all([this.inspector.inspect(alias, shared), this.o.store.listAuditAcks(alias)]);
    const ackFor = new Map(acks.map((a) => [a.fingerprint, a]));
    const findings = [...inspection.findings].sort(compareFindings);
    const shown = findings.filter((f) => !ackFor.has(f.fingerprint));
    for (const f of findings) {
      const ack = ackFor.get(f.fingerprint);
      this.o.logger.info(
        {
          event: 'audit.finding',
          cluster: f.cluster,
          rule: f.rule,
          severity: f.severity,
          subject: f.subject,
          fingerprint: f.fingerprint,
          fix: f.fix?.kind,
          person: f.person,
          acknowledged: ack ? { by: ack.by, at: ack.at } : undefined,
          trigger: requestedBy === undefined ? 'schedule' : 'command',
          facts: f.facts,
        },
        plainText(f.text),
      );
    }
    // An acknowledgement whose finding is gone or changed will never match again.
    const current = new Set(findings.map((f) => f.fingerprint));
    for (const ack of acks) if (!current.has(ack.fingerprint)) await this.o.store.deleteAuditAck(alias, ack.fingerprint);

    const bySeverity = countBySeverity(shown);
    const kept = findings.length - shown.length;
    this.o.logger.info(
      { event: 'audit.summary', cluster: alias, findings: findings.length, shown: shown.length, kept, ...bySeverity, entries: inspection.entries, users: inspection.users, cap: inspection.cap },
      `audit of ${alias}: ${findings.length} findings`,
    );
    const outcome: ClusterOutcome = { cluster: alias, findings: findings.length, shown: shown.length, kept, bySeverity };
    const channel = this.o.clusters.config(alias)?.auditChannel;
    if (channel === undefined) return outcome;
    try {
      await this.o.reporter.postReport(channel, {
        cluster: alias,
        at: inspection.at,
        findings: shown,
        kept,
        entries: inspection.entries,
        users: inspection.users,
        ...(inspection.cap !== undefined ? { cap: inspection.cap } : {}),
        ...(requestedBy !== undefined ? { requestedBy } : {}),
      });
    } catch (error) {
      // The findings are logged already; the run still counts as failed, so the alarm fires.
      this.o.logger.error({ event: 'audit.post-failed', cluster: alias, channel, err: error }, 'could not post the report to the audit channel');
      return { ...outcome, error: 'the report could not be posted to the audit channel (is the bot a member?); the findings are in the logs.' };
    }
    return { ...outcome, postedTo: channel };
  }

  /** Applies a fix; returns one user-safe line saying what happened. */
  private async apply(cluster: string, fix: FindingFix, actor: string): Promise<Prose> {
    switch (fix.kind) {
      case 'remove-entry': {
        const removed = await (await this.o.clusters.get(cluster)).removeAllowlistEntry(fix.cidr);
        if ((await this.o.store.getManagedEntry(cluster, fix.cidr)) !== undefined) await this.o.store.deleteManagedEntry(cluster, fix.cidr);
        return removed ? prose`${code(fix.cidr)} was removed from the allowlist of ${code(cluster)}.` : prose`${code(fix.cidr)} was already gone from the allowlist of ${code(cluster)}.`;
      }
      case 'forget-entry':
        await this.o.store.deleteManagedEntry(cluster, fix.cidr);
        return prose`the bot's record of ${code(fix.cidr)} on ${code(cluster)} was dropped.`;
      case 'drop-user': {
        const managed = await this.o.store.getManagedUser(cluster, fix.user);
        const dropped = await (await this.o.clusters.get(cluster)).deleteUser(fix.user);
        // A secret already gone (or never made) is success; this only schedules a live one.
        await this.o.secrets.delete(managed?.secretName ?? secretName(cluster, fix.user), { recoveryWindowDays: this.o.recoveryWindowDays });
        if (managed !== undefined) await this.o.store.deleteManagedUser(cluster, fix.user);
        return prose`SQL user ${code(fix.user)} ${dropped ? 'was dropped from' : 'was already gone from'} ${code(cluster)}; any secret it had is scheduled for deletion in ${this.o.recoveryWindowDays} days.`;
      }
      case 'delete-secret': {
        await this.o.secrets.delete(fix.name, { recoveryWindowDays: this.o.recoveryWindowDays });
        const user = parseSecretName(fix.name)?.user;
        const managed = user === undefined ? undefined : await this.o.store.getManagedUser(cluster, user);
        if (managed !== undefined && managed.secretName === fix.name) await this.o.store.deleteManagedUser(cluster, managed.user);
        return prose`secret ${code(fix.name)} is scheduled for deletion in ${this.o.recoveryWindowDays} days (restorable until then).`;
      }
      case 'cancel-request': {
        await this.o.queue.enqueue({ type: 'cancel', requestId: fix.requestId, actor }, { deduplicationId: `cancel-${fix.requestId}`, groupId: `request-${fix.requestId}` });
        return prose`request ${code(fix.requestId)} is being cancelled; what it did is undone where that can be, and its requester is told.`;
      }
      case 'expire-request': {
        const request = await this.o.store.getRequest(fix.requestId);
        if (request?.status === 'pending') await this.o.executor.expire(request);
        return prose`request ${code(fix.requestId)} is expired; its requester was told.`;
      }
      case 'delete-dm':
        await this.o.notifier.deleteMessage(fix.channel, fix.ts);
        await this.o.store.deleteDmReceipt(fix.channel, fix.ts);
        return prose`the DM carrying the password was deleted.`;
    }
  }

  /** An audit action, on the cluster's audit trail and on the trail of the request that made the subject. */
  private async trail(finding: Finding, actor: string, type: RequestEvent['type'], detail: string): Promise<void> {
    const at = this.now().toISOString();
    const text = `${finding.rule} ${finding.subject}: ${detail}`;
    await this.o.store.appendEvent({ requestId: auditTrailId(finding.cluster), at, actor, type, detail: text });
    const requestId = finding.facts.requestId;
    if (typeof requestId === 'string') await this.o.store.appendEvent({ requestId, at, actor, type, detail: text });
  }

  private async outcome(job: AuditFixJob, text: Prose, tone: Tone): Promise<void> {
    if (job.report !== undefined) await this.o.reporter.postOutcome(job.report, text, tone);
    else await this.o.notifier.reply({ user: job.actor }, { kind: 'text', text, tone });
  }
}

function outcomeLine(o: ClusterOutcome): Prose {
  if (o.error !== undefined) return prose`${code(o.cluster)}: ${o.error}`;
  const counts = (['high', 'medium', 'low'] as const).filter((s) => o.bySeverity[s] > 0).map((s) => `${o.bySeverity[s]} ${s}`);
  const what = o.shown === 0 ? 'no findings' : `${o.shown} finding${o.shown === 1 ? '' : 's'} (${counts.join(', ')})`;
  const kept = o.kept > 0 ? `, ${o.kept} kept earlier` : '';
  const where =
    o.shown === 0 ? '' : o.postedTo !== undefined ? prose`; report in ${channel(o.postedTo)}` : prose`; no audit channel is configured, so they are in the logs only (${code('audit.finding')})`;
  return prose`${code(o.cluster)}: ${what}${kept}${where}`;
}
