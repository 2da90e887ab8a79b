/**
 * Admission: what a `received` request is checked against once it is durable, in the worker. The
 * ack (./intake.ts) checks what needs no state (the grammar, the policy for the request on its
 * own, who may request at all, reserved names) and writes the request with one conditional put;
 * everything that reads the state table is decided here, before anything is changed or any
 * approver is asked:
 *
 * - the command was not delivered before (Slack's `trigger_id`, claimed once);
 * - the entry or user is the requester's to change (or they are an admin), or free to create;
 * - the allowlist as a whole stays within the policy (what the table knows; the worker checks the
 *   cluster itself before it writes);
 * - the requester is within their limits (pending requests, change requests per window). The rate
 *   token is taken last, so a refusal for another reason costs none.
 *
 * A refusal changes nothing but the request itself (`refused`, with its reason), and its requester
 * is told it where they typed the command, replacing the ack.
 */
import { type ClusterConfig, formatDuration } from '../config';
import { type Logger } from '../log';
import { type AccessControl } from '../policy/access';
import { unionOf, unionViolation } from '../policy/union';
import { type RequestStore } from './store';
import { type ChatRequest } from './types';

export interface AdmissionOptions {
  readonly store: RequestStore;
  readonly access: AccessControl;
  readonly cluster: (alias: string) => ClusterConfig | undefined;
  /** Per-requester limits on change requests; default 10 per 10 minutes, 5 pending. */
  readonly rateLimit?: { readonly max: number; readonly window: number; readonly maxPending: number };
  readonly logger: Logger;
}

export type AdmissionResult =
  | { readonly outcome: 'admitted' }
  /** One line, and a command that would be accepted (without the command name). */
  | { readonly outcome: 'refused'; readonly reason: string; readonly example?: string }
  /** The same Slack command made `requestId` first: that request runs, this one ends quietly. */
  | { readonly outcome: 'duplicate'; readonly requestId: string };

/** How long a command's `trigger_id` stays claimed: far longer than Slack ever repeats a delivery. */
export const TRIGGER_CLAIM_TTL_SECONDS = 24 * 60 * 60;

/** The idempotency key of a slash command's `trigger_id`. */
export function triggerKey(trigger: string): string {
  return `slash:${trigger}`;
}

export class Admission {
  constructor(private readonly o: AdmissionOptions) {}

  async admit(request: ChatRequest): Promise<AdmissionResult> {
    if (request.trigger !== undefined) {
      const claim = await this.o.store.claimIdempotencyKey(triggerKey(request.trigger), request.id, TRIGGER_CLAIM_TTL_SECONDS);
      if (!claim.claimed && claim.requestId !== request.id) return { outcome: 'duplicate', requestId: claim.requestId };
    }
    const cluster = this.o.cluster(request.cluster);
    if (cluster === undefined) return { outcome: 'refused', reason: `The cluster \`${request.cluster}\` is no longer configured.`, example: 'clusters' };
    const refusal = (await this.holder(request)) ?? (await this.union(request, cluster)) ?? (await this.limits(request));
    if (refusal !== undefined) {
      this.o.logger.info({ event: 'request.refused', requestId: request.id, requester: request.requester, cluster: request.cluster, kind: request.params.kind, reason: refusal.reason }, 'request refused at admission');
      return refusal;
    }
    return { outcome: 'admitted' };
  }

  /** Whose the entry or user is: the requester's (or an admin's to change), or free to create. */
  private async holder(request: ChatRequest): Promise<Extract<AdmissionResult, { outcome: 'refused' }> | undefined> {
    const { store, access } = this.o;
    const { params, requester, cluster } = request;
    switch (params.kind) {
      case 'revoke': {
        const entry = await store.getManagedEntry(cluster, params.revoke.cidr);
        if (entry?.requester === requester || (await access.isAdmin(requester))) return undefined;
        return {
          outcome: 'refused',
          reason: entry
            ? `Only <@${entry.requester}>, who asked for \`${params.revoke.cidr}\`, or an admin may revoke it.`
            : `\`${params.revoke.cidr}\` was not added by the bot on \`${cluster}\`; only an admin may revoke it.`,
          example: `allowlist --cluster ${cluster}`,
        };
      }
      case 'user-create': {
        const managed = await store.getManagedUser(cluster, params.userCreate.user);
        if (managed === undefined) return undefined;
        return {
          outcome: 'refused',
          reason: `\`${params.userCreate.user}\` already exists on \`${cluster}\` (owner <@${managed.owner}>).`,
          example: `user rotate ${params.userCreate.user} --cluster ${cluster}`,
        };
      }
      case 'user-rotate':
      case 'user-delete': {
        const managed = await store.getManagedUser(cluster, params.user.user);
        if (managed === undefined) {
          return { outcome: 'refused', reason: `\`${params.user.user}\` is not a user the bot manages on \`${cluster}\`.`, example: `users --cluster ${cluster}` };
        }
        if (managed.owner === requester || (await access.isAdmin(requester))) return undefined;
        return { outcome: 'refused', reason: `Only <@${managed.owner}>, who owns \`${params.user.user}\`, or an admin may do that.`, example: `users --cluster ${cluster}` };
      }
      case 'allow': {
        const held = await store.getManagedEntry(cluster, params.allow.cidr);
        if (held === undefined || held.requester === requester) return undefined;
        return {
          outcome: 'refused',
          reason: `\`${params.allow.cidr}\` is already on the allowlist of \`${cluster}\`, held by <@${held.requester}>; ask them or an admin.`,
          example: `allowlist --cluster ${cluster}`,
        };
      }
    }
  }

  /** The policy holds for what the allowlist admits as a whole (what the table knows). */
  private async union(request: ChatRequest, cluster: ClusterConfig): Promise<Extract<AdmissionResult, { outcome: 'refused' }> | undefined> {
    if (request.params.kind !== 'allow') return undefined;
    const { cidr } = request.params.allow;
    const others = (await this.o.store.listManagedEntries(cluster.alias)).map((e) => e.cidr);
    const violation = unionViolation(unionOf([...others, cidr]), cluster.policy, cluster.alias);
    if (violation === undefined) return undefined;
    return { outcome: 'refused', reason: `\`${cidr}\` was refused: ${violation}`, example: `allow 203.0.113.7 --for 8h --cluster ${cluster.alias}` };
  }

  /**
   * Per requester: at most `maxPending` requests waiting for approval (for a request that would
   * wait too), and `max` change requests per window (a fixed window, counted atomically in the
   * table, so a burst cannot slip through).
   */
  private async limits(request: ChatRequest): Promise<Extract<AdmissionResult, { outcome: 'refused' }> | undefined> {
    const { max, window, maxPending } = this.o.rateLimit ?? { max: 10, window: 10 * 60_000, maxPending: 5 };
    const { requester } = request;
    if (request.quorum > 0) {
      const pending = (await this.o.store.listByRequester(requester, maxPending + 20)).filter((r) => r.status === 'pending').length;
      if (pending >= maxPending) {
        this.o.logger.warn({ event: 'request.rate-limited', requester, pending }, 'too many pending requests');
        return { outcome: 'refused', reason: `You have ${pending} requests waiting for approval, the most allowed at once; wait for a decision or cancel one first.`, example: 'requests' };
      }
    }
    if (!(await this.o.store.takeRateToken(`requester:${requester}`, max, window))) {
      this.o.logger.warn({ event: 'request.rate-limited', requester, max, windowMs: window }, 'too many change requests');
      return { outcome: 'refused', reason: `You have made ${max} change requests in the last ${formatDuration(window)}, the most allowed; try again later.`, example: 'requests' };
    }
    return undefined;
  }
}
