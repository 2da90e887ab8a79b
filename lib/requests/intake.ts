/**
 * The ack path of a change request: authorise, assess, write, enqueue. Fast by construction: it
 * reads only the state table and config (no cluster, no Secrets Manager), so the Slack handler
 * answers well inside 3 seconds. A refusal changes nothing.
 */
import { type ClusterConfig, formatDuration } from '../config';
import { type Logger } from '../log';
import { type AccessControl } from '../policy/access';
import { isReservedRoleName } from '../cluster-admin/sql-names';
import { assessRequest } from '../policy/assess';
import { unionOf, unionViolation } from '../policy/union';
import { newRequestId } from './ids';
import { driveJob, type Job, type JobQueue, jobGroup } from './jobs';
import { type RequestStore } from './store';
import { type ChatRequest, isOpen, type RequestEvent, type RequestParams } from './types';

export interface IntakeOptions {
  readonly store: RequestStore;
  readonly queue: JobQueue;
  readonly access: AccessControl;
  readonly clusters: { config(alias: string): ClusterConfig | undefined; readonly aliases: readonly string[] };
  readonly pendingTtlMs: number;
  /** Per-requester limits on change requests; default 10 per 10 minutes, 5 pending. */
  readonly rateLimit?: { readonly max: number; readonly window: number; readonly maxPending: number };
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly newId?: () => string;
  /** Fault-injection seam: `intake:written` after the request is written, before its job is sent. */
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
  /** Slack says this is a repeated delivery: the request it made, if any, is found first (no rate token spent). */
  readonly retry?: boolean;
}

export type SubmitResult =
  /** Nothing was written. `example`: arguments of a command that would be accepted. */
  | { readonly outcome: 'refused'; readonly reason: string; readonly example?: string }
  /** Slack delivered this command before; this is the request it created. */
  | { readonly outcome: 'duplicate'; readonly request: ChatRequest }
  | { readonly outcome: 'accepted'; readonly request: ChatRequest };

const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

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
      const earlierId = await this.o.store.idempotencyKeyHolder(`slash:${input.idempotencyKey}`);
      const earlier = earlierId === undefined ? undefined : await this.o.store.getRequest(earlierId);
      if (earlier !== undefined) return { outcome: 'duplicate', request: await this.redrive(earlier) };
    }
    const cluster = this.o.clusters.config(input.cluster);
    const refusal = cluster === undefined ? this.unknownCluster(input.cluster) : await this.authorise(input);
    if (refusal || cluster === undefined) {
      // A Slack retry of a command already handled: by now the first delivery may have changed what
      // authorisation sees (the user exists, the entry is gone); answer it as the repeat it is.
      if (input.idempotencyKey !== undefined) {
        const earlierId = await this.o.store.idempotencyKeyHolder(`slash:${input.idempotencyKey}`);
        const earlier = earlierId === undefined ? undefined : await this.o.store.getRequest(earlierId);
        if (earlier !== undefined) return { outcome: 'duplicate', request: await this.redrive(earlier) };
      }
      this.o.logger.info({ event: 'request.refused', requester: input.requester, cluster: input.cluster, kind: input.params.kind, reason: refusal?.reason }, 'request refused');
      return refusal ?? this.unknownCluster(input.cluster);
    }
    const assessment = assessRequest(input.params, {
      cluster: cluster.alias,
      policy: cluster.policy,
      breakGlass: input.breakGlass === true,
      backend: cluster.backend,
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
    });
    if (assessment.decision === 'refused') return { outcome: 'refused', reason: assessment.reason, example: assessment.example };
    if (input.params.kind === 'allow') {
      // The policy holds for what the allowlist admits as a whole; what the table knows, at the ack
      // (the worker checks the cluster's actual allowlist before it writes).
      const others = (await this.o.store.listManagedEntries(cluster.alias)).map((e) => e.cidr);
      const violation = unionViolation(unionOf([...others, input.params.allow.cidr]), cluster.policy, cluster.alias);
      if (violation !== undefined) return { outcome: 'refused', reason: `\`${input.params.allow.cidr}\` was refused: ${violation}`, example: `allow 203.0.113.7 --for 8h --cluster ${cluster.alias}` };
    }
    const limited = await this.rateLimit(input, assessment.decision === 'approval');
    if (limited !== undefined) return limited;

    const now = this.now();
    const id = this.newId();
    const request: ChatRequest = {
      id,
      cluster: cluster.alias,
      requester: input.requester,
      params: withDuration(input.params, assessment.forMs),
      status: assessment.decision === 'apply' ? 'approved' : 'pending',
      risk: assessment.risk,
      flags: assessment.flags,
      quorum: assessment.quorum,
      approvals: [],
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.o.pendingTtlMs).toISOString(),
      version: 0,
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
      ...(input.breakGlass && assessment.flags.some((f) => f.code === 'break-glass') ? { breakGlass: true } : {}),
      ...(input.responseUrl !== undefined ? { responseUrl: input.responseUrl } : {}),
      ...(input.channel !== undefined ? { channel: input.channel } : {}),
    };

    const created = this.event(id, input.requester, 'created', describe(request));
    if (input.idempotencyKey !== undefined) {
      // The request and the claim on Slack's trigger_id are written together (one round trip).
      const once = await this.o.store.createRequestOnce(request, created, { key: `slash:${input.idempotencyKey}`, ttlSeconds: IDEMPOTENCY_TTL_SECONDS });
      if (!once.created) {
        const earlier = await this.o.store.getRequest(once.requestId);
        if (earlier) return { outcome: 'duplicate', request: await this.redrive(earlier) };
        // Claimed by a delivery whose request cannot be read (yet): that one answers.
        return { outcome: 'refused', reason: 'This command is already being processed.' };
      }
    } else {
      await this.o.store.createRequest(request, created);
    }
    // The request is written: from here on nothing fails the ack. The job only gets the worker
    // there sooner; if it is lost (a crash now, SQS refusing), the reconciler drives the request.
    await this.o.checkpoint?.('intake:written');
    try {
      if (request.breakGlass) await this.o.store.appendEvent(this.event(id, input.requester, 'break-glass', input.reason));
      await this.enqueue({ type: 'submit', requestId: id }, `submit-${id}`);
    } catch (error) {
      this.o.logger.warn({ event: 'request.enqueue-failed', requestId: id, err: error }, 'request written, job not sent; the reconciler will drive it');
    }
    this.o.logger.info({ event: 'request.created', requestId: id, requester: input.requester, cluster: cluster.alias, kind: input.params.kind, status: request.status, risk: request.risk }, 'request created');
    return { outcome: 'accepted', request };
  }

  /**
   * Per requester: at most `maxPending` requests waiting for approval (checked for a request that
   * would wait too), and `max` change requests
   * per window (a fixed window, counted atomically in the table, so a burst cannot slip through).
   * Checked last, so a refusal for another reason costs no token; a Slack retry never gets here.
   */
  private async rateLimit(input: SubmitInput, waitsForApproval: boolean): Promise<Extract<SubmitResult, { outcome: 'refused' }> | undefined> {
    const { max, window, maxPending } = this.o.rateLimit ?? { max: 10, window: 10 * 60_000, maxPending: 5 };
    const pending = waitsForApproval ? (await this.o.store.listByRequester(input.requester, maxPending + 20)).filter((r) => r.status === 'pending').length : 0;
    if (waitsForApproval && pending >= maxPending) {
      this.o.logger.warn({ event: 'request.rate-limited', requester: input.requester, pending }, 'too many pending requests');
      return { outcome: 'refused', reason: `You have ${pending} requests waiting for approval, the most allowed at once; wait for a decision or cancel one first.`, example: 'requests' };
    }
    if (!(await this.o.store.takeRateToken(`requester:${input.requester}`, max, window))) {
      this.o.logger.warn({ event: 'request.rate-limited', requester: input.requester, max, windowMs: window }, 'too many change requests');
      return { outcome: 'refused', reason: `You have made ${max} change requests in the last ${formatDuration(window)}, the most allowed; try again later.`, example: 'requests' };
    }
    return undefined;
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

  private async authorise(input: SubmitInput): Promise<Extract<SubmitResult, { outcome: 'refused' }> | undefined> {
    const { access, store } = this.o;
    if (!(await access.canRequest(input.requester))) {
      return { outcome: 'refused', reason: 'You are not on the list of people who may make requests; ask a crdb-chatops admin.' };
    }
    if (input.breakGlass) {
      if (!(await access.isBreakGlass(input.requester))) {
        return { outcome: 'refused', reason: '--break-glass is only for members of the break-glass group; leave it out to ask for approval.' };
      }
      if (input.reason === undefined || input.reason.trim() === '') return { outcome: 'refused', reason: '--break-glass needs --reason "…".' };
    }
    const { params } = input;
    switch (params.kind) {
      case 'revoke': {
        const entry = await store.getManagedEntry(input.cluster, params.revoke.cidr);
        if (entry?.requester === input.requester || (await access.isAdmin(input.requester))) return undefined;
        return {
          outcome: 'refused',
          reason: entry
            ? `Only <@${entry.requester}>, who asked for \`${params.revoke.cidr}\`, or an admin may revoke it.`
            : `\`${params.revoke.cidr}\` was not added by the bot on \`${input.cluster}\`; only an admin may revoke it.`,
        };
      }
      case 'user-create': {
        const name = params.userCreate.user;
        const config = this.o.clusters.config(input.cluster);
        const adminUser = config === undefined ? undefined : config.backend === 'sql' ? config.connection.user : config.adminSql?.user;
        if (isReservedRoleName(name) || name === adminUser) {
          return { outcome: 'refused', reason: `\`${name}\` is a reserved or administrative role; the bot only creates new, ordinary users.`, example: `user create ${suggestedName(input.requester)} --cluster ${input.cluster}` };
        }
        const managed = await store.getManagedUser(input.cluster, params.userCreate.user);
        if (managed === undefined) return undefined;
        return {
          outcome: 'refused',
          reason: `\`${params.userCreate.user}\` already exists on \`${input.cluster}\` (owner <@${managed.owner}>).`,
          example: `user rotate ${params.userCreate.user} --cluster ${input.cluster}`,
        };
      }
      case 'user-rotate':
      case 'user-delete': {
        const managed = await store.getManagedUser(input.cluster, params.user.user);
        if (managed === undefined) {
          return { outcome: 'refused', reason: `\`${params.user.user}\` is not a user the bot manages on \`${input.cluster}\`.`, example: `users --cluster ${input.cluster}` };
        }
        if (managed.owner === input.requester || (await access.isAdmin(input.requester))) return undefined;
        return { outcome: 'refused', reason: `Only <@${managed.owner}>, who owns \`${params.user.user}\`, or an admin may do that.` };
      }
      case 'allow': {
        // What the table knows, at the ack; the worker checks the cluster itself before it writes.
        const held = await store.getManagedEntry(input.cluster, params.allow.cidr);
        if (held !== undefined && held.requester !== input.requester) {
          return {
            outcome: 'refused',
            reason: `\`${params.allow.cidr}\` is already on the allowlist of \`${input.cluster}\`, held by <@${held.requester}>; ask them or an admin.`,
            example: `allowlist --cluster ${input.cluster}`,
          };
        }
        return undefined;
      }
    }
  }

  private unknownCluster(alias: string): Extract<SubmitResult, { outcome: 'refused' }> {
    const aliases = this.o.clusters.aliases;
    return { outcome: 'refused', reason: `There is no cluster \`${alias}\`; configured: ${aliases.join(', ')}.`, example: `clusters` };
  }

  private event(requestId: string, actor: string, type: RequestEvent['type'], detail?: string): RequestEvent {
    return { requestId, actor, type, at: this.now().toISOString(), ...(detail !== undefined ? { detail } : {}) };
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
