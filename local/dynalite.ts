/**
 * A local DynamoDB for local mode and the integration tests: dynalite (DynamoDB's wire protocol on
 * LevelDB, from npm) behind a thin front server that adds what dynalite 4.0 lacks and the state
 * store needs: `TransactWriteItems`.
 *
 * dynalite answers `TransactWriteItems` with `UnknownOperationException` (architect/dynalite#151,
 * still open), yet every state change of the bot writes its audit event in the same transaction.
 * The front server implements the operation on top of dynalite's own single-item writes:
 *
 * - every request passes a read-write lock: ordinary operations share it (dynalite's per-item
 *   locks keep each of them atomic), a transaction holds it alone, so nobody sees or interleaves
 *   with a half-applied transaction;
 * - the transaction snapshots its items (consistent reads, one `BatchGetItem`; key schemas are
 *   cached until a table is created, updated or deleted), applies each action with its own
 *   condition through dynalite (so conditions and update expressions are evaluated by dynalite,
 *   exactly as for `PutItem`/`UpdateItem`/`DeleteItem`), and if any condition failed restores
 *   every snapshot and answers `TransactionCanceledException` with one `CancellationReasons` entry
 *   per action (`ConditionalCheckFailed` or `None`, and the old item when
 *   `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`), as DynamoDB does;
 * - a `ConditionCheck` is evaluated as a conditional no-op update whose item is then restored;
 * - two actions on one item are refused with DynamoDB's `ValidationException`.
 *
 * Not modelled: `ClientRequestToken` idempotency, transaction conflicts with in-flight
 * transactions (the lock serialises them instead), consumed capacity, `TransactGetItems`.
 * dynalite also lacks `UpdateTimeToLive` and never expires items; callers that rely on TTL must
 * treat an expired item as absent themselves (the state store does).
 */
import { chmod, mkdir } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';

export interface DynaliteOptions {
  /** Interface to listen on; default loopback only. */
  readonly host?: string;
  /** Port of the front server; default 0 (any free port). */
  readonly port?: number;
  /**
   * LevelDB directory to persist tables in; default in memory. Made 0700 before LevelDB writes a
   * file in it (the state holds response_urls and who asked for what): created so, or narrowed.
   */
  readonly path?: string;
}

export interface DynaliteServer {
  /** `http://host:port`, for the SDK's `endpoint`. */
  readonly endpoint: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The part of dynalite's untyped API used here. */
type DynaliteFactory = (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  path?: string;
}) => Server;

const API = 'DynamoDB_20120810';
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const MAX_TRANSACT_ITEMS = 100;

/** Starts dynalite (tables become ACTIVE at once) and the transaction-aware front server. */
export async function startDynalite({ host = '127.0.0.1', port = 0, path }: DynaliteOptions = {}): Promise<DynaliteServer> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- dynalite is CommonJS and ships no type declarations
  const dynalite = require('dynalite') as DynaliteFactory;
  if (path !== undefined) await privateDirectory(path);
  const inner = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(path !== undefined && { path }) });
  await listen(inner, 0, '127.0.0.1');
  const innerPort = (inner.address() as AddressInfo).port;

  const lock = new ReadWriteLock();
  const keySchemas: KeySchemas = new Map();
  const front = createServer((req, res) => {
    handle(req, res, innerPort, lock, keySchemas).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (!res.headersSent) sendJson(res, 500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message });
      else res.destroy();
    });
  });
  // Keep-alive sockets from SDK clients must not hold `close()` open.
  front.keepAliveTimeout = 1_000;
  await listen(front, port, host);
  const frontPort = (front.address() as AddressInfo).port;

  return {
    endpoint: `http://${host}:${frontPort}`,
    port: frontPort,
    close: async () => {
      front.closeAllConnections();
      await closeServer(front);
      inner.closeAllConnections();
      await closeServer(inner);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Front server

/** Key attribute names by table, as DescribeTable gave them; forgotten when any table is created, changed or deleted. */
type KeySchemas = Map<string, readonly string[]>;

const SCHEMA_CHANGES = new Set([`${API}.CreateTable`, `${API}.UpdateTable`, `${API}.DeleteTable`]);

async function handle(req: IncomingMessage, res: ServerResponse, innerPort: number, lock: ReadWriteLock, keySchemas: KeySchemas): Promise<void> {
  const body = await readBody(req);
  if (body === undefined) {
    res.statusCode = 413;
    res.end();
    return;
  }
  const target = req.headers['x-amz-target'];
  if (req.method === 'POST' && target === `${API}.TransactWriteItems`) {
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      sendJson(res, 400, { __type: 'com.amazon.coral.service#SerializationException' });
      return;
    }
    const release = await lock.acquire(true);
    let answer: Answer;
    try {
      answer = await transactWriteItems(input, new InnerClient(innerPort, req.headers), keySchemas);
    } finally {
      release();
    }
    sendJson(res, answer.status, answer.body);
    return;
  }
  if (typeof target === 'string' && SCHEMA_CHANGES.has(target)) keySchemas.clear();
  const release = await lock.acquire(false);
  let forwarded: Forwarded;
  try {
    forwarded = await forward(innerPort, req, body);
  } finally {
    release();
  }
  res.writeHead(forwarded.status, forwarded.headers);
  res.end(forwarded.body);
}

interface Forwarded {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

function forward(innerPort: number, req: IncomingMessage, body: Buffer): Promise<Forwarded> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: '127.0.0.1', port: innerPort, method: req.method, path: req.url, headers: { ...req.headers, 'content-length': String(body.length) } },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 500, headers: answer.headers, body: Buffer.concat(chunks) }));
        answer.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** The body, or undefined when it exceeds the limit DynamoDB (and dynalite) enforce. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
    'x-amz-crc32': String(crc32(text)),
  });
  res.end(text);
}

// ---------------------------------------------------------------------------------------------
// TransactWriteItems

type AttributeMap = Record<string, unknown>;

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** A DynamoDB error answer, as the service words it. */
function failure(type: string, message: string, status = 400): Answer {
  return { status, body: { __type: `com.amazon.coral.validate#${type}`, message } };
}

interface ActionBase {
  readonly TableName?: unknown;
  readonly ConditionExpression?: unknown;
  readonly ExpressionAttributeNames?: unknown;
  readonly ExpressionAttributeValues?: unknown;
  readonly ReturnValuesOnConditionCheckFailure?: unknown;
}

interface TransactItem {
  readonly ConditionCheck?: ActionBase & { readonly Key?: unknown };
  readonly Put?: ActionBase & { readonly Item?: unknown };
  readonly Delete?: ActionBase & { readonly Key?: unknown };
  readonly Update?: ActionBase & { readonly Key?: unknown; readonly UpdateExpression?: unknown };
}

/** One validated action, ready to run. */
interface Action {
  readonly kind: 'ConditionCheck' | 'Put' | 'Delete' | 'Update';
  readonly tableName: string;
  readonly key: AttributeMap;
  /** Table and key values, as JSON: one per item. */
  readonly identity: string;
  readonly spec: ActionBase & { readonly Key?: unknown; readonly Item?: unknown; readonly UpdateExpression?: unknown };
}

type Reason = { Code: 'None' } | { Code: 'ConditionalCheckFailed'; Message: string; Item?: AttributeMap };

async function transactWriteItems(input: unknown, inner: InnerClient, keySchemas: KeySchemas): Promise<Answer> {
  const items = isRecord(input) ? input.TransactItems : undefined;
  if (!Array.isArray(items) || items.length === 0 || items.length > MAX_TRANSACT_ITEMS) {
    return failure('ValidationException', `1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length between 1 and ${MAX_TRANSACT_ITEMS}`);
  }

  // Resolve every action's table key first: nothing is written before the request is known valid.
  const actions: Action[] = [];
  const seen = new Set<string>();
  for (const item of items as unknown[]) {
    const action = isRecord(item) ? toAction(item) : undefined;
    if (action === undefined) {
      return failure('ValidationException', 'TransactItems can only contain one of Check, Put, Update or Delete');
    }
    let keyNames = keySchemas.get(action.tableName);
    if (keyNames === undefined) {
      const described = await inner.call('DescribeTable', { TableName: action.tableName });
      if (described.status !== 200) return { status: described.status, body: described.body };
      keyNames = keyAttributeNames(described.body);
      keySchemas.set(action.tableName, keyNames);
    }
    const source = action.kind === 'Put' ? action.spec.Item : action.spec.Key;
    if (!isRecord(source) || keyNames.some((name) => source[name] === undefined)) {
      return failure('ValidationException', 'The provided key element does not match the schema');
    }
    const key = Object.fromEntries(keyNames.map((name) => [name, source[name]]));
    const identity = JSON.stringify([action.tableName, keyNames.map((name) => key[name])]);
    if (seen.has(identity)) return failure('ValidationException', 'Transaction request cannot include multiple operations on one item');
    seen.add(identity);
    actions.push({ ...action, key, identity });
  }

  const snapshots = await snapshotsOf(inner, actions);
  if (!Array.isArray(snapshots)) return snapshots;

  // Apply last to first; remember what to restore. Every condition is evaluated (DynamoDB reports
  // each). The order matters only to a process killed half-way (local mode runs dynalite in the
  // bot's own process, and the crash suite kills it with SIGKILL): the first action, by the state
  // store's convention the request's own change, is written last, so a transaction cut short
  // leaves the records and events it guards written and the request unchanged, and is retried
  // from there, never a request that moved on without its records.
  const touched: number[] = [];
  const reasons: Reason[] = new Array<Reason>(actions.length);
  for (let index = actions.length - 1; index >= 0; index--) {
    const action = actions[index];
    if (action === undefined) continue;
    const answer = await inner.call(...singleItemRequest(action));
    if (answer.status === 200) {
      touched.push(index);
      reasons[index] = { Code: 'None' };
      continue;
    }
    if (errorType(answer.body) === 'ConditionalCheckFailedException') {
      const old = snapshots[index];
      reasons[index] = {
        Code: 'ConditionalCheckFailed',
        Message: 'The conditional request failed',
        ...(action.spec.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && old !== undefined && { Item: old }),
      };
      continue;
    }
    // A validation error (bad expression, wrong type): nothing of the transaction may remain.
    await restore(inner, actions, snapshots, touched);
    return { status: answer.status, body: answer.body };
  }

  const cancelled = reasons.some((reason) => reason.Code !== 'None');
  // Condition checks wrote a probe; a cancelled transaction undoes everything.
  await restore(
    inner,
    actions,
    snapshots,
    touched.filter((index) => cancelled || actions[index]?.kind === 'ConditionCheck'),
  );
  if (!cancelled) return { status: 200, body: {} };
  return {
    status: 400,
    body: {
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
      Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
      CancellationReasons: reasons,
    },
  };
}

/**
 * The items of the actions as they are before the transaction (consistent reads), in order; or the
 * error answer. One BatchGetItem when every key is made of strings (the common case: an item's
 * identity is then exactly its key's JSON), GetItem by GetItem otherwise.
 */
async function snapshotsOf(inner: InnerClient, actions: readonly Action[]): Promise<(AttributeMap | undefined)[] | Answer> {
  const byIdentity = new Map<string, AttributeMap>();
  const stringKeys = actions.every((action) => Object.values(action.key).every((value) => isRecord(value) && Object.keys(value).join() === 'S'));
  if (stringKeys && actions.length > 1) {
    const requestItems: Record<string, { Keys: AttributeMap[]; ConsistentRead: true }> = {};
    for (const action of actions) (requestItems[action.tableName] ??= { Keys: [], ConsistentRead: true }).Keys.push(action.key);
    const got = await inner.call('BatchGetItem', { RequestItems: requestItems });
    if (got.status !== 200) return { status: got.status, body: got.body };
    const responses = isRecord(got.body) && isRecord(got.body.Responses) ? got.body.Responses : {};
    const unprocessed = isRecord(got.body) && isRecord(got.body.UnprocessedKeys) ? Object.keys(got.body.UnprocessedKeys).length : 0;
    if (unprocessed === 0) {
      for (const action of actions) {
        const found = (Array.isArray(responses[action.tableName]) ? (responses[action.tableName] as unknown[]) : []).find(
          (item) => isRecord(item) && Object.keys(action.key).every((name) => JSON.stringify(item[name]) === JSON.stringify(action.key[name])),
        );
        if (isRecord(found)) byIdentity.set(action.identity, found);
      }
      return actions.map((action) => byIdentity.get(action.identity));
    }
  }
  const snapshots: (AttributeMap | undefined)[] = [];
  for (const action of actions) {
    const got = await inner.call('GetItem', { TableName: action.tableName, Key: action.key, ConsistentRead: true });
    if (got.status !== 200) return { status: got.status, body: got.body };
    snapshots.push(isRecord(got.body) && isRecord(got.body.Item) ? got.body.Item : undefined);
  }
  return snapshots;
}

function toAction(item: TransactItem): Omit<Action, 'key' | 'identity'> | undefined {
  const kinds = (['ConditionCheck', 'Put', 'Delete', 'Update'] as const).filter((kind) => item[kind] !== undefined);
  const kind = kinds[0];
  if (kinds.length !== 1 || kind === undefined) return undefined;
  const spec = item[kind];
  if (!isRecord(spec) || typeof spec.TableName !== 'string') return undefined;
  if (kind === 'ConditionCheck' && typeof spec.ConditionExpression !== 'string') return undefined;
  return { kind, tableName: spec.TableName, spec };
}

/** Attribute name of the condition check's probe; never present on a real item. */
const PROBE = '__dynaliteTransactConditionCheck';

function singleItemRequest(action: Action): [string, AttributeMap] {
  const { spec } = action;
  const common: AttributeMap = {
    TableName: action.tableName,
    ...(spec.ConditionExpression !== undefined && { ConditionExpression: spec.ConditionExpression }),
    ...(spec.ExpressionAttributeNames !== undefined && { ExpressionAttributeNames: spec.ExpressionAttributeNames }),
    ...(spec.ExpressionAttributeValues !== undefined && { ExpressionAttributeValues: spec.ExpressionAttributeValues }),
  };
  switch (action.kind) {
    case 'Put':
      return ['PutItem', { ...common, Item: spec.Item }];
    case 'Delete':
      return ['DeleteItem', { ...common, Key: action.key }];
    case 'Update':
      return ['UpdateItem', { ...common, Key: action.key, UpdateExpression: spec.UpdateExpression }];
    case 'ConditionCheck': {
      const names = isRecord(spec.ExpressionAttributeNames) ? spec.ExpressionAttributeNames : {};
      return ['UpdateItem', { ...common, Key: action.key, UpdateExpression: 'REMOVE #dynaliteProbe', ExpressionAttributeNames: { ...names, '#dynaliteProbe': PROBE } }];
    }
  }
}

/** Puts back the snapshot of each touched item, newest change first. */
async function restore(inner: InnerClient, actions: readonly Action[], snapshots: readonly (AttributeMap | undefined)[], touched: readonly number[]): Promise<void> {
  for (const index of [...touched].reverse()) {
    const action = actions[index];
    if (action === undefined) continue;
    const old = snapshots[index];
    const answer =
      old === undefined
        ? await inner.call('DeleteItem', { TableName: action.tableName, Key: action.key })
        : await inner.call('PutItem', { TableName: action.tableName, Item: old });
    if (answer.status !== 200) throw new Error(`dynalite front server: could not roll back a transaction on ${action.tableName} (${errorType(answer.body) ?? answer.status}).`);
  }
}

function keyAttributeNames(describeTable: unknown): string[] {
  const table = isRecord(describeTable) ? describeTable.Table : undefined;
  const schema = isRecord(table) && Array.isArray(table.KeySchema) ? (table.KeySchema as unknown[]) : [];
  return schema.flatMap((element) => (isRecord(element) && typeof element.AttributeName === 'string' ? [element.AttributeName] : []));
}

function errorType(body: unknown): string | undefined {
  const type = isRecord(body) ? body.__type : undefined;
  return typeof type === 'string' ? type.slice(type.indexOf('#') + 1) : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Talks to the inner dynalite with the caller's credentials headers (dynalite checks they exist). */
class InnerClient {
  constructor(
    private readonly port: number,
    private readonly callerHeaders: IncomingHttpHeaders,
  ) {}

  call(operation: string, input: AttributeMap): Promise<Answer> {
    const body = JSON.stringify(input);
    const headers: Record<string, string> = {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': String(Buffer.byteLength(body)),
      'x-amz-target': `${API}.${operation}`,
    };
    for (const name of ['authorization', 'x-amz-date', 'x-amz-security-token'] as const) {
      const value = this.callerHeaders[name];
      if (typeof value === 'string') headers[name] = value;
    }
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest({ host: '127.0.0.1', port: this.port, method: 'POST', path: '/', headers }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: answer.statusCode ?? 500, body: text === '' ? {} : (JSON.parse(text) as unknown) });
          } catch {
            reject(new Error(`dynalite answered ${operation} with a body that is not JSON.`));
          }
        });
        answer.on('error', reject);
      });
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Plumbing

/** Many readers or one writer, granted in arrival order (a waiting writer is not starved). */
class ReadWriteLock {
  private readers = 0;
  private writer = false;
  private readonly queue: { exclusive: boolean; grant: () => void }[] = [];

  acquire(exclusive: boolean): Promise<() => void> {
    return new Promise((resolve) => {
      this.queue.push({
        exclusive,
        grant: () => {
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            if (exclusive) this.writer = false;
            else this.readers--;
            this.pump();
          });
        },
      });
      this.pump();
    });
  }

  private pump(): void {
    for (let next = this.queue[0]; next !== undefined; next = this.queue[0]) {
      if (this.writer) return;
      if (next.exclusive) {
        if (this.readers > 0) return;
        this.writer = true;
      } else {
        this.readers++;
      }
      this.queue.shift();
      next.grant();
    }
  }
}

/** `dir` exists with mode 0700: created so (the umask can only narrow it), or an existing one narrowed. */
async function privateDirectory(dir: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    await chmod(dir, 0o700);
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}
