/**
 * The audit at scale: a 10,000-entry allowlist and 1,000 SQL users on the Cloud API stand-in with
 * its 10 requests/s limiter on, plus a second cluster behind the same API key. The audit must cost
 * one paged list per source (no call per entry or per user), stay inside the pace (no 429), and
 * still report every finding: one JSON record each, the most severe in the channel.
 *
 * Counts, not clocks: timing figures belong in `bench/`.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { type KnownBlock } from '@slack/types';
import { applyEnv, parseConfigDocument } from '../../lib/config';
import { createLogger, SecretRedactor } from '../../lib/log';
import { DynamoRequestStore } from '../../lib/requests/dynamo-store';
import { newRequestId } from '../../lib/requests/ids';
import { InProcessJobQueue } from '../../local/in-process-queue';
import { createRuntime, type Runtime } from '../../lib/compose/runtime';
import { MAX_FINDINGS_SHOWN } from '../../lib/slack/blocks';
import { SlackWebApiServer } from '../../stand-ins/slack';
import { CloudApiStandIn, type StandInAllowlistEntry } from '../../stand-ins/cloud-api';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';
import { testDynamo } from '../support/env';

const ENTRIES = 10_000;
const USERS = 1_000;
const MANAGED = 200;
/** `CloudClusterAdmin`'s page size (the stand-in serves up to 1,000). */
const PAGE_SIZE = 500;
const WITH_SECRETS = 200;
const BIG_ID = '5ca1e000-0000-4000-8000-000000010000';
const SMALL_ID = '5ca1e000-0000-4000-8000-000000000010';
const API_KEY = `CCDB1_fake_scale_${'e5'.repeat(12)}`;
const BOT_TOKEN = 'xoxb-test-scale-token';
const AUDIT_CHANNEL = 'C0AUDIT';
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

/** `11.a.b.1/32`: distinct, public, disjoint. */
function address(i: number): string {
  return `11.${(i >> 8) & 255}.${i & 255}.1`;
}

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

describe('audit at scale', () => {
  const cloud = new CloudApiStandIn({ apiKeys: [{ key: API_KEY }], defaultPageSize: 500, maxPageSize: 1_000, propagatingListCalls: 0 });
  const secretsManager = new SecretsManagerStandIn({ accessKeyIds: [credentials.accessKeyId] });
  const slack = new SlackWebApiServer({ bot: { token: BOT_TOKEN, userId: 'U0BOTUSER', botId: 'B0BOT' }, channels: [{ id: AUDIT_CHANNEL, name: 'db-audit' }] });
  const lines: string[] = [];
  let runtime: Runtime;

  beforeAll(async () => {
    const [{ baseUrl }, { endpoint }] = await Promise.all([cloud.start(), secretsManager.start(), slack.start()]);
    const ids = Array.from({ length: MANAGED }, (_, i) => newRequestId({ now: Date.now() - i }));
    const allowlist: StandInAllowlistEntry[] = Array.from({ length: ENTRIES }, (_, i) => ({
      cidr_ip: address(i),
      cidr_mask: 32,
      sql: true,
      ui: false,
      ...(i < MANAGED ? { name: `chatops:${ids[i] ?? ''}` } : {}),
    }));
    cloud.addCluster({ id: BIG_ID, name: 'big', plan: 'ADVANCED', cloudProvider: 'AWS', allowlist, users: Array.from({ length: USERS }, (_, i) => ({ name: `user_${i}`, password: 'not-a-real-password' })) });
    cloud.addCluster({ id: SMALL_ID, name: 'small', plan: 'BASIC', allowlist: [{ cidr_ip: '12.0.0.1', cidr_mask: 32, sql: true, ui: false }] });

    const tableName = `crdb-chatops-audit-scale-${randomBytes(4).toString('hex')}`;
    const document = {
      slack: { botUserId: 'U0BOTUSER', botId: 'B0BOT', botToken: { env: 'SLACK_BOT_TOKEN' } },
      secrets: { store: 'aws', region: 'us-east-1', endpoint },
      state: { tableName, endpoint: testDynamo().endpoint, region: 'us-east-1' },
      queue: { kind: 'in-process' },
      clusters: [
        { alias: 'big', backend: 'cloud', clusterId: BIG_ID, apiBaseUrl: baseUrl, apiKey: { env: 'CLOUD_API_KEY' }, auditChannel: AUDIT_CHANNEL },
        { alias: 'small', backend: 'cloud', clusterId: SMALL_ID, apiBaseUrl: baseUrl, apiKey: { env: 'CLOUD_API_KEY' } },
      ],
    };
    const env = { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slack.apiUrl, CLOUD_API_KEY: API_KEY, AWS_REGION: 'us-east-1' };
    const redactor = new SecretRedactor();
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger({ level: 'info', redactor, destination });
    const store = new DynamoRequestStore({ client: { endpoint: testDynamo().endpoint, region: 'us-east-1', credentials }, tableName, logger });
    await store.ensureTable();
    // No job runs here: the queue only has to exist.
    const queue = new InProcessJobQueue({ deliver: () => Promise.resolve(), logger });
    runtime = createRuntime(applyEnv(parseConfigDocument(document), env), { env, redactor, overrides: { queue, store, logger, awsCredentials: credentials } });

    const createdAt = new Date().toISOString();
    await inBatches(ids, 25, (requestId) =>
      store.putManagedEntry({ cluster: 'big', cidr: `${address(ids.indexOf(requestId))}/32`, requestId, requester: 'U0ALICE', sql: true, ui: false, createdAt }),
    );
    await inBatches(Array.from({ length: WITH_SECRETS }, (_, i) => `user_${i}`), 25, (user) =>
      runtime.secretStore.create(
        `crdb-chatops/big/${user}`,
        { engine: 'cockroachdb', host: 'big.example', port: 26257, username: user, password: 'not-a-real-password', dbname: 'defaultdb', cluster: 'big' },
        { tags: { owner: 'U0ALICE', cluster: 'big' } },
      ),
    );
    cloud.resetLog();
    // The client paces its starts 105 ms apart (10/s). On a loaded two-core machine (the crash
    // suite restarting processes beside it) requests can reach the stand-in a little closer
    // together than they left, so it allows 12 in any second: an unpaced audit sends hundreds.
    cloud.setRateLimit({ enabled: true, limit: 12 });
  });

  afterAll(async () => {
    await runtime.close();
    await Promise.all([cloud.stop(), secretsManager.stop(), slack.stop()]);
  });

  it('audits 10,000 entries and 1,000 users with one paged list per source, inside the pace, and reports every finding', async () => {
    const summary = await (await runtime.audit()).report();

    // API cost: pages, not entries. Both clusters share the key, so they share its pacer too.
    expect(cloud.rateLimitedCount).toBe(0);
    expect(cloud.violations).toEqual([]);
    const calls = (clusterId: string, operationId: string) => cloud.requests.filter((r) => r.path.includes(clusterId) && r.operationId === operationId).length;
    const pages = Math.ceil(ENTRIES / PAGE_SIZE);
    expect(calls(BIG_ID, 'CockroachCloud_ListAllowlistEntries')).toBe(pages);
    expect(calls(BIG_ID, 'CockroachCloud_ListSQLUsers')).toBe(Math.ceil(USERS / PAGE_SIZE));
    expect(calls(BIG_ID, 'CockroachCloud_GetCluster')).toBe(1);
    expect(cloud.requests).toHaveLength(pages + Math.ceil(USERS / PAGE_SIZE) + 1 + 3);
    expect(cloud.requests.every((r) => r.method === 'GET' && r.status === 200)).toBe(true);

    // Every finding: drift for each entry the bot did not make, a user without a secret for each
    // user without one, and the cap of an Advanced cluster on AWS (20), long passed.
    const big = summary.clusters.find((c) => c.cluster === 'big');
    const expected = ENTRIES - MANAGED + (USERS - WITH_SECRETS) + 1;
    expect(big).toMatchObject({ findings: expected, shown: expected, kept: 0, postedTo: AUDIT_CHANNEL });
    expect(summary.clusters.find((c) => c.cluster === 'small')).toMatchObject({ findings: 1, bySeverity: { high: 0, medium: 1, low: 0 } });
    const records = lines.map((line) => JSON.parse(line) as { event?: string; cluster?: string; rule?: string });
    const findings = records.filter((r) => r.event === 'audit.finding' && r.cluster === 'big');
    expect(findings).toHaveLength(expected);
    expect(findings.filter((r) => r.rule === 'drift')).toHaveLength(ENTRIES - MANAGED);
    expect(findings.filter((r) => r.rule === 'user-without-secret')).toHaveLength(USERS - WITH_SECRETS);
    expect(records.find((r) => r.event === 'audit.finding' && r.rule === 'cap')).toMatchObject({ facts: { entries: ENTRIES, cap: 20, level: 'over' } });

    // The channel gets the most severe findings, 20 to a message, the rest in the thread.
    const [top, ...thread] = slack.messages(AUDIT_CHANNEL);
    expect(top?.text).toBe(`Audit of big: ${expected} findings (1 high)`);
    expect(thread.every((m) => m.thread_ts === top?.ts)).toBe(true);
    expect(thread).toHaveLength(MAX_FINDINGS_SHOWN / 20 - 1);
    for (const message of [top, ...thread]) expect((message?.blocks ?? []).length).toBeLessThanOrEqual(50);
    const last = thread.at(-1)?.blocks as KnownBlock[] | undefined;
    expect(JSON.stringify(last?.at(-1))).toContain(`and ${(expected - MAX_FINDINGS_SHOWN).toLocaleString('en-US')} more`);
  });
});
