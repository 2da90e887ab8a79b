/**
 * `RequestStore` on one DynamoDB table (single-table design), through the AWS SDK v3 document client.
 *
 * ## Items
 *
 * | entity        | pk                       | sk                          | gsi1pk / gsi1sk (sparse)                          | gsi2pk / gsi2sk                      |
 * |---------------|--------------------------|-----------------------------|---------------------------------------------------|--------------------------------------|
 * | request       | `REQ#<id>`               | `REQUEST`                   | `PENDING` / `<expiresAt>#<id>`, while pending     | `REQUESTER#<requester>` / `<createdAt>#<id>` |
 * | event         | `REQ#<requestId>`        | `EVENT#<at>#<tiebreak>`     |                                                   |                                      |
 * | idempotency   | `IDEMPOTENCY#<key>`      | `IDEMPOTENCY`               |                                                   |                                      |
 * | managed entry | `CLUSTER#<cluster>`      | `ENTRY#<cidr>`              | `EXPIRING#ENTRY` / `<expiresAt>#<cluster>#<cidr>`, if temporary |                        |
 * | managed user  | `CLUSTER#<cluster>`      | `USER#<user>`               | `EXPIRING#USER` / `<expiresAt>#<cluster>#<user>`, if temporary  |                        |
 * | DM receipt    | `DM#<channel>#<ts>`      | `DM`                        | `DM#DUE` / `<deleteAfter>#<channel>#<ts>`         |                                      |
 * | audit ack     | `CLUSTER#<cluster>`      | `ACK#<fingerprint>`         |                                                   |                                      |
 * | send slot     | `PACE#<keyId>`           | `SLOT#<slot>`               | (TTL: an hour after the claim)                    |                                      |
 *
 * Every item also has `entity` (the first column), and the domain object's fields as top-level
 * attributes (so conditions can name them: `status`, `version`). Timestamps in
 * sort keys are normalised ISO-8601 UTC with milliseconds, so string order is time order.
 *
 * Access patterns:
 * - a request and its events: one item collection (`pk = REQ#<id>`); events sort by time;
 * - pending requests, oldest or by expiry: `gsi1pk = PENDING` (the key is removed when the request
 *   leaves `pending`, so the index holds only pending requests);
 * - temporary entries/users and DM receipts due at `now`: `gsi1pk = <kind>, gsi1sk < "<now>$"`
 *   (`$` sorts right after the `#` separator, so every key at or before `now` is included);
 * - a requester's requests, newest first: `gsi2`, descending;
 * - entries, users and audit acknowledgements of a cluster: `pk = CLUSTER#<cluster>, begins_with(sk, ENTRY#|USER#|ACK#)`.
 *
 * The `PENDING`, `EXPIRING#*` and `DM#DUE` index partitions are single hot keys by design: they hold
 * only what is pending or temporary (tens to hundreds of items), far below a partition's limits.
 * Index reads are eventually consistent; the sweeps that use them re-check state with conditional
 * writes, so a lagging index can delay an expiry by a few hundred milliseconds, never double it.
 *
 * Idempotency keys carry `ttl` (epoch seconds), the table's TTL attribute. DynamoDB deletes expired
 * items eventually (typically within days), so a key past its `ttl` counts as unclaimed here.
 *
 * ## Consistency
 *
 * Every state change is conditional. Request changes read the item (strongly consistent), check the
 * port's preconditions on it, and write conditionally on the `version` read (plus the status
 * condition), together with their event and the records written with them (`alsoPut`,
 * `alsoDelete`: a managed user or entry, DM receipts) in one `TransactWriteItems`. A write that loses a race is
 * re-read and re-decided, a bounded number of times with jittered backoff. So the result a caller
 * gets is exactly what was written, and a refused change writes nothing, its event included.
 *
 * Nothing secret is stored: the port never receives a password, and `responseUrl` is a short-lived
 * Slack URL that only the bot's own requests carry.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { countApproval, mayMove } from './lifecycle';
import { GSI1, GSI2, TTL_ATTRIBUTE } from './table-layout';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, ScanCommand, type QueryCommandInput, TransactWriteCommand, type TransactWriteCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AllowMeLink, type UseLinkResult } from '../links/types';
import { type Logger, silentLogger } from '../log';
import { RequestExistsError, GuardFailedError, RecordHeldError, StateStoreBackendError, StateStoreContentionError, type StateStoreError, StateStoreInvalidError } from './errors';
import { type ApprovalResult, type RequestChanges, type RequestStore, type TransitionDeletes, type TransitionGuards, type TransitionOptions, type TransitionPuts, type TransitionResult } from './store';
import { type Approval, type AuditAck, type ChatRequest, type DmReceipt, isOpen, type ManagedEntry, type ManagedUser, type RequestEvent, type RequestStatus } from './types';


type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

// ---------------------------------------------------------------------------------------------
// Table definition: a leaf module (table-layout.ts), so the CDK stack reads it without the store.

export { GSI1, GSI2, type StateTableDefinition, tableDefinition, TTL_ATTRIBUTE } from './table-layout';

// ---------------------------------------------------------------------------------------------
// The client (./dynamo/client.ts), provisioning (./dynamo/provision.ts) and error mapping
// (./dynamo/errors.ts) live beside the store; re-exported for its callers.

import { createDocumentClient, type DynamoClientOptions } from './dynamo/client';
import { ensureTable, type EnsureTableOptions } from './dynamo/provision';
import { translateError } from './dynamo/errors';
import { storedOutcome } from './dynamo/stored-outcome';

export { createDocumentClient, type DynamoClientOptions, ensureTable, type EnsureTableOptions, translateError };

// ---------------------------------------------------------------------------------------------
// Item shapes

type Entity = 'request' | 'event' | 'idempotency' | 'entry' | 'user' | 'dm' | 'ack' | 'pace' | 'link';
type Item = Record<string, unknown>;

/** Attributes of the table layout, never part of a domain object. */
const LAYOUT_ATTRIBUTES = new Set(['pk', 'sk', 'entity', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', TTL_ATTRIBUTE]);

const REQUEST_SK = 'REQUEST';
const EVENT_PREFIX = 'EVENT#';
const PENDING_PK = 'PENDING';
/** Open requests (approved, applying, ended but not told), keyed by when they are due for the reconciler. */
const OPEN_PK = 'OPEN';
const EXPIRING_ENTRY_PK = 'EXPIRING#ENTRY';
const EXPIRING_USER_PK = 'EXPIRING#USER';
const DM_DUE_PK = 'DM#DUE';

const requestPk = (id: string): string => `REQ#${id}`;
const clusterPk = (cluster: string): string => `CLUSTER#${cluster}`;
const entrySk = (cidr: string): string => `ENTRY#${cidr}`;
const userSk = (user: string): string => `USER#${user}`;
const ackSk = (fingerprint: string): string => `ACK#${fingerprint}`;
const dmPk = (channel: string, ts: string): string => `DM#${channel}#${ts}`;
const idempotencyPk = (key: string): string => `IDEMPOTENCY#${key}`;

/** Fields a transition may change, and which of them are required (so never removed). */
const CHANGEABLE_FIELDS: ReadonlySet<keyof RequestChanges> = new Set<keyof RequestChanges>([
  'status',
  'approvals',
  'decidedBy',
  'denyReason',
  'card',
  'step',
  'outcome',
  'appliedAt',
  'quorum',
  'expiresAt',
  'dueAt',
  'waitingSince',
]);
/**
 * A request's outcome is stored as prose under its own attribute. Versions before 0.1 stored
 * Slack mrkdwn under `outcome`: still read (lib/requests/dynamo/stored-outcome.ts), and removed
 * when an outcome is written. An earlier version, rolled back to, finds no `outcome` on requests
 * this one ended and shows their status without it, instead of misreading the new format.
 */
const OUTCOME_ATTRIBUTE = 'outcomeProse';
const LEGACY_OUTCOME_ATTRIBUTE = 'outcome';
const REQUIRED_FIELDS: ReadonlySet<keyof RequestChanges> = new Set<keyof RequestChanges>(['status', 'approvals', 'quorum', 'expiresAt']);

// ---------------------------------------------------------------------------------------------
// The store

export interface DynamoRequestStoreOptions {
  /** A ready document client (shared, or configured elsewhere), or options to build one. */
  readonly client?: DynamoDBDocumentClient | DynamoClientOptions;
  readonly tableName: string;
  /** The clock: idempotency-key expiry and approval of expired requests. Default: the system clock. */
  readonly now?: () => Date;
  readonly logger?: Logger;
  /** Tries of one optimistic update (read, decide, conditional write) before giving up. Default 10. */
  readonly maxOptimisticAttempts?: number;
  /** An open request nothing has moved for this long is due for the reconciler. Default 60 s. */
  readonly reconcileAfterMs?: number;
}

/** The port's operations, as named in log lines and messages. */
type Operation =
  | 'write link'
  | 'read link'
  | 'use link'
  | 'take rate token'
  | 'claim send slot'
  | 'claim idempotency key'
  | 'read idempotency key'
  | 'receive request'
  | 'create request'
  | 'read request'
  | 'change request'
  | 'add approval'
  | 'append event'
  | 'list events'
  | 'list requests'
  | 'write managed entry'
  | 'read managed entry'
  | 'delete managed entry'
  | 'list managed entries'
  | 'write managed user'
  | 'read managed user'
  | 'delete managed user'
  | 'list managed users'
  | 'write DM receipt'
  | 'list DM receipts'
  | 'delete DM receipt'
  | 'write audit acknowledgement'
  | 'list audit acknowledgements'
  | 'delete audit acknowledgement'
  | 'ensure table';

/** Pages of one query; the cap only stops a server that keeps answering with a LastEvaluatedKey. */
const MAX_QUERY_PAGES = 1_000;
const DEFAULT_REQUESTER_LIMIT = 20;

type Attempt<T> = { readonly done: T } | 'retry';

export class DynamoRequestStore implements RequestStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly ownsClient: boolean;
  private readonly tableName: string;
  private readonly now: () => Date;
  private readonly logger: Logger;
  private readonly maxOptimisticAttempts: number;
  private readonly reconcileAfterMs: number;

  constructor({ client, tableName, now = () => new Date(), logger = silentLogger(), maxOptimisticAttempts = 10, reconcileAfterMs = 60_000 }: DynamoRequestStoreOptions) {
    this.reconcileAfterMs = reconcileAfterMs;
    this.ownsClient = !(client instanceof DynamoDBDocumentClient);
    this.client = client instanceof DynamoDBDocumentClient ? client : createDocumentClient(client);
    this.tableName = tableName;
    this.now = now;
    this.logger = logger;
    this.maxOptimisticAttempts = Math.max(1, maxOptimisticAttempts);
  }

  /** Creates the table if it is missing (local mode, tests); see {@link ensureTable}. */
  ensureTable(options: Omit<EnsureTableOptions, 'client' | 'tableName'> = {}): Promise<{ created: boolean }> {
    return ensureTable({ client: this.client, tableName: this.tableName, logger: this.logger, ...options });
  }

  /** Releases the HTTP connections of a client this store created (a client passed in is the caller's). */
  close(): void {
    if (this.ownsClient) this.client.destroy();
  }

  // -- idempotency --------------------------------------------------------------------------

  /**
   * Claims Cloud API send slot `slot` of the key `keyId` (`SharedSlotPacer`): one conditional put,
   * true for the one caller that wrote it. Slot items expire by TTL an hour later.
   */
  async claimSendSlot(keyId: string, slot: number): Promise<boolean> {
    if (!/^[0-9a-f]{8,64}$/.test(keyId) || !Number.isSafeInteger(slot) || slot < 0) throw new StateStoreInvalidError('A send slot needs a hex key id and a non-negative whole slot number.');
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: `PACE#${keyId}`, sk: `SLOT#${slot}`, entity: 'pace', [TTL_ATTRIBUTE]: Math.floor(this.now().getTime() / 1000) + 3600 },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw this.translate(error, 'claim send slot', keyId);
    }
  }

  async putLink(link: AllowMeLink): Promise<void> {
    const id = linkId(link.id);
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          // Kept a day past its expiry, so a late visit says "expired" rather than "unknown".
          Item: { ...link, pk: `LINK#${id}`, sk: 'LINK', entity: 'link', [TTL_ATTRIBUTE]: Math.floor(Date.parse(link.expiresAt) / 1000) + 86_400 },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      throw this.translate(error, 'write link', id);
    }
  }

  async getLink(id: string): Promise<AllowMeLink | undefined> {
    const item = await this.get({ pk: `LINK#${linkId(id)}`, sk: 'LINK' }, 'read link', id);
    return item === undefined ? undefined : toDomain<AllowMeLink>(item, 'link');
  }

  async useLink(id: string, { address, at }: { readonly address: string; readonly at: Date }): Promise<UseLinkResult> {
    try {
      const output = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `LINK#${linkId(id)}`, sk: 'LINK' },
          UpdateExpression: 'SET usedAt = :at, usedFrom = :address',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(usedAt) AND expiresAt > :at',
          ExpressionAttributeValues: { ':at': at.toISOString(), ':address': address },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { ok: true, link: toDomain<AllowMeLink>(output.Attributes ?? {}, 'link') };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { ok: false, link: await this.getLink(id) };
      throw this.translate(error, 'use link', id);
    }
  }

  async setLinkRequest(id: string, requestId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `LINK#${linkId(id)}`, sk: 'LINK' },
          UpdateExpression: 'SET requestId = :requestId',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':requestId': requestId },
        }),
      );
    } catch (error) {
      throw this.translate(error, 'use link', id);
    }
  }

  async claimIdempotencyKey(key: string, requestId: string, ttlSeconds: number): Promise<{ claimed: true } | { claimed: false; requestId: string }> {
    if (key === '') throw new StateStoreInvalidError('An idempotency key must not be empty.');
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new StateStoreInvalidError(`An idempotency key's TTL must be a positive number of seconds, not ${ttlSeconds}.`);
    const pk = idempotencyPk(key);
    // A key can vanish between a failed claim and the read (TTL deletion): then claim again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const nowSeconds = Math.floor(this.now().getTime() / 1000);
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { pk, sk: 'IDEMPOTENCY', entity: 'idempotency', requestId, claimedAt: this.now().toISOString(), [TTL_ATTRIBUTE]: nowSeconds + ttlSeconds },
            // DynamoDB deletes expired items late; until then an expired key is free to claim.
            ConditionExpression: 'attribute_not_exists(pk) OR #ttl <= :now',
            ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: { ':now': nowSeconds },
          }),
        );
        return { claimed: true };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw this.translate(error, 'claim idempotency key', key);
      }
      const holder = await this.get({ pk, sk: 'IDEMPOTENCY' }, 'claim idempotency key', key);
      const expiry = holder?.[TTL_ATTRIBUTE];
      if (holder !== undefined && typeof holder.requestId === 'string' && typeof expiry === 'number' && expiry > nowSeconds) {
        return { claimed: false, requestId: holder.requestId };
      }
    }
    throw this.logged(new StateStoreContentionError(`Could not claim idempotency key ${key}: it kept changing; try again.`), 'claim idempotency key', key);
  }

  async idempotencyKeyHolder(key: string): Promise<string | undefined> {
    if (key === '') throw new StateStoreInvalidError('An idempotency key must not be empty.');
    const holder = await this.get({ pk: idempotencyPk(key), sk: 'IDEMPOTENCY' }, 'read idempotency key', key);
    const expiry = holder?.[TTL_ATTRIBUTE];
    const nowSeconds = Math.floor(this.now().getTime() / 1000);
    return holder !== undefined && typeof holder.requestId === 'string' && typeof expiry === 'number' && expiry > nowSeconds ? holder.requestId : undefined;
  }

  // -- requests -----------------------------------------------------------------------------

  async receiveRequest(request: ChatRequest): Promise<void> {
    try {
      await this.client.send(new PutCommand({ TableName: this.tableName, Item: this.requestItem(request), ConditionExpression: 'attribute_not_exists(pk)' }));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw this.logged(new RequestExistsError(`Request ${request.id} already exists.`, { cause: error }), 'receive request', request.id);
      throw this.translate(error, 'receive request', request.id);
    }
  }

  async createRequest(request: ChatRequest, event: RequestEvent): Promise<void> {
    if (event.requestId !== request.id) throw new StateStoreInvalidError(`The created event names request ${event.requestId}, not ${request.id}.`);
    const input: TransactWriteCommandInput = {
      TransactItems: [
        { Put: { TableName: this.tableName, Item: this.requestItem(request), ConditionExpression: 'attribute_not_exists(pk)' } },
        { Put: this.eventPut(event) },
      ],
    };
    try {
      await this.client.send(new TransactWriteCommand(input));
    } catch (error) {
      if (conditionFailedAt(error, 0)) throw this.logged(new RequestExistsError(`Request ${request.id} already exists.`, { cause: error }), 'create request', request.id);
      throw this.translate(error, 'create request', request.id);
    }
    this.logger.debug({ requestId: request.id, operation: 'create request' }, 'request created');
  }

  async getRequest(id: string): Promise<ChatRequest | undefined> {
    const item = await this.get({ pk: requestPk(id), sk: REQUEST_SK }, 'read request', id);
    return item === undefined ? undefined : requestFromItem(item);
  }

  async transition(id: string, { from, changes, event, moreEvents = [], expectedVersion, alsoPut, alsoDelete, guards = {} }: TransitionOptions): Promise<TransitionResult> {
    if (from.length === 0) throw new StateStoreInvalidError(`A transition of request ${id} needs at least one status to move from.`);
    const to = changes.status;
    const illegal = to === undefined ? undefined : from.find((f) => f !== to && !mayMove(f, to));
    if (illegal !== undefined) throw new StateStoreInvalidError(`A request may not move from ${illegal} to ${String(to)} (request ${id}).`);
    for (const e of [...(event ? [event] : []), ...moreEvents]) {
      if (e.requestId !== id) throw new StateStoreInvalidError(`The event names request ${e.requestId}, not ${id}.`);
    }
    const also = [...this.alsoItems(id, alsoPut, alsoDelete), ...moreEvents.map((e) => ({ Put: this.eventPut(e) }))];
    return this.optimistic<TransitionResult>('change request', id, async () => {
      const current = await this.getRequest(id);
      if (current === undefined || !from.includes(current.status) || (expectedVersion !== undefined && current.version !== expectedVersion)) {
        return { done: { ok: false, current } };
      }
      const guarded = this.guardItems(id, guards);
      let written: ChatRequest | undefined;
      try {
        written = await this.writeChanges(current, changes, event, from, [...also, ...guarded.map((g) => g.item)]);
      } catch (error) {
        throw await this.guardFailure(error, guarded, also.length + (event === undefined ? 1 : 2));
      }
      return written === undefined ? 'retry' : { done: { ok: true, request: written } };
    });
  }

  /** A transition's guards as transaction items (rebuilt per attempt: they read the clock). */
  private guardItems(id: string, { claim, rateToken }: TransitionGuards): { guard: 'claim' | 'rate-token'; key: string; item: TransactItem }[] {
    const nowMs = this.now().getTime();
    const nowSeconds = Math.floor(nowMs / 1000);
    const items: { guard: 'claim' | 'rate-token'; key: string; item: TransactItem }[] = [];
    if (claim !== undefined) {
      if (claim.key === '') throw new StateStoreInvalidError('An idempotency key must not be empty.');
      items.push({
        guard: 'claim',
        key: claim.key,
        item: {
          Put: {
            TableName: this.tableName,
            Item: { pk: idempotencyPk(claim.key), sk: 'IDEMPOTENCY', entity: 'idempotency', requestId: id, claimedAt: new Date(nowMs).toISOString(), [TTL_ATTRIBUTE]: nowSeconds + claim.ttlSeconds },
            // As `claimIdempotencyKey`, and a claim this request already holds holds again.
            ConditionExpression: 'attribute_not_exists(pk) OR #ttl <= :now OR requestId = :id',
            ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: { ':now': nowSeconds, ':id': id },
          },
        },
      });
    }
    if (rateToken !== undefined) items.push({ guard: 'rate-token', key: rateToken.key, item: { Update: this.rateTokenUpdate(rateToken, nowMs) } });
    return items;
  }

  /** One token of `key`'s fixed window (`windowMs`), while fewer than `limit` were taken in it. */
  private rateTokenUpdate(rateToken: { readonly key: string; readonly limit: number; readonly windowMs: number }, nowMs: number) {
    if (rateToken.key === '') throw new StateStoreInvalidError('A rate-limit key must not be empty.');
    const windowStart = Math.floor(nowMs / rateToken.windowMs) * rateToken.windowMs;
    return {
      TableName: this.tableName,
      Key: { pk: `RATE#${rateToken.key}`, sk: `WINDOW#${windowStart}` },
      UpdateExpression: 'ADD #count :one SET entity = :entity, #ttl = :ttl',
      ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
      ExpressionAttributeNames: { '#count': 'count', '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':one': 1, ':limit': rateToken.limit, ':entity': 'rate', ':ttl': Math.ceil((windowStart + 2 * rateToken.windowMs) / 1000) },
    };
  }

  async takeRateToken(key: string, limit: number, windowMs: number): Promise<boolean> {
    try {
      await this.client.send(new UpdateCommand(this.rateTokenUpdate({ key, limit, windowMs }, this.now().getTime())));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw this.translate(error, 'take rate token', key);
    }
  }

  /** The `GuardFailedError` a cancelled transaction means, when a guard's condition failed; else the error itself. */
  private async guardFailure(error: unknown, guarded: readonly { guard: 'claim' | 'rate-token'; key: string }[], firstGuard: number): Promise<unknown> {
    const failed = guarded.findIndex((_, i) => conditionFailedAt(error, firstGuard + i) && !conditionFailedAt(error, 0));
    const guard = guarded[failed];
    if (guard === undefined) return error;
    if (guard.guard === 'rate-token') return new GuardFailedError('rate-token', `No rate-limit token left for ${guard.key}.`);
    const holder = await this.idempotencyKeyHolder(guard.key);
    return new GuardFailedError('claim', `Idempotency key ${guard.key} is held by request ${holder ?? '(unknown)'}.`, holder);
  }

  async addApproval(id: string, approval: Approval): Promise<ApprovalResult> {
    return this.optimistic<ApprovalResult>('add approval', id, async () => {
      const current = await this.getRequest(id);
      const count = current === undefined ? ({ outcome: 'not-pending' } as const) : countApproval(current, approval, this.now());
      if (current === undefined || count.outcome === 'not-pending') return { done: { outcome: 'not-pending', request: current } };
      if (count.outcome === 'duplicate') return { done: { outcome: 'duplicate', request: current } };
      const written = await this.writeChanges(current, count.changes, count.event, ['pending']);
      return written === undefined ? 'retry' : { done: { outcome: 'counted', request: written, reachedQuorum: count.reachedQuorum } };
    });
  }

  // -- events -------------------------------------------------------------------------------

  async appendEvent(event: RequestEvent): Promise<void> {
    try {
      await this.client.send(new PutCommand(this.eventPut(event)));
    } catch (error) {
      throw this.translate(error, 'append event', event.requestId);
    }
  }

  async listEvents(requestId: string): Promise<RequestEvent[]> {
    const items = await this.queryAll(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': requestPk(requestId), ':prefix': EVENT_PREFIX },
        ConsistentRead: true,
      },
      'list events',
      requestId,
    );
    return items.map((item) => toDomain<RequestEvent>(item, 'event'));
  }

  // -- request listings ---------------------------------------------------------------------

  async listByRequester(requester: string, limit = DEFAULT_REQUESTER_LIMIT): Promise<ChatRequest[]> {
    if (!Number.isInteger(limit) || limit <= 0) return [];
    const items = await this.queryAll(
      {
        IndexName: GSI2,
        KeyConditionExpression: 'gsi2pk = :pk',
        ExpressionAttributeValues: { ':pk': `REQUESTER#${requester}` },
        ScanIndexForward: false,
        Limit: limit,
      },
      'list requests',
      requester,
      limit,
    );
    return items.map((item) => requestFromItem(item));
  }

  async listPending(): Promise<ChatRequest[]> {
    const requests = await this.queryPending();
    return requests.sort((a, b) => compareTimes(a.createdAt, b.createdAt) || a.id.localeCompare(b.id));
  }

  async listExpiredPending(now: Date): Promise<ChatRequest[]> {
    return this.queryPending(now);
  }

  async listDue(now: Date, limit = 100): Promise<ChatRequest[]> {
    const items = await this.queryDue(OPEN_PK, now, 'list requests');
    // The index is eventually consistent: re-check what it says against the item itself.
    return items
      .map((item) => requestFromItem(item))
      .filter((request) => isOpen(request) && request.dueAt !== undefined && Date.parse(request.dueAt) <= now.getTime())
      .slice(0, limit);
  }

  async scanOpen(): Promise<ChatRequest[]> {
    const requests: ChatRequest[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      try {
        const output = await this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: 'entity = :request',
            ExpressionAttributeValues: { ':request': 'request' },
            ConsistentRead: true,
            ...(startKey !== undefined && { ExclusiveStartKey: startKey }),
          }),
        );
        for (const item of output.Items ?? []) {
          const request = requestFromItem(item);
          if (isOpen(request)) requests.push(request);
        }
        startKey = output.LastEvaluatedKey;
      } catch (error) {
        throw this.translate(error, 'list requests', 'open (scan)');
      }
    } while (startKey !== undefined);
    return requests.sort((a, b) => (a.dueAt ?? '').localeCompare(b.dueAt ?? ''));
  }

  // -- managed entries ----------------------------------------------------------------------

  async putManagedEntry(entry: ManagedEntry): Promise<void> {
    await this.put(managedEntryItem(entry), 'write managed entry', `${entry.cluster} ${entry.cidr}`);
  }

  async getManagedEntry(cluster: string, cidr: string): Promise<ManagedEntry | undefined> {
    const item = await this.get({ pk: clusterPk(cluster), sk: entrySk(cidr) }, 'read managed entry', `${cluster} ${cidr}`);
    return item === undefined ? undefined : toDomain<ManagedEntry>(item, 'entry');
  }

  async deleteManagedEntry(cluster: string, cidr: string): Promise<void> {
    await this.delete({ pk: clusterPk(cluster), sk: entrySk(cidr) }, 'delete managed entry', `${cluster} ${cidr}`);
  }

  async listManagedEntries(cluster: string): Promise<ManagedEntry[]> {
    const items = await this.queryAll(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': clusterPk(cluster), ':prefix': entrySk('') },
        ConsistentRead: true,
      },
      'list managed entries',
      cluster,
    );
    return items.map((item) => toDomain<ManagedEntry>(item, 'entry'));
  }

  async listExpiredEntries(now: Date): Promise<ManagedEntry[]> {
    const items = await this.queryDue(EXPIRING_ENTRY_PK, now, 'list managed entries');
    return items.map((item) => toDomain<ManagedEntry>(item, 'entry'));
  }

  // -- managed users ------------------------------------------------------------------------

  async putManagedUser(user: ManagedUser): Promise<void> {
    await this.put(managedUserItem(user), 'write managed user', `${user.cluster} ${user.user}`);
  }

  async getManagedUser(cluster: string, user: string): Promise<ManagedUser | undefined> {
    const item = await this.get({ pk: clusterPk(cluster), sk: userSk(user) }, 'read managed user', `${cluster} ${user}`);
    return item === undefined ? undefined : toDomain<ManagedUser>(item, 'user');
  }

  async deleteManagedUser(cluster: string, user: string): Promise<void> {
    await this.delete({ pk: clusterPk(cluster), sk: userSk(user) }, 'delete managed user', `${cluster} ${user}`);
  }

  async listManagedUsers(cluster: string): Promise<ManagedUser[]> {
    const items = await this.queryAll(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': clusterPk(cluster), ':prefix': userSk('') },
        ConsistentRead: true,
      },
      'list managed users',
      cluster,
    );
    return items.map((item) => toDomain<ManagedUser>(item, 'user'));
  }

  async listExpiredUsers(now: Date): Promise<ManagedUser[]> {
    const items = await this.queryDue(EXPIRING_USER_PK, now, 'list managed users');
    return items.map((item) => toDomain<ManagedUser>(item, 'user'));
  }

  // -- DM receipts --------------------------------------------------------------------------

  async putDmReceipt(receipt: DmReceipt): Promise<void> {
    await this.put(dmReceiptItem(receipt), 'write DM receipt', `${receipt.channel} ${receipt.ts}`);
  }

  async listDueDmReceipts(now: Date): Promise<DmReceipt[]> {
    const items = await this.queryDue(DM_DUE_PK, now, 'list DM receipts');
    return items.map((item) => toDomain<DmReceipt>(item, 'dm'));
  }

  async deleteDmReceipt(channel: string, ts: string): Promise<void> {
    await this.delete({ pk: dmPk(channel, ts), sk: 'DM' }, 'delete DM receipt', `${channel} ${ts}`);
  }

  // -- audit acknowledgements ---------------------------------------------------------------

  async putAuditAck(ack: AuditAck): Promise<void> {
    const item: Item = { ...ack, pk: clusterPk(ack.cluster), sk: ackSk(ack.fingerprint), entity: 'ack' };
    await this.put(item, 'write audit acknowledgement', `${ack.cluster} ${ack.fingerprint}`);
  }

  async listAuditAcks(cluster: string): Promise<AuditAck[]> {
    const items = await this.queryAll(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': clusterPk(cluster), ':prefix': ackSk('') },
        ConsistentRead: true,
      },
      'list audit acknowledgements',
      cluster,
    );
    return items.map((item) => toDomain<AuditAck>(item, 'ack'));
  }

  async deleteAuditAck(cluster: string, fingerprint: string): Promise<void> {
    await this.delete({ pk: clusterPk(cluster), sk: ackSk(fingerprint) }, 'delete audit acknowledgement', `${cluster} ${fingerprint}`);
  }

  // -- request writes -----------------------------------------------------------------------

  private requestItem(request: ChatRequest): Item {
    const { outcome, ...fields } = request;
    return {
      ...fields,
      ...(outcome !== undefined ? { [OUTCOME_ATTRIBUTE]: outcome } : {}),
      pk: requestPk(request.id),
      sk: REQUEST_SK,
      entity: 'request',
      ...(request.status === 'pending' && { gsi1pk: PENDING_PK, gsi1sk: pendingSk(request.expiresAt, request.id) }),
      ...(isOpen(request) && this.openFields(request)),
      gsi2pk: `REQUESTER#${request.requester}`,
      gsi2sk: `${isoTime(request.createdAt, 'createdAt')}#${request.id}`,
    };
  }

  /** An event's immutable Put: a fresh sort key, and a condition that never overwrites. */
  private eventPut(event: RequestEvent): { TableName: string; Item: Item; ConditionExpression: string } {
    // Events of the same millisecond keep the order this process wrote them in (a monotonic clock),
    // and never collide across processes (random bits).
    const suffix = `${process.hrtime.bigint().toString(36).padStart(13, '0')}${randomBytes(4).toString('hex')}`;
    return {
      TableName: this.tableName,
      Item: { ...event, pk: requestPk(event.requestId), sk: `${EVENT_PREFIX}${isoTime(event.at, 'at')}#${suffix}`, entity: 'event' },
      ConditionExpression: 'attribute_not_exists(pk)',
    };
  }

  /**
   * The puts and deletes a transition makes with its change, as transaction items (validated once,
   * before the first attempt). Two actions of one transaction may not touch the same item.
   */
  private alsoItems(id: string, puts: TransitionPuts = {}, deletes: TransitionDeletes = {}): TransactItem[] {
    const items: Item[] = [
      ...(puts.managedUser ? [managedUserItem(puts.managedUser)] : []),
      ...(puts.managedEntry ? [managedEntryItem(puts.managedEntry)] : []),
      ...(puts.dmReceipts ?? []).map(dmReceiptItem),
    ];
    const keys: { pk: string; sk: string }[] = [
      ...(deletes.managedUser ? [{ pk: clusterPk(deletes.managedUser.cluster), sk: userSk(deletes.managedUser.user) }] : []),
      ...(deletes.managedEntry ? [{ pk: clusterPk(deletes.managedEntry.cluster), sk: entrySk(deletes.managedEntry.cidr) }] : []),
    ];
    const touched = [...items.map((item) => `${String(item.pk)} ${String(item.sk)}`), ...keys.map((key) => `${key.pk} ${key.sk}`)];
    const twice = touched.find((key, i) => touched.indexOf(key) !== i);
    if (twice !== undefined) throw new StateStoreInvalidError(`A transition of request ${id} writes ${twice} twice.`);
    return [
      ...items.map((Item): TransactItem => ({ Put: { TableName: this.tableName, Item, ...recordCondition(Item) } })),
      ...keys.map((Key): TransactItem => ({ Delete: { TableName: this.tableName, Key } })),
    ];
  }

  /**
   * Writes `changes` over `current` if the stored request is still at `current.version` (and in one
   * of `from`), with the event and the `also` items in the same transaction. Returns the request as
   * written, or undefined when the condition failed: someone else wrote first, re-read and decide again.
   */
  private async writeChanges(
    current: ChatRequest,
    changes: RequestChanges,
    event: RequestEvent | undefined,
    from: readonly RequestStatus[],
    also: readonly TransactItem[] = [],
  ): Promise<ChatRequest | undefined> {
    const set = new Map<string, unknown>();
    const remove: string[] = [];
    for (const [field, value] of Object.entries(changes) as [keyof RequestChanges, unknown][]) {
      if (!CHANGEABLE_FIELDS.has(field)) continue;
      if (value !== undefined) set.set(field, value);
      else if (!REQUIRED_FIELDS.has(field)) remove.push(field);
    }
    // An open request is due for the reconciler a while after every write, unless the writer says when.
    const opens = isOpen({ status: (set.get('status') as RequestStatus | undefined) ?? current.status, step: set.has('step') ? (set.get('step') as string) : remove.includes('step') ? undefined : current.step });
    if (opens && !set.has('dueAt')) set.set('dueAt', this.dueAfterWrite());
    if (!opens && current.dueAt !== undefined && !remove.includes('dueAt')) {
      set.delete('dueAt');
      remove.push('dueAt');
    }
    const nextFields: Record<string, unknown> = { ...current, ...Object.fromEntries(set), version: current.version + 1 };
    for (const field of remove) delete nextFields[field];
    // Only fields of RequestChanges were set, and only optional ones removed: still a ChatRequest.
    const next = nextFields as unknown as ChatRequest;

    const names: Record<string, string> = { '#status': 'status', '#version': 'version' };
    const values: Record<string, unknown> = { ':version': current.version, ':nextVersion': next.version };
    const setClauses = ['#version = :nextVersion'];
    const removeClauses: string[] = [];
    let n = 0;
    for (const [field, value] of set) {
      names[`#f${n}`] = attributeOf(field);
      values[`:f${n}`] = value;
      setClauses.push(`#f${n} = :f${n}`);
      n++;
    }
    for (const field of remove) {
      names[`#f${n}`] = attributeOf(field);
      removeClauses.push(`#f${n}`);
      n++;
    }
    // A new outcome replaces one stored in the earlier format (see OUTCOME_ATTRIBUTE).
    if ('outcome' in changes) {
      names['#legacyOutcome'] = LEGACY_OUTCOME_ATTRIBUTE;
      removeClauses.push('#legacyOutcome');
    }
    // The pending index holds exactly the pending requests, keyed by their current expiry.
    if (next.status === 'pending') {
      setClauses.push('gsi1pk = :pendingPk', 'gsi1sk = :pendingSk');
      values[':pendingPk'] = PENDING_PK;
      values[':pendingSk'] = pendingSk(next.expiresAt, next.id);
    } else if (opens) {
      const open = this.openFields(next);
      setClauses.push('gsi1pk = :openPk', 'gsi1sk = :openSk');
      values[':openPk'] = open.gsi1pk;
      values[':openSk'] = open.gsi1sk;
    } else {
      removeClauses.push('gsi1pk', 'gsi1sk');
    }
    const statuses = from.map((status, i) => {
      values[`:from${i}`] = status;
      return `:from${i}`;
    });

    const update = {
      TableName: this.tableName,
      Key: { pk: requestPk(current.id), sk: REQUEST_SK },
      UpdateExpression: `SET ${setClauses.join(', ')}${removeClauses.length > 0 ? ` REMOVE ${removeClauses.join(', ')}` : ''}`,
      ConditionExpression: `#version = :version AND #status IN (${statuses.join(', ')})`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    };
    const operation: Operation = 'change request';
    // The request's update first: a cancelled transaction names its condition at index 0.
    const items: TransactItem[] = [{ Update: update }, ...(event === undefined ? [] : [{ Put: this.eventPut(event) }]), ...also];
    try {
      if (items.length === 1) await this.client.send(new UpdateCommand(update));
      else await this.client.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      const firstRecord = items.length - also.length;
      // A managed entry's or user's condition: someone else's record (a guard's is the caller's to read).
      const held = also.findIndex((item, i) => (item.Put?.Item?.entity === 'entry' || item.Put?.Item?.entity === 'user') && conditionFailedAt(error, firstRecord + i) && !conditionFailedAt(error, 0));
      if (held !== -1) {
        const item = also[held]?.Put?.Item;
        const holder = typeof item?.requester === 'string' ? await this.recordHolder(item) : undefined;
        throw new RecordHeldError(`${item?.entity === 'entry' ? `The allowlist entry ${String(item.cidr)}` : `The SQL user ${String(item?.user)}`} on ${String(item?.cluster)} is held by someone else.`, holder);
      }
      // A guard's condition (a claim, a rate token): the caller (`transition`) says which.
      const guard = also.some((item, i) => isGuardItem(item) && conditionFailedAt(error, firstRecord + i));
      if (guard && !conditionFailedAt(error, 0)) throw error;
      if (error instanceof ConditionalCheckFailedException || isRaceCancellation(error)) return undefined;
      throw this.translate(error, operation, current.id);
    }
    return next;
  }

  /** Runs read-decide-write attempts until one is decided, with jittered exponential backoff. */
  private async optimistic<T>(operation: Operation, id: string, attempt: () => Promise<Attempt<T>>): Promise<T> {
    for (let tries = 0; tries < this.maxOptimisticAttempts; tries++) {
      const result = await attempt();
      if (result !== 'retry') return result.done;
      // Full jitter spreads concurrent approvers apart, so each round has few losers.
      const cap = Math.min(250, 10 * 2 ** tries);
      this.logger.debug({ requestId: id, operation, attempt: tries + 1 }, 'lost an optimistic write race; retrying');
      await sleep(Math.random() * cap);
    }
    throw this.logged(
      new StateStoreContentionError(`Could not ${operation} ${id}: it changed concurrently ${this.maxOptimisticAttempts} times in a row; try again.`),
      operation,
      id,
    );
  }

  /** Who holds the record a transition could not write over (for the refusal's text). */
  private async recordHolder(item: Item): Promise<string | undefined> {
    const stored = await this.get({ pk: String(item.pk), sk: String(item.sk) }, 'read managed entry', String(item.sk)).catch(() => undefined);
    return typeof stored?.requester === 'string' ? stored.requester : undefined;
  }

  // -- reads and plain writes ---------------------------------------------------------------

  private async get(key: { pk: string; sk: string }, operation: Operation, subject: string): Promise<Item | undefined> {
    try {
      const output = await this.client.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      const item: Item | undefined = output.Item;
      return item;
    } catch (error) {
      throw this.translate(error, operation, subject);
    }
  }

  private async put(item: Item, operation: Operation, subject: string): Promise<void> {
    try {
      await this.client.send(new PutCommand({ TableName: this.tableName, Item: item }));
    } catch (error) {
      throw this.translate(error, operation, subject);
    }
  }

  private async delete(key: { pk: string; sk: string }, operation: Operation, subject: string): Promise<void> {
    try {
      await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: key }));
    } catch (error) {
      throw this.translate(error, operation, subject);
    }
  }

  private async queryPending(now?: Date): Promise<ChatRequest[]> {
    const items =
      now === undefined
        ? await this.queryAll(
            { IndexName: GSI1, KeyConditionExpression: 'gsi1pk = :pk', ExpressionAttributeValues: { ':pk': PENDING_PK } },
            'list requests',
            'pending',
          )
        : await this.queryDue(PENDING_PK, now, 'list requests');
    // The index is eventually consistent: an item can linger there briefly after it left `pending`.
    return items.map((item) => requestFromItem(item)).filter((request) => request.status === 'pending');
  }

  /** The open index's key: when the request is due for the reconciler. */
  private openFields(request: ChatRequest): { gsi1pk: string; gsi1sk: string; dueAt: string } {
    const dueAt = request.dueAt ?? this.dueAfterWrite();
    return { gsi1pk: OPEN_PK, gsi1sk: `${isoTime(dueAt, 'dueAt')}#${request.id}`, dueAt };
  }

  private dueAfterWrite(): string {
    return new Date(this.now().getTime() + this.reconcileAfterMs).toISOString();
  }

  /** Items of a gsi1 partition whose time key is at or before `now`, earliest first. */
  private queryDue(partition: string, now: Date, operation: Operation): Promise<Item[]> {
    return this.queryAll(
      {
        IndexName: GSI1,
        KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk < :bound',
        ExpressionAttributeValues: { ':pk': partition, ':bound': `${now.toISOString()}$` },
      },
      operation,
      partition,
    );
  }

  /** Every page of a query (or the first `limit` items). */
  private async queryAll(input: Omit<QueryCommandInput, 'TableName'>, operation: Operation, subject: string, limit?: number): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Record<string, unknown> | undefined;
    for (let page = 0; page < MAX_QUERY_PAGES; page++) {
      try {
        const output = await this.client.send(new QueryCommand({ ...input, TableName: this.tableName, ...(startKey !== undefined && { ExclusiveStartKey: startKey }) }));
        const pageItems: Item[] = output.Items ?? [];
        items.push(...pageItems);
        startKey = output.LastEvaluatedKey;
      } catch (error) {
        throw this.translate(error, operation, subject);
      }
      if (limit !== undefined && items.length >= limit) return items.slice(0, limit);
      if (startKey === undefined) return items;
    }
    throw this.logged(new StateStoreBackendError(`Could not ${operation} ${subject}: the query did not end after ${MAX_QUERY_PAGES} pages.`), operation, subject);
  }

  // -- errors -------------------------------------------------------------------------------

  private translate(error: unknown, operation: Operation, subject: string): StateStoreError {
    return this.logged(translateError(error, operation, subject, this.tableName), operation, subject, error);
  }

  private logged(error: StateStoreError, operation: Operation, subject: string, original: unknown = error.cause): StateStoreError {
    // The SDK puts $metadata (status, request id, attempts) on service and transport errors alike.
    const metadata = (original as { $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number } } | undefined)?.$metadata;
    const level = error.code === 'already_exists' || error.code === 'invalid' ? 'info' : 'warn';
    this.logger[level](
      {
        table: this.tableName,
        operation,
        subject,
        code: error.code,
        awsError: original instanceof Error ? original.name : undefined,
        httpStatus: metadata?.httpStatusCode,
        awsRequestId: metadata?.requestId,
        attempts: metadata?.attempts,
      },
      error.message,
    );
    return error;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A stored item as its domain object: the layout attributes stripped, the entity checked. */
function toDomain<T>(item: Item, entity: Entity): T {
  if (item.entity !== entity) {
    throw new StateStoreBackendError(`Expected a ${entity} item at ${String(item.pk)} ${String(item.sk)}, found ${String(item.entity)}.`);
  }
  // The fields were written from a T by this store; only the layout attributes are extra.
  return Object.fromEntries(Object.entries(item).filter(([name]) => !LAYOUT_ATTRIBUTES.has(name))) as T;
}

/** A stored request item as a request; an outcome stored in the earlier format is read as prose. */
function requestFromItem(item: Item): ChatRequest {
  const { [OUTCOME_ATTRIBUTE]: current, [LEGACY_OUTCOME_ATTRIBUTE]: legacy, ...request } = toDomain<Record<string, unknown>>(item, 'request');
  const prose = current !== undefined ? storedOutcome(current) : storedOutcome(legacy);
  // The fields were written from a ChatRequest by this store; only the outcome is renamed.
  return { ...(request as unknown as Omit<ChatRequest, 'outcome'>), ...(prose !== undefined ? { outcome: prose } : {}) };
}

/** The attribute a request field is stored under: the same name, but for the outcome. */
function attributeOf(field: string): string {
  return field === 'outcome' ? OUTCOME_ATTRIBUTE : field;
}

/** `text` as normalised ISO-8601 UTC (string order = time order), or an invalid-argument error. */
function isoTime(text: string, field: string): string {
  const time = new Date(text);
  if (Number.isNaN(time.getTime())) throw new StateStoreInvalidError(`${field} is not a timestamp: "${text}".`);
  return time.toISOString();
}

/** The condition a transition's record put carries: it never overwrites someone else's record. */
function recordCondition(item: Item): { ConditionExpression: string; ExpressionAttributeValues: Record<string, unknown> } | Record<string, never> {
  if (item.entity === 'entry') return { ConditionExpression: 'attribute_not_exists(pk) OR requester = :holder', ExpressionAttributeValues: { ':holder': item.requester } };
  if (item.entity === 'user') return { ConditionExpression: 'attribute_not_exists(pk) OR requestId = :holder', ExpressionAttributeValues: { ':holder': item.requestId } };
  return {};
}

function managedEntryItem(entry: ManagedEntry): Item {
  return {
    ...entry,
    pk: clusterPk(entry.cluster),
    sk: entrySk(entry.cidr),
    entity: 'entry',
    ...(entry.expiresAt !== undefined && { gsi1pk: EXPIRING_ENTRY_PK, gsi1sk: `${isoTime(entry.expiresAt, 'expiresAt')}#${entry.cluster}#${entry.cidr}` }),
  };
}

function managedUserItem(user: ManagedUser): Item {
  return {
    ...user,
    pk: clusterPk(user.cluster),
    sk: userSk(user.user),
    entity: 'user',
    ...(user.expiresAt !== undefined && { gsi1pk: EXPIRING_USER_PK, gsi1sk: `${isoTime(user.expiresAt, 'expiresAt')}#${user.cluster}#${user.user}` }),
  };
}

function dmReceiptItem(receipt: DmReceipt): Item {
  return {
    ...receipt,
    pk: dmPk(receipt.channel, receipt.ts),
    sk: 'DM',
    entity: 'dm',
    gsi1pk: DM_DUE_PK,
    gsi1sk: `${isoTime(receipt.deleteAfter, 'deleteAfter')}#${receipt.channel}#${receipt.ts}`,
  };
}

function pendingSk(expiresAt: string, id: string): string {
  return `${isoTime(expiresAt, 'expiresAt')}#${id}`;
}

function compareTimes(a: string, b: string): number {
  return new Date(a).getTime() - new Date(b).getTime();
}

/** Whether a transaction failed on the condition of its action at `index`. */
/** A transaction item of a transition's guards (./store.ts `TransitionGuards`). */
function isGuardItem(item: TransactItem): boolean {
  return item.Put?.Item?.entity === 'idempotency' || item.Update?.ExpressionAttributeValues?.[':entity'] === 'rate';
}

function conditionFailedAt(error: unknown, index: number): boolean {
  return error instanceof TransactionCanceledException && error.CancellationReasons?.[index]?.Code === 'ConditionalCheckFailed';
}

/**
 * A cancelled transaction that only lost a race (a condition another writer invalidated, or a
 * conflict with a concurrent transaction on the same item): re-read and decide again.
 */
function isRaceCancellation(error: unknown): boolean {
  if (!(error instanceof TransactionCanceledException)) return false;
  const codes = (error.CancellationReasons ?? []).map((reason) => reason.Code ?? 'None').filter((code) => code !== 'None');
  return codes.length > 0 && codes.every((code) => code === 'ConditionalCheckFailed' || code === 'TransactionConflict');
}

/** A link id as issued (22 base64url characters), or an invalid-argument error. */
function linkId(id: string): string {
  if (!/^[A-Za-z0-9_-]{22}$/.test(id)) throw new StateStoreInvalidError('A link id is 22 base64url characters.');
  return id;
}
