/**
 * The ack path of a change request: check what needs no state, write the request, answer. The
 * request is written `received` with one conditional put, the ack's only round trip: from then
 * on it is durable, and everything that needs the state table (who holds the entry or user, the
 * allowlist as a whole, the requester's limits: ./admission.ts) is decided by the worker, which
 * tells the requester where they typed the command.
 *
 * Who takes it from the table: on AWS the table's stream (handlers/outbox.ts relays each new
 * request to the job queue); in local mode `nudge`, the in-process queue. Either way the
 * reconciler drives any request nothing moved on, so a lost nudge or relay only costs time.
 */
import { type ClusterConfig, formatDuration } from '../config';
import { type Logger } from '../log';
import { type AccessControl } from '../policy/access';
import { isReservedRoleName } from '../cluster-admin/sql-names';
import { assessRequest } from '../policy/assess';
import { triggerKey } from './admission';
import { newRequestId } from './ids';
import { driveJob, type Job, type JobQueue, jobGroup, submitJob } from './jobs';
import { type RequestStore } from './store';
import { type ChatRequest, isOpen, type RequestParams } from './types';
import { asProse, code, prose, type Prose } from '../prose';

export interface IntakeOptions {
  readonly store: RequestStore;
  /** Where repeated deliveries and decisions send their jobs. */
  readonly queue: JobQueue;
  /**
   * Told of each new request at once, when that costs no round trip (local mode's in-process
   * queue). Absent on AWS, where the table's stream announces new requests.
   */
  readonly nudge?: JobQueue;
  readonly access: AccessControl;
  readonly clusters: { config(alias: string): ClusterConfig | undefined; readonly aliases: readonly string[] };
  readonly pendingTtlMs: number;
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly newId?: () => string;
  /** Fault-injection seam: `intake:written` after the request is written, before the ack. */
  readonly checkpoint?: (step: string) => void | Promise<void>;
}

export interface SubmitInput {
  readonly requester: string;
  readonly cluster: string;
  readonly params: RequestParams;
  readonly reason?: string;
  readonly breakGlass?: boolean;
  readonly responseUrl?: string;
  readonly channel?: string;
  /** Slack's `trigger_id`: a retried delivery of the same command carries the same one. */
  readonly idempotencyKey?: string;
  /** Slack says this is a repeated delivery: the request it made, if any, is found first. */
  readonly retry?: boolean;
}

export type SubmitResult =
  /** Nothing was written. `example`: arguments of a command that would be accepted. */
  | { readonly outcome: 'refused'; readonly reason: Prose; readonly example?: string }
  /** Slack delivered this command before; this is the request it created. */
  | { readonly outcome: 'duplicate'; readonly request: ChatRequest }
  /** Written `received`: admission and the rest follow in the worker. */
  | { readonly outcome: 'accepted'; readonly request: ChatRequest };

export class RequestIntake {
  private readonly o: IntakeOptions;
  private readonly now: () => Date;
  private readonly newId: () => string;

  constructor(options: IntakeOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
    this.newId = options.newId ?? (() => newRequestId());
  }

  async submit(input: SubmitInput): Promise<SubmitResult> {
    if (input.retry === true && input.idempotencyKey !== undefined) {
      const earlier = await this.earlierDelivery(input.requester, input.idempotencyKey);
      if (earlier !== undefined) return { outcome: 'duplicate', request: await this.redrive(earlier) };
    }
    const cluster = this.o.clusters.config(input.cluster);
    if (cluster === undefined) return this.unknownCluster(input.cluster);
    const refusal = await this.authorise(input, cluster);
    if (refusal !== undefined) {
      this.o.logger.info({ event: 'request.refused', requester: input.requester, cluster: input.cluster, kind: input.params.kind, reason: refusal.reason }, 'request refused');
      return refusal;
    }
    const assessment = assessRequest(input.params, {
      cluster: cluster.alias,
      policy: cluster.policy,
      breakGlass: input.breakGlass === true,
      backend: cluster.backend,
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
    });
    if (assessment.decision === 'refused') return { outcome: 'refused', reason: asProse(assessment.reason), example: assessment.example };

    const now = this.now();
    const request: ChatRequest = {
      id: this.newId(),
      cluster: cluster.alias,
      requester: input.requester,
      params: withDuration(input.params, assessment.forMs),
      status: 'received',
      risk: assessment.risk,
      flags: assessment.flags,
      quorum: assessment.decision === 'apply' ? 0 : assessment.quorum,
      approvals: [],
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.o.pendingTtlMs).toISOString(),
      version: 0,
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
      ...(input.breakGlass && assessment.flags.some((f) => f.code === 'break-glass') ? { breakGlass: true } : {}),
      ...(input.responseUrl !== undefined ? { responseUrl: input.responseUrl } : {}),
      ...(input.channel !== undefined ? { channel: input.channel } : {}),
      ...(input.idempotencyKey !== undefined ? { trigger: input.idempotencyKey } : {}),
    };
    await this.o.store.receiveRequest(request);
    // The request is durable: from here on nothing fails the ack.
    await this.o.checkpoint?.('intake:written');
    if (this.o.nudge !== undefined) {
      const { job, options } = submitJob(request.id);
      this.o.nudge.enqueue(job, options).catch((error: unknown) => this.o.logger.warn({ event: 'request.nudge-failed', requestId: request.id, err: error }, 'request written, not announced; the reconciler will drive it'));
    }
    // No log line here: the write is the record, and admission logs the request (`request.admitted`
    // or `request.refused`) with everything this line would say. A synchronous log write is a
    // tenth of a millisecond the ack does not need.
    return { outcome: 'accepted', request };
  }

  /**
   * The request an earlier delivery of the same command made. Only a repeated delivery reads this:
   * the trigger id's claim once admission has run, else the requester's latest requests (an index,
   * which may lag a moment behind the write; a repeat it misses is ended by admission, whose claim
   * is exact).
   */
  private async earlierDelivery(requester: string, trigger: string): Promise<ChatRequest | undefined> {
    const claimed = await this.o.store.idempotencyKeyHolder(triggerKey(trigger));
    // Only ever the requester's own request (a trigger id is Slack's, but the answer names the request).
    const earlier = claimed === undefined ? undefined : await this.o.store.getRequest(claimed);
    if (earlier !== undefined) return earlier.requester === requester ? earlier : undefined;
    return (await this.o.store.listByRequester(requester, 20)).find((r) => r.trigger === trigger);
  }

  /**
   * A Slack retry of a command whose request is still open (or pending with no card): the first
   * delivery's job may have been lost with a crashed process. Drive it on again (once per state),
   * best effort: the reconciler does the same later.
   */
  private async redrive(request: ChatRequest): Promise<ChatRequest> {
    if (!isOpen(request) && !(request.status === 'pending' && request.card === undefined)) return request;
    const { job, options } = driveJob(request);
    try {
      await this.o.queue.enqueue(job, options);
      this.o.logger.info({ event: 'request.redriven', requestId: request.id, status: request.status, by: 'slack-retry' }, 'open request driven on by a repeated delivery');
    } catch (error) {
      this.o.logger.warn({ event: 'request.redrive-failed', requestId: request.id, err: error }, 'could not enqueue a drive job');
    }
    return request;
  }

  /** Enqueues a job; the deduplication id makes a repeated enqueue of the same step harmless. */
  async enqueue(job: Job, deduplicationId: string): Promise<void> {
    await this.o.queue.enqueue(job, { deduplicationId, groupId: jobGroup(job) });
  }

  /** What needs no state table: who may request at all, break-glass, reserved names. */
  private async authorise(input: SubmitInput, cluster: ClusterConfig): Promise<Extract<SubmitResult, { outcome: 'refused' }> | undefined> {
    const { access } = this.o;
    if (!(await access.canRequest(input.requester))) {
      return { outcome: 'refused', reason: prose`You are not on the list of people who may make requests; ask a crdb-chatops admin.` };
    }
    if (input.breakGlass) {
      if (!(await access.isBreakGlass(input.requester))) {
        return { outcome: 'refused', reason: prose`--break-glass is only for members of the break-glass group; leave it out to ask for approval.` };
      }
      if (input.reason === undefined || input.reason.trim() === '') return { outcome: 'refused', reason: prose`--break-glass needs --reason "…".` };
    }
    if (input.params.kind === 'user-create') {
      const name = input.params.userCreate.user;
      const adminUser = cluster.backend === 'sql' ? cluster.connection.user : cluster.adminSql?.user;
      if (isReservedRoleName(name) || name === adminUser) {
        return { outcome: 'refused', reason: prose`${code(name)} is a reserved or administrative role; the bot only creates new, ordinary users.`, example: `user create ${suggestedName(input.requester)} --cluster ${input.cluster}` };
      }
    }
    return undefined;
  }

  private unknownCluster(alias: string): Extract<SubmitResult, { outcome: 'refused' }> {
    const aliases = this.o.clusters.aliases;
    return { outcome: 'refused', reason: prose`There is no cluster ${code(alias)}; configured: ${aliases.join(', ')}.`, example: `clusters` };
  }
}

/** One line for the audit trail. */
export function describe(request: Pick<ChatRequest, 'params' | 'cluster'>): string {
  const p = request.params;
  switch (p.kind) {
    case 'allow':
      return `allow ${p.allow.cidr} (${[p.allow.sql && 'sql', p.allow.ui && 'ui'].filter(Boolean).join('+')})${p.allow.forMs ? ` for ${formatDuration(p.allow.forMs)}` : ''} on ${request.cluster}`;
    case 'revoke':
      return `revoke ${p.revoke.cidr} on ${request.cluster}`;
    case 'user-create':
      return `create user ${p.userCreate.user} (database ${p.userCreate.database}) on ${request.cluster}`;
    case 'user-rotate':
      return `rotate the password of ${p.user.user} on ${request.cluster}`;
    case 'user-delete':
      return `delete user ${p.user.user} on ${request.cluster}`;
    case 'extend':
      return `extend ${p.extend.subject.type === 'entry' ? p.extend.subject.cidr : `user ${p.extend.subject.user}`} by ${formatDuration(p.extend.forMs)} on ${request.cluster}`;
  }
}

function withDuration(params: RequestParams, forMs: number | undefined): RequestParams {
  if (forMs === undefined) return params;
  if (params.kind === 'allow') return { kind: 'allow', allow: { ...params.allow, forMs } };
  if (params.kind === 'user-create') return { kind: 'user-create', userCreate: { ...params.userCreate, forMs } };
  return params;
}

/** A user name that is certainly not reserved, for examples. */
function suggestedName(requester: string): string {
  return `u_${requester.toLowerCase()}`;
}
