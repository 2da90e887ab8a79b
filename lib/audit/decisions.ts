/**
 * Remove and Keep clicks on an audit report. A click counts only from an approver of the finding's
 * cluster. Both are fast enough for Slack's 3-second ack: Keep writes one acknowledgement, Remove
 * enqueues a job (the worker re-audits the cluster and applies the fix only if the finding still
 * holds). Every decision and every refusal is logged and written to the cluster's audit trail.
 */
import { type Logger } from '../log';
import { type AccessControl } from '../policy/access';
import { type RequestIntake } from '../requests/intake';
import { type RequestStore } from '../requests/store';
import { auditTrailId, isOpen, type RequestEvent } from '../requests/types';
import { decodeFindingRef, type FindingRef } from './findings';
import { code, plainText, prose, type Prose } from '../prose';

export interface FindingDecisionsOptions {
  readonly store: RequestStore;
  readonly access: Pick<AccessControl, 'isApprover'>;
  readonly intake: Pick<RequestIntake, 'enqueue'>;
  readonly clusters: { config(alias: string): unknown };
  readonly logger: Logger;
  readonly now?: () => Date;
}

export interface FindingClick {
  /** The button's value (see `encodeFindingRef`). */
  readonly value: string;
  readonly actor: string;
  /** The report message the button is on; a Remove's outcome goes to its thread. */
  readonly report?: { readonly channel: string; readonly ts: string };
  /** The fingerprint of the finding the button is shown with; it must be the one the value names. */
  readonly shownFingerprint?: string;
}

/** `message` is for the clicker. */
export type FindingDecision = { readonly ok: true; readonly ref: FindingRef; readonly message: Prose } | { readonly ok: false; readonly message: Prose };

export class FindingDecisions {
  private readonly o: FindingDecisionsOptions;
  private readonly now: () => Date;

  constructor(options: FindingDecisionsOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  /** Records an acknowledgement: the finding is not reported again until its state changes. */
  async keep(click: FindingClick): Promise<FindingDecision> {
    const checked = await this.check(click, 'keep');
    if (!checked.ok) return checked;
    const { ref } = checked;
    const at = this.now().toISOString();
    await this.o.store.putAuditAck({ cluster: ref.cluster, fingerprint: ref.fingerprint, rule: ref.rule, subject: ref.subject, by: click.actor, at });
    await this.event(ref.cluster, click.actor, 'kept', `${ref.rule} ${ref.subject} (${ref.fingerprint})`);
    this.o.logger.info({ event: 'audit.kept', cluster: ref.cluster, rule: ref.rule, subject: ref.subject, fingerprint: ref.fingerprint, actor: click.actor }, 'audit finding kept');
    return { ok: true, ref, message: prose`Kept: this finding is not reported again until it changes.` };
  }

  /** Enqueues the fix; the worker re-checks the finding before it changes anything. */
  async remove(click: FindingClick): Promise<FindingDecision> {
    const checked = await this.check(click, 'remove');
    if (!checked.ok) return checked;
    const { ref } = checked;
    // Two approvers (or one double click) removing the same finding: one job. Its `id` is this
    // click's, so a redelivered job reports once, and a later Remove of the same finding is new.
    const deduplicationId = `audit-fix-${ref.cluster}-${ref.fingerprint}`;
    await this.o.intake.enqueue(
      {
        type: 'audit-fix',
        id: `${deduplicationId}-${this.now().getTime()}`,
        cluster: ref.cluster,
        fingerprint: ref.fingerprint,
        actor: click.actor,
        ...(click.report !== undefined ? { report: click.report } : {}),
      },
      deduplicationId,
    );
    this.o.logger.info({ event: 'audit.remove-requested', cluster: ref.cluster, rule: ref.rule, subject: ref.subject, fingerprint: ref.fingerprint, actor: click.actor }, 'audit finding Remove requested');
    return { ok: true, ref, message: prose`Removing it now; the outcome follows in the thread.` };
  }

  /**
   * Retry on a request that does not finish: drives it on now (the reconciler does so every
   * minute anyway). Only for a finding that names an open request.
   */
  async retry(click: FindingClick): Promise<FindingDecision> {
    const checked = await this.check(click, 'retry');
    if (!checked.ok) return checked;
    const { ref } = checked;
    const request = ref.rule === 'stuck-request' ? await this.o.store.getRequest(ref.subject) : undefined;
    if (request === undefined || request.cluster !== ref.cluster || !isOpen(request)) {
      return { ok: false, message: prose`That request is not waiting for anything any more; nothing to retry.` };
    }
    await this.o.intake.enqueue({ type: 'drive', requestId: request.id }, `retry-${request.id}-${this.now().getTime()}`);
    await this.event(ref.cluster, click.actor, 'retried', `${ref.rule} ${ref.subject}`);
    this.o.logger.info({ event: 'audit.retry-requested', cluster: ref.cluster, requestId: request.id, actor: click.actor }, 'stuck request driven on by an approver');
    return { ok: true, ref, message: prose`Driving it on now; its requester hears the outcome.` };
  }

  private async check(click: FindingClick, action: 'keep' | 'remove' | 'retry'): Promise<{ ok: true; ref: FindingRef } | { ok: false; message: Prose }> {
    const ref = decodeFindingRef(click.value);
    if (ref === undefined || this.o.clusters.config(ref.cluster) === undefined) {
      this.o.logger.warn({ event: 'audit.click-refused', actor: click.actor, action, reason: 'malformed' }, 'audit click refused');
      return { ok: false, message: prose`That button does not name a finding.` };
    }
    if (!(await this.o.access.isApprover(click.actor, ref.cluster))) {
      const message = prose`Only approvers of ${code(ref.cluster)} can act on its audit findings.`;
      this.o.logger.warn({ event: 'audit.click-refused', actor: click.actor, action, cluster: ref.cluster, fingerprint: ref.fingerprint, reason: 'not an approver' }, 'audit click refused');
      await this.event(ref.cluster, click.actor, 'refused', `${action} ${ref.rule} ${ref.subject}: ${plainText(message)}`);
      return { ok: false, message };
    }
    if (click.shownFingerprint !== undefined && click.shownFingerprint !== ref.fingerprint) {
      // A tampered payload: the value names another finding than the one the button is shown with.
      const message = prose`That button does not belong to this finding; nothing was changed.`;
      this.o.logger.warn({ event: 'audit.click-refused', actor: click.actor, action, cluster: ref.cluster, fingerprint: ref.fingerprint, shown: click.shownFingerprint, reason: 'mismatch' }, 'audit click refused');
      await this.event(ref.cluster, click.actor, 'refused', `${action} ${ref.rule} ${ref.subject}: ${plainText(message)}`);
      return { ok: false, message };
    }
    return { ok: true, ref };
  }

  private async event(cluster: string, actor: string, type: RequestEvent['type'], detail: string): Promise<void> {
    await this.o.store.appendEvent({ requestId: auditTrailId(cluster), at: this.now().toISOString(), actor, type, detail });
  }
}
