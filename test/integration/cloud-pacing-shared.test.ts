/**
 * The Cloud API's 10 requests per second per key, held across processes: several "instances" (each
 * with its own DynamoDB client, state-table store, pacer registry and Cloud API client, as
 * concurrent worker and audit invocations on Lambda have) call the stand-in with one key at once.
 * Their only shared state is the state table, where each request claims a send slot
 * (`SharedSlotPacer`). The stand-in limits for real (429 + Retry-After over 10 requests in any
 * 1000 ms) and logs each request's arrival.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { CloudApiClient } from '../../lib/cluster-admin/cloud/client';
import { CloudApiPacers, SHARED_SLOT_MS } from '../../lib/cluster-admin/cloud/pacer';
import { RateLimitedError } from '../../lib/cluster-admin/errors';
import { createLogger } from '../../lib/log';
import { DynamoRequestStore } from '../../lib/requests/dynamo-store';
import { maxInWindow } from '../../bench/lib/stats';
import { CloudApiStandIn } from '../../stand-ins/cloud-api';
import { testDynamo } from '../support/env';

const API_KEY = `CCDB1_fake_pacing_${'c3'.repeat(12)}`;
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-not-a-secret' };
const INSTANCES = 3;
const CALLS_PER_INSTANCE = 12;

let standIn: CloudApiStandIn;
let baseUrl: string;
let clusterId: string;
const stores: DynamoRequestStore[] = [];
const tableName = `pacing-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  standIn = new CloudApiStandIn({ apiKeys: [{ key: API_KEY }], propagatingListCalls: 0 });
  ({ baseUrl } = await standIn.start());
  clusterId = randomUUID();
  standIn.addCluster({ id: clusterId, name: 'pacing', plan: 'STANDARD' });
  const first = instanceStore();
  await first.ensureTable();
});

afterAll(async () => {
  for (const store of stores.splice(0)) store.close();
  await standIn.stop();
});

beforeEach(() => {
  standIn.resetLog();
  standIn.setRateLimit({ enabled: true });
});

function instanceStore(): DynamoRequestStore {
  const store = new DynamoRequestStore({ client: { endpoint: testDynamo().endpoint, region: 'us-east-1', credentials }, tableName, logger: createLogger({ level: 'silent' }) });
  stores.push(store);
  return store;
}

/** One instance's client: no retries, so a single 429 fails its call. */
function instanceClient(pacers: CloudApiPacers): CloudApiClient {
  return new CloudApiClient({ apiKey: API_KEY, baseUrl, timeoutMs: 5_000, retry: { maxAttempts: 1 }, pacers, logger: createLogger({ level: 'silent' }) });
}

/** Every instance lists the allowlist CALLS_PER_INSTANCE times, all at once. */
async function burst(clients: readonly CloudApiClient[]): Promise<PromiseSettledResult<unknown>[]> {
  const ref = { cluster: 'pacing', clusterId };
  return Promise.all(clients.map((c) => Promise.allSettled(Array.from({ length: CALLS_PER_INSTANCE }, () => c.listAllowlistPage(ref))))).then((r) => r.flat());
}

/** The most requests the stand-in saw arrive within any 1000 ms (the bench's sliding-window count). */
const busiestSecond = (): number => maxInWindow(standIn.requests.map((r) => r.time), 1000);

describe('Cloud API pacing across processes', () => {
  it(`keeps ${INSTANCES} instances sharing a key at 10 requests in any second, with no 429`, async () => {
    const clients = Array.from({ length: INSTANCES }, () => instanceClient(new CloudApiPacers({ claims: instanceStore() })));

    const outcomes = await burst(clients);

    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    expect(standIn.rateLimitedCount).toBe(0);
    expect(standIn.requests).toHaveLength(INSTANCES * CALLS_PER_INSTANCE);
    expect(busiestSecond()).toBeLessThanOrEqual(10);
  });

  it('the same instances pacing only themselves exceed the limit (so the test above means something)', async () => {
    const clients = Array.from({ length: INSTANCES }, () => instanceClient(new CloudApiPacers()));

    const outcomes = await burst(clients);

    const limited = outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof RateLimitedError);
    expect(limited.length).toBeGreaterThan(0);
    expect(standIn.rateLimitedCount).toBe(limited.length);
  });

  it('claims each slot once, whoever asks', async () => {
    const [a, b] = [instanceStore(), instanceStore()];
    const keyId = randomBytes(16).toString('hex');
    const slot = Math.floor(Date.now() / SHARED_SLOT_MS) + 1_000;

    const results = await Promise.all([a.claimSendSlot(keyId, slot), b.claimSendSlot(keyId, slot), a.claimSendSlot(keyId, slot + 1)]);

    expect(results.filter((r, i) => i < 2 && r)).toHaveLength(1);
    expect(results[2]).toBe(true);
    await expect(a.claimSendSlot('not hex; DROP', slot)).rejects.toThrow(/hex key id/);
  });
});
