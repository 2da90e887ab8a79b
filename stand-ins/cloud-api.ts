/**
 * A CockroachDB Cloud API stand-in: a real HTTP server on 127.0.0.1 (random port) with in-memory
 * clusters, allowlists and SQL users, for integration tests of the `cloud` backend.
 *
 * It is also a contract check. Every request is validated against the official OpenAPI document
 * (path template, method, path and query parameters, JSON body, `Authorization: Bearer` and
 * `Cc-Version` headers) and every response it sends against the operation's response schema
 * (errors also against `Status`). Problems land in `violations` (the request is answered 400 with
 * a `Status` body); tests assert it is empty after each test.
 *
 * Emulated: pagination with opaque tokens, `propagating` after allowlist changes, the 10 requests
 * per second per key limit (429 + `Retry-After`), role checks taken from the spec's "Can be used by
 * the following roles" lists, and fault injection (queued, or random with a seeded RNG):
 * error statuses, dropped connections, hanging requests, and failing after applying the change.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type Socket } from 'node:net';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { OpenApiValidator, type MatchedOperation } from './openapi-validator';
import { listen } from './http';

export const CLOUD_SPEC_PATH = join(__dirname, '..', 'reference', 'cockroach-cloud-openapi.json');

/** gRPC status codes the Cloud API puts in `Status.code`. */
const GRPC = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const GRPC_FOR_HTTP: Record<number, number> = {
  400: GRPC.INVALID_ARGUMENT,
  401: GRPC.UNAUTHENTICATED,
  403: GRPC.PERMISSION_DENIED,
  404: GRPC.NOT_FOUND,
  409: GRPC.ALREADY_EXISTS,
  429: GRPC.RESOURCE_EXHAUSTED,
  500: GRPC.INTERNAL,
  501: GRPC.UNIMPLEMENTED,
  502: GRPC.UNAVAILABLE,
  503: GRPC.UNAVAILABLE,
  504: GRPC.UNAVAILABLE,
};

export type CloudPlan = 'BASIC' | 'STANDARD' | 'ADVANCED';

export interface StandInRegionInit {
  readonly name: string;
  readonly primary?: boolean;
  /** Default: derived from the cluster name and region. */
  readonly sqlDns?: string;
  readonly nodeCount?: number;
}

export interface StandInAllowlistEntry {
  readonly cidr_ip: string;
  readonly cidr_mask: number;
  readonly name?: string;
  readonly sql: boolean;
  readonly ui: boolean;
}

export interface StandInClusterInit {
  readonly id: string;
  readonly name: string;
  readonly plan: CloudPlan;
  readonly cloudProvider?: 'GCP' | 'AWS' | 'AZURE';
  /** Default: one region, `us-central1`. */
  readonly regions?: readonly StandInRegionInit[];
  readonly allowlist?: readonly StandInAllowlistEntry[];
  readonly users?: ReadonlyArray<{ readonly name: string; readonly password: string }>;
}

export interface StandInUser {
  readonly name: string;
  password: string;
  /** The Cloud API makes every user it creates a member of `admin`. */
  readonly admin: boolean;
}

export interface StandInClusterState {
  /** The `Cluster` object served by `GET /clusters/{id}` (valid per the spec). */
  readonly cluster: Record<string, unknown>;
  readonly plan: CloudPlan;
  readonly allowlist: Map<string, StandInAllowlistEntry>;
  readonly users: Map<string, StandInUser>;
  /** Remaining allowlist list calls that report `propagating: true`. */
  propagatingCallsLeft: number;
}

/** What a fault matches; all given fields must match. */
export interface StandInFaultMatch {
  readonly method?: string;
  readonly operationId?: string;
  readonly path?: RegExp;
}

export interface StandInFault {
  /** Answer with this status and a `Status` body (unless `body` is given). */
  readonly status?: number;
  readonly retryAfterSeconds?: number;
  /** Raw `Retry-After` header value (e.g. an HTTP date); wins over `retryAfterSeconds`. */
  readonly retryAfterHeader?: string;
  readonly body?: unknown;
  /** Destroy the connection without answering. */
  readonly drop?: boolean;
  /** Never answer (until the client gives up or the stand-in stops). */
  readonly hang?: boolean;
  /** Apply the operation first, then fail: the client cannot know whether it happened. */
  readonly afterApply?: boolean;
  readonly match?: StandInFaultMatch;
}

export interface StandInRandomFaults {
  /** Chance that a request (that passed validation and auth) gets a fault. */
  readonly probability: number;
  readonly seed: number;
  /** Picked uniformly; default a 503. */
  readonly faults?: readonly StandInFault[];
}

export interface StandInRateLimit {
  readonly enabled: boolean;
  /** Default 10 (the documented Cloud API limit). */
  readonly limit?: number;
  /** Default 1000 ms. */
  readonly windowMs?: number;
}

export interface StandInViolation {
  readonly kind: 'request' | 'response' | 'unsupported';
  readonly method: string;
  readonly path: string;
  readonly operationId?: string;
  readonly message: string;
}

export interface StandInRequestLog {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: string;
  operationId?: string;
  /** `Date.now()` at arrival. */
  readonly time: number;
  status?: number;
  outcome?: 'answered' | 'dropped' | 'hung';
  fault?: boolean;
}

export interface CloudApiStandInOptions {
  /** Default: the vendored spec. */
  readonly specPath?: string;
  /** Accepted keys and the Cloud role each has; default none (add with `addApiKey`). */
  readonly apiKeys?: ReadonlyArray<{ readonly key: string; readonly role?: string }>;
  /** Page size when the request gives none; default 100. */
  readonly defaultPageSize?: number;
  /** Largest page served whatever the request asks; default 100. */
  readonly maxPageSize?: number;
  /** List calls that report `propagating: true` after each allowlist change; default 2. */
  readonly propagatingListCalls?: number;
  /** Default: disabled. */
  readonly rateLimit?: StandInRateLimit;
  /**
   * What `PUT .../allowlist/{ip}/{mask}` does when the entry exists: `replace` (an upsert, the
   * default) or `conflict` (409, as for POST). The spec documents the PUT only as "add".
   */
  readonly putExisting?: 'replace' | 'conflict';
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

interface HandlerContext {
  readonly match: MatchedOperation;
  readonly body: unknown;
  readonly state: StandInClusterState;
}

const CLOUD_API_VERSION = '2024-09-16';

export class CloudApiStandIn {
  readonly violations: StandInViolation[] = [];
  readonly requests: StandInRequestLog[] = [];
  readonly validator: OpenApiValidator;

  private readonly clusters = new Map<string, StandInClusterState>();
  private readonly keys = new Map<string, string>();
  private readonly faults: Array<{ remaining: number; fault: StandInFault }> = [];
  private readonly rateWindows = new Map<string, number[]>();
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<ServerResponse>();
  private readonly operationRoles = new Map<string, readonly string[]>();
  private readonly handlers: Record<string, (context: HandlerContext) => Reply>;
  private readonly defaultPageSize: number;
  private readonly maxPageSize: number;
  private putExisting: 'replace' | 'conflict';
  private propagatingListCalls: number;
  private rateLimit: Required<StandInRateLimit>;
  private random: { readonly probability: number; readonly next: () => number; readonly faults: readonly StandInFault[] } | undefined;
  private server: Server | undefined;
  private baseUrl: string | undefined;
  /** How many 429s the rate limiter has sent. */
  rateLimitedCount = 0;

  constructor({
    specPath = CLOUD_SPEC_PATH,
    apiKeys = [],
    defaultPageSize = 100,
    maxPageSize = 100,
    propagatingListCalls = 2,
    rateLimit = { enabled: false },
    putExisting = 'replace',
  }: CloudApiStandInOptions = {}) {
    this.validator = OpenApiValidator.fromFile(specPath);
    for (const { key, role = 'CLUSTER_ADMIN' } of apiKeys) this.keys.set(key, role);
    this.defaultPageSize = defaultPageSize;
    this.maxPageSize = maxPageSize;
    this.propagatingListCalls = propagatingListCalls;
    this.rateLimit = { limit: 10, windowMs: 1000, ...rateLimit };
    this.putExisting = putExisting;
    this.handlers = {
      CockroachCloud_GetCluster: (c) => ({ status: 200, body: c.state.cluster }),
      CockroachCloud_GetConnectionString: (c) => this.connectionString(c),
      CockroachCloud_ListAllowlistEntries: (c) => this.listAllowlist(c),
      CockroachCloud_AddAllowlistEntry: (c) => this.addAllowlistEntry(c, 'post'),
      CockroachCloud_AddAllowlistEntry2: (c) => this.addAllowlistEntry(c, 'put'),
      CockroachCloud_UpdateAllowlistEntry: (c) => this.updateAllowlistEntry(c),
      CockroachCloud_DeleteAllowlistEntry: (c) => this.deleteAllowlistEntry(c),
      CockroachCloud_ListSQLUsers: (c) => this.listUsers(c),
      CockroachCloud_CreateSQLUser: (c) => this.createUser(c),
      CockroachCloud_DeleteSQLUser: (c) => this.deleteUser(c),
      CockroachCloud_UpdateSQLUserPassword: (c) => this.setPassword(c),
    };
  }

  // ---- Lifecycle ------------------------------------------------------------------------------

  async start(): Promise<{ baseUrl: string }> {
    if (this.baseUrl !== undefined) return { baseUrl: this.baseUrl };
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.violations.push({ kind: 'response', method: req.method ?? '?', path: req.url ?? '?', message: `stand-in crashed: ${String(error)}` });
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    const port = await listen(server);
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${port}`;
    return { baseUrl: this.baseUrl };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    this.baseUrl = undefined;
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  // ---- State ----------------------------------------------------------------------------------

  addApiKey(key: string, role = 'CLUSTER_ADMIN'): void {
    this.keys.set(key, role);
  }

  /** Adds a cluster; its `Cluster` object is checked against the spec (a stand-in bug fails loudly). */
  addCluster(init: StandInClusterInit): StandInClusterState {
    const cluster = buildCluster(init);
    const problems = this.validator.validateComponent('Cluster', cluster);
    if (problems.length > 0) throw new Error(`stand-in cluster is not a valid Cluster: ${problems.join('; ')}`);
    const state: StandInClusterState = {
      cluster,
      plan: init.plan,
      allowlist: new Map((init.allowlist ?? []).map((e) => [`${e.cidr_ip}/${e.cidr_mask}`, { ...e }])),
      users: new Map((init.users ?? []).map((u) => [u.name, { name: u.name, password: u.password, admin: true }])),
      propagatingCallsLeft: 0,
    };
    this.clusters.set(init.id, state);
    return state;
  }

  state(clusterId: string): StandInClusterState {
    const state = this.clusters.get(clusterId);
    if (state === undefined) throw new Error(`no stand-in cluster ${clusterId}`);
    return state;
  }

  setPropagatingListCalls(count: number): void {
    this.propagatingListCalls = count;
  }

  setPutExisting(behaviour: 'replace' | 'conflict'): void {
    this.putExisting = behaviour;
  }

  setRateLimit(rateLimit: StandInRateLimit): void {
    this.rateLimit = { limit: 10, windowMs: 1000, ...rateLimit };
    this.rateWindows.clear();
  }

  // ---- Faults ---------------------------------------------------------------------------------

  /** The next `count` requests matching `fault.match` (default: any) get `fault`. */
  failNext(count: number, fault: StandInFault): void {
    this.faults.push({ remaining: count, fault });
  }

  /** Random faults with a seeded RNG, so a failing run can be replayed. `undefined` turns them off. */
  setRandomFaults(random: StandInRandomFaults | undefined): void {
    this.random =
      random === undefined
        ? undefined
        : { probability: random.probability, next: mulberry32(random.seed), faults: random.faults ?? [{ status: 503 }] };
  }

  clearFaults(): void {
    this.faults.length = 0;
    this.random = undefined;
  }

  // ---- Assertions helpers ---------------------------------------------------------------------

  /** Returns and forgets the violations (for tests that provoke one on purpose). */
  takeViolations(): StandInViolation[] {
    return this.violations.splice(0, this.violations.length);
  }

  resetLog(): void {
    this.requests.length = 0;
    this.rateLimitedCount = 0;
  }

  /** Logged requests for an operation, e.g. `CockroachCloud_AddAllowlistEntry2`. */
  requestsFor(operationId: string): StandInRequestLog[] {
    return this.requests.filter((r) => r.operationId === operationId);
  }

  // ---- Request pipeline -----------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const method = req.method ?? 'GET';
    const log: StandInRequestLog = { method, path: url.pathname, query: url.search, time: Date.now() };
    this.requests.push(log);

    const validation = this.validator.validateRequest({
      method,
      url,
      ...(req.headers['content-type'] !== undefined ? { contentType: req.headers['content-type'] } : {}),
      body: rawBody,
    });
    const match = validation.match;
    if (match !== undefined) log.operationId = match.operationId;
    const problems = [...validation.problems, ...checkHeaders(req)];
    if (problems.length > 0) {
      for (const message of problems) {
        this.violations.push({ kind: 'request', method, path: url.pathname, ...(match ? { operationId: match.operationId } : {}), message });
      }
      const status = validation.routing === 'notFound' ? 404 : validation.routing === 'methodNotAllowed' ? 405 : 400;
      return this.send(res, log, match, status === 405 ? { status, body: '' } : statusReply(status, `request does not conform to the Cloud API spec: ${problems[0] ?? ''}`));
    }
    if (match === undefined) throw new Error('unreachable: validated request without a match');

    const token = bearerToken(req);
    const role = token === undefined ? undefined : this.keys.get(token);
    if (token === undefined || role === undefined) {
      return this.send(res, log, match, statusReply(401, 'the API key is not valid'));
    }

    if (this.rateLimit.enabled && this.rateLimited(token)) {
      this.rateLimitedCount++;
      return this.send(res, log, match, statusReply(429, 'rate limit exceeded: at most 10 requests per second per API key', { 'Retry-After': '1' }));
    }

    const fault = this.takeFault(method, url.pathname, match.operationId);
    if (fault !== undefined) log.fault = true;
    if (fault !== undefined && fault.afterApply !== true) return this.applyFault(res, log, match, fault);

    const allowed = this.operationRolesFor(match);
    if (allowed.length > 0 && !allowed.includes(role)) {
      return this.send(res, log, match, statusReply(403, `role ${role} may not call ${match.operationId}`));
    }

    const handler = this.handlers[match.operationId];
    if (handler === undefined) {
      this.violations.push({ kind: 'unsupported', method, path: url.pathname, operationId: match.operationId, message: `${match.operationId} is not emulated` });
      return this.send(res, log, match, statusReply(501, `${match.operationId} is not emulated by the stand-in`));
    }
    const clusterId = match.pathParams.cluster_id;
    const state = typeof clusterId === 'string' ? this.clusters.get(clusterId) : undefined;
    const reply = state === undefined ? statusReply(404, `cluster ${String(clusterId)} not found`) : handler({ match, body: validation.body, state });

    if (fault !== undefined) return this.applyFault(res, log, match, fault);
    return this.send(res, log, match, reply);
  }

  private applyFault(res: ServerResponse, log: StandInRequestLog, match: MatchedOperation, fault: StandInFault): void {
    if (fault.hang === true) {
      log.outcome = 'hung';
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    if (fault.drop === true) {
      log.outcome = 'dropped';
      res.socket?.destroy();
      return;
    }
    const status = fault.status ?? 503;
    const headers: Record<string, string> = {};
    if (fault.retryAfterHeader !== undefined) headers['Retry-After'] = fault.retryAfterHeader;
    else if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
    const reply = fault.body !== undefined ? { status, body: fault.body, headers } : statusReply(status, `injected fault (HTTP ${status})`, headers);
    this.send(res, log, match, reply);
  }

  private send(res: ServerResponse, log: StandInRequestLog, match: MatchedOperation | undefined, reply: Reply): void {
    if (match !== undefined && reply.status !== 405) {
      for (const message of this.validator.validateResponse(match, reply.status, reply.body, 'Status')) {
        this.violations.push({ kind: 'response', method: log.method, path: log.path, operationId: match.operationId, message });
      }
    }
    const text = reply.status === 405 ? '' : JSON.stringify(reply.body);
    log.status = reply.status;
    log.outcome = 'answered';
    res.writeHead(reply.status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      ...reply.headers,
    });
    res.end(text);
  }

  private rateLimited(token: string): boolean {
    const now = performance.now();
    const window = (this.rateWindows.get(token) ?? []).filter((t) => t > now - this.rateLimit.windowMs);
    this.rateWindows.set(token, window);
    if (window.length >= this.rateLimit.limit) return true;
    // Only requests let through count: a client backing off after a 429 is not punished further.
    window.push(now);
    return false;
  }

  private takeFault(method: string, path: string, operationId: string): StandInFault | undefined {
    const queued = this.faults.find(({ remaining, fault }) => remaining > 0 && faultMatches(fault.match, method, path, operationId));
    if (queued !== undefined) {
      queued.remaining--;
      if (queued.remaining === 0) this.faults.splice(this.faults.indexOf(queued), 1);
      return queued.fault;
    }
    if (this.random !== undefined && this.random.next() < this.random.probability) {
      const pick = Math.floor(this.random.next() * this.random.faults.length);
      return this.random.faults[pick];
    }
    return undefined;
  }

  /** Roles from the operation's description ("Can be used by the following roles ...: - CLUSTER_ADMIN"). */
  private operationRolesFor(match: MatchedOperation): readonly string[] {
    let roles = this.operationRoles.get(match.operationId);
    if (roles === undefined) {
      const description = match.operation.description ?? '';
      const list = description.split(/Can be used by the following roles[^\n]*\n/)[1] ?? '';
      roles = [...list.matchAll(/^\s*-\s*([A-Z_]+)\s*$/gm)].map((m) => m[1] ?? '');
      this.operationRoles.set(match.operationId, roles);
    }
    return roles;
  }

  // ---- Operations -----------------------------------------------------------------------------

  private listAllowlist({ match, state }: HandlerContext): Reply {
    const entries = [...state.allowlist.values()].sort(compareEntries);
    const page = this.paginate(match, entries, 'allowlist');
    if ('error' in page) return page.error;
    const propagating = state.propagatingCallsLeft > 0;
    if (propagating) state.propagatingCallsLeft--;
    return { status: 200, body: { allowlist: page.items, propagating, pagination: page.pagination } };
  }

  private addAllowlistEntry({ match, body, state }: HandlerContext, via: 'post' | 'put'): Reply {
    const fields = body as { cidr_ip?: string; cidr_mask?: number; name?: string; sql: boolean; ui: boolean };
    const cidrIp = via === 'put' ? String(match.pathParams.cidr_ip) : (fields.cidr_ip ?? '');
    const cidrMask = via === 'put' ? Number(match.pathParams.cidr_mask) : (fields.cidr_mask ?? -1);
    const invalid = checkCidr(cidrIp, cidrMask);
    if (invalid !== undefined) return statusReply(400, invalid);
    const key = `${cidrIp}/${cidrMask}`;
    if (state.allowlist.has(key) && (via === 'post' || this.putExisting === 'conflict')) {
      return statusReply(409, `allowlist entry ${key} already exists`);
    }
    const entry: StandInAllowlistEntry = { cidr_ip: cidrIp, cidr_mask: cidrMask, sql: fields.sql, ui: fields.ui, ...(fields.name !== undefined ? { name: fields.name } : {}) };
    state.allowlist.set(key, entry);
    state.propagatingCallsLeft = this.propagatingListCalls;
    return { status: 200, body: entry };
  }

  private updateAllowlistEntry({ match, body, state }: HandlerContext): Reply {
    const key = `${String(match.pathParams.cidr_ip)}/${Number(match.pathParams.cidr_mask)}`;
    const existing = state.allowlist.get(key);
    if (existing === undefined) return statusReply(404, `allowlist entry ${key} not found`);
    const fields = body as { name?: string; sql: boolean; ui: boolean };
    const entry: StandInAllowlistEntry = { ...existing, sql: fields.sql, ui: fields.ui, ...(fields.name !== undefined ? { name: fields.name } : {}) };
    state.allowlist.set(key, entry);
    state.propagatingCallsLeft = this.propagatingListCalls;
    return { status: 200, body: entry };
  }

  private deleteAllowlistEntry({ match, state }: HandlerContext): Reply {
    const key = `${String(match.pathParams.cidr_ip)}/${Number(match.pathParams.cidr_mask)}`;
    const existing = state.allowlist.get(key);
    if (existing === undefined) return statusReply(404, `allowlist entry ${key} not found`);
    state.allowlist.delete(key);
    state.propagatingCallsLeft = this.propagatingListCalls;
    return { status: 200, body: existing };
  }

  private listUsers({ match, state }: HandlerContext): Reply {
    const names = [...state.users.keys()].sort();
    const page = this.paginate(match, names, 'users');
    if ('error' in page) return page.error;
    return { status: 200, body: { users: page.items.map((name) => ({ name })), pagination: page.pagination } };
  }

  private createUser({ body, state }: HandlerContext): Reply {
    const { name, password } = body as { name: string; password: string };
    if (!/^[a-z_][a-z0-9_.-]{0,62}$/.test(name)) return statusReply(400, `invalid user name ${JSON.stringify(name)}`);
    if (password.length === 0) return statusReply(400, 'password must not be empty');
    if (state.users.has(name)) return statusReply(409, `user ${name} already exists`);
    state.users.set(name, { name, password, admin: true });
    return { status: 200, body: { name } };
  }

  private deleteUser({ match, state }: HandlerContext): Reply {
    const name = String(match.pathParams.name);
    if (!state.users.delete(name)) return statusReply(404, `user ${name} not found`);
    return { status: 200, body: { name } };
  }

  private setPassword({ match, body, state }: HandlerContext): Reply {
    const name = String(match.pathParams.name);
    const user = state.users.get(name);
    if (user === undefined) return statusReply(404, `user ${name} not found`);
    const { password } = body as { password: string };
    if (password.length === 0) return statusReply(400, 'password must not be empty');
    user.password = password;
    return { status: 200, body: { name } };
  }

  private connectionString({ match, state }: HandlerContext): Reply {
    const database = typeof match.query.database === 'string' ? match.query.database : 'defaultdb';
    const user = typeof match.query.sql_user === 'string' ? match.query.sql_user : undefined;
    const os = typeof match.query.os === 'string' ? match.query.os : undefined;
    if (state.plan === 'ADVANCED' && os === undefined) return statusReply(400, 'os is required for dedicated clusters');
    const regions = state.cluster.regions as Array<{ sql_dns: string; primary?: boolean }>;
    const host = (regions.find((r) => r.primary === true) ?? regions[0])?.sql_dns ?? '';
    const params = new URLSearchParams({ sslmode: 'verify-full' });
    if (state.plan === 'ADVANCED') {
      params.set('sslrootcert', os === 'MAC' ? `$HOME/Library/CockroachCloud/certs/${String(state.cluster.name)}-ca.crt` : '$HOME/.postgresql/root.crt');
    }
    return {
      status: 200,
      body: {
        connection_string: `postgresql://${user === undefined ? '' : `${encodeURIComponent(user)}@`}${host}:26257/${encodeURIComponent(database)}?${params.toString()}`,
        params: { Host: host, Port: '26257', Database: database, ...(user !== undefined ? { Username: user } : {}) },
      },
    };
  }

  private paginate<T>(
    match: MatchedOperation,
    items: readonly T[],
    kind: string,
  ): { items: T[]; pagination: { next_page?: string } } | { error: Reply } {
    const rawLimit = match.query['pagination.limit'];
    const asked = typeof rawLimit === 'number' ? rawLimit : this.defaultPageSize;
    if (asked < 0) return { error: statusReply(400, 'pagination.limit must not be negative') };
    const limit = Math.min(asked === 0 ? this.defaultPageSize : asked, this.maxPageSize);
    let offset = 0;
    const token = match.query['pagination.page'];
    if (typeof token === 'string' && token !== '') {
      const decoded = decodePageToken(token, kind, String(match.pathParams.cluster_id));
      if (decoded === undefined) return { error: statusReply(400, 'invalid pagination.page token') };
      offset = decoded;
    }
    const slice = items.slice(offset, offset + limit);
    const next = offset + limit < items.length ? encodePageToken(offset + limit, kind, String(match.pathParams.cluster_id)) : undefined;
    return { items: slice, pagination: next === undefined ? {} : { next_page: next } };
  }
}

// ---- Helpers ----------------------------------------------------------------------------------

function statusReply(status: number, message: string, headers?: Record<string, string>): Reply {
  return { status, body: { code: GRPC_FOR_HTTP[status] ?? GRPC.INTERNAL, message, details: [] }, ...(headers ? { headers } : {}) };
}

function checkHeaders(req: IncomingMessage): string[] {
  const problems: string[] = [];
  const authorization = req.headers.authorization;
  if (authorization === undefined) problems.push('the Authorization header is missing (the spec requires Bearer authentication)');
  else if (!/^Bearer \S+$/.test(authorization)) problems.push('the Authorization header is not of the form `Bearer <api key>`');
  const version = req.headers['cc-version'];
  if (version === undefined) problems.push('the Cc-Version header is missing');
  else if (version !== CLOUD_API_VERSION) problems.push(`Cc-Version is ${String(version)}, expected ${CLOUD_API_VERSION}`);
  return problems;
}

function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  return match?.[1];
}

function faultMatches(match: StandInFaultMatch | undefined, method: string, path: string, operationId: string): boolean {
  if (match === undefined) return true;
  if (match.method !== undefined && match.method.toUpperCase() !== method.toUpperCase()) return false;
  if (match.operationId !== undefined && match.operationId !== operationId) return false;
  if (match.path !== undefined && !match.path.test(path)) return false;
  return true;
}

function checkCidr(ip: string, mask: number): string | undefined {
  if (!ipaddr.IPv4.isValidFourPartDecimal(ip)) return `cidr_ip ${JSON.stringify(ip)} is not an IPv4 address`;
  if (!Number.isInteger(mask) || mask < 0 || mask > 32) return `cidr_mask ${mask} is out of range`;
  const network = ipaddr.IPv4.networkAddressFromCIDR(`${ip}/${mask}`).toString();
  if (network !== ip) return `cidr_ip ${ip} has host bits set for /${mask}; use ${network}`;
  return undefined;
}

function compareEntries(a: StandInAllowlistEntry, b: StandInAllowlistEntry): number {
  const toNumber = (ip: string) => ipaddr.IPv4.parse(ip).toByteArray().reduce((n, byte) => n * 256 + byte, 0);
  return toNumber(a.cidr_ip) - toNumber(b.cidr_ip) || a.cidr_mask - b.cidr_mask;
}

function encodePageToken(offset: number, kind: string, clusterId: string): string {
  return Buffer.from(JSON.stringify({ o: offset, k: kind, c: clusterId })).toString('base64url');
}

function decodePageToken(token: string, kind: string, clusterId: string): number | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown; k?: unknown; c?: unknown };
    return typeof parsed.o === 'number' && parsed.k === kind && parsed.c === clusterId ? parsed.o : undefined;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Small seeded PRNG (mulberry32): the same seed gives the same fault sequence. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A `Cluster` as the API returns it, filled with plausible values. */
function buildCluster({ id, name, plan, cloudProvider = 'GCP', regions = [{ name: 'us-central1' }] }: StandInClusterInit): Record<string, unknown> {
  const provider = cloudProvider.toLowerCase();
  const advanced = plan === 'ADVANCED';
  const routingId = `${name}-${id.slice(0, 4)}`;
  const dnsFor = (region: string) => (advanced ? `${name}-${id.slice(0, 4)}.${provider}-${region}.cockroachlabs.cloud` : `${routingId}.j77.${provider}-${region}.cockroachlabs.cloud`);
  const builtRegions = regions.map((region) => ({
    name: region.name,
    sql_dns: region.sqlDns ?? dnsFor(region.name),
    ui_dns: advanced ? `admin-${dnsFor(region.name)}` : '',
    internal_dns: advanced ? `internal-${dnsFor(region.name)}` : '',
    private_endpoint_dns: '',
    node_count: region.nodeCount ?? (advanced ? 3 : 0),
    ...(region.primary !== undefined ? { primary: region.primary } : {}),
  }));
  return {
    id,
    name,
    cockroach_version: 'v24.3.1',
    upgrade_status: 'FINALIZED',
    plan,
    cloud_provider: cloudProvider,
    state: 'CREATED',
    creator_id: '7cde0cd9-0d8a-4008-8f90-45092ce8afc1',
    operation_status: 'UNSPECIFIED',
    config: advanced
      ? { dedicated: { machine_type: 'n2-standard-4', num_virtual_cpus: 4, storage_gib: 35, memory_gib: 16, disk_iops: 0 } }
      : { serverless: { routing_id: routingId, upgrade_type: 'AUTOMATIC', ...(plan === 'STANDARD' ? { usage_limits: { provisioned_virtual_cpus: '2' } } : {}) } },
    regions: builtRegions,
    cidr_range: advanced ? '172.28.0.0/14' : '',
    labels: {},
    is_customer_cloud_account: false,
    created_at: '2024-10-01T12:00:00Z',
    updated_at: '2024-10-01T12:05:00Z',
    delete_protection: 'DISABLED',
    network_visibility: 'PUBLIC',
  };
}
