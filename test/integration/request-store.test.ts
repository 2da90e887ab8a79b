/**
 * DynamoRequestStore with the real SDK v3 document client over HTTP to dynalite (started in global
 * setup, with transactions added by local/dynalite.ts): marshalling, conditions, transactions,
 * indexes, the SDK's retries and error parsing all run for real. Each file gets its own table.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { DeleteTableCommand, DescribeTableCommand, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  createDocumentClient,
  DynamoRequestStore,
  ensureTable,
  GSI1,
  GSI2,
  tableDefinition,
  TTL_ATTRIBUTE,
} from '../../lib/requests/dynamo-store';
import { GuardFailedError, RequestExistsError, StateStoreInvalidError, StateStoreTableNotFoundError, StateStoreUnavailableError } from '../../lib/requests/errors';
import { newRequestId } from '../../lib/requests/ids';
import { type ChatRequest, type DmReceipt, type ManagedEntry, type ManagedUser, type RequestEvent } from '../../lib/requests/types';
import { testDynamo } from '../support/env';
import { code, person, prose } from '../../lib/prose';
import { mrkdwn } from '../../lib/slack/text';

// Obviously fake credentials: dynalite only checks that requests are signed.
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };
const region = 'us-east-1';
const tableName = `crdb-chatops-test-${randomBytes(6).toString('hex')}`;
const HOUR = 3_600_000;

let endpoint: string;
let clockMs = Date.now();
const now = (): Date => new Date(clockMs);
const stores: DynamoRequestStore[] = [];
let store: DynamoRequestStore;

function newStore(overrides: { endpoint?: string; tableName?: string } = {}): DynamoRequestStore {
  const created = new DynamoRequestStore({
    client: { endpoint: overrides.endpoint ?? endpoint, region, credentials },
    tableName: overrides.tableName ?? tableName,
    now,
  });
  stores.push(created);
  return created;
}

/** A pending request; every call makes a new id. */
function chatRequest(overrides: Partial<ChatRequest> = {}): ChatRequest {
  const createdAt = overrides.createdAt ?? now().toISOString();
  return {
    id: newRequestId({ now: new Date(createdAt).getTime() }),
    cluster: 'dev',
    requester: 'U0REQUESTER',
    params: { kind: 'allow', allow: { cidr: '203.0.113.0/24', sql: true, ui: false } },
    reason: 'debugging from the office',
    status: 'pending',
    risk: 'elevated',
    flags: [{ code: 'broad', text: 'a /24 is broader than a single host' }],
    quorum: 1,
    approvals: [],
    createdAt,
    expiresAt: new Date(new Date(createdAt).getTime() + 24 * HOUR).toISOString(),
    responseUrl: 'https://hooks.slack.com/commands/T0TEST/1/fake',
    channel: 'C0COMMANDS',
    version: 1,
    ...overrides,
  };
}

function event(request: Pick<ChatRequest, 'id'>, type: RequestEvent['type'], overrides: Partial<RequestEvent> = {}): RequestEvent {
  return { requestId: request.id, at: now().toISOString(), actor: 'U0REQUESTER', type, ...overrides };
}

async function created(overrides: Partial<ChatRequest> = {}): Promise<ChatRequest> {
  const request = chatRequest(overrides);
  await store.createRequest(request, event(request, 'created'));
  // As stored: an open request also carries when the reconciler is due to look at it (`dueAt`).
  const stored = await store.getRequest(request.id);
  if (stored === undefined) throw new Error('created request not found');
  return stored;
}

beforeAll(async () => {
  ({ endpoint } = testDynamo());
  store = newStore();
  await store.ensureTable();
});

afterAll(async () => {
  const client = createDocumentClient({ endpoint, region, credentials });
  await client.send(new DeleteTableCommand({ TableName: tableName }));
  client.destroy();
  for (const s of stores) s.close();
});

beforeEach(() => {
  clockMs = Date.now();
});

describe('the state table', () => {
  it('is created once by ensureTable, with both indexes', async () => {
    await expect(store.ensureTable()).resolves.toEqual({ created: false });

    const client = createDocumentClient({ endpoint, region, credentials });
    const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
    client.destroy();
    expect(described.Table?.TableStatus).toBe('ACTIVE');
    expect(described.Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual([GSI1, GSI2]);
  });

  it('is defined on demand, with a TTL attribute, for the CDK stack', () => {
    const definition = tableDefinition('crdb-chatops');

    expect(definition).toMatchObject({
      TableName: 'crdb-chatops',
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
    });
    expect(definition.GlobalSecondaryIndexes.every((index) => index.Projection?.ProjectionType === 'ALL')).toBe(true);
  });

  it('is created by ensureTable concurrently without an error', async () => {
    const name = `crdb-chatops-test-${randomBytes(6).toString('hex')}`;
    const client = createDocumentClient({ endpoint, region, credentials });
    try {
      const results = await Promise.all([ensureTable({ client, tableName: name }), ensureTable({ client, tableName: name })]);

      expect(results.filter((r) => r.created)).toHaveLength(1);
    } finally {
      await client.send(new DeleteTableCommand({ TableName: name }));
      client.destroy();
    }
  });
});

describe('requests', () => {
  it('are created with their created event and read back as written', async () => {
    const request = chatRequest({ card: { channel: 'C0APPROVERS', ts: '1700000000.000100' }, breakGlass: false });
    await store.createRequest(request, event(request, 'created', { detail: 'allow 203.0.113.0/24' }));

    await expect(store.getRequest(request.id)).resolves.toEqual(request);
    await expect(store.listEvents(request.id)).resolves.toEqual([event(request, 'created', { detail: 'allow 203.0.113.0/24' })]);
  });

  it('are not overwritten by a second create with the same id', async () => {
    const first = await created();
    const second = { ...first, requester: 'U0SOMEONEELSE', reason: 'overwrite' };

    await expect(store.createRequest(second, event(second, 'created', { actor: 'U0SOMEONEELSE' }))).rejects.toBeInstanceOf(RequestExistsError);
    await expect(store.getRequest(first.id)).resolves.toEqual(first);
    await expect(store.listEvents(first.id)).resolves.toHaveLength(1);
  });

  it('are undefined when unknown', async () => {
    await expect(store.getRequest(newRequestId())).resolves.toBeUndefined();
  });

  it('store an outcome as prose, and read an outcome stored as mrkdwn before 0.1 as the same prose', async () => {
    const outcome = prose`${code('203.0.113.0/24')} is on the allowlist of ${code('dev')}, held by ${person('U0HOLDER')}; nothing was changed.`;
    const ended = await created({ status: 'failed', outcome });
    expect(ended.outcome).toEqual(outcome);
    const client = createDocumentClient({ endpoint, region, credentials });
    const key = { pk: `REQ#${ended.id}`, sk: 'REQUEST' };
    const raw = async (): Promise<Record<string, unknown> | undefined> => (await client.send(new GetCommand({ TableName: tableName, Key: key }))).Item;
    // Under its own attribute: a version before 0.1, rolled back to, finds no `outcome` to misread.
    expect(await raw()).toMatchObject({ outcomeProse: outcome });
    expect(await raw()).not.toHaveProperty('outcome');

    // What the bot wrote before outcomes were prose: its own mrkdwn, `& < >` escaped, under `outcome`.
    const legacy = '`203.0.113.0/24` is on the allowlist of `dev`, held by <@U0HOLDER>; nothing was changed. R&amp;D asked in <#C0APPROVERS>.';
    await client.send(new UpdateCommand({ TableName: tableName, Key: key, UpdateExpression: 'SET outcome = :o REMOVE outcomeProse', ExpressionAttributeValues: { ':o': legacy } }));
    const read = await store.getRequest(ended.id);
    expect(read?.outcome).toEqual([...outcome.slice(0, -1), '; nothing was changed. R&D asked in ', { channel: 'C0APPROVERS' }, '.']);
    // Slack shows it exactly as before.
    expect(mrkdwn(read?.outcome ?? [])).toBe(legacy);

    // A new outcome replaces the old one, format and all.
    const told = await store.transition(ended.id, { from: ['failed'], changes: { step: 'told', outcome: prose`told again` } });
    expect(told.ok && told.request.outcome).toEqual(['told again']);
    expect(await raw()).toMatchObject({ outcomeProse: ['told again'] });
    expect(await raw()).not.toHaveProperty('outcome');

    // Anything else in the attribute is not prose: the request loads, without an outcome.
    await client.send(new UpdateCommand({ TableName: tableName, Key: key, UpdateExpression: 'SET outcomeProse = :o', ExpressionAttributeValues: { ':o': [{ html: '<b>x</b>' }] } }));
    const odd = await store.getRequest(ended.id);
    client.destroy();
    expect(odd?.id).toBe(ended.id);
    expect(odd?.outcome).toBeUndefined();
  });

  it('refuse a created event of another request', async () => {
    const request = chatRequest();

    await expect(store.createRequest(request, event({ id: newRequestId() }, 'created'))).rejects.toBeInstanceOf(StateStoreInvalidError);
    await expect(store.getRequest(request.id)).resolves.toBeUndefined();
  });
});

describe('transition', () => {
  it('changes an allowed status, increments the version and writes the event with it', async () => {
    const request = await created();

    const result = await store.transition(request.id, {
      from: ['pending'],
      changes: { status: 'denied', decidedBy: 'U0APPROVER', denyReason: 'not from the office' },
      event: event(request, 'denied', { actor: 'U0APPROVER' }),
    });

    // Denied but its requester not told yet: open, due for the reconciler a minute on.
    const expected = { ...request, status: 'denied', decidedBy: 'U0APPROVER', denyReason: 'not from the office', version: 2, dueAt: new Date(clockMs + 60_000).toISOString() };
    expect(result).toEqual({ ok: true, request: expected });
    await expect(store.getRequest(request.id)).resolves.toEqual(expected);
    expect((await store.listEvents(request.id)).map((e) => e.type)).toEqual(['created', 'denied']);
  });

  it('refuses a status not in `from`, returns what is stored and writes no event', async () => {
    const request = await created({ status: 'applied' });

    const result = await store.transition(request.id, {
      from: ['approved'],
      changes: { status: 'applying' },
      event: event(request, 'applying', { actor: 'bot' }),
    });

    expect(result).toEqual({ ok: false, current: request });
    await expect(store.getRequest(request.id)).resolves.toEqual(request);
    expect((await store.listEvents(request.id)).map((e) => e.type)).toEqual(['created']);
  });

  it('refuses a stale expectedVersion and accepts the current one', async () => {
    const request = await created({ status: 'approved', version: 4 });

    const stale = await store.transition(request.id, { from: ['approved'], changes: { status: 'applying' }, expectedVersion: 3, event: event(request, 'applying') });
    const fresh = await store.transition(request.id, { from: ['approved'], changes: { status: 'applying' }, expectedVersion: 4 });

    expect(stale).toEqual({ ok: false, current: request });
    expect(fresh).toEqual({ ok: true, request: { ...request, status: 'applying', version: 5 } });
    expect((await store.listEvents(request.id)).map((e) => e.type)).toEqual(['created']);
  });

  it('removes an optional field set to undefined and keeps required ones', async () => {
    const request = await created({ status: 'applying', step: 'secret-written' });

    const result = await store.transition(request.id, { from: ['applying'], changes: { step: undefined, status: undefined, outcome: prose`user created` } });

    expect(result.ok).toBe(true);
    const stored = await store.getRequest(request.id);
    expect(stored).toEqual({ ...request, outcome: ['user created'], version: 2, step: undefined });
    expect(stored && 'step' in stored).toBe(false);
  });

  it('returns current undefined for an unknown request', async () => {
    await expect(store.transition(newRequestId(), { from: ['pending'], changes: { status: 'expired' } })).resolves.toEqual({ ok: false, current: undefined });
  });

  it('lets exactly one of 20 concurrent approved → applying transitions through', async () => {
    const request = await created({ status: 'approved' });

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.transition(request.id, {
          from: ['approved'],
          changes: { status: 'applying', step: `worker-${i}` },
          event: event(request, 'applying', { actor: `worker-${i}` }),
        }),
      ),
    );

    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.current?.status === 'applying')).toBe(true);
    const stored = await store.getRequest(request.id);
    expect(stored).toEqual(winners[0]?.ok ? winners[0].request : 'no winner');
    expect(stored?.version).toBe(2);
    expect((await store.listEvents(request.id)).filter((e) => e.type === 'applying')).toHaveLength(1);
  });
});

describe('open requests after a torn write', () => {
  it("are found by the scan of the table when the index lost them (local mode's start)", async () => {
    const request = await created({ status: 'approved', quorum: 0 });
    // What a process killed inside the emulator's write leaves: the item open, its index entry gone.
    const client = createDocumentClient({ endpoint, region, credentials });
    const raw = (await client.send(new GetCommand({ TableName: tableName, Key: { pk: `REQ#${request.id}`, sk: 'REQUEST' } }))).Item;
    expect(raw?.gsi1pk).toBe('OPEN');
    const { gsi1pk: _pk, gsi1sk: _sk, ...withoutIndex } = raw ?? {};
    await client.send(new PutCommand({ TableName: tableName, Item: withoutIndex }));
    client.destroy();
    const far = new Date(clockMs + 400 * 24 * HOUR);
    expect((await store.listDue(far)).map((r) => r.id)).not.toContain(request.id);
    expect((await store.scanOpen()).map((r) => r.id)).toContain(request.id);
    // Final requests are not open: a told one is not in the scan.
    const told = await created({ status: 'applied', step: 'told' });
    expect((await store.scanOpen()).map((r) => r.id)).not.toContain(told.id);
  });
});

describe('received requests and admission', () => {
  it('takes a received request with one put, refusing an id that exists', async () => {
    const request = chatRequest({ status: 'received', version: 0 });
    await store.receiveRequest(request);
    await expect(store.getRequest(request.id)).resolves.toMatchObject({ id: request.id, status: 'received' });
    await expect(store.listEvents(request.id)).resolves.toEqual([]);
    // Open: the reconciler finds it if nothing else takes it on.
    await expect(store.listDue(new Date(clockMs + 2 * HOUR))).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ id: request.id })]));
    await expect(store.receiveRequest(request)).rejects.toBeInstanceOf(RequestExistsError);
  });

  it("holds a transition's guards in its write: the key's claim and a rate token, or nothing is written", async () => {
    const key = `trigger-${randomBytes(4).toString('hex')}`;
    const rate = { key: `requester:${randomBytes(4).toString('hex')}`, limit: 1, windowMs: HOUR };
    const admit = (request: ChatRequest, guards: Parameters<typeof store.transition>[1]['guards']) =>
      store.transition(request.id, { from: ['received'], changes: { status: 'approved' }, event: event(request, 'created'), guards });

    const first = chatRequest({ status: 'received', version: 0 });
    await store.receiveRequest(first);
    await expect(admit(first, { claim: { key, ttlSeconds: 600 }, rateToken: rate })).resolves.toMatchObject({ ok: true, request: { status: 'approved' } });
    await expect(store.idempotencyKeyHolder(key)).resolves.toBe(first.id);

    // Another request with the same key: refused by the claim, naming the holder; nothing written.
    const repeat = chatRequest({ status: 'received', version: 0 });
    await store.receiveRequest(repeat);
    const claimed = await admit(repeat, { claim: { key, ttlSeconds: 600 } }).catch((error: unknown) => error);
    expect(claimed).toBeInstanceOf(GuardFailedError);
    expect(claimed).toMatchObject({ guard: 'claim', holder: first.id });
    await expect(store.getRequest(repeat.id)).resolves.toMatchObject({ status: 'received', version: 0 });
    await expect(store.listEvents(repeat.id)).resolves.toEqual([]);

    // The window's one token is spent: refused by the rate guard, the claim not written either.
    const other = chatRequest({ status: 'received', version: 0 });
    const otherKey = `trigger-${randomBytes(4).toString('hex')}`;
    await store.receiveRequest(other);
    await expect(admit(other, { claim: { key: otherKey, ttlSeconds: 600 }, rateToken: rate })).rejects.toMatchObject({ guard: 'rate-token' });
    await expect(store.idempotencyKeyHolder(otherKey)).resolves.toBeUndefined();
    await expect(store.getRequest(other.id)).resolves.toMatchObject({ status: 'received' });

    // A claim the request holds already holds again (admission run twice).
    const again = await store.transition(first.id, { from: ['approved'], changes: { step: 'x' }, guards: { claim: { key, ttlSeconds: 600 } } });
    expect(again.ok).toBe(true);
  });
});

describe('idempotency keys', () => {
  it('are claimed once: a second claim names the first request', async () => {
    const key = `trigger-${randomBytes(4).toString('hex')}`;
    const first = newRequestId();

    await expect(store.claimIdempotencyKey(key, first, 600)).resolves.toEqual({ claimed: true });
    await expect(store.claimIdempotencyKey(key, newRequestId(), 600)).resolves.toEqual({ claimed: false, requestId: first });
  });

  it('are free again once expired, even before DynamoDB deletes them', async () => {
    const key = `trigger-${randomBytes(4).toString('hex')}`;
    const second = newRequestId();
    await store.claimIdempotencyKey(key, newRequestId(), 60);

    clockMs += 61_000;

    await expect(store.claimIdempotencyKey(key, second, 60)).resolves.toEqual({ claimed: true });
    await expect(store.claimIdempotencyKey(key, newRequestId(), 60)).resolves.toEqual({ claimed: false, requestId: second });
  });

  it('carry the TTL attribute in epoch seconds', async () => {
    const key = `trigger-${randomBytes(4).toString('hex')}`;
    await store.claimIdempotencyKey(key, newRequestId(), 300);

    const client = createDocumentClient({ endpoint, region, credentials });
    const output = await client.send(new GetCommand({ TableName: tableName, Key: { pk: `IDEMPOTENCY#${key}`, sk: 'IDEMPOTENCY' } }));
    client.destroy();
    expect(output.Item?.[TTL_ATTRIBUTE]).toBe(Math.floor(clockMs / 1000) + 300);
  });

  it('go to exactly one of 10 concurrent claimers', async () => {
    const key = `sqs-${randomBytes(4).toString('hex')}`;
    const ids = Array.from({ length: 10 }, () => newRequestId());

    const results = await Promise.all(ids.map((id) => store.claimIdempotencyKey(key, id, 600)));

    const winners = ids.filter((_, i) => results[i]?.claimed);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => !r.claimed)).toEqual(Array.from({ length: 9 }, () => ({ claimed: false, requestId: winners[0] })));
  });
});

describe('addApproval', () => {
  it('approves a quorum-1 request with the first approval, with one approved event', async () => {
    const request = await created({ quorum: 1 });
    const approval = { by: 'U0APPROVER1', at: now().toISOString() };

    const result = await store.addApproval(request.id, approval);

    const expected = { ...request, approvals: [approval], status: 'approved', decidedBy: 'U0APPROVER1', version: 2, dueAt: new Date(clockMs + 60_000).toISOString() };
    expect(result).toEqual({ outcome: 'counted', request: expected, reachedQuorum: true });
    await expect(store.getRequest(request.id)).resolves.toEqual(expected);
    const approved = (await store.listEvents(request.id)).filter((e) => e.type === 'approved');
    expect(approved).toEqual([expect.objectContaining({ actor: 'U0APPROVER1', at: approval.at })]);
  });

  it('needs both approvals of a quorum-2 request', async () => {
    const request = await created({ quorum: 2, risk: 'high' });

    const first = await store.addApproval(request.id, { by: 'U0APPROVER1', at: now().toISOString() });
    const second = await store.addApproval(request.id, { by: 'U0APPROVER2', at: now().toISOString() });

    expect(first).toMatchObject({ outcome: 'counted', reachedQuorum: false, request: { status: 'pending', version: 2 } });
    expect(second).toMatchObject({ outcome: 'counted', reachedQuorum: true, request: { status: 'approved', decidedBy: 'U0APPROVER2', version: 3 } });
    expect((await store.listEvents(request.id)).filter((e) => e.type === 'approved')).toHaveLength(1);
  });

  it('counts an approver once', async () => {
    const request = await created({ quorum: 2 });
    await store.addApproval(request.id, { by: 'U0APPROVER1', at: now().toISOString() });

    const again = await store.addApproval(request.id, { by: 'U0APPROVER1', at: now().toISOString() });

    expect(again).toMatchObject({ outcome: 'duplicate', request: { status: 'pending', version: 2 } });
    expect((await store.getRequest(request.id))?.approvals).toHaveLength(1);
  });

  it('counts nothing on a request that is not pending', async () => {
    const request = await created({ status: 'denied' });

    await expect(store.addApproval(request.id, { by: 'U0APPROVER1', at: now().toISOString() })).resolves.toEqual({ outcome: 'not-pending', request });
    await expect(store.addApproval(newRequestId(), { by: 'U0APPROVER1', at: now().toISOString() })).resolves.toEqual({ outcome: 'not-pending', request: undefined });
  });

  it('counts nothing on a pending request past its expiry', async () => {
    const request = await created({ expiresAt: new Date(clockMs + 1_000).toISOString() });
    clockMs += 1_000;

    await expect(store.addApproval(request.id, { by: 'U0APPROVER1', at: now().toISOString() })).resolves.toEqual({ outcome: 'not-pending', request });
  });

  it('counts exactly 2 of 50 concurrent approvers on a quorum-2 request', async () => {
    const request = await created({ quorum: 2, risk: 'high' });
    // Five clients, as if five Lambda instances took the clicks.
    const clients = Array.from({ length: 5 }, () => newStore());

    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (clients[i % clients.length] ?? store).addApproval(request.id, { by: `U0APPROVER${i}`, at: now().toISOString() })),
    );

    const counted = results.flatMap((r) => (r.outcome === 'counted' ? [r] : []));
    expect(counted).toHaveLength(2);
    expect(counted.filter((r) => r.reachedQuorum)).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'not-pending')).toHaveLength(48);
    const stored = await store.getRequest(request.id);
    expect(stored?.status).toBe('approved');
    expect(stored?.approvals).toHaveLength(2);
    expect(stored?.version).toBe(3);
    // The approvers who were told "counted" are exactly the recorded ones: no approval lost.
    expect(stored?.approvals.map((a) => a.by).sort()).toEqual(counted.map((r) => r.request.approvals.at(-1)?.by).sort());
    expect((await store.listEvents(request.id)).filter((e) => e.type === 'approved')).toHaveLength(1);
  });
});

describe('transition with records (alsoPut, alsoDelete)', () => {
  const cluster = `t${randomBytes(4).toString('hex')}`;
  const managedUser = (request: Pick<ChatRequest, 'id'>, overrides: Partial<ManagedUser> = {}): ManagedUser => ({
    cluster,
    user: 'analyst',
    owner: 'U0OWNER',
    secretName: `crdb-chatops/${cluster}/analyst`,
    database: 'defaultdb',
    requestId: request.id,
    createdAt: now().toISOString(),
    ...overrides,
  });
  const managedEntry = (request: Pick<ChatRequest, 'id'>, cidr: string, overrides: Partial<ManagedEntry> = {}): ManagedEntry => ({
    cluster,
    cidr,
    requestId: request.id,
    requester: 'U0REQUESTER',
    sql: true,
    ui: false,
    createdAt: now().toISOString(),
    ...overrides,
  });

  /** A store whose client names every request it sends to DynamoDB (`GetItemCommand`, `TransactWriteItemsCommand`, ...). */
  function countingStore(): { store: DynamoRequestStore; commands: string[] } {
    const commands: string[] = [];
    const client = createDocumentClient({ endpoint, region, credentials });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'countCommands' },
    );
    const counting = new DynamoRequestStore({ client, tableName, now });
    return { store: counting, commands };
  }

  it('writes the change, its event and the records in one transaction', async () => {
    const request = await created({ status: 'approved' });
    const user = managedUser(request, { user: 'starts_with_record', expiresAt: new Date(clockMs + HOUR).toISOString() });
    const entry = managedEntry(request, '198.51.100.60/32');
    const { store: counting, commands } = countingStore();

    const result = await counting.transition(request.id, {
      from: ['approved'],
      changes: { status: 'applying' },
      event: event(request, 'applying', { actor: 'bot' }),
      alsoPut: { managedUser: user, managedEntry: entry },
    });

    expect(result).toEqual({ ok: true, request: { ...request, status: 'applying', version: 2 } });
    expect(commands.filter((c) => !c.startsWith('Get'))).toEqual(['TransactWriteItemsCommand']);
    await expect(store.getManagedUser(cluster, 'starts_with_record')).resolves.toEqual(user);
    await expect(store.getManagedEntry(cluster, '198.51.100.60/32')).resolves.toEqual(entry);
    // Written through the same item layout as putManagedUser: the expiry index sees it.
    expect((await store.listExpiredUsers(new Date(clockMs + 2 * HOUR))).filter((u) => u.cluster === cluster)).toEqual([user]);
    expect((await store.listEvents(request.id)).map((e) => e.type)).toEqual(['created', 'applying']);
  });

  it('ends a request with its DM receipts written and a record deleted, in one transaction', async () => {
    const request = await created({ status: 'applying' });
    const entry = managedEntry(request, '198.51.100.61/32');
    await store.putManagedEntry(entry);
    const base = Date.now() + 6_000 * 24 * HOUR;
    const channel = `D${randomBytes(4).toString('hex').toUpperCase()}`;
    const receipts: DmReceipt[] = [
      { channel, ts: '1700000000.000300', user: 'U0OWNER', deleteAfter: new Date(base).toISOString(), cluster },
      { channel, ts: '1700000000.000400', user: 'U0OWNER', deleteAfter: new Date(base).toISOString(), cluster },
    ];
    const { store: counting, commands } = countingStore();

    const result = await counting.transition(request.id, {
      from: ['applying'],
      changes: { status: 'applied', outcome: prose`done`, step: 'told' },
      event: event(request, 'applied', { actor: 'bot' }),
      alsoPut: { dmReceipts: receipts },
      alsoDelete: { managedEntry: { cluster, cidr: entry.cidr }, managedUser: { cluster, user: 'never_there' } },
    });

    expect(result.ok && result.request).toMatchObject({ status: 'applied', outcome: ['done'], step: 'told', version: 2 });
    expect(commands.filter((c) => !c.startsWith('Get'))).toEqual(['TransactWriteItemsCommand']);
    await expect(store.getManagedEntry(cluster, entry.cidr)).resolves.toBeUndefined();
    expect((await store.listDueDmReceipts(new Date(base))).filter((r) => r.channel === channel)).toEqual(receipts);
  });

  it('writes and deletes none of its records when refused, and returns what is stored', async () => {
    const request = await created({ status: 'applied' });
    const entry = managedEntry({ id: newRequestId() }, '198.51.100.62/32');
    await store.putManagedEntry(entry);

    const result = await store.transition(request.id, {
      from: ['approved'],
      changes: { status: 'applying' },
      event: event(request, 'applying', { actor: 'bot' }),
      alsoPut: { managedUser: managedUser(request, { user: 'refused_user' }) },
      alsoDelete: { managedEntry: { cluster, cidr: entry.cidr } },
    });

    expect(result).toEqual({ ok: false, current: request });
    await expect(store.getManagedUser(cluster, 'refused_user')).resolves.toBeUndefined();
    await expect(store.getManagedEntry(cluster, entry.cidr)).resolves.toEqual(entry);
    expect((await store.listEvents(request.id)).map((e) => e.type)).toEqual(['created']);
  });

  it('refuses to put and delete the same item, writing nothing', async () => {
    const request = await created({ status: 'approved' });

    await expect(
      store.transition(request.id, {
        from: ['approved'],
        changes: { status: 'applying' },
        alsoPut: { managedUser: managedUser(request, { user: 'both_ways' }) },
        alsoDelete: { managedUser: { cluster, user: 'both_ways' } },
      }),
    ).rejects.toBeInstanceOf(StateStoreInvalidError);
    await expect(store.getRequest(request.id)).resolves.toEqual(request);
    await expect(store.getManagedUser(cluster, 'both_ways')).resolves.toBeUndefined();
  });

  it('refuses a transition the lifecycle does not have (applied back to pending), writing nothing', async () => {
    const request = await created({ status: 'applied' });
    await expect(store.transition(request.id, { from: ['applied'], changes: { status: 'pending' } })).rejects.toThrow('A request may not move from applied to pending');
    await expect(store.getRequest(request.id)).resolves.toEqual(request);
  });

  it('writes the record of exactly the one of 20 concurrent transitions that went through', async () => {
    const request = await created({ status: 'approved' });
    const clients = Array.from({ length: 4 }, () => newStore());

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (clients[i % clients.length] ?? store).transition(request.id, {
          from: ['approved'],
          changes: { status: 'applying', step: `worker-${i}` },
          event: event(request, 'applying', { actor: `worker-${i}` }),
          alsoPut: { managedUser: managedUser(request, { user: 'raced', owner: `U0WORKER${i}` }) },
        }),
      ),
    );

    const winners = results.flatMap((r, i) => (r.ok ? [{ request: r.request, i }] : []));
    expect(winners).toHaveLength(1);
    const winner = winners[0];
    await expect(store.getManagedUser(cluster, 'raced')).resolves.toMatchObject({ owner: `U0WORKER${winner?.i ?? -1}` });
    expect(winner?.request.step).toBe(`worker-${winner?.i ?? -1}`);
    expect((await store.listEvents(request.id)).filter((e) => e.type === 'applying')).toHaveLength(1);
  });
});

describe('listings', () => {
  it('lists a requester’s requests newest first, up to the limit', async () => {
    const requester = `U0LISTER${randomBytes(3).toString('hex').toUpperCase()}`;
    const base = Date.now();
    const requests: ChatRequest[] = [];
    for (const offset of [0, 2, 1, 3]) {
      requests.push(await created({ requester, createdAt: new Date(base + offset * 60_000).toISOString() }));
    }
    const byTime = [...requests].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((r) => r.id);

    expect((await store.listByRequester(requester)).map((r) => r.id)).toEqual(byTime);
    expect((await store.listByRequester(requester, 2)).map((r) => r.id)).toEqual(byTime.slice(0, 2));
    await expect(store.listByRequester('U0NOBODY')).resolves.toEqual([]);
  });

  it('lists pending requests oldest first, and expired ones by expiry', async () => {
    // Far in the future, so requests of other tests (created around now) sort before these.
    const base = Date.now() + 1_000 * 24 * HOUR;
    const later = await created({ createdAt: new Date(base + 60_000).toISOString(), expiresAt: new Date(base + 2 * HOUR).toISOString() });
    const earlier = await created({ createdAt: new Date(base).toISOString(), expiresAt: new Date(base + 3 * HOUR).toISOString() });
    const decided = await created({ createdAt: new Date(base + 30_000).toISOString(), expiresAt: new Date(base + HOUR).toISOString() });
    await store.transition(decided.id, { from: ['pending'], changes: { status: 'denied' } });

    const pending = (await store.listPending()).map((r) => r.id);
    expect(pending.filter((id) => [later.id, earlier.id, decided.id].includes(id))).toEqual([earlier.id, later.id]);
    expect((await store.listPending()).every((r) => r.status === 'pending')).toBe(true);

    const expiredAt = (hours: number): Promise<string[]> =>
      store.listExpiredPending(new Date(base + hours * HOUR)).then((list) => list.map((r) => r.id).filter((id) => [later.id, earlier.id, decided.id].includes(id)));
    await expect(expiredAt(1.5)).resolves.toEqual([]);
    await expect(expiredAt(2)).resolves.toEqual([later.id]);
    await expect(expiredAt(5)).resolves.toEqual([later.id, earlier.id]);
  });

  it('moves a pending request in the expiry index when its expiry changes', async () => {
    const base = Date.now() + 2_000 * 24 * HOUR;
    const request = await created({ createdAt: new Date(base).toISOString(), expiresAt: new Date(base + HOUR).toISOString() });

    await store.transition(request.id, { from: ['pending'], changes: { expiresAt: new Date(base + 10 * HOUR).toISOString() } });

    const ids = async (at: Date): Promise<string[]> => (await store.listExpiredPending(at)).map((r) => r.id);
    expect(await ids(new Date(base + 2 * HOUR))).not.toContain(request.id);
    expect(await ids(new Date(base + 10 * HOUR))).toContain(request.id);
  });
});

describe('events', () => {
  it('are listed in time order and never overwritten', async () => {
    const request = await created();
    const at = (ms: number): string => new Date(clockMs + ms).toISOString();
    await store.appendEvent(event(request, 'applied', { at: at(2_000), actor: 'bot' }));
    await store.appendEvent(event(request, 'applying', { at: at(1_000), actor: 'bot' }));
    // Same instant, same content: two events, not one overwriting the other.
    await store.appendEvent(event(request, 'refused', { at: at(3_000), detail: 'twice' }));
    await store.appendEvent(event(request, 'refused', { at: at(3_000), detail: 'twice' }));

    expect((await store.listEvents(request.id)).map((e) => e.type)).toEqual(['created', 'applying', 'applied', 'refused', 'refused']);
  });

  it('refuse a time that is not one', async () => {
    await expect(store.appendEvent(event({ id: newRequestId() }, 'applied', { at: 'yesterday' }))).rejects.toBeInstanceOf(StateStoreInvalidError);
  });
});

describe('managed entries and users', () => {
  const cluster = `c${randomBytes(4).toString('hex')}`;
  const entry = (cidr: string, overrides: Partial<ManagedEntry> = {}): ManagedEntry => ({
    cluster,
    cidr,
    requestId: newRequestId(),
    requester: 'U0REQUESTER',
    sql: true,
    ui: false,
    createdAt: now().toISOString(),
    ...overrides,
  });
  const user = (name: string, overrides: Partial<ManagedUser> = {}): ManagedUser => ({
    cluster,
    user: name,
    owner: 'U0OWNER',
    secretName: `crdb-chatops/${cluster}/${name}`,
    database: 'defaultdb',
    requestId: newRequestId(),
    createdAt: now().toISOString(),
    ...overrides,
  });

  it('stores, lists, updates and deletes entries', async () => {
    const office = entry('203.0.113.0/24', { label: 'office' });
    const laptop = entry('198.51.100.7/32', { expiresAt: new Date(clockMs + HOUR).toISOString() });
    await store.putManagedEntry(office);
    await store.putManagedEntry(laptop);
    await store.putManagedEntry(entry('192.0.2.1/32', { cluster: `${cluster}-other` }));

    await expect(store.getManagedEntry(cluster, '203.0.113.0/24')).resolves.toEqual(office);
    expect((await store.listManagedEntries(cluster)).map((e) => e.cidr).sort()).toEqual(['198.51.100.7/32', '203.0.113.0/24']);

    await store.putManagedEntry({ ...office, ui: true });
    await expect(store.getManagedEntry(cluster, '203.0.113.0/24')).resolves.toMatchObject({ ui: true });

    await store.deleteManagedEntry(cluster, '203.0.113.0/24');
    await expect(store.getManagedEntry(cluster, '203.0.113.0/24')).resolves.toBeUndefined();
    await expect(store.listManagedEntries(cluster)).resolves.toEqual([laptop]);
  });

  it('lists temporary entries and users whose time is up', async () => {
    const base = Date.now() + 3_000 * 24 * HOUR;
    const soon = entry('198.51.100.8/32', { expiresAt: new Date(base + HOUR).toISOString() });
    const later = entry('198.51.100.9/32', { expiresAt: new Date(base + 5 * HOUR).toISOString() });
    await store.putManagedEntry(soon);
    await store.putManagedEntry(later);
    await store.putManagedEntry(entry('198.51.100.10/32'));
    const tempUser = user('temp_analyst', { expiresAt: new Date(base + HOUR).toISOString() });
    await store.putManagedUser(tempUser);
    await store.putManagedUser(user('permanent'));

    const mine = <T extends { cluster: string }>(list: T[]): T[] => list.filter((x) => x.cluster === cluster);
    expect(mine(await store.listExpiredEntries(new Date(base + 2 * HOUR)))).toEqual(expect.arrayContaining([soon]));
    expect(mine(await store.listExpiredEntries(new Date(base + 2 * HOUR))).map((e) => e.cidr)).not.toContain(later.cidr);
    expect(mine(await store.listExpiredEntries(new Date(base + 5 * HOUR))).map((e) => e.cidr)).toEqual(expect.arrayContaining([soon.cidr, later.cidr]));
    expect(mine(await store.listExpiredUsers(new Date(base + HOUR)))).toEqual([tempUser]);
    expect(mine(await store.listExpiredUsers(new Date(base + HOUR - 1)))).toEqual([]);
  });

  it('keeps a permanent entry made temporary again out of, and back in, the expiry listing', async () => {
    const base = Date.now() + 4_000 * 24 * HOUR;
    const temporary = entry('192.0.2.44/32', { expiresAt: new Date(base).toISOString() });
    await store.putManagedEntry(temporary);
    const { expiresAt: _dropped, ...permanent } = temporary;
    await store.putManagedEntry(permanent);

    const expired = await store.listExpiredEntries(new Date(base + HOUR));
    expect(expired.filter((e) => e.cluster === cluster && e.cidr === temporary.cidr)).toEqual([]);
  });

  it('stores, lists and deletes users', async () => {
    const analyst = user('analyst');
    await store.putManagedUser(analyst);
    await store.putManagedUser(user('reporter'));

    await expect(store.getManagedUser(cluster, 'analyst')).resolves.toEqual(analyst);
    expect((await store.listManagedUsers(cluster)).map((u) => u.user)).toEqual(expect.arrayContaining(['analyst', 'reporter']));

    await store.deleteManagedUser(cluster, 'analyst');
    await expect(store.getManagedUser(cluster, 'analyst')).resolves.toBeUndefined();
    // Entries and users share the cluster's partition; neither listing sees the other kind.
    expect((await store.listManagedEntries(cluster)).every((e) => 'cidr' in e)).toBe(true);
    expect((await store.listManagedUsers(cluster)).every((u) => 'user' in u && !('cidr' in u))).toBe(true);
  });
});

describe('DM receipts', () => {
  it('are listed once due and deleted', async () => {
    const base = Date.now() + 5_000 * 24 * HOUR;
    const channel = `D${randomBytes(4).toString('hex').toUpperCase()}`;
    const due: DmReceipt = { channel, ts: '1700000000.000100', user: 'U0OWNER', deleteAfter: new Date(base).toISOString() };
    const notYet: DmReceipt = { channel, ts: '1700000000.000200', user: 'U0OWNER', deleteAfter: new Date(base + HOUR).toISOString() };
    await store.putDmReceipt(due);
    await store.putDmReceipt(notYet);

    const mine = async (at: Date): Promise<DmReceipt[]> => (await store.listDueDmReceipts(at)).filter((r) => r.channel === channel);
    await expect(mine(new Date(base - 1))).resolves.toEqual([]);
    await expect(mine(new Date(base))).resolves.toEqual([due]);
    await expect(mine(new Date(base + HOUR))).resolves.toEqual([due, notYet]);

    await store.deleteDmReceipt(channel, due.ts);
    await expect(mine(new Date(base + HOUR))).resolves.toEqual([notYet]);
  });
});

describe('errors', () => {
  it('says in one retryable line that DynamoDB is unavailable when nothing listens', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
      });
    });
    const unreachable = newStore({ endpoint: `http://127.0.0.1:${closedPort}` });

    const error: unknown = await unreachable.getRequest(newRequestId()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StateStoreUnavailableError);
    expect(error).toMatchObject({ code: 'unavailable', retryable: true, name: 'StateStoreUnavailableError' });
    expect((error as Error).message).toMatch(/^DynamoDB is unavailable: could not read request \w+; try again shortly\.$/);
  });

  it('names a missing table', async () => {
    const missing = newStore({ tableName: 'crdb-chatops-test-missing' });

    const error: unknown = await missing.putDmReceipt({ channel: 'D0X', ts: '1.2', user: 'U0X', deleteAfter: now().toISOString() }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StateStoreTableNotFoundError);
    expect(error).toMatchObject({ retryable: false });
    expect((error as Error).message).toContain('crdb-chatops-test-missing');
  });
});

describe('the dynalite front server (test infrastructure)', () => {
  it('cancels a whole transaction when one condition fails, reporting each action', async () => {
    const client = createDocumentClient({ endpoint, region, credentials });
    const pk = `TX#${randomBytes(4).toString('hex')}`;
    await client.send(new PutCommand({ TableName: tableName, Item: { pk, sk: 'B', value: 1 } }));

    const error: unknown = await client
      .send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: tableName, Item: { pk, sk: 'A', value: 1 } } },
            { Update: { TableName: tableName, Key: { pk, sk: 'B' }, UpdateExpression: 'SET #v = :two', ConditionExpression: '#v = :zero', ExpressionAttributeNames: { '#v': 'value' }, ExpressionAttributeValues: { ':two': 2, ':zero': 0 }, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
            { ConditionCheck: { TableName: tableName, Key: { pk, sk: 'C' }, ConditionExpression: 'attribute_not_exists(pk)' } },
          ],
        }),
      )
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TransactionCanceledException);
    expect((error as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual(['None', 'ConditionalCheckFailed', 'None']);
    expect((await client.send(new GetCommand({ TableName: tableName, Key: { pk, sk: 'A' } }))).Item).toBeUndefined();
    expect((await client.send(new GetCommand({ TableName: tableName, Key: { pk, sk: 'B' } }))).Item).toEqual({ pk, sk: 'B', value: 1 });
    expect((await client.send(new GetCommand({ TableName: tableName, Key: { pk, sk: 'C' } }))).Item).toBeUndefined();
    client.destroy();
  });
});

describe("open requests (the reconciler's index)", () => {
  const dueIds = async (atMs: number): Promise<string[]> => (await store.listDue(new Date(atMs), 1_000)).map((r) => r.id);

  it('lists an open request once nothing has moved it for a minute, until it has ended and its requester was told', async () => {
    const request = await created({ status: 'approved' });
    expect(await dueIds(clockMs + 59_000)).not.toContain(request.id);
    expect(await dueIds(clockMs + 60_000)).toContain(request.id);

    await store.transition(request.id, { from: ['approved'], changes: { status: 'failed', outcome: prose`cluster unreachable` } });
    // Ended, but nobody told the requester yet: still owed.
    expect(await dueIds(clockMs + 60_000)).toContain(request.id);

    await store.transition(request.id, { from: ['failed'], changes: { step: 'told' } });
    expect(await dueIds(clockMs + 365 * 86_400_000)).not.toContain(request.id);
    expect((await store.getRequest(request.id))?.dueAt).toBeUndefined();
  });

  it('takes the time a writer gives (a wait for propagation) instead of the default minute', async () => {
    const request = await created({ status: 'applying' });
    const later = new Date(clockMs + 5_000).toISOString();
    await store.transition(request.id, { from: ['applying'], changes: { step: 'propagating', dueAt: later } });
    expect(await dueIds(clockMs + 4_999)).not.toContain(request.id);
    expect(await dueIds(clockMs + 5_000)).toContain(request.id);
  });

  it('keeps pending requests out: they wait for people, not for the bot', async () => {
    const request = await created();
    expect(await dueIds(clockMs + 365 * 86_400_000)).not.toContain(request.id);
  });
});
