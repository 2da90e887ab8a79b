/**
 * Requests: what someone asked the bot to change, and where that stands.
 *
 * A request is created by the Slack handler (after parsing, authorising and validating), decided
 * by policy or by approvers, applied by the worker, and reported to the requester. Every state
 * change is a conditional write; every decision is also an immutable event (the audit trail).
 */
import { type Cidr } from '../cluster-admin/types';
import { type Prose } from '../prose';

export type RequestKind = 'allow' | 'revoke' | 'user-create' | 'user-rotate' | 'user-delete' | 'extend';

export interface AllowParams {
  readonly cidr: Cidr;
  readonly sql: boolean;
  readonly ui: boolean;
  /** Temporary entry: removed by the expiry sweep after this many milliseconds from application. */
  readonly forMs?: number;
  readonly label?: string;
  /** The CIDR as typed, when it was normalised (host bits set). */
  readonly normalisedFrom?: string;
}

export interface RevokeParams {
  readonly cidr: Cidr;
}

export interface UserCreateParams {
  readonly user: string;
  readonly database: string;
  /** Temporary user (VALID UNTIL where supported; dropped by the expiry sweep). */
  readonly forMs?: number;
}

export interface UserParams {
  readonly user: string;
}

/** What an `extend` keeps longer: a temporary allowlist entry or SQL user the requester holds. */
export type ExtendSubject = { readonly type: 'entry'; readonly cidr: Cidr } | { readonly type: 'user'; readonly user: string };

export interface ExtendParams {
  readonly subject: ExtendSubject;
  /** The subject expires this long after the extension applies (policy's `maxFor` at most). */
  readonly forMs: number;
}

export type RequestParams =
  | { readonly kind: 'allow'; readonly allow: AllowParams }
  | { readonly kind: 'revoke'; readonly revoke: RevokeParams }
  | { readonly kind: 'user-create'; readonly userCreate: UserCreateParams }
  | { readonly kind: 'user-rotate'; readonly user: UserParams }
  | { readonly kind: 'user-delete'; readonly user: UserParams }
  | { readonly kind: 'extend'; readonly extend: ExtendParams };

/**
 * received → pending → approved → applying → applied
 *          ↘ approved (no approval needed)   ↘ failed (told, and rolled back where needed)
 *          ↘ refused             ↘ denied | expired
 *
 * `received` is what the ack writes (one conditional put: the command is durable, nothing is
 * decided yet). Admission, in the worker, checks what needs the state table (who holds the entry
 * or user, the allowlist as a whole, the requester's limits) and moves it on, or to `refused`.
 */
export type RequestStatus = 'received' | 'pending' | 'approved' | 'applying' | 'applied' | 'denied' | 'expired' | 'failed' | 'refused';

export const FINAL_STATUSES: ReadonlySet<RequestStatus> = new Set(['applied', 'denied', 'expired', 'failed', 'refused']);

/** The `denyReason` of a request its requester cancelled while it waited (`withdraw`). */
export const WITHDRAWN = 'withdrawn by its requester';

/** Whether a denied request was cancelled by its own requester rather than denied by an approver. */
export function isWithdrawn(request: Pick<ChatRequest, 'status' | 'decidedBy' | 'requester' | 'denyReason'>): boolean {
  return request.status === 'denied' && request.decidedBy === request.requester && request.denyReason === WITHDRAWN;
}

/** The `step` of a request whose requester has been told how it ended. */
export const STEP_TOLD = 'told';

/**
 * Open: the bot owes the request work, or its requester an answer. Every open request is found
 * and driven on by the reconciler after a crash; a pending one waits for people instead.
 */
export function isOpen(request: Pick<ChatRequest, 'status' | 'step'>): boolean {
  if (request.status === 'pending') return false;
  return !FINAL_STATUSES.has(request.status) || request.step !== STEP_TOLD;
}

export type Risk = 'low' | 'elevated' | 'high';

/** Something about a request an approver should see. */
export interface RiskFlag {
  readonly code: 'open' | 'broad' | 'below-min-prefix' | 'private' | 'reserved' | 'long-duration' | 'user-create' | 'user-delete' | 'approve-all' | 'break-glass';
  readonly text: string;
}

export interface Approval {
  readonly by: string;
  readonly at: string;
}

export interface ChatRequest {
  readonly id: string;
  readonly cluster: string;
  readonly requester: string;
  readonly params: RequestParams;
  readonly reason?: string;
  readonly status: RequestStatus;
  readonly risk: Risk;
  readonly flags: readonly RiskFlag[];
  /** Approvals needed; 0 = applies without approval. */
  readonly quorum: number;
  readonly approvals: readonly Approval[];
  readonly decidedBy?: string;
  readonly denyReason?: string;
  /** A refused request: a command that would be accepted, without the command name (`allow 203.0.113.7 --cluster prod`). */
  readonly example?: string;
  /**
   * Slack's `trigger_id` of the command, while the request is `received`: admission claims it, so
   * a repeated delivery of the same command has one effect.
   */
  readonly trigger?: string;
  readonly breakGlass?: boolean;
  readonly createdAt: string;
  /** Pending requests expire at this time. */
  readonly expiresAt: string;
  /**
   * Slack `response_url` of the command (valid 30 minutes, 5 uses). A request's own messages on
   * it are few (progress, outcome), so uses are not counted; a refused post falls back to a DM.
   */
  readonly responseUrl?: string;
  /** Where the command was typed. */
  readonly channel?: string;
  /** The approvers' card, once posted. */
  readonly card?: { readonly channel: string; readonly ts: string };
  /** `told` once the requester has been told how the request ended. */
  readonly step?: string;
  /** One-line user-safe outcome (no secret), as prose the edges render. */
  readonly outcome?: Prose;
  readonly appliedAt?: string;
  /**
   * While the request is open (approved, applying, or ended but its requester not yet told): when
   * the reconciler drives it on if nothing has moved it by then. Set by the store on every write;
   * a worker waiting for something (allowlist propagation) sets it to when to look again.
   */
  readonly dueAt?: string;
  /** When the request began waiting for allowlist propagation (the wait's deadline counts from it). */
  readonly waitingSince?: string;
  /** Optimistic-lock counter: every update increments it. */
  readonly version: number;
}

/** An immutable audit-trail record. */
export interface RequestEvent {
  readonly requestId: string;
  readonly at: string;
  readonly actor: string;
  readonly type:
    | 'created'
    | 'approval'
    | 'approved'
    | 'denied'
    | 'expired'
    | 'break-glass'
    | 'applying'
    | 'applied'
    | 'failed'
    | 'rolled-back'
    | 'refused'
    // The audit's, on the cluster's trail (`auditTrailId`) and on the trail of the request that made the subject, if any:
    /** The expiry sweep removed an expired entry or dropped an expired user. */
    | 'swept'
    /** An approver's Remove applied the fix of a finding. */
    | 'removed'
    /** An approver's Keep acknowledged a finding. */
    | 'kept'
    /** An approver's Retry drove on a request that did not finish. */
    | 'retried';
  readonly detail?: string;
}

/** The audit trail of a cluster's audit actions (events not tied to one request). */
export function auditTrailId(cluster: string): string {
  return `audit:${cluster}`;
}

/** An allowlist entry the bot applied: who asked, when it expires. */
export interface ManagedEntry {
  readonly cluster: string;
  readonly cidr: Cidr;
  readonly requestId: string;
  readonly requester: string;
  readonly sql: boolean;
  readonly ui: boolean;
  readonly label?: string;
  readonly createdAt: string;
  readonly expiresAt?: string;
  /**
   * The same requester's record this one replaced (a CIDR allowed again, e.g. to extend it): what a
   * failed re-allow puts back, so it never removes the entry an earlier, applied request made.
   */
  readonly previous?: Omit<ManagedEntry, 'previous'>;
}

/** A SQL user the bot created: owner and where its password lives. */
export interface ManagedUser {
  readonly cluster: string;
  readonly user: string;
  readonly owner: string;
  readonly secretName: string;
  readonly database: string;
  readonly requestId: string;
  readonly createdAt: string;
  readonly expiresAt?: string;
}

/** A DM that carries a password, to delete after the TTL. */
export interface DmReceipt {
  readonly channel: string;
  readonly ts: string;
  readonly user: string;
  readonly deleteAfter: string;
  /** The cluster whose password it carries (receipts written before it was recorded have none). */
  readonly cluster?: string;
}

/**
 * An approver's Keep on an audit finding. The fingerprint covers the finding and the state it
 * describes, so a kept finding comes back as soon as that state changes.
 */
export interface AuditAck {
  readonly cluster: string;
  readonly fingerprint: string;
  /** The finding's rule and subject when it was kept, for people reading the table. */
  readonly rule: string;
  readonly subject: string;
  readonly by: string;
  readonly at: string;
}
