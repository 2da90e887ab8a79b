/**
 * Admission: what a `received` request is checked against once it is durable, in the worker. The
 * ack (./intake.ts) checks what needs no state (the grammar, the policy for the request on its
 * own, who may request at all, reserved names) and writes the request with one conditional put;
 * everything that reads the state table is decided here, before anything is changed or any
 * approver is asked:
 *
 * - the entry or user is the requester's to change (or they are an admin), or free to create;
 * - the allowlist as a whole stays within the policy (what the table knows; the worker checks the
 *   cluster itself before it writes);
 * - the requester has fewer pending requests than allowed;
 * - and, as guards of admission's one write (the executor's transition out of `received`): the
 *   command was not delivered before (Slack's `trigger_id`, claimed once), and a change-request
 *   token is left in the requester's window. A refusal for another reason takes no token.
 *
 * A refusal changes nothing but the request itself (`refused`, with its reason), and its requester
 * is told it on the command's response_url, a moment after the ack.
 */
import { type ClusterConfig, formatDuration } from '../config';
import { type Logger } from '../log';
import { type AccessControl } from '../policy/access';
import { unionOf, unionViolation } from '../policy/union';
import { type GuardFailedError } from './errors';
import { type RequestStore, type TransitionGuards } from './store';
import { type ChatRequest } from './types';
import { code, person, prose, type Prose } from '../prose';

export interface AdmissionOptions {
  readonly store: RequestStore;
  readonly access: AccessControl;
  readonly cluster: (alias: string) => ClusterConfig | undefined;
  /** Per-requester limits on change requests; default 10 per 10 minutes, 5 pending. */
  readonly rateLimit?: { readonly max: number; readonly window: number; readonly maxPending: number };
  readonly logger: Logger;
}

export type AdmissionResult =
  /**
   * What the table shows allows it. `guards` are held in admission's one write (the trigger id's
   * claim, a rate token); when one does not, `refusalFor` says why.
   */
  | { readonly outcome: 'admitted'; readonly guards: TransitionGuards }
  /** One line, and a command that would be accepted (without the command name). `guards`: the claim, still written with the refusal. */
  | { readonly outcome: 'refused'; readonly reason: Prose; readonly example?: string; readonly guards: TransitionGuards };

/** How long a command's `trigger_id` stays claimed: far longer than Slack ever repeats a delivery. */
export const TRIGGER_CLAIM_TTL_SECONDS = 24 * 60 * 60;

/** The idempotency key of a slash command's `trigger_id`. */
export function triggerKey(trigger: string): string {
  return `slash:${trigger}`;
}

export class Admission {
  constructor(private readonly o: AdmissionOptions) {}

  /**
   * Reads what admission needs (at most a record, the cluster's entries, the requester's latest
   * requests) and decides; it writes nothing. The caller writes the outcome with `guards`.
   */
  async admit(request: ChatRequest): Promise<AdmissionResult> {
    const claim = request.trigger === undefined ? {} : { claim: { key: triggerKey(request.trigger), ttlSeconds: TRIGGER_CLAIM_TTL_SECONDS } };
    const cluster = this.o.cluster(request.cluster);
    const refusal =
      cluster === undefined
        ? { reason: prose`The cluster ${code(request.cluster)} is no longer configured.`, example: 'clusters' }
        : ((await this.holder(request)) ?? (await this.union(request, cluster)) ?? (await this.pending(request)));
    if (refusal !== undefined) {
      this.o.logger.info({ event: 'request.refused', requestId: request.id, requester: request.requester, cluster: request.cluster, kind: request.params.kind, reason: refusal.reason }, 'request refused at admission');
      return { outcome: 'refused', ...refusal, guards: claim };
    }
    const { max, window } = this.limitsConfig();
    return { outcome: 'admitted', guards: { ...claim, rateToken: { key: `requester:${request.requester}`, limit: max, windowMs: window } } };
  }

  /** Why a guard of an admission did not hold: a repeat of another request's command, or no rate token left. */
  refusalFor(request: ChatRequest, error: GuardFailedError): { readonly reason: Prose; readonly example?: string; readonly repeatOf?: string } {
    if (error.guard === 'claim') return { reason: prose`A repeated delivery of the command of request ${error.holder ?? '(unknown)'}.`, repeatOf: error.holder ?? '' };
    const { max, window } = this.limitsConfig();
    this.o.logger.warn({ event: 'request.rate-limited', requestId: request.id, requester: request.requester, max, windowMs: window }, 'too many change requests');
    return { reason: prose`You have made ${max} change requests in the last ${formatDuration(window)}, the most allowed; try again later.`, example: 'requests' };
  }

  private limitsConfig(): { max: number; window: number; maxPending: number } {
    return this.o.rateLimit ?? { max: 10, window: 10 * 60_000, maxPending: 5 };
  }

  /** Whose the entry or user is: the requester's (or an admin's to change), or free to create. */
  private async holder(request: ChatRequest): Promise<Refusal | undefined> {
    const { store, access } = this.o;
    const { params, requester, cluster } = request;
    switch (params.kind) {
      case 'revoke': {
        const entry = await store.getManagedEntry(cluster, params.revoke.cidr);
        if (entry?.requester === requester || (await access.isAdmin(requester))) return undefined;
        return {
          reason: entry
            ? prose`Only ${person(entry.requester)}, who asked for ${code(params.revoke.cidr)}, or an admin may revoke it.`
            : prose`${code(params.revoke.cidr)} was not added by the bot on ${code(cluster)}; only an admin may revoke it.`,
          example: `allowlist --cluster ${cluster}`,
        };
      }
      case 'user-create': {
        const managed = await store.getManagedUser(cluster, params.userCreate.user);
        if (managed === undefined) return undefined;
        return {
          reason: prose`${code(params.userCreate.user)} already exists on ${code(cluster)} (owner ${person(managed.owner)}).`,
          example: `user rotate ${params.userCreate.user} --cluster ${cluster}`,
        };
      }
      case 'user-rotate':
      case 'user-delete': {
        const managed = await store.getManagedUser(cluster, params.user.user);
        if (managed === undefined) {
          return { reason: prose`${code(params.user.user)} is not a user the bot manages on ${code(cluster)}.`, example: `users --cluster ${cluster}` };
        }
        if (managed.owner === requester || (await access.isAdmin(requester))) return undefined;
        return { reason: prose`Only ${person(managed.owner)}, who owns ${code(params.user.user)}, or an admin may do that.`, example: `users --cluster ${cluster}` };
      }
      case 'extend': {
        // Only the holder keeps their own access longer: an admin revokes others', never prolongs them.
        const { subject } = params.extend;
        const record = subject.type === 'entry' ? await store.getManagedEntry(cluster, subject.cidr) : await store.getManagedUser(cluster, subject.user);
        const what = subject.type === 'entry' ? prose`${code(subject.cidr)}` : prose`SQL user ${code(subject.user)}`;
        const list = subject.type === 'entry' ? `allowlist --cluster ${cluster}` : `users --cluster ${cluster}`;
        if (record === undefined) return { reason: prose`${what} is not something the bot manages on ${code(cluster)}; nothing to extend.`, example: list };
        const holder = 'owner' in record ? record.owner : record.requester;
        if (holder !== requester) return { reason: prose`Only ${person(holder)}, who holds ${what}, may extend it.`, example: list };
        if (record.expiresAt === undefined) return { reason: prose`${what} on ${code(cluster)} does not expire; nothing to extend.`, example: list };
        return undefined;
      }
      case 'allow': {
        const held = await store.getManagedEntry(cluster, params.allow.cidr);
        if (held === undefined || held.requester === requester) return undefined;
        return {
          reason: prose`${code(params.allow.cidr)} is already on the allowlist of ${code(cluster)}, held by ${person(held.requester)}; ask them or an admin.`,
          example: `allowlist --cluster ${cluster}`,
        };
      }
    }
  }

  /** The policy holds for what the allowlist admits as a whole (what the table knows). */
  private async union(request: ChatRequest, cluster: ClusterConfig): Promise<Refusal | undefined> {
    if (request.params.kind !== 'allow') return undefined;
    const { cidr } = request.params.allow;
    const others = (await this.o.store.listManagedEntries(cluster.alias)).map((e) => e.cidr);
    const violation = unionViolation(unionOf([...others, cidr]), cluster.policy, cluster.alias);
    if (violation === undefined) return undefined;
    return { reason: prose`${code(cidr)} was refused: ${violation}`, example: `allow 203.0.113.7 --for 8h --cluster ${cluster.alias}` };
  }

  /**
   * Per requester: at most `maxPending` requests waiting for approval, for a request that would wait
   * too. (The per-window limit is a guard of admission's write: `admit`.)
   */
  private async pending(request: ChatRequest): Promise<Refusal | undefined> {
    if (request.quorum === 0) return undefined;
    const { maxPending } = this.limitsConfig();
    const pending = (await this.o.store.listByRequester(request.requester, maxPending + 20)).filter((r) => r.status === 'pending').length;
    if (pending < maxPending) return undefined;
    this.o.logger.warn({ event: 'request.rate-limited', requester: request.requester, pending }, 'too many pending requests');
    return { reason: prose`You have ${pending} requests waiting for approval, the most allowed at once; wait for a decision or cancel one first.`, example: 'requests' };
  }
}

interface Refusal {
  readonly reason: Prose;
  readonly example?: string;
}
