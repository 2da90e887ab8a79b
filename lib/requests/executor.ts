/**
 * The worker side of a request: applies it through the cluster-admin library, step by step, so
 * that a crash at any point leaves a state the next delivery resumes or rolls back.
 *
 * - Every step is idempotent, so a redelivered job simply runs the request again: what is done
 *   already is found done (an entry unchanged, a user whose password is set again, a secret
 *   recognised as this request's by its `requestId`, whose password is reused).
 * - Retryable failures (throttling, timeouts, a cluster briefly unreachable) are rethrown: the
 *   queue delivers the job again and the executor resumes.
 * - Permanent failures, or any failure on the final delivery, roll back what this request did and
 *   end it as `failed`, and the requester is told.
 * - User passwords exist first in the secret store, then on the cluster: never a user whose
 *   password exists nowhere. What the bot creates is recorded before it is created.
 *
 * Table writes, the ack's included: three per request (four for `user delete`, whose record must
 * go before its secret; see `apply`). Progress is not written step by step: the requester is told
 * how the request ended before the final commit, which records the outcome, that it was told, the
 * DM receipt and the records the change made obsolete at once. A crash between telling and
 * committing makes the next delivery resume, tell again and commit: the outcome is told at least
 * once, never lost.
 */
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { coveringEntries } from '../cluster-admin/allowlist';
import { passwordRenderings } from '../cluster-admin/connection-formats';
import { isRetryable, userSafeMessage } from '../errors';
import { type AllowlistEntry, type ClusterAdmin, type ConnectionDetails } from '../cluster-admin/types';
import { formatDuration } from '../config';
import { failureReference, type Logger, type SecretRedactor } from '../log';
import { elapsedMs, METRIC, type Metrics } from '../metrics';
import { type SecretStore } from '../secrets/types';
import { type Admission } from './admission';
import { type ClusterDirectory, type KindContext, PermanentFailure, STEP_PROPAGATING, WaitingForPropagation } from './kinds/context';
import { planFor, rollBackOf } from './kinds';
import { type Home } from './home';
import { isPastExpiry, requestEvent } from './lifecycle';
import { type Job, type RequestJob } from './jobs';
import { type AllowlistRow, type Notifier, type RequesterUpdate } from './notifier';
import { GuardFailedError, RecordHeldError } from './errors';
import { describe } from './intake';
import { type RequestStore, type TransitionDeletes, type TransitionOptions, type TransitionGuards, type TransitionResult } from './store';
import { type ChatRequest, type DmReceipt, FINAL_STATUSES, isOpen, STEP_TOLD, type RequestEvent, type RequestStatus } from './types';
import { LAST_CHANCE } from '../retry-policies';
import { code, person, plainText, prose, type Prose, said } from '../prose';

export { type ClusterDirectory, PermanentFailure } from './kinds/context';

export interface RequestExecutorOptions {
  readonly store: RequestStore;
  /** Decides a `received` request: admitted (on to approval or apply), refused, or a duplicate. */
  readonly admission: Admission;
  readonly secrets: SecretStore;
  readonly clusters: ClusterDirectory;
  readonly notifier: Notifier;
  readonly passwordDelivery: 'dm' | 'secret-reference';
  readonly propagationTimeoutMs: number;
  readonly recoveryWindowDays: number;
  readonly logger: Logger;
  /** Application metrics (requests ended, apply duration); default none. */
  readonly metrics?: Metrics;
  /** Lookups (read and connect jobs) per requester per window; default unlimited. */
  readonly readRateLimit?: { readonly max: number; readonly windowMs: number };
  readonly redactor?: SecretRedactor;
  /** People's Home tabs: refreshed when a request of theirs moves. */
  readonly home?: Pick<Home, 'changed'>;
  readonly now?: () => Date;
  /**
   * Called between every two steps of applying a request (after each step that changed something),
   * with the step just completed, e.g. `user-create:secret-written`, `applying` (the request began),
   * `told` (the requester heard the outcome; the final commit follows), `applied` / `failed`. A
   * fault-injection seam: the hardening suite throws a simulated crash here, once per step, and
   * checks that the redelivered job resumes. What it throws is handled like any failure of the
   * step that follows.
   */
  readonly checkpoint?: (step: string, request: ChatRequest) => void | Promise<void>;
}

/** How a request ends: as it is told and stored, and what the final commit writes with it. */
interface Ending {
  /** The request as it ends: final status and outcome. */
  readonly request: ChatRequest;
  readonly notes: readonly Prose[];
  readonly receipts: readonly DmReceipt[];
  readonly forget?: TransitionDeletes;
}


/** Quick retries of a transient failure where no redelivery follows (`LAST_CHANCE`): a rollback, the final commit on a job's last delivery. */
const lastChance = retry(handleWhen(isRetryable), { maxAttempts: LAST_CHANCE.retries, backoff: new ExponentialBackoff({ initialDelay: LAST_CHANCE.initialDelayMs, maxDelay: LAST_CHANCE.maxDelayMs }) });



/** What the requester is told about a request in a final state. */
function finalUpdate(request: ChatRequest, notes: readonly Prose[]): RequesterUpdate {
  const by = request.decidedBy ?? 'an approver';
  switch (request.status) {
    case 'denied':
      return { kind: 'denied', by, ...(request.denyReason ? { reason: request.denyReason } : {}) };
    case 'expired':
      return { kind: 'expired' };
    case 'refused':
      return { kind: 'refused', reason: request.outcome ?? ['The request was refused.'], ...(request.example !== undefined ? { example: request.example } : {}) };
    case 'failed':
      return { kind: 'failed', text: request.outcome ?? failureText(undefined) };
    default:
      return { kind: 'applied', text: request.outcome ?? ['Done.'], ...(notes.length > 0 ? { notes } : {}) };
  }
}


/** What a requester is told when the record their request needs is someone else's (a race the ack could not see). */
function heldText(request: ChatRequest, error: RecordHeldError): Prose {
  const { params } = request;
  if (params.kind === 'allow') {
    return prose`${code(params.allow.cidr)} is already on the allowlist of ${code(request.cluster)}${error.holder !== undefined ? prose`, held by ${person(error.holder)}` : ''}; nothing was changed.`;
  }
  // Only allow and user create write records with their start.
  if (params.kind === 'user-create') return prose`SQL user ${code(params.userCreate.user)} on ${code(request.cluster)} is being created by another request right now; nothing was changed.`;
  return failureText(error);
}

/**
 * The one-line, user-safe text of a failure. An unexpected one says only that, with `ref`, the
 * reference logged on the line with the details (`failureReference`).
 */
export function failureText(error: unknown, ref?: string): Prose {
  const known = userSafeMessage(error);
  if (known !== undefined) return known;
  return prose`Something went wrong on our side; the change was not applied. The bot team has the details in the logs${ref !== undefined ? prose` (reference ${code(ref)})` : ''}.`;
}

export class RequestExecutor {
  private readonly o: RequestExecutorOptions;
  private readonly now: () => Date;

  /** What the change kinds (./kinds/) are given. */
  private readonly kinds: KindContext;

  constructor(options: RequestExecutorOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
    const { store, secrets, clusters, notifier, logger, redactor, propagationTimeoutMs, recoveryWindowDays } = options;
    this.kinds = {
      store,
      secrets,
      clusters,
      notifier,
      logger,
      ...(redactor ? { redactor } : {}),
      propagationTimeoutMs,
      recoveryWindowDays,
      now: () => this.now(),
      checkpoint: (step, request) => this.checkpoint(step, request),
      event: (requestId, actor, type, detail) => this.event(requestId, actor, type, detail),
      ensureRecord: (request, step, record) => this.ensureRecord(request, step, record),
      requireHandOut: (admin, cluster, user, opts) => this.requireHandOut(admin, cluster, user, opts),
      connectionDm: (...args) => this.connectionDm(...args),
    };
  }

  /**
   * Runs a job about a request (lib/queue/router.ts sends the others elsewhere). `finalAttempt`:
   * the queue will not deliver it again, so do not rethrow.
   */
  async run(job: RequestJob, { finalAttempt = false } = {}): Promise<void> {
    switch (job.type) {
      case 'submit':
        return this.submit(job.requestId, finalAttempt);
      case 'decided':
        return this.decided(job.requestId, finalAttempt);
      case 'drive':
        return this.drive(job.requestId, finalAttempt);
      case 'cancel':
        return this.cancel(job.requestId, job.actor);
    }
  }

  /** `connect`: DMs the connection details again, unless the requester is past their lookups. */
  async connectJob(job: Extract<Job, { type: 'connect' }>): Promise<void> {
    if (await this.mayLookUp(job)) await this.connect(job);
  }

  /** `allowlist`, `check`, `users`: answers from the cluster, unless the requester is past their lookups. */
  async readJob(job: Extract<Job, { type: 'read' }>): Promise<void> {
    if (await this.mayLookUp(job)) await this.read(job);
  }

  /** A request of `user`'s moved: their Home tab, if they look at it, follows (best effort). */
  private async homeChanged(request: ChatRequest): Promise<void> {
    await this.o.home?.changed(request);
  }

  /**
   * Takes an open request on from wherever a crash, a lost job or a dead letter left it. What a
   * request decided by approvers still owes is what `decided` does; any other, what `submit` does.
   */
  private async drive(requestId: string, finalAttempt: boolean): Promise<void> {
    const request = await this.o.store.getRequest(requestId);
    if (request === undefined) return this.o.logger.warn({ requestId }, 'drive: request not found');
    this.o.logger.info({ event: 'request.driven', requestId, status: request.status, step: request.step }, 'driving an open request on');
    if (request.decidedBy !== undefined) return this.decided(requestId, finalAttempt);
    return this.submit(requestId, finalAttempt);
  }

  /**
   * An admin's cancel of a request that does not finish (it runs in the request's own job group,
   * so never beside a delivery of it): what it did is undone where that can be (its entry, the
   * user it created; revoke, rotate and delete go forward only), it ends `failed`, and its
   * requester is told who cancelled it. A request that has ended meanwhile is only told.
   */
  async cancel(requestId: string, actor: string): Promise<void> {
    const request = await this.o.store.getRequest(requestId);
    if (request === undefined || !isOpen(request)) return;
    if (FINAL_STATUSES.has(request.status)) return this.tellOutcome(request);
    const log = this.o.logger.child({ requestId: request.id, cluster: request.cluster, kind: request.params.kind });
    log.warn({ event: 'request.cancelled', actor }, 'request cancelled by an admin');
    // A request not yet admitted has done nothing to undo.
    if (request.status !== 'received') await this.rollBack(request, log, undefined);
    const ended: ChatRequest = { ...request, status: 'failed', outcome: prose`Cancelled by ${person(actor)}: it did not finish, and what it had done was undone where it could be.` };
    const told = await this.tell(ended, []);
    const committed = await this.commit(request.status, { request: ended, notes: [], receipts: [] }, { told: told.ok, finalAttempt: true }, log);
    if (committed !== undefined) {
      this.ended(committed);
      await this.homeChanged(committed);
    }
    if (!told.ok) throw told.error;
  }

  private async submit(requestId: string, finalAttempt: boolean): Promise<void> {
    let request = await this.o.store.getRequest(requestId);
    if (request === undefined) return this.o.logger.warn({ requestId }, 'submit: request not found');
    if (request.status === 'received') {
      const admitted = await this.admit(request);
      if (admitted === undefined) return;
      request = admitted;
    }
    if (FINAL_STATUSES.has(request.status)) return this.tellOutcome(request);
    if (request.status === 'pending') {
      if (isPastExpiry(request, this.now())) return this.expire(request);
      if (request.card === undefined) await this.postCard(request);
      return;
    }
    // Said just before the request leaves `approved`: a redelivered job finds it applying or ended.
    const announce = request.breakGlass
      ? () => this.o.notifier.notifyApprovers(request, prose`Break-glass change by ${person(request.requester)}: ${describe(request)}, applied without approval. Reason: ${request.reason ? said(request.reason) : '(none)'}`)
      : undefined;
    return this.apply(request, finalAttempt, announce);
  }

  /**
   * Admission of a `received` request (./admission.ts), as one transition: on to `pending` or
   * `approved` with its `created` event (and `break-glass`), or to `refused` with the reason. A
   * repeated delivery of one Slack command ends `refused` and told, without a word: the request
   * that came first answers the requester. Returns the request as it now is (undefined when
   * another delivery moved it meanwhile: that one goes on).
   */
  private async admit(request: ChatRequest): Promise<ChatRequest | undefined> {
    const decision = await this.o.admission.admit(request);
    const created = { ...this.event(request.id, request.requester, 'created', describe(request)), at: request.createdAt };
    const refuse = (reason: Prose, example: string | undefined, guards: TransitionGuards): Promise<TransitionResult> =>
      this.o.store.transition(request.id, {
        from: ['received'],
        changes: { status: 'refused', outcome: reason, ...(example !== undefined ? { example } : {}) },
        event: created,
        moreEvents: [this.event(request.id, 'bot', 'refused', plainText(reason))],
        guards,
      });
    let moved: TransitionResult | undefined;
    try {
      moved =
        decision.outcome === 'admitted'
          ? await this.o.store.transition(request.id, {
              from: ['received'],
              changes: { status: request.quorum > 0 ? 'pending' : 'approved' },
              event: created,
              ...(request.breakGlass ? { moreEvents: [this.event(request.id, request.requester, 'break-glass', request.reason)] } : {}),
              guards: decision.guards,
            })
          : await refuse(decision.reason, decision.example, decision.guards);
      if (decision.outcome === 'admitted' && moved.ok) {
        this.o.logger.info({ event: 'request.admitted', requestId: request.id, requester: request.requester, cluster: request.cluster, kind: request.params.kind, status: moved.request.status, risk: request.risk, receivedAt: request.createdAt }, 'request admitted');
      }
    } catch (error) {
      if (!(error instanceof GuardFailedError)) throw error;
      let refusal = this.o.admission.refusalFor(request, error);
      if (refusal.repeatOf === undefined) {
        // No token left: refused, still claiming the command (a repeat of it is not refused twice).
        const claimOnly = decision.guards.claim ? { claim: decision.guards.claim } : {};
        moved = await refuse(refusal.reason, refusal.example, claimOnly).catch((again: unknown) => {
          if (!(again instanceof GuardFailedError)) throw again;
          refusal = this.o.admission.refusalFor(request, again);
          return undefined;
        });
      }
      if (refusal.repeatOf !== undefined) {
        // The same Slack command made another request first: that one answers; this one ends quietly.
        this.o.logger.info({ event: 'request.duplicate', requestId: request.id, first: refusal.repeatOf }, 'a repeated delivery of a command another request holds');
        moved = await this.o.store.transition(request.id, {
          from: ['received'],
          changes: { status: 'refused', step: STEP_TOLD, outcome: refusal.reason },
          event: { ...this.event(request.id, 'bot', 'refused', plainText(refusal.reason)), at: request.createdAt },
        });
      }
    }
    if (moved === undefined) throw new Error('unreachable: admission wrote no outcome');
    if (moved.ok && moved.request.status === 'refused') this.ended(moved.request);
    await this.checkpoint('admitted', moved.ok ? moved.request : request);
    if (moved.ok) return moved.request;
    return moved.current?.status === 'received' ? undefined : moved.current;
  }

  private async decided(requestId: string, finalAttempt: boolean): Promise<void> {
    const request = await this.o.store.getRequest(requestId);
    if (request === undefined) return;
    // A request that has ended is told (and its card updated) once, by `tellOutcome`.
    if (FINAL_STATUSES.has(request.status)) return this.tellOutcome(request);
    if (request.card) await this.o.notifier.showApprovalCard(request);
    switch (request.status) {
      case 'approved':
      case 'applying':
        // The requester hears of the approval once, just before the request leaves `approved`.
        return this.apply(request, finalAttempt, () => this.o.notifier.tellRequester(request, { kind: 'approved', by: request.decidedBy ?? 'an approver' }));
      default:
        return;
    }
  }

  /**
   * Tells the requester how a request that is final already ended (and updates its card), once: the
   * `told` step records that it was said, so a redelivered job stays quiet. For requests denied or
   * expired, and for one applied or failed whose requester could not be told before its final
   * commit (Slack unreachable): its next delivery says it. `apply` tells before that commit.
   */
  private async tellOutcome(request: ChatRequest, notes: readonly Prose[] = []): Promise<void> {
    if (request.step === STEP_TOLD) return;
    if (request.card) await this.o.notifier.showApprovalCard(request);
    await this.o.notifier.tellRequester(request, finalUpdate(request, notes));
    await this.checkpoint('told', request);
    await this.o.store.transition(request.id, { from: [request.status], changes: { step: STEP_TOLD } });
    await this.homeChanged(request);
  }

  /** Moves a pending request past its expiry to `expired`, updates its card and tells the requester. */
  async expire(request: ChatRequest): Promise<void> {
    const result = await this.o.store.transition(request.id, {
      from: ['pending'],
      changes: { status: 'expired' },
      event: this.event(request.id, 'bot', 'expired'),
    });
    if (!result.ok) return;
    this.ended(result.request);
    await this.tellOutcome(result.request);
  }

  private async postCard(request: ChatRequest): Promise<void> {
    const card = await this.o.notifier.showApprovalCard(request);
    if (card === undefined) return;
    // Another delivery may have posted too; the first card recorded wins and the other is removed.
    const saved = await this.o.store.transition(request.id, { from: ['pending'], changes: { card } });
    if (!saved.ok && saved.current?.card && (saved.current.card.ts !== card.ts || saved.current.card.channel !== card.channel)) {
      await this.o.notifier.deleteMessage(card.channel, card.ts);
      return;
    }
    await this.homeChanged(request);
  }

  /**
   * Applies an approved request, or resumes one a crashed delivery left `applying`. Its writes:
   *
   * 1. approved → applying, with what the bot records before it changes the cluster (the managed
   *    user of a `user create`, the entry of an `allow`) and the `applying` event, in one
   *    transaction; a redelivery that finds the request `applying` goes straight on;
   * 2. the work (`Plan.run`), idempotent step by step; it writes the table only where an order must
   *    hold on its own (`user delete`: the record before the secret);
   * 3. the requester is told the outcome (response_url while valid, else DM), the connection DM is
   *    sent, and one final transaction commits the status, the outcome, `told`, the DM receipt, the
   *    records the change made obsolete, and the event.
   *
   * `announce` is said once, just before the request leaves `approved` (the break-glass notice, the
   * "approved" DM): a retried failure before that point does not repeat it.
   */
  private async apply(initial: ChatRequest, finalAttempt: boolean, announce?: () => Promise<void>): Promise<void> {
    let request = initial;
    if (FINAL_STATUSES.has(request.status)) return this.tellOutcome(request);
    if (request.status !== 'approved' && request.status !== 'applying') return;
    const log = this.o.logger.child({ requestId: request.id, cluster: request.cluster, kind: request.params.kind });
    let announced = announce === undefined;
    const leaveApproved = async (): Promise<void> => {
      if (announced || request.status !== 'approved') return;
      await announce?.();
      announced = true;
    };
    let ending: Ending;
    let told: { ok: true } | { ok: false; error: unknown };
    /** What follows telling when it is the final commit: the checkpoint, as the commit's first try. */
    let beforeCommit: (() => Promise<void>) | undefined;
    try {
      const plan = await planFor(this.kinds, request);
      let recorded = false;
      if (request.status === 'approved') {
        await leaveApproved();
        const started = await this.o.store.transition(request.id, {
          from: ['approved'],
          changes: { status: 'applying' },
          event: this.event(request.id, 'bot', 'applying'),
          ...(plan.records ? { alsoPut: plan.records } : {}),
        });
        if (!started.ok) {
          if (started.current?.status !== 'applying') return;
          request = started.current;
        } else {
          request = started.request;
          recorded = plan.records !== undefined;
        }
      }
      await this.checkpoint('applying', request);
      const applied = await plan.run(request, recorded);
      const ended: ChatRequest = { ...request, status: 'applied', outcome: applied.text, appliedAt: this.now().toISOString() };
      const notes = applied.notes ?? [];
      // Told before the commit: a crash in between makes the next delivery resume, tell again and
      // commit. Failing to tell is not failing to apply: the request is committed as applied, not
      // told, and the next delivery tells.
      told = await this.tell(ended, notes);
      if (applied.deliver) {
        if (told.ok) await this.checkpoint('told', ended);
        // Its receipt is written before the password is in the DM (see `connectionDm`).
        await applied.deliver();
      } else if (told.ok) {
        beforeCommit = () => this.checkpoint('told', ended);
      }
      ending = { request: ended, notes, receipts: [], ...(applied.forget ? { forget: applied.forget } : {}) };
    } catch (error) {
      if (error instanceof WaitingForPropagation) {
        // Not a failure: the request waits in the table, due when the cluster should be done.
        const dueAt = new Date(this.now().getTime() + error.delayMs).toISOString();
        await this.o.store.transition(request.id, { from: ['applying'], changes: { step: STEP_PROPAGATING, waitingSince: error.since, dueAt } });
        log.info({ event: 'request.waiting', since: error.since, dueAt }, 'waiting for the allowlist to propagate');
        return;
      }
      if (isRetryable(error) && !finalAttempt) {
        log.warn({ event: 'request.retry', err: error }, 'request will be retried');
        throw error;
      }
      const ref = failureReference();
      log.error({ event: 'request.failed', ref, err: error }, 'request failed');
      await this.rollBack(request, log, error);
      await leaveApproved();
      const ended: ChatRequest = { ...request, status: 'failed', outcome: error instanceof RecordHeldError ? heldText(request, error) : failureText(error, ref) };
      told = await this.tell(ended, []);
      beforeCommit = told.ok ? () => this.checkpoint('told', ended) : undefined;
      ending = { request: ended, notes: [], receipts: [] };
    }
    const committed = await this.commit(request.status, ending, { told: told.ok, finalAttempt, ...(beforeCommit ? { before: beforeCommit } : {}) }, log);
    if (committed === undefined) return;
    this.ended(committed);
    this.o.metrics?.milliseconds(METRIC.applyDuration, elapsedMs(applyStartedAt(committed), this.now()), { kind: committed.params.kind, outcome: committed.status });
    await this.homeChanged(committed);
    if (committed.status === 'applied') log.info({ event: 'request.applied' }, 'request applied');
    // The next delivery tells (`tellOutcome`).
    if (!told.ok) throw told.error;
    await this.checkpoint(committed.status, committed);
  }

  /** Counts a request this write ended (a redelivery that finds it ended counts nothing). */
  private ended(request: ChatRequest): void {
    this.o.metrics?.count(METRIC.requestEnded, { kind: request.params.kind, outcome: request.status });
  }

  /** Updates the card and tells the requester how `ended` ended. */
  private async tell(ended: ChatRequest, notes: readonly Prose[]): Promise<{ ok: true } | { ok: false; error: unknown }> {
    try {
      if (ended.card) await this.o.notifier.showApprovalCard(ended);
      await this.o.notifier.tellRequester(ended, finalUpdate(ended, notes));
      return { ok: true };
    } catch (error) {
      return { ok: false, error };
    }
  }

  /**
   * The final commit: `from` → the ending's status, its outcome, `told` (when the requester was
   * told), its DM receipts and the records to delete, with the event, in one transaction. `before`
   * runs first (the `told` checkpoint). On the final attempt a failure is retried here: the
   * requester has been told, and no delivery follows to commit it. Returns the request as
   * committed, or undefined when another delivery ended it first.
   */
  private async commit(
    from: RequestStatus,
    { request: ended, receipts, forget }: Ending,
    { told, finalAttempt, before }: { told: boolean; finalAttempt: boolean; before?: () => Promise<void> },
    log: Logger,
  ): Promise<ChatRequest | undefined> {
    const status = ended.status === 'applied' ? 'applied' : 'failed';
    const options: TransitionOptions = {
      from: [from],
      changes: { status, outcome: ended.outcome, ...(ended.appliedAt !== undefined ? { appliedAt: ended.appliedAt } : {}), ...(told ? { step: STEP_TOLD } : {}) },
      event: this.event(ended.id, 'bot', status, ended.outcome === undefined ? undefined : plainText(ended.outcome)),
      ...(receipts.length > 0 ? { alsoPut: { dmReceipts: receipts } } : {}),
      ...(forget ? { alsoDelete: forget } : {}),
    };
    const once = async ({ attempt }: { attempt: number }) => {
      if (attempt === 0) await before?.();
      return this.o.store.transition(ended.id, options);
    };
    let done: Awaited<ReturnType<typeof once>>;
    try {
      done = finalAttempt ? await lastChance.execute(once) : await once({ attempt: 0 });
    } catch (error) {
      // Not ended: the next delivery sends its own DM; this one's is deleted on time all the same.
      await this.putReceipts(receipts, log);
      throw error;
    }
    if (done.ok) return done.request;
    // Another delivery ended it: the DM this one sent is still deleted on time.
    await this.putReceipts(receipts, log);
    return undefined;
  }

  /** Writes DM receipts on their own (when the final commit did not), logging a failure. */
  private async putReceipts(receipts: readonly DmReceipt[], log: Logger): Promise<void> {
    for (const receipt of receipts) {
      try {
        await this.o.store.putDmReceipt(receipt);
      } catch (error) {
        log.error({ event: 'dm.receipt-failed', err: error, channel: receipt.channel, ts: receipt.ts }, 'could not record a password DM; the sweep will not delete it');
      }
    }
  }

  /**
   * Undoes what a request that ends as failed did, where that leaves nothing the requester was
   * told failed still in force: the allowlist entry it added, the user and secret it created.
   * Revoke, rotate and delete go forward only; what they leave half done, the audit reports. A
   * rollback that fails is logged: the audit reports what is left.
   */
  private async rollBack(request: ChatRequest, log: Logger, cause: unknown): Promise<void> {
    const undo = rollBackOf(request);
    if (undo === undefined) return;
    // The last chance to undo it: a transient failure (throttling, a concurrent catalog change) gets a few quick retries.
    let tries = 0;
    try {
      await lastChance.execute(async () => {
        tries++;
        await undo(this.kinds, cause);
      });
    } catch (error) {
      log.error({ event: 'request.rollback-failed', err: error, attempt: tries }, 'rollback failed; the audit reports what is left');
    }
  }

  /**
   * The cluster, not only the bot's record, must say the user is the bot's to hand out: it exists,
   * no mark shows someone else made it, and it holds no privilege the bot never grants (superuser,
   * `admin`, CREATEROLE, BYPASSRLS, directly or through a role). Refused permanently otherwise,
   * before anything is changed. `missingIsFine`: a delete of a user already gone goes on.
   */
  private async requireHandOut(admin: ClusterAdmin, cluster: string, user: string, { missingIsFine = false } = {}): Promise<void> {
    const found = await admin.inspectUser(user);
    if (!found.exists) {
      if (missingIsFine) return;
      throw new PermanentFailure(prose`SQL user ${code(user)} no longer exists on ${code(cluster)}; nothing was changed. An admin can run ${code('audit')}.`);
    }
    if (found.privileges.length > 0 || found.madeByBot === false) {
      this.o.logger.warn({ event: 'user.not-handed-out', cluster, sqlUser: user, privileges: found.privileges, madeByBot: found.madeByBot }, 'refused to act on a role the bot may not hand out');
      throw new PermanentFailure(
        found.privileges.length > 0
          ? prose`SQL user ${code(user)} on ${code(cluster)} holds privileges the bot never grants; the bot will not touch it. Nothing was changed; ask an admin.`
          : prose`SQL user ${code(user)} on ${code(cluster)} was not created by the bot; the bot will not touch it. Nothing was changed.`,
      );
    }
  }

  private async checkpoint(step: string, request: ChatRequest): Promise<void> {
    await this.o.checkpoint?.(step, request);
  }

  /**
   * This request's record, stored. `recorded`: this delivery wrote it with approved → applying.
   * Otherwise the request began before this delivery (its record is there, unless it began
   * without one) or another request's record holds the key: it is read, and written when it is
   * not this request's.
   */
  private async ensureRecord<R extends { readonly requestId: string }>(
    request: ChatRequest,
    step: string,
    { recorded, record, read, write }: { recorded: boolean; record: R; read: () => Promise<R | undefined>; write: () => Promise<void> },
  ): Promise<R> {
    if (recorded) return record;
    const stored = await read();
    if (stored?.requestId === request.id) return stored;
    await write();
    await this.checkpoint(step, request);
    return record;
  }

  /**
   * DMs connection details. A DM carrying a password is recorded for deletion (its receipt
   * written) before the password is put in it.
   */
  private async connectionDm(
    recipient: string,
    cluster: string,
    details: ConnectionDetails,
    name: string,
    password: string,
    why: 'created' | 'rotated' | 'requested',
    notes: readonly Prose[],
    format?: string,
  ): Promise<DmReceipt | undefined> {
    const receipt = await this.o.notifier.deliverConnection(
      {
        recipient,
        cluster,
        details,
        secretName: name,
        why,
        notes,
        ...(this.o.passwordDelivery === 'dm' ? { password } : {}),
        ...(format !== undefined ? { format } : {}),
      },
      {
        // The cluster lets the audit report a DM that outlived its TTL to that cluster's channel.
        record: (posted) => this.o.store.putDmReceipt({ ...posted, cluster }),
      },
    );
    return receipt ? { ...receipt, cluster } : undefined;
  }

  private target(job: { requester: string; responseUrl?: string }): { user: string; responseUrl?: string } {
    return { user: job.requester, ...(job.responseUrl ? { responseUrl: job.responseUrl } : {}) };
  }

  private async connect(job: Extract<Job, { type: 'connect' }>): Promise<void> {
    const managed = await this.o.store.getManagedUser(job.cluster, job.user);
    if (managed === undefined) throw new PermanentFailure(prose`SQL user ${code(job.user)} on ${code(job.cluster)} is not managed by the bot.`);
    const admin = await this.o.clusters.get(job.cluster);
    await this.requireHandOut(admin, job.cluster, job.user);
    const secret = await this.o.secrets.get(managed.secretName);
    if (secret === undefined) throw new PermanentFailure(prose`The secret of ${code(job.user)} is missing; ask an admin to run ${code('audit')}.`);
    this.o.redactor?.addAll(passwordRenderings(secret.password));
    const details = await admin.connectionDetails({
      user: job.user,
      database: job.database ?? managed.database,
      ...(job.region !== undefined ? { region: job.region } : {}),
    });
    await this.connectionDm(job.requester, job.cluster, details, managed.secretName, secret.password, 'requested', [], job.format);
    await this.o.notifier.reply(this.target(job), { kind: 'text', text: prose`The connection details of ${code(job.user)} on ${code(job.cluster)} are in your DMs.`, tone: 'success' });
  }

  /**
   * A lookup's token from its requester's budget (`readRateLimit`), taken before the cluster is
   * called; without one the requester is told to wait and nothing is asked of the cluster. One
   * member's flood of lookups cannot spend a Cloud API key's requests that everyone shares.
   */
  private async mayLookUp(job: Extract<Job, { type: 'read' | 'connect' }>): Promise<boolean> {
    const limit = this.o.readRateLimit;
    if (limit === undefined || (await this.o.store.takeRateToken(`lookups:${job.requester}`, limit.max, limit.windowMs))) return true;
    this.o.logger.warn({ event: 'lookup.rate-limited', requester: job.requester, cluster: job.cluster, job: job.type }, 'lookup refused: over the per-requester limit');
    await this.o.notifier.reply(this.target(job), {
      kind: 'text',
      text: prose`That is more than ${limit.max} lookups in ${formatDuration(limit.windowMs)}, the most one person may make; nothing was looked up. Try again in ${formatDuration(limit.windowMs)}.`,
      tone: 'warning',
    });
    return false;
  }

  private async read(job: Extract<Job, { type: 'read' }>): Promise<void> {
    const target = this.target(job);
    const admin = await this.o.clusters.get(job.cluster);
    if (job.command === 'users') {
      const [users, managed] = await Promise.all([admin.listUsers(), this.o.store.listManagedUsers(job.cluster)]);
      const byName = new Map(managed.map((m) => [m.user, m]));
      await this.o.notifier.reply(target, {
        kind: 'users',
        cluster: job.cluster,
        users: users.map((name) => {
          const m = byName.get(name);
          return m ? { name, managed: m } : { name };
        }),
      });
      return;
    }
    const [snapshot, managed, description] = await Promise.all([admin.listAllowlist(), this.o.store.listManagedEntries(job.cluster), admin.describe()]);
    const byCidr = new Map(managed.map((m) => [m.cidr, m]));
    const toRow = (e: AllowlistEntry): AllowlistRow => {
      const m = byCidr.get(e.cidr);
      return m ? { ...e, managed: m } : { ...e };
    };
    // Rules the backend cannot judge (self-hosted HBA: `all`, host names, IPv6, `trust`, ...) are shown, never hidden.
    const mayAdmit = (await admin.listOpaqueRules?.()) ?? [];
    if (job.command === 'check') {
      const ip = job.ip ?? '';
      await this.o.notifier.reply(target, { kind: 'check', cluster: job.cluster, ip, covering: coveringEntries(snapshot.entries, ip).map(toRow), mayAdmit });
      return;
    }
    // Configured, else the plan's documented cap; self-hosted clusters have none, 50 is only a yardstick there.
    const cap = this.o.clusters.config(job.cluster)?.policy.allowlistCap ?? description.allowlistCap ?? 50;
    await this.o.notifier.reply(target, { kind: 'allowlist', cluster: job.cluster, rows: snapshot.entries.map(toRow), propagating: snapshot.propagating, cap, mayAdmit });
  }

  private event(requestId: string, actor: string, type: RequestEvent['type'], detail?: string): RequestEvent {
    return requestEvent(requestId, actor, type, this.now(), detail);
  }
}

/** When a request was cleared to apply: its last approval, or its creation when it needed none. */
function applyStartedAt(request: ChatRequest): string {
  return request.approvals.at(-1)?.at ?? request.createdAt;
}
