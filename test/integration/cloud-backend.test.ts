/**
 * The `cloud` backend and its client against the Cloud API stand-in, over real HTTP. The stand-in
 * validates every request and response against the official OpenAPI document; each test ends by
 * asserting it saw no violation, so every call exercised here is proven to conform to the spec.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { CloudClusterAdmin, type CloudClusterAdminOptions } from '../../lib/cluster-admin/cloud/backend';
import { CloudApiClient, parseRetryAfter, type CloudApiClientOptions } from '../../lib/cluster-admin/cloud/client';
import { CloudApiPacers } from '../../lib/cluster-admin/cloud/pacer';
import {
  AlreadyExistsError,
  BackendError,
  InvalidInputError,
  NotFoundError,
  PermissionDeniedError,
  PropagationTimeoutError,
  RateLimitedError,
  TimeoutError,
  UnauthenticatedError,
  UnavailableError,
} from '../../lib/cluster-admin/errors';
import { type Grant, type PropagationProgress, type SqlPrivilegeManager } from '../../lib/cluster-admin/types';
import { createLogger } from '../../lib/log';
import { CloudApiStandIn, type StandInClusterInit } from '../../stand-ins/cloud-api';
import { plainText } from '../../lib/prose';
import { slackText, slackTextOf } from '../support/prose';

// Obviously fake credentials; long enough to be recognisable if they ever leak into a message.
const API_KEY = `CCDB1_fake_admin_${'a1'.repeat(12)}`;
const DEVELOPER_KEY = `CCDB1_fake_developer_${'b2'.repeat(12)}`;
const OP = {
  getCluster: 'CockroachCloud_GetCluster',
  connectionString: 'CockroachCloud_GetConnectionString',
  listAllowlist: 'CockroachCloud_ListAllowlistEntries',
  putEntry: 'CockroachCloud_AddAllowlistEntry2',
  patchEntry: 'CockroachCloud_UpdateAllowlistEntry',
  deleteEntry: 'CockroachCloud_DeleteAllowlistEntry',
  listUsers: 'CockroachCloud_ListSQLUsers',
  createUser: 'CockroachCloud_CreateSQLUser',
  deleteUser: 'CockroachCloud_DeleteSQLUser',
  setPassword: 'CockroachCloud_UpdateSQLUserPassword',
} as const;

const fakePassword = (): string => `pw-${randomBytes(12).toString('hex')}`;

let standIn: CloudApiStandIn;
let baseUrl: string;
let logLines: string[];
const admins: CloudClusterAdmin[] = [];

beforeAll(async () => {
  // Three entries per page at most, so small fixtures already span several pages.
  standIn = new CloudApiStandIn({
    apiKeys: [{ key: API_KEY }, { key: DEVELOPER_KEY, role: 'CLUSTER_DEVELOPER' }],
    maxPageSize: 3,
    propagatingListCalls: 0,
  });
  ({ baseUrl } = await standIn.start());
});

afterAll(async () => {
  await standIn.stop();
});

beforeEach(() => {
  logLines = [];
  standIn.clearFaults();
  standIn.resetLog();
  standIn.setRateLimit({ enabled: false });
  standIn.setPutExisting('replace');
  standIn.setPropagatingListCalls(0);
});

afterEach(async () => {
  await Promise.all(admins.splice(0).map((admin) => admin.close()));
  // Every request of every test must conform to the spec, and so must every stand-in answer.
  const violations = standIn.takeViolations();
  if (violations.length > 0) throw new Error(`OpenAPI violations:\n${JSON.stringify(violations, null, 2)}`);
});

/** A client with short timeouts and backoffs, unpaced unless a test asks otherwise. */
function client(overrides: Partial<CloudApiClientOptions> = {}): CloudApiClient {
  return new CloudApiClient({
    apiKey: API_KEY,
    baseUrl,
    timeoutMs: 2_000,
    retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
    pacers: new CloudApiPacers({ spacingMs: 0 }),
    logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
    ...overrides,
  });
}

/** A fresh stand-in cluster and a backend for it. */
function cluster(
  init: Partial<StandInClusterInit> = {},
  options: Partial<CloudClusterAdminOptions> & { clientOptions?: Partial<CloudApiClientOptions> } = {},
) {
  const id = init.id ?? randomUUID();
  const state = standIn.addCluster({ id, name: `test-${id.slice(0, 8)}`, plan: 'STANDARD', ...init });
  const { clientOptions, ...adminOptions } = options;
  const admin = new CloudClusterAdmin({ cluster: 'acme-prod', clusterId: id, client: client(clientOptions), ...adminOptions });
  admins.push(admin);
  return { id, state, admin };
}

function entries(count: number) {
  return Array.from({ length: count }, (_, i) => ({ cidr_ip: `198.51.100.${i * 4}`, cidr_mask: 30, sql: true, ui: i % 2 === 0, name: `entry-${i}` }));
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`rejected with a non-error: ${String(error)}`, { cause: error });
  }
  throw new Error('expected a rejection');
}

/** A privilege manager over nothing: records what the backend asks of it. */
class RecordingPrivileges implements SqlPrivilegeManager {
  readonly calls: string[] = [];
  failRevokeAdmin = false;
  closed = false;
  async grant(name: string, grants: readonly Grant[]): Promise<void> {
    this.calls.push(`grant ${name} ${JSON.stringify(grants)}`);
    return Promise.resolve();
  }
  async revoke(name: string, grants: readonly Grant[]): Promise<void> {
    this.calls.push(`revoke ${name} ${JSON.stringify(grants)}`);
    return Promise.resolve();
  }
  async revokeAdmin(name: string): Promise<void> {
    this.calls.push(`revokeAdmin ${name}`);
    if (this.failRevokeAdmin) throw new UnavailableError('The admin SQL connection is down.');
    return Promise.resolve();
  }
  async listAdmins(): Promise<string[]> {
    return Promise.resolve(['root']);
  }
  async close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

describe('cloud backend: IP allowlist', () => {
  it('lists every entry across pages, normalised, propagating if any page says so', async () => {
    const { admin, state } = cluster({ allowlist: entries(8) });
    state.propagatingCallsLeft = 1; // only the first page will say "propagating"

    const snapshot = await admin.listAllowlist();

    expect(standIn.requestsFor(OP.listAllowlist)).toHaveLength(3);
    expect(snapshot.entries).toHaveLength(8);
    expect(snapshot.entries[0]).toEqual({ cidr: '198.51.100.0/30', sql: true, ui: true, name: 'entry-0' });
    expect(snapshot.entries.map((e) => e.cidr)).toContain('198.51.100.28/30');
    expect(snapshot.propagating).toBe(true);
    expect(standIn.requests[0]?.query).toContain('pagination.limit=500');
  });

  it('upserts: created, then updated, then unchanged without any write', async () => {
    const { admin, id } = cluster();
    const entry = { cidr: '203.0.113.0/24', sql: true, ui: false, name: 'chatops:req1' };

    await expect(admin.upsertAllowlistEntry(entry)).resolves.toBe('created');
    await expect(admin.upsertAllowlistEntry({ ...entry, ui: true })).resolves.toBe('updated');
    standIn.resetLog();
    await expect(admin.upsertAllowlistEntry({ ...entry, ui: true })).resolves.toBe('unchanged');

    expect(standIn.requests.map((r) => r.operationId)).toEqual([OP.listAllowlist]);
    expect(standIn.state(id).allowlist.get('203.0.113.0/24')).toEqual({ cidr_ip: '203.0.113.0', cidr_mask: 24, sql: true, ui: true, name: 'chatops:req1' });
  });

  it('treats a 409 on a repeated PUT as its own earlier attempt having landed', async () => {
    const { admin, id } = cluster();
    standIn.setPutExisting('conflict');
    standIn.failNext(1, { match: { operationId: OP.putEntry }, afterApply: true, status: 503 });

    await expect(admin.upsertAllowlistEntry({ cidr: '192.0.2.0/28', sql: true, ui: false })).resolves.toBe('created');

    expect(standIn.requestsFor(OP.putEntry).map((r) => r.status)).toEqual([503, 409]);
    expect(standIn.requestsFor(OP.patchEntry)).toHaveLength(0);
    expect(standIn.state(id).allowlist.has('192.0.2.0/28')).toBe(true);
  });

  it('refuses a CIDR with host bits before calling the API', async () => {
    const { admin } = cluster();
    await expect(admin.upsertAllowlistEntry({ cidr: '203.0.113.7/24', sql: true, ui: false })).rejects.toBeInstanceOf(InvalidInputError);
    expect(standIn.requests).toHaveLength(0);
  });

  it('removes an entry, and reports false when removing it again', async () => {
    const { admin, id } = cluster({ allowlist: entries(2) });
    await expect(admin.removeAllowlistEntry('198.51.100.4/30')).resolves.toBe(true);
    await expect(admin.removeAllowlistEntry('198.51.100.4/30')).resolves.toBe(false);
    expect([...standIn.state(id).allowlist.keys()]).toEqual(['198.51.100.0/30']);
  });

  it('counts a 404 after a dropped DELETE as removed by this call', async () => {
    const { admin } = cluster({ allowlist: entries(1) });
    standIn.failNext(1, { match: { operationId: OP.deleteEntry }, afterApply: true, drop: true });
    await expect(admin.removeAllowlistEntry('198.51.100.0/30')).resolves.toBe(true);
    expect(standIn.requestsFor(OP.deleteEntry).map((r) => r.outcome)).toEqual(['dropped', 'answered']);
  });

  it('finds the entries covering an address, narrowest first', async () => {
    const { admin } = cluster({
      allowlist: [
        { cidr_ip: '198.51.0.0', cidr_mask: 16, sql: true, ui: false },
        { cidr_ip: '198.51.100.0', cidr_mask: 24, sql: true, ui: true },
        { cidr_ip: '203.0.113.0', cidr_mask: 24, sql: true, ui: false },
        { cidr_ip: '198.51.100.64', cidr_mask: 26, sql: true, ui: false },
      ],
    });
    const covering = await admin.entriesCovering('198.51.100.70');
    expect(covering.map((e) => e.cidr)).toEqual(['198.51.100.64/26', '198.51.100.0/24', '198.51.0.0/16']);

    standIn.resetLog();
    await expect(admin.entriesCovering('198.51.100')).rejects.toBeInstanceOf(InvalidInputError);
    expect(standIn.requests).toHaveLength(0);
  });

  it('waits for propagation, reporting progress after every poll', async () => {
    const { admin, state } = cluster({ allowlist: entries(5) });
    state.propagatingCallsLeft = 2;
    const progress: PropagationProgress[] = [];

    await admin.waitForPropagation({ timeoutMs: 5_000, pollIntervalMs: 20, onProgress: (p) => void progress.push(p) });

    expect(progress.map((p) => [p.attempt, p.propagating])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    // One small page per poll: only the flag matters.
    expect(standIn.requestsFor(OP.listAllowlist).map((r) => r.query)).toEqual(Array(3).fill('?pagination.limit=1'));
  });

  it('gives up waiting for propagation with PropagationTimeoutError', async () => {
    const { admin, state } = cluster();
    state.propagatingCallsLeft = 1_000;
    const error = await rejection(admin.waitForPropagation({ timeoutMs: 150, pollIntervalMs: 40 }));
    expect(error).toBeInstanceOf(PropagationTimeoutError);
    expect(error.message).toContain('acme-prod');
  });
});

describe('cloud client: retries, timeouts and errors', () => {
  it('honours Retry-After on a 429 before retrying', async () => {
    const { admin } = cluster({ allowlist: entries(1) });
    standIn.failNext(1, { status: 429, retryAfterSeconds: 1 });

    const started = Date.now();
    await expect(admin.listAllowlist()).resolves.toMatchObject({ entries: [{ cidr: '198.51.100.0/30' }] });

    const [first, second] = standIn.requestsFor(OP.listAllowlist);
    expect(first?.status).toBe(429);
    expect(second?.status).toBe(200);
    // The log has millisecond timestamps; allow 5 ms for clock rounding between the two reads.
    expect((second?.time ?? 0) - (first?.time ?? 0)).toBeGreaterThanOrEqual(995);
    expect(Date.now() - started).toBeGreaterThanOrEqual(995);
  });

  it('parses Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2024-10-01T12:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter('Tue, 01 Oct 2024 12:00:05 GMT', now)).toBe(5_000);
    expect(parseRetryAfter('Tue, 01 Oct 2024 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('fails at once with RateLimitedError when Retry-After exceeds what it will wait', async () => {
    const { admin } = cluster();
    standIn.failNext(1, { status: 429, retryAfterSeconds: 120 });
    const error = await rejection(admin.listUsers());
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(120_000);
    expect(error.message).toBe('The Cloud API is rate limiting the key for acme-prod; try again in 120 s.');
    expect(standIn.requests).toHaveLength(1);
  });

  it('reports RateLimitedError when 429s outlast the retries', async () => {
    const { admin } = cluster();
    standIn.failNext(3, { status: 429, retryAfterSeconds: 0 });
    await expect(admin.listUsers()).rejects.toBeInstanceOf(RateLimitedError);
    expect(standIn.requests).toHaveLength(3);
  });

  it('retries a 5xx and succeeds', async () => {
    const { admin } = cluster({ allowlist: entries(2) });
    standIn.failNext(2, { status: 503 });
    await expect(admin.listAllowlist()).resolves.toMatchObject({ entries: [{}, {}] });
    expect(standIn.requestsFor(OP.listAllowlist).map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('turns a persistent 5xx into UnavailableError with a one-line message', async () => {
    const { admin } = cluster();
    standIn.failNext(10, { status: 500, body: { code: 13, message: 'internal error\nwhile reading\tthe allowlist' } });
    const error = await rejection(admin.listAllowlist());
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toBe(
      'The Cloud API could not read the IP allowlist on acme-prod (HTTP 500: internal error while reading the allowlist); try again in a few minutes.',
    );
    expect(standIn.requests).toHaveLength(3);
  });

  it('does not retry a 4xx', async () => {
    const { admin } = cluster();
    standIn.failNext(1, { status: 400, body: { code: 3, message: 'pagination.limit is too large' } });
    const error = await rejection(admin.listUsers());
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe('The Cloud API refused to list SQL users on acme-prod: pagination.limit is too large.');
    expect(standIn.requests).toHaveLength(1);
  });

  it('surfaces the Status message of a 404, naming the cluster id', async () => {
    const missingId = randomUUID();
    const admin = new CloudClusterAdmin({ cluster: 'acme-gone', clusterId: missingId, client: client() });
    const error = await rejection(admin.listAllowlist());
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toBe(
      `Cloud cluster ${missingId} (acme-gone) was not found: cluster ${missingId} not found; check the cluster id in the configuration.`,
    );

    const { admin: present, id } = cluster();
    const userError = await rejection(present.setPassword('ghost', fakePassword()));
    expect(userError).toBeInstanceOf(NotFoundError);
    expect(slackTextOf(userError)).toBe(`SQL user \`ghost\` was not found on acme-prod (cluster ${id}): user ghost not found.`);
  });

  it('says a rejected key must be replaced (401)', async () => {
    const wrongKey = `CCDB1_fake_revoked_${'c3'.repeat(12)}`;
    const { admin } = cluster({}, { clientOptions: { apiKey: wrongKey } });
    const error = await rejection(admin.listAllowlist());
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error.message).toBe(
      'The Cloud API key for acme-prod was rejected; create a new service account API key and update the configured secret.',
    );
    expect(standIn.requests).toHaveLength(1);
  });

  it('names the Cloud role the key lacks (403)', async () => {
    const { admin, id } = cluster({}, { clientOptions: { apiKey: DEVELOPER_KEY } });
    // A Cluster Developer may read the allowlist ...
    await expect(admin.listAllowlist()).resolves.toMatchObject({ entries: [] });
    // ... but not change it, nor manage SQL users.
    const allowlistError = await rejection(admin.upsertAllowlistEntry({ cidr: '203.0.113.0/24', sql: true, ui: false }));
    expect(allowlistError).toBeInstanceOf(PermissionDeniedError);
    expect(allowlistError.message).toBe(
      `The Cloud API key for acme-prod may not change the IP allowlist: its service account needs the Cluster Admin or Cluster Operator role on cluster ${id}.`,
    );
    const userError = await rejection(admin.createUser('alice', fakePassword()));
    expect(userError).toBeInstanceOf(PermissionDeniedError);
    expect(userError.message).toContain('needs the Cluster Admin (Cluster Operator is not enough to manage SQL users) role');
  });

  it('times out a hanging request within the configured timeout', async () => {
    const { admin } = cluster({}, { clientOptions: { timeoutMs: 300, retry: { maxAttempts: 1 } } });
    standIn.failNext(1, { hang: true });
    const started = Date.now();
    const error = await rejection(admin.listUsers());
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toBe('The Cloud API did not answer within 0.3 s when asked to list SQL users on acme-prod; try again shortly.');
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(300 + 300);
  });

  it('retries a read that timed out', async () => {
    const { admin } = cluster({ users: [{ name: 'bob', password: fakePassword() }] }, { clientOptions: { timeoutMs: 200 } });
    standIn.failNext(1, { hang: true });
    await expect(admin.listUsers()).resolves.toEqual(['bob']);
    expect(standIn.requestsFor(OP.listUsers).map((r) => r.outcome)).toEqual(['hung', 'answered']);
  });
});

describe('cloud client: random faults', () => {
  it('rides out seeded random faults, and the same seed replays the same faults', async () => {
    const { admin } = cluster({ users: [{ name: 'mallory', password: fakePassword() }] }, { clientOptions: { retry: { maxAttempts: 8, baseDelayMs: 1, maxDelayMs: 5 } } });
    const faults = [{ status: 503 }, { status: 429, retryAfterSeconds: 0 }, { drop: true }, { status: 502 }];
    const run = async () => {
      standIn.resetLog();
      standIn.setRandomFaults({ probability: 0.3, seed: 7, faults });
      for (let i = 0; i < 15; i++) await expect(admin.listUsers()).resolves.toEqual(['mallory']);
      return standIn.requests.map((r) => `${r.status ?? r.outcome ?? '?'}`);
    };

    const first = await run();
    const second = await run();

    expect(first.filter((s) => s !== '200').length).toBeGreaterThan(0);
    expect(second).toEqual(first);
  });
});

describe('cloud client: pacing', () => {
  it('keeps 30 calls on one key under 10 per second: about 3 s, and no 429 from the limiter', async () => {
    const { id } = cluster({ allowlist: entries(1) });
    standIn.setRateLimit({ enabled: true });
    // Two clients, one key, one shared registry: they share one pacer.
    const pacers = new CloudApiPacers();
    const first = client({ pacers, retry: { maxAttempts: 1 } });
    const second = client({ pacers, retry: { maxAttempts: 1 } });
    const ref = { cluster: 'acme-prod', clusterId: id };

    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? first : second).listAllowlistPage(ref)));
    const elapsed = Date.now() - started;

    expect(results.every((page) => page.entries.length === 1)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(2_900);
    expect(standIn.rateLimitedCount).toBe(0);
    expect(standIn.requests.map((r) => r.status)).toEqual(Array(30).fill(200));
  });

  it('the stand-in limiter does answer 429 to an unpaced burst (so the test above means something)', async () => {
    const { id } = cluster();
    standIn.setRateLimit({ enabled: true });
    const unpaced = client({ retry: { maxAttempts: 1 } });
    const ref = { cluster: 'acme-prod', clusterId: id };

    const outcomes = await Promise.allSettled(Array.from({ length: 15 }, () => unpaced.listSqlUsersPage(ref)));

    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(10);
    expect(outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof RateLimitedError)).toHaveLength(5);
    expect(standIn.rateLimitedCount).toBe(5);
  });
});

describe('cloud backend: SQL users', () => {
  it('creates an admin user when no admin SQL connection is configured, and says so', async () => {
    const { admin, id } = cluster();
    const password = fakePassword();

    const result = await admin.createUser('alice', password);

    expect(result.created).toBe(true);
    expect(result.privileges).toBe('admin');
    expect(result.notes.map(plainText).join(' ')).toContain('alice is an admin of acme-prod');
    expect(standIn.state(id).users.get('alice')).toEqual({ name: 'alice', password, admin: true });
    expect(admin.listAdmins).toBeUndefined();
  });

  it('with an admin SQL connection, takes admin away and applies the grants', async () => {
    const privileges = new RecordingPrivileges();
    const grants: Grant[] = [{ kind: 'database', database: 'app', privileges: ['CONNECT'] }];
    const { admin } = cluster({}, { privileges, grants });

    const result = await admin.createUser('carol', fakePassword());

    expect(result).toEqual({ created: true, privileges: 'least-privilege', notes: [] });
    expect(privileges.calls).toEqual(['revokeAdmin carol', `grant carol ${JSON.stringify(grants)}`]);
    await expect(admin.listAdmins?.()).resolves.toEqual(['root']);
    await admin.revoke('carol', grants);
    expect(privileges.calls).toContain(`revoke carol ${JSON.stringify(grants)}`);
    await admin.close();
    expect(privileges.closed).toBe(true);
  });

  it('deletes a new user again when its admin role cannot be taken away', async () => {
    const privileges = new RecordingPrivileges();
    privileges.failRevokeAdmin = true;
    const { admin, id } = cluster({}, { privileges });

    const error = await rejection(admin.createUser('dave', fakePassword()));

    expect(error).toBeInstanceOf(BackendError);
    expect(slackTextOf(error)).toBe('Created `dave` on acme-prod but could not restrict its privileges (The admin SQL connection is down), so it was deleted again.');
    expect(standIn.state(id).users.has('dave')).toBe(false);
  });

  it('refuses grant and revoke without an admin SQL connection', async () => {
    const { admin } = cluster();
    const error = await rejection(admin.grant('alice', [{ kind: 'role', role: 'app_read' }]));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain('no admin SQL connection is configured');
    await expect(admin.revoke('alice', [{ kind: 'role', role: 'app_read' }])).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('never takes over a user that already exists; only a resumed request sets its password (created: false)', async () => {
    const original = fakePassword();
    const { admin, id } = cluster({ users: [{ name: 'erin', password: original }] });
    const password = fakePassword();

    const error = await rejection(admin.createUser('erin', password));
    expect(error).toBeInstanceOf(AlreadyExistsError);
    expect(slackTextOf(error)).toBe('A SQL user named `erin` already exists on acme-prod; the bot only creates new users and never takes one over.');
    expect(standIn.state(id).users.get('erin')?.password).toBe(original);

    const result = await admin.createUser('erin', password, { resume: true });
    expect(result.created).toBe(false);
    expect(standIn.state(id).users.get('erin')?.password).toBe(password);
  });

  it('refuses reserved names and reports what it sees of a user', async () => {
    const { admin } = cluster({ users: [{ name: 'root', password: fakePassword() }, { name: 'ivan', password: fakePassword() }] });
    for (const name of ['root', 'admin', 'crdb_chatops_managed', 'pg_monitor']) {
      await expect(admin.createUser(name, fakePassword())).rejects.toBeInstanceOf(InvalidInputError);
    }
    await expect(admin.setPassword('root', fakePassword())).rejects.toBeInstanceOf(InvalidInputError);
    await expect(admin.deleteUser('root')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(admin.inspectUser('ivan')).resolves.toEqual({ exists: true, privileges: [] });
    await expect(admin.inspectUser('root')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(admin.inspectUser('nobody')).resolves.toEqual({ exists: false, privileges: [] });
  });

  it('notes that the Cloud API cannot expire a user', async () => {
    const { admin } = cluster();
    const result = await admin.createUser('temp_user', fakePassword(), { validUntil: new Date('2030-01-01T00:00:00Z') });
    expect(slackText(result.notes[0])).toBe(
      "The Cloud API cannot set an expiry on a SQL user, so `temp_user` has none on the cluster; the bot's expiry sweep deletes it when it is due (2030-01-01T00:00:00.000Z).",
    );
  });

  it.each([
    ['the connection drops', { drop: true }],
    ['the server answers 503', { status: 503 }],
  ])('resolves an ambiguous create by listing users when %s after creating', async (_label, fault) => {
    const { admin, id } = cluster({ users: [{ name: 'aaron', password: fakePassword() }] });
    standIn.failNext(1, { match: { operationId: OP.createUser }, afterApply: true, ...fault });
    const password = fakePassword();

    const result = await admin.createUser('frank', password);

    expect(result.created).toBe(true);
    expect([...standIn.state(id).users.keys()].sort()).toEqual(['aaron', 'frank']);
    expect(standIn.state(id).users.get('frank')?.password).toBe(password);
    expect(standIn.requestsFor(OP.createUser)).toHaveLength(1);
    expect(standIn.requestsFor(OP.listUsers).length).toBeGreaterThanOrEqual(1);
    expect(standIn.requestsFor(OP.setPassword)).toHaveLength(1);
  });

  it('sends the create once more when the ambiguous attempt had not created the user', async () => {
    const { admin, id } = cluster();
    standIn.failNext(1, { match: { operationId: OP.createUser }, status: 503 });
    const password = fakePassword();

    await expect(admin.createUser('grace', password)).resolves.toMatchObject({ created: true });

    expect(standIn.requestsFor(OP.createUser).map((r) => r.status)).toEqual([503, 200]);
    expect(standIn.state(id).users.get('grace')?.password).toBe(password);
  });

  it('lists users across pages', async () => {
    const names = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'];
    const { admin } = cluster({ users: names.map((name) => ({ name, password: fakePassword() })) });
    await expect(admin.listUsers()).resolves.toEqual(names);
    expect(standIn.requestsFor(OP.listUsers)).toHaveLength(3);
  });

  it('deletes a user, and reports false when deleting it again', async () => {
    const { admin, id } = cluster({ users: [{ name: 'heidi', password: fakePassword() }] });
    await expect(admin.deleteUser('heidi')).resolves.toBe(true);
    await expect(admin.deleteUser('heidi')).resolves.toBe(false);
    expect(standIn.state(id).users.size).toBe(0);
  });

  it('refuses an invalid user name before calling the API', async () => {
    const { admin } = cluster();
    await expect(admin.createUser('Robert"); DROP', fakePassword())).rejects.toBeInstanceOf(InvalidInputError);
    expect(standIn.requests).toHaveLength(0);
  });

  it('reports a user that already exists as AlreadyExistsError from the client', async () => {
    const { id } = cluster({ users: [{ name: 'ivan', password: fakePassword() }] });
    const error = await rejection(client().createSqlUser({ cluster: 'acme-prod', clusterId: id }, 'ivan', fakePassword()));
    expect(error).toBeInstanceOf(AlreadyExistsError);
    expect(slackTextOf(error)).toBe('SQL user `ivan` already exists on acme-prod.');
  });
});

describe('cloud backend: connection details', () => {
  it.each(['BASIC', 'STANDARD'] as const)('uses the system CA for a %s cluster', async (plan) => {
    const { admin, state } = cluster({ plan });
    const host = (state.cluster.regions as Array<{ sql_dns: string }>)[0]?.sql_dns;

    const details = await admin.connectionDetails({ user: 'alice' });

    expect(details).toEqual({
      cluster: 'acme-prod',
      host,
      port: 26257,
      database: 'defaultdb',
      user: 'alice',
      region: 'us-central1',
      regions: [{ region: 'us-central1', host, primary: true }],
      ca: { kind: 'system' },
    });
    expect(standIn.requestsFor(OP.connectionString)[0]?.query).toBe('?database=defaultdb&sql_user=alice');
  });

  it('points an ADVANCED cluster at its CA certificate', async () => {
    const { admin, id, state } = cluster({ plan: 'ADVANCED' });

    const details = await admin.connectionDetails({ user: 'alice', database: 'app' });

    expect(details.ca).toEqual({
      kind: 'cluster-ca',
      sslrootcert: `$HOME/.postgresql/${String(state.cluster.name)}-ca.crt`,
      downloadUrl: `https://cockroachlabs.cloud/clusters/${id}/cert`,
    });
    expect(details.database).toBe('app');
    expect(standIn.requestsFor(OP.connectionString)[0]?.query).toBe('?database=app&sql_user=alice&os=LINUX');
  });

  it('lists regions primary first, selects one by name, and refuses an unknown one', async () => {
    const { admin, state } = cluster({
      plan: 'STANDARD',
      regions: [{ name: 'us-east1' }, { name: 'europe-west1', primary: true }, { name: 'asia-southeast1' }],
    });
    const hosts = Object.fromEntries((state.cluster.regions as Array<{ name: string; sql_dns: string }>).map((r) => [r.name, r.sql_dns]));

    const primary = await admin.connectionDetails({ user: 'alice' });
    expect(primary.regions.map((r) => [r.region, r.primary])).toEqual([
      ['europe-west1', true],
      ['us-east1', false],
      ['asia-southeast1', false],
    ]);
    expect(primary).toMatchObject({ region: 'europe-west1', host: hosts['europe-west1'] });

    const chosen = await admin.connectionDetails({ user: 'alice', region: 'asia-southeast1' });
    expect(chosen).toMatchObject({ region: 'asia-southeast1', host: hosts['asia-southeast1'] });

    const error = await rejection(admin.connectionDetails({ user: 'alice', region: 'mars-north1' }));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(slackTextOf(error)).toBe('acme-prod has no region `mars-north1`; its regions are europe-west1, us-east1, asia-southeast1.');
    // Cluster facts are cached: one GET for three lookups.
    expect(standIn.requestsFor(OP.getCluster)).toHaveLength(1);
  });
});

describe('cloud backend: secrets stay out of messages and logs', () => {
  it('never puts the API key or a password into an error message or a log line', async () => {
    const password = fakePassword();
    const revokedKey = `CCDB1_fake_revoked_${'d4'.repeat(12)}`;
    const { admin, id } = cluster({ users: [{ name: 'judy', password: fakePassword() }] }, { clientOptions: { timeoutMs: 200 } });
    const errors: Error[] = [];
    const collect = async (promise: Promise<unknown>) => errors.push(await rejection(promise));

    // A server that echoes the password back in its error message.
    standIn.failNext(1, { match: { operationId: OP.setPassword }, status: 400, body: { code: 3, message: `password "${password}" is too weak` } });
    await collect(admin.setPassword('judy', password));
    standIn.failNext(3, { match: { operationId: OP.setPassword }, status: 503, body: { code: 14, message: `cannot set ${password}` } });
    await collect(admin.setPassword('judy', password));
    // The POST times out, then so does every attempt to list users: the outcome stays unknown.
    standIn.failNext(4, { hang: true });
    await collect(admin.createUser('kim', password));
    await collect(new CloudClusterAdmin({ cluster: 'acme-prod', clusterId: id, client: client({ apiKey: revokedKey }) }).listAllowlist());

    expect(errors.map((e) => e.constructor.name)).toEqual(['InvalidInputError', 'UnavailableError', 'TimeoutError', 'UnauthenticatedError']);
    expect(errors[0]?.message).toBe('The Cloud API refused to change SQL user passwords on acme-prod: password "[REDACTED]" is too weak.');
    expect(logLines.length).toBeGreaterThan(0);
    const everything = [...errors.flatMap((e) => [e.message, String(e), String((e.cause as Error | undefined)?.message)]), ...logLines].join('\n');
    for (const secret of [API_KEY, revokedKey, password]) expect(everything).not.toContain(secret);
  });
});

describe('Cloud API stand-in', () => {
  it('flags a request that does not conform to the spec', async () => {
    const { id } = cluster();
    const response = await fetch(`${baseUrl}/api/v1/clusters/${id}/networking/allowlist/203.0.113.0/twenty-four?verbose=1`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ sql: 'yes' }),
    });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 3, message: expect.stringContaining('does not conform') as unknown });
    const messages = standIn.takeViolations().map((v) => v.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringContaining('path parameter cidr_mask: (root) must be integer'),
        expect.stringContaining('query parameter verbose is not declared'),
        expect.stringContaining("request body: (root) must have required property 'ui'"),
        expect.stringContaining('request body: /sql must be boolean'),
        'the Cc-Version header is missing',
      ]),
    );
    expect(standIn.state(id).allowlist.size).toBe(0);
  });

  it('flags a response that does not conform to the spec', () => {
    const match = standIn.validator.operation(OP.getCluster);
    expect(match).toBeDefined();
    if (match === undefined) return;
    expect(standIn.validator.validateResponse(match, 200, { id: 'x', name: 'y' }, 'Status')).toContainEqual(
      expect.stringContaining("must have required property 'plan'"),
    );
    expect(standIn.validator.validateResponse(match, 404, { code: 'NOT_FOUND' }, 'Status')).toContainEqual(
      expect.stringContaining('/code must be integer'),
    );
  });
});
