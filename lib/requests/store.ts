/**
 * The state port: requests, their immutable events, idempotency keys, managed entries and users,
 * and DM receipts. `DynamoRequestStore` implements it on one DynamoDB table.
 *
 * Every state change is conditional, so two approvers clicking at once, a Slack retry and an SQS
 * redelivery each have exactly one effect.
 *
 * Outcomes the port defines (a refused transition, a duplicate approval, a claimed key) are values;
 * failures of the store itself are thrown as `StateStoreError`s (`./errors`), whose `retryable`
 * says whether trying again later may help.
 */
import {
  type Approval,
  type AuditAck,
  type ChatRequest,
  type DmReceipt,
  type ManagedEntry,
  type ManagedUser,
  type RequestEvent,
  type RequestStatus,
} from './types';
import { type SlotClaims } from '../cluster-admin/cloud/pacer';
import { type LinkStore } from '../links/types';

/**
 * Fields a transition may set (never id, cluster, requester, params, createdAt). A field present with
 * the value `undefined` is removed (`step`, `outcome`, `card`, ...); for the required fields
 * (`status`, `approvals`, `quorum`, `expiresAt`) `undefined` means "unchanged".
 */
export type RequestChanges = Partial<
  Pick<
    ChatRequest,
    | 'status'
    | 'approvals'
    | 'decidedBy'
    | 'denyReason'
    | 'card'
    | 'step'
    | 'outcome'
    | 'appliedAt'
    | 'quorum'
    | 'expiresAt'
    | 'dueAt'
    | 'waitingSince'
    | 'example'
  >
>;

/**
 * Items a transition puts with its change, in the same transaction. Each put replaces what is
 * stored under its key, as `putManagedUser`, `putManagedEntry` and `putDmReceipt` do.
 */
/**
 * Records written with a transition. They never take over someone else's: a managed entry is
 * written only where none exists or the same requester holds it, a managed user only where none
 * exists or the same request holds it; otherwise the transition throws `RecordHeldError` and
 * writes nothing.
 */
export interface TransitionPuts {
  readonly managedUser?: ManagedUser;
  readonly managedEntry?: ManagedEntry;
  readonly dmReceipts?: readonly DmReceipt[];
}

/** Items a transition deletes with its change, in the same transaction (a missing item is no error). */
export interface TransitionDeletes {
  readonly managedUser?: { readonly cluster: string; readonly user: string };
  readonly managedEntry?: { readonly cluster: string; readonly cidr: string };
}

/**
 * Conditions a transition holds to, written in its transaction (one round trip instead of three):
 * each is `claimIdempotencyKey` or `takeRateToken` with the request's transition. When one does
 * not hold, nothing is written and the transition throws `GuardFailedError` naming it.
 */
export interface TransitionGuards {
  /** Claims `key` for this request (free, expired, or already this request's). */
  readonly claim?: { readonly key: string; readonly ttlSeconds: number };
  /** Takes one of `limit` tokens of the fixed window of `windowMs` now falls in, for `key`. */
  readonly rateToken?: { readonly key: string; readonly limit: number; readonly windowMs: number };
}

export interface TransitionOptions {
  /** The write happens only if the stored status is one of these. */
  readonly from: readonly RequestStatus[];
  readonly changes: RequestChanges;
  /** Written atomically with the change (same transaction). */
  readonly event?: RequestEvent;
  /** More events written atomically with the change (e.g. `created` and `break-glass` at admission). */
  readonly moreEvents?: readonly RequestEvent[];
  /** Also require this version (optimistic lock); default: only the status condition. */
  readonly expectedVersion?: number;
  /**
   * Written atomically with the change: the records a step makes as it starts or ends (a managed
   * user or entry, DM receipts), so that it costs one write, not several. A refused transition
   * writes none of them.
   */
  readonly alsoPut?: TransitionPuts;
  /** Deleted atomically with the change; a refused transition deletes none of them. */
  readonly alsoDelete?: TransitionDeletes;
  /** Held atomically with the change (see `TransitionGuards`). */
  readonly guards?: TransitionGuards;
}

export type TransitionResult =
  /** `request` is exactly what was written (version incremented). */
  | { readonly ok: true; readonly request: ChatRequest }
  /** The condition failed: `current` is what is stored now (undefined if the request is gone). */
  | { readonly ok: false; readonly current: ChatRequest | undefined };

export type ApprovalResult =
  /** Counted; `request.status` is `approved` once the quorum is reached. */
  | { readonly outcome: 'counted'; readonly request: ChatRequest; readonly reachedQuorum: boolean }
  | { readonly outcome: 'duplicate'; readonly request: ChatRequest }
  | { readonly outcome: 'not-pending'; readonly request: ChatRequest | undefined };

export interface RequestStore extends SlotClaims, LinkStore {
  /**
   * Takes one token of `key`'s current fixed window of `windowMs` when fewer than `limit` were
   * taken in it; false when none is left.
   */
  takeRateToken(key: string, limit: number, windowMs: number): Promise<boolean>;
  /**
   * Claims an idempotency key (a Slack `trigger_id`, an SQS message id) for `requestId`, for
   * `ttlSeconds`. Returns the request id that already holds it when someone claimed it first (even
   * if that is `requestId` itself). A key past its TTL counts as unclaimed, deleted or not.
   */
  claimIdempotencyKey(key: string, requestId: string, ttlSeconds: number): Promise<{ claimed: true } | { claimed: false; requestId: string }>;
  /** The request id holding `key`, or undefined when it is unclaimed (or its claim expired). Strongly consistent. */
  idempotencyKeyHolder(key: string): Promise<string | undefined>;

  /**
   * The ack's one write: stores a `received` request with one conditional put (no transaction, no
   * event; admission writes its `created` event). Nothing else is read or written.
   * @throws RequestExistsError when a request with the same id exists (nothing is written).
   */
  receiveRequest(request: ChatRequest): Promise<void>;
  /**
   * Creates the request and its `created` event atomically.
   * @throws RequestExistsError when a request with the same id exists (nothing is written).
   */
  createRequest(request: ChatRequest, event: RequestEvent): Promise<void>;
  getRequest(id: string): Promise<ChatRequest | undefined>;
  /**
   * Conditional change: applies `changes` only if the stored status is in `from` (and the version
   * is `expectedVersion`, when given); increments `version`; writes `event`, `alsoPut` and
   * `alsoDelete` in the same transaction. A refused transition writes nothing, its event and
   * other items included.
   * @throws StateStoreInvalidError when `alsoPut` and `alsoDelete` name the same item.
   */
  transition(id: string, options: TransitionOptions): Promise<TransitionResult>;
  /**
   * Adds an approval while the request is pending, once per approver, and moves it to `approved`
   * (with `decidedBy` = the approver who completed the quorum, and an `approved` event in the same
   * transaction) when `quorum` approvals are in. Safe under concurrent approvers (optimistic
   * retries): exactly `quorum` approvals are ever counted. A pending request whose `expiresAt` has
   * passed counts as not pending (the expiry sweep has not reached it yet).
   */
  addApproval(id: string, approval: Approval): Promise<ApprovalResult>;

  /** Appends an immutable event (never overwrites one). */
  appendEvent(event: RequestEvent): Promise<void>;
  /** Oldest first. */
  listEvents(requestId: string): Promise<RequestEvent[]>;
  /** Newest first, at most `limit` (default 20). */
  listByRequester(requester: string, limit?: number): Promise<ChatRequest[]>;
  /** Every pending request, oldest first. */
  listPending(): Promise<ChatRequest[]>;
  /**
   * Open requests (see `isOpen`) whose `dueAt` is at or before `now`: the ones nothing has moved
   * on for a while, which the reconciler drives. Oldest due first, at most `limit`.
   */
  listDue(now: Date, limit?: number): Promise<ChatRequest[]>;
  /**
   * Every open request, read from the table itself (a full scan, consistent), not from an index:
   * for local mode's start, where a process killed in the middle of a write may have left the
   * emulator's index behind its item. The table is small there; on AWS nothing calls it.
   */
  scanOpen(): Promise<ChatRequest[]>;
  /** Pending requests whose `expiresAt` is at or before `now`, earliest expiry first. */
  listExpiredPending(now: Date): Promise<ChatRequest[]>;

  putManagedEntry(entry: ManagedEntry): Promise<void>;
  getManagedEntry(cluster: string, cidr: string): Promise<ManagedEntry | undefined>;
  deleteManagedEntry(cluster: string, cidr: string): Promise<void>;
  listManagedEntries(cluster: string): Promise<ManagedEntry[]>;
  /** Temporary entries (any cluster) whose `expiresAt` is at or before `now`. */
  listExpiredEntries(now: Date): Promise<ManagedEntry[]>;

  putManagedUser(user: ManagedUser): Promise<void>;
  getManagedUser(cluster: string, user: string): Promise<ManagedUser | undefined>;
  deleteManagedUser(cluster: string, user: string): Promise<void>;
  listManagedUsers(cluster: string): Promise<ManagedUser[]>;
  /** Temporary users (any cluster) whose `expiresAt` is at or before `now`. */
  listExpiredUsers(now: Date): Promise<ManagedUser[]>;

  putDmReceipt(receipt: DmReceipt): Promise<void>;
  /** Receipts whose `deleteAfter` is at or before `now`. */
  listDueDmReceipts(now: Date): Promise<DmReceipt[]>;
  deleteDmReceipt(channel: string, ts: string): Promise<void>;

  /** Records a Keep; a second Keep of the same fingerprint overwrites the first. */
  putAuditAck(ack: AuditAck): Promise<void>;
  listAuditAcks(cluster: string): Promise<AuditAck[]>;
  deleteAuditAck(cluster: string, fingerprint: string): Promise<void>;
}
