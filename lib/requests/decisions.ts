/**
 * Approve and Deny clicks. A click counts only from an approver of the request's cluster who is
 * not its requester, and only while the request is pending and unexpired; the store's conditional
 * writes make double clicks and concurrent approvers count once. Every refusal is logged and, for
 * a real request, written to its audit trail.
 */
import { type Logger } from '../log';
import { elapsedMs, METRIC, type Metrics } from '../metrics';
import { type AccessControl } from '../policy/access';
import { type RequestIntake } from './intake';
import { driveJob, type EnqueueOptions, type Job } from './jobs';
import { isPastExpiry, requestEvent } from './lifecycle';
import { type RequestStore } from './store';
import { type ChatRequest, isOpen, type RequestEvent, WITHDRAWN } from './types';
import { code, plainText, prose, type Prose } from '../prose';

export interface DecisionsOptions {
  readonly store: RequestStore;
  readonly access: AccessControl;
  readonly intake: Pick<RequestIntake, 'enqueue'>;
  readonly logger: Logger;
  /** Application metrics (approval latency, requests denied or expired); default none. */
  readonly metrics?: Metrics;
  readonly now?: () => Date;
  /** Fault-injection seam: `decision:written` after a decision is written, before its job is sent. */
  readonly checkpoint?: (step: string) => void | Promise<void>;
}

export interface DecisionInput {
  readonly requestId: string;
  readonly actor: string;
  readonly action: 'approve' | 'deny';
  readonly reason?: string;
  /** The message and block the clicked button is on; they must be the request's card. Absent for the deny modal. */
  readonly card?: ClickedCard;
}

/** Where a message is: channel and ts. */
export interface CardRef {
  readonly channel: string;
  readonly ts: string;
}

/** The card a button was clicked on, and the request its block (`block_id`) belongs to, if it is a card's. */
export interface ClickedCard extends CardRef {
  readonly blockRequestId: string | undefined;
}

/** `ok: false` = refused, nothing changed. `message` is for the clicker, ephemeral. */
export interface DecisionResult {
  readonly ok: boolean;
  readonly message: Prose;
  readonly request?: ChatRequest;
}

/** Nothing changed; `message` says why, for the clicker. */
export interface Refusal {
  readonly ok: false;
  readonly message: Prose;
  readonly request?: ChatRequest;
}

const REQUEST_ID = /^[0-9A-Za-z_-]{10,40}$/;

export class Decisions {
  private readonly o: DecisionsOptions;
  private readonly now: () => Date;

  constructor(options: DecisionsOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Whether `actor` may decide on `requestId` now. Used before opening the deny-reason modal, and
   * by `decide`. A refusal is logged and written to the request's audit trail.
   *
   * `card`: the message and block the button was on. A button's value is only the request id; a
   * click whose value names another request than the card and block it was on (a tampered
   * payload) is refused.
   */
  async check(requestId: string, actor: string, action: DecisionInput['action'], card?: ClickedCard): Promise<{ ok: true; request: ChatRequest } | Refusal> {
    const request = REQUEST_ID.test(requestId) ? await this.o.store.getRequest(requestId) : undefined;
    if (request === undefined) return this.refuse(actor, undefined, action, prose`That request does not exist.`);
    if (card !== undefined && (request.card?.ts !== card.ts || request.card.channel !== card.channel || card.blockRequestId !== request.id)) {
      return this.refuse(actor, request, action, prose`That button does not belong to this request; use the buttons on its own card.`);
    }
    if (!(await this.o.access.isApprover(actor, request.cluster))) {
      return this.refuse(actor, request, action, prose`Only approvers of ${code(request.cluster)} can decide on this request.`);
    }
    if (actor === request.requester) return this.refuse(actor, request, action, prose`You cannot approve or deny your own request.`);
    if (request.status !== 'pending') {
      // A click on a request that is decided but not done (its job lost with a crashed worker):
      // drive it on rather than only answering "already approved".
      if (isOpen(request)) await this.send(driveJob(request));
      return this.refuse(actor, request, action, prose`This request is already ${request.status}.`);
    }
    if (isPastExpiry(request, this.now())) {
      const expired = await this.o.store.transition(request.id, { from: ['pending'], changes: { status: 'expired' }, event: this.event(request.id, 'bot', 'expired') });
      if (expired.ok) {
        this.o.metrics?.count(METRIC.requestEnded, { kind: request.params.kind, outcome: 'expired' });
        await this.send({ job: { type: 'decided', requestId: request.id }, dedup: `decided-${request.id}-expired` });
      }
      return this.refuse(actor, request, action, prose`This request has expired; ask the requester to make it again.`);
    }
    return { ok: true, request };
  }

  async decide({ requestId, actor, action, reason, card }: DecisionInput): Promise<DecisionResult> {
    const checked = await this.check(requestId, actor, action, card);
    if (!checked.ok) return checked;
    const { request } = checked;

    if (action === 'deny') {
      const denied = await this.o.store.transition(request.id, {
        from: ['pending'],
        changes: { status: 'denied', decidedBy: actor, ...(reason ? { denyReason: reason } : {}) },
        event: this.event(request.id, actor, 'denied', reason),
      });
      if (!denied.ok) return this.refuse(actor, request, action, prose`This request is already ${denied.current?.status ?? 'gone'}.`);
      this.o.metrics?.count(METRIC.requestEnded, { kind: request.params.kind, outcome: 'denied' });
      this.o.metrics?.milliseconds(METRIC.approvalLatency, elapsedMs(request.createdAt, this.now()), { kind: request.params.kind, decision: 'denied' });
      await this.send({ job: { type: 'decided', requestId: request.id }, dedup: `decided-${request.id}-denied` });
      this.o.logger.info({ event: 'request.denied', requestId: request.id, actor }, 'request denied');
      return { ok: true, message: prose`Denied. The requester has been told.`, request: denied.request };
    }

    const result = await this.o.store.addApproval(request.id, { by: actor, at: this.now().toISOString() });
    switch (result.outcome) {
      case 'duplicate':
        return { ok: false, message: prose`You have already approved this request.`, request: result.request };
      case 'not-pending':
        return this.refuse(actor, request, action, prose`This request is already ${result.request?.status ?? 'gone'}.`);
      case 'counted': {
        const count = result.request.approvals.length;
        if (result.reachedQuorum) {
          this.o.metrics?.milliseconds(METRIC.approvalLatency, elapsedMs(request.createdAt, this.now()), { kind: request.params.kind, decision: 'approved' });
        }
        await this.send({ job: { type: 'decided', requestId: request.id }, dedup: `decided-${request.id}-${count}` });
        this.o.logger.info({ event: 'request.approval', requestId: request.id, actor, count, quorum: result.request.quorum }, 'approval counted');
        return {
          ok: true,
          message: result.reachedQuorum ? prose`Approved. Applying it now.` : prose`Approval counted (${count} of ${result.request.quorum}).`,
          request: result.request,
        };
      }
    }
  }

  /**
   * The requester's Cancel of their own request while it waits for approval: it ends `denied`, by
   * its requester (`withdrawn`), its card says so and its approvers can no longer act on it.
   * Nobody else can cancel it this way; a request already decided goes on as decided.
   */
  async withdraw(requestId: string, actor: string): Promise<DecisionResult> {
    const request = REQUEST_ID.test(requestId) ? await this.o.store.getRequest(requestId) : undefined;
    if (request === undefined) return this.refuse(actor, undefined, 'cancel', prose`That request does not exist.`);
    if (request.requester !== actor) return this.refuse(actor, request, 'cancel', prose`Only its requester can cancel a request; nothing was changed.`);
    if (request.status !== 'pending') return this.refuse(actor, request, 'cancel', prose`Request ${code(request.id)} is already ${request.status}; only a request waiting for approval can be cancelled.`);
    const withdrawn = await this.o.store.transition(request.id, {
      from: ['pending'],
      changes: { status: 'denied', decidedBy: actor, denyReason: WITHDRAWN },
      event: this.event(request.id, actor, 'denied', WITHDRAWN),
    });
    if (!withdrawn.ok) return this.refuse(actor, request, 'cancel', prose`Request ${code(request.id)} is already ${withdrawn.current?.status ?? 'gone'}.`);
    this.o.metrics?.count(METRIC.requestEnded, { kind: request.params.kind, outcome: 'denied' });
    await this.send({ job: { type: 'decided', requestId: request.id }, dedup: `decided-${request.id}-withdrawn` });
    this.o.logger.info({ event: 'request.withdrawn', requestId: request.id, actor }, 'request withdrawn by its requester');
    return { ok: true, message: prose`Cancelled request ${code(request.id)}; its approvers' card says so.`, request: withdrawn.request };
  }

  /**
   * Sends a job after the decision is written. The written decision is what counts: a job that
   * cannot be sent is logged, and the reconciler drives the request on from the table.
   */
  private async send(next: { job: Job; dedup: string } | { job: Job; options: EnqueueOptions }): Promise<void> {
    await this.o.checkpoint?.('decision:written');
    try {
      await this.o.intake.enqueue(next.job, 'dedup' in next ? next.dedup : next.options.deduplicationId);
    } catch (error) {
      this.o.logger.warn({ event: 'decision.enqueue-failed', job: next.job.type, err: error }, 'decision written, job not sent; the reconciler will drive it');
    }
  }

  private async refuse(actor: string, request: ChatRequest | undefined, action: string, message: Prose): Promise<Refusal> {
    this.o.logger.warn({ event: 'decision.refused', actor, requestId: request?.id, action, reason: plainText(message) }, 'decision refused');
    if (request) await this.o.store.appendEvent(this.event(request.id, actor, 'refused', `${action}: ${plainText(message)}`));
    return { ok: false as const, message, ...(request ? { request } : {}) };
  }

  private event(requestId: string, actor: string, type: RequestEvent['type'], detail?: string): RequestEvent {
    return requestEvent(requestId, actor, type, this.now(), detail);
  }
}
