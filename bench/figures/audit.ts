/**
 * Figure 6: the audit at scale. The bundled `audit` function (a fresh process per run, as a
 * scheduled invocation may be) reports on a Cloud cluster with N allowlist entries and 1,000 SQL
 * users, plus a small second cluster behind the same API key, against the Cloud API stand-in with
 * its 10 requests/s limiter on (429 + Retry-After). Per size: the invocation's time, the process's
 * peak memory, the highest number of Cloud API requests in any one-second window, and 429s.
 * Sizes 1,000 / (5,000) / 10,000 show how the time grows with the allowlist; the growth is judged
 * linear (or better) when no further 1,000 entries, size to size, cost more than 1.25 × the first
 * 1,000 (the whole audit at 1,000 entries).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../lib/log';
import { DynamoRequestStore } from '../../lib/requests/dynamo-store';
import { newRequestId } from '../../lib/requests/ids';
import { AwsSecretStore, createSecretsManagerClient } from '../../lib/secrets/aws-secrets-manager';
import { startDynalite } from '../../local/dynalite';
import { SlackWebApiServer } from '../../stand-ins/slack';
import { CloudApiStandIn, type StandInAllowlistEntry } from '../../stand-ins/cloud-api';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';
import { type Builds } from '../build';
import { type AuditRunResult } from '../children/audit-run';
import { figure, type Figure } from '../lib/figure';
import { forkForReply } from '../lib/processes';
import { max, maxInWindow, median } from '../lib/stats';
import { AWS_CREDENTIALS, BOT, FUNCTION_NODE_FLAGS } from '../lib/world';
import { SqsStandIn } from '../../stand-ins/sqs';

const USERS = 1_000;
const MANAGED = 200;
const WITH_SECRETS = 200;
const SMALL_ID = '5ca1e000-0000-4000-8000-000000000010';
const API_KEY = `CCDB1_fake_bench_audit_${'e5'.repeat(12)}`;
const AUDIT_CHANNEL = 'C0AUDIT';
const RATE_LIMIT_PER_S = 10;
/** No further 1,000 entries may cost more than this × the first 1,000. */
const LINEAR_RATIO = 1.25;

/** `11.a.b.1/32`: distinct, public, disjoint. */
function address(i: number): string {
  return `11.${(i >> 8) & 255}.${i & 255}.1`;
}

function bigClusterId(size: number): string {
  return `5ca1e000-0000-4000-8000-${String(size).padStart(12, '0')}`;
}

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

interface SizeRun extends AuditRunResult {
  readonly requests: number;
  readonly maxPerSecond: number;
  readonly meanPerSecond: number;
  readonly rateLimited: number;
  readonly violations: number;
}

export async function auditFigures(builds: Builds, { sizes, runs }: { sizes: readonly number[]; runs: number }): Promise<Figure[]> {
  const dynalite = await startDynalite();
  const cloud = new CloudApiStandIn({ apiKeys: [{ key: API_KEY }], defaultPageSize: 500, maxPageSize: 1_000, propagatingListCalls: 0 });
  const secretsManager = new SecretsManagerStandIn();
  const slack = new SlackWebApiServer({ bot: BOT, channels: [{ id: AUDIT_CHANNEL, name: 'db-audit' }] });
  const sqs = new SqsStandIn();
  const [{ baseUrl }, { endpoint: smEndpoint }] = await Promise.all([cloud.start(), secretsManager.start(), slack.start(), sqs.start()]);
  try {
    const ids = Array.from({ length: MANAGED }, (_, i) => newRequestId({ now: Date.now() - i }));
    const largest = Math.max(...sizes);
    const allowlist: StandInAllowlistEntry[] = Array.from({ length: largest }, (_, i) => ({
      cidr_ip: address(i),
      cidr_mask: 32,
      sql: true,
      ui: false,
      ...(i < MANAGED ? { name: `chatops:${ids[i] ?? ''}` } : {}),
    }));
    const users = Array.from({ length: USERS }, (_, i) => ({ name: `user_${i}`, password: 'not-a-real-password' }));
    for (const size of sizes) cloud.addCluster({ id: bigClusterId(size), name: `big-${size}`, plan: 'ADVANCED', cloudProvider: 'AWS', allowlist: allowlist.slice(0, size), users });
    cloud.addCluster({ id: SMALL_ID, name: 'small', plan: 'BASIC', allowlist: [{ cidr_ip: '12.0.0.1', cidr_mask: 32, sql: true, ui: false }] });

    // The bot's own records: 200 entries it made, 200 users with secrets (the rest are findings).
    const tableName = `crdb-chatops-bench-audit-${randomBytes(4).toString('hex')}`;
    const logger = createLogger({ level: 'silent' });
    const store = new DynamoRequestStore({ client: { endpoint: dynalite.endpoint, region: 'us-east-1', credentials: AWS_CREDENTIALS }, tableName, logger });
    await store.ensureTable();
    const createdAt = new Date().toISOString();
    await inBatches(ids, 25, (requestId) => store.putManagedEntry({ cluster: 'big', cidr: `${address(ids.indexOf(requestId))}/32`, requestId, requester: 'U0ALICE', sql: true, ui: false, createdAt }));
    const secrets = new AwsSecretStore({ client: createSecretsManagerClient({ region: 'us-east-1', endpoint: smEndpoint, credentials: AWS_CREDENTIALS }), logger });
    await inBatches(Array.from({ length: WITH_SECRETS }, (_, i) => `user_${i}`), 25, (user) =>
      secrets.create(
        `crdb-chatops/big/${user}`,
        { engine: 'cockroachdb', host: 'big.example', port: 26257, username: user, password: 'not-a-real-password', dbname: 'defaultdb', cluster: 'big' },
        { tags: { owner: 'U0ALICE', cluster: 'big' } },
      ),
    );
    cloud.setRateLimit({ enabled: true, limit: RATE_LIMIT_PER_S, windowMs: 1_000 });

    const env = (size: number): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: AWS_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: AWS_CREDENTIALS.secretAccessKey,
      AWS_LAMBDA_FUNCTION_NAME: 'crdb-chatops-audit',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      SLACK_BOT_TOKEN: BOT.token,
      SLACK_API_URL: slack.apiUrl,
      CLOUD_API_KEY: API_KEY,
      CHATOPS_CONFIG_JSON: JSON.stringify({
        slack: { botUserId: BOT.userId, botId: BOT.botId, botToken: { env: 'SLACK_BOT_TOKEN' } },
        secrets: { store: 'aws', region: 'us-east-1', endpoint: smEndpoint },
        state: { tableName, endpoint: dynalite.endpoint, region: 'us-east-1' },
        queue: { kind: 'sqs' },
        clusters: [
          { alias: 'big', backend: 'cloud', clusterId: bigClusterId(size), apiBaseUrl: baseUrl, apiKey: { env: 'CLOUD_API_KEY' }, auditChannel: AUDIT_CHANNEL },
          { alias: 'small', backend: 'cloud', clusterId: SMALL_ID, apiBaseUrl: baseUrl, apiKey: { env: 'CLOUD_API_KEY' } },
        ],
      }),
      QUEUE_URL: sqs.queueUrl,
      SQS_ENDPOINT: sqs.endpoint,
      LOG_LEVEL: 'info',
    });

    const runOnce = async (size: number): Promise<SizeRun> => {
      // A fresh one-second window for the limiter: the previous run's requests do not count.
      await sleep(1_100);
      cloud.resetLog();
      slack.reset();
      const result = await forkForReply<AuditRunResult>(builds.scripts['audit-run'], [builds.functions.audit.file], undefined, { env: env(size), flags: FUNCTION_NODE_FLAGS });
      if (!result.ok) throw new Error(`audit of ${size} entries failed: ${result.error ?? ''}`);
      const times = cloud.requests.map((r) => r.time);
      const span = times.length > 1 ? (max(times) - Math.min(...times)) / 1000 : 1;
      return {
        ...result,
        requests: times.length,
        maxPerSecond: maxInWindow(times, 1_000),
        meanPerSecond: times.length / Math.max(span, 1e-3),
        rateLimited: cloud.rateLimitedCount,
        violations: cloud.violations.length,
      };
    };

    const bySize = new Map<number, SizeRun[]>();
    for (let round = 0; round < runs; round++) {
      for (const size of round % 2 === 0 ? sizes : [...sizes].reverse()) {
        const list = bySize.get(size) ?? [];
        list.push(await runOnce(size));
        bySize.set(size, list);
      }
    }
    const s = (value: number): number => Math.round(value) / 1000;
    const at = (size: number): SizeRun[] => bySize.get(size) ?? [];
    const smallest = Math.min(...sizes);
    const timeAt = (size: number): number => median(at(size).map((r) => r.invokeMs));
    const all = [...bySize.values()].flat();
    const rate = max(all.map((r) => r.maxPerSecond));
    const limited = all.reduce((n, r) => n + r.rateLimited, 0);
    const biggest = at(largest);
    const growth = [...sizes].sort((a, b) => a - b).map((size) => ({ entries: size, seconds: s(timeAt(size)), requests: median(at(size).map((r) => r.requests)) }));
    // What each further 1,000 entries cost, size to size (s per 1,000 entries).
    const segments = growth.slice(1).map((g, i) => {
      const from = growth[i] ?? { entries: 0, seconds: 0 };
      return { from: from.entries, to: g.entries, secondsPer1000: (g.seconds - from.seconds) / ((g.entries - from.entries) / 1000) };
    });
    // The first 1,000 entries cost the whole audit at the smallest size (its fixed costs included).
    const first1000 = growth[0] === undefined ? 0 : growth[0].seconds / (growth[0].entries / 1000);
    const timeRows = growth.slice(1).map((g) =>
      figure({
        name: `audit ${g.entries.toLocaleString('en-US')} entries: time`,
        ours: g.seconds,
        baseline: growth[0]?.seconds ?? null,
        unit: 's',
        runs,
        versus: `${smallest.toLocaleString('en-US')} entries`,
        details: { growth, perThousandEntriesS: segments.map((m) => ({ from: m.from, to: m.to, seconds: s(m.secondsPer1000 * 1000) })) },
      }),
    );
    // Linear or better: no further 1,000 entries cost more than 1.25 × the first 1,000 (sub-linear is
    // fine). The row shows the costliest further 1,000 and its ratio to the first.
    const costliest = segments.reduce<(typeof segments)[number] | undefined>((worst, m) => (worst === undefined || m.secondsPer1000 > worst.secondsPer1000 ? m : worst), undefined);
    const linear =
      costliest === undefined || first1000 <= 0
        ? undefined
        : figure({
            name: 'audit: costliest further 1,000 entries',
            ours: s(costliest.secondsPer1000 * 1000),
            baseline: s(first1000 * 1000),
            unit: 's',
            runs,
            versus: 'first 1,000',
            target: `ratio ≤ ${LINEAR_RATIO}`,
            details: {
              costliest: `${costliest.from.toLocaleString('en-US')} → ${costliest.to.toLocaleString('en-US')} entries`,
              segments: segments.map((m) => ({ from: m.from, to: m.to, secondsPer1000: s(m.secondsPer1000 * 1000), ratioToFirst1000: Math.round((m.secondsPer1000 / first1000) * 1000) / 1000 })),
            },
          });
    return [
      ...timeRows,
      ...(linear === undefined ? [] : [{ ...linear, met: linear.ratio !== null && linear.ratio <= LINEAR_RATIO }]),
      figure({
        name: `audit ${largest.toLocaleString('en-US')} entries: peak memory`,
        ours: Math.round(median(biggest.map((r) => r.maxRssKiB)) / 1024),
        baseline: Math.round(median(at(smallest).map((r) => r.maxRssKiB)) / 1024),
        unit: 'MiB',
        runs,
        versus: `${smallest.toLocaleString('en-US')} entries`,
        details: { peakHeapMiB: Math.round(median(biggest.map((r) => r.peakHeapBytes)) / 2 ** 20), what: 'maximum resident set size of the function process' },
      }),
      { ...figure({ name: 'audit: Cloud API requests in any 1 s', ours: rate, baseline: RATE_LIMIT_PER_S, unit: 'req/s', runs: all.length, versus: 'the limit', target: '≤ 10', details: { meanPerSecondAtLargest: Math.round(median(biggest.map((r) => r.meanPerSecond)) * 10) / 10, requestsAtLargest: median(biggest.map((r) => r.requests)) } }), met: rate <= RATE_LIMIT_PER_S },
      { ...figure({ name: 'audit: HTTP 429 from the stand-in', ours: limited, baseline: null, unit: '', runs: all.length, target: '0', details: { specViolations: all.reduce((n, r) => n + r.violations, 0) } }), met: limited === 0 },
    ];
  } finally {
    await Promise.all([cloud.stop(), secretsManager.stop(), slack.stop(), sqs.stop()]);
    await dynalite.close();
  }
}
