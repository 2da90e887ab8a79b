/**
 * Figure 5: round trips per operation, counted where they land: the state table (a counting
 * proxy in front of dynalite, by `X-Amz-Target`), Secrets Manager and the Cloud API (their
 * stand-ins' request logs), Slack (the emulator's Web API calls and response_url posts) and the
 * job queue. The whole bot runs in this process as in the integration tests: the slack handler,
 * the queue delivering to the worker handler, every port on its production adapter.
 *
 * Operations: `allow <ip>` (a single host: auto-approved) and `user create <name>` on a Cloud
 * cluster whose policy applies new users without approval, each from the command to the last
 * message, counted separately for the ack (slack function) and the rest (worker).
 */
import { randomBytes } from 'node:crypto';
import { type Context } from 'aws-lambda';
import { buildSlackFunction, slackHandler } from '../../lib/compose/slack-function';
import { workerHandler } from '../../lib/compose/worker-function';
import { applyEnv, parseConfigDocument } from '../../lib/config';
import { createLogger } from '../../lib/log';
import { DynamoRequestStore } from '../../lib/requests/dynamo-store';
import { type JobQueue } from '../../lib/requests/jobs';
import { InProcessJobQueue } from '../../local/in-process-queue';
import { createRuntime, type Runtime } from '../../lib/compose/runtime';
import { startDynalite } from '../../local/dynalite';
import { SlackDriver, SlackWebApiServer } from '../../stand-ins/slack';
import { CloudApiStandIn } from '../../stand-ins/cloud-api';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';
import { figure, type Figure } from '../lib/figure';
import { median } from '../lib/stats';
import { DynamoCounter } from '../../stand-ins/dynamo-counter';
import { APPROVERS_CHANNEL, AWS_CREDENTIALS, BOT, REQUESTER, SIGNING_SECRET } from '../lib/world';

const CLUSTER_ID = '7a1c1f0e-0000-4000-8000-00000000c0de';
const API_KEY = `CCDB1_fake_bench_${'b3'.repeat(12)}`;
const SECRET_WRITES = new Set(['CreateSecret', 'PutSecretValue', 'UpdateSecret', 'DeleteSecret', 'RestoreSecret', 'TagResource', 'UntagResource']);

/** What one operation cost, by party. */
export interface Trips {
  readonly tableWrites: number;
  readonly tableReads: number;
  /** Cloud API send-slot claims (PutItem of `PACE#…`): one per Cloud API request, not in `tableWrites`. */
  readonly slotClaims: number;
  readonly tableByOperation: Readonly<Record<string, number>>;
  readonly secretWrites: number;
  readonly secretReads: number;
  readonly clusterUserCreates: number;
  readonly clusterWrites: number;
  readonly clusterReads: number;
  readonly slackWebApi: number;
  readonly slackResponseUrl: number;
  readonly slackMethods: readonly string[];
  readonly queueMessages: number;
  /** The ack's share (the slack function): table writes and reads, queue messages. */
  readonly ack: { readonly tableWrites: number; readonly tableReads: number; readonly queueMessages: number };
}

interface Rig {
  readonly driver: SlackDriver;
  readonly queue: InProcessJobQueue;
  measure(text: string): Promise<Trips>;
  stop(): Promise<void>;
}

async function startRig(): Promise<Rig> {
  const dynalite = await startDynalite();
  const counter = new DynamoCounter(dynalite.endpoint);
  await counter.start();
  const secretsManager = new SecretsManagerStandIn();
  const { endpoint: smEndpoint } = await secretsManager.start();
  const cloud = new CloudApiStandIn({ apiKeys: [{ key: API_KEY }], propagatingListCalls: 1 });
  const { baseUrl } = await cloud.start();
  cloud.addCluster({ id: CLUSTER_ID, name: 'prod-eu', plan: 'STANDARD', regions: [{ name: 'europe-west1', sqlDns: 'prod-eu.gcp-europe-west1.cockroachlabs.cloud' }] });
  const slack = new SlackWebApiServer({ bot: BOT, users: [{ id: REQUESTER, name: 'alice' }], channels: [{ id: 'C0GENERAL', name: 'general' }, { id: APPROVERS_CHANNEL, name: 'db-approvers' }] });
  await slack.start();

  const tableName = `crdb-chatops-trips-${randomBytes(4).toString('hex')}`;
  const document = {
    // Bound to the emulator's workspace and response_urls, as a deployment is to Slack's.
    slack: { botUserId: BOT.userId, botId: BOT.botId, teamId: slack.team.id, responseUrlPrefix: `${slack.url}/response/`, signingSecret: { env: 'SLACK_SIGNING_SECRET' }, botToken: { env: 'SLACK_BOT_TOKEN' } },
    secrets: { store: 'aws', region: 'us-east-1', endpoint: smEndpoint },
    state: { tableName, endpoint: counter.endpoint, region: 'us-east-1' },
    queue: { kind: 'in-process' },
    clusters: [
      {
        alias: 'prod',
        backend: 'cloud',
        clusterId: CLUSTER_ID,
        apiBaseUrl: baseUrl,
        apiKey: { env: 'CLOUD_API_KEY' },
        approversChannel: APPROVERS_CHANNEL,
        approvers: ['U0BOB'],
        // The operation measured is the whole user creation, without an approval round.
        policy: { userCreateNeedsApproval: false },
      },
    ],
  };
  const env = { SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT.token, SLACK_API_URL: slack.apiUrl, CLOUD_API_KEY: API_KEY, AWS_REGION: 'us-east-1' };
  const config = applyEnv(parseConfigDocument(document), env);
  const logger = createLogger({ level: 'silent' });
  await new DynamoRequestStore({ client: { endpoint: dynalite.endpoint, region: 'us-east-1', credentials: AWS_CREDENTIALS }, tableName, logger }).ensureTable();

  const ref: { runtime?: Runtime } = {};
  const worker = workerHandler(() => {
    if (ref.runtime === undefined) throw new Error('runtime not ready');
    return ref.runtime;
  });
  const context = { awsRequestId: 'bench', functionName: 'worker' } as Context;
  const queue = new InProcessJobQueue({ deliver: (event) => worker(event, context), logger, redeliveryDelayMs: () => 10 });
  let enqueued = 0;
  const counting: JobQueue = {
    enqueue: (job, options) => {
      enqueued++;
      return queue.enqueue(job, options);
    },
  };
  const runtime = createRuntime(config, { env, overrides: { queue: counting, logger, awsCredentials: AWS_CREDENTIALS } });
  ref.runtime = runtime;
  const built = buildSlackFunction(runtime);
  const driver = new SlackDriver({ server: slack, signingSecret: SIGNING_SECRET, target: { kind: 'lambda', handler: slackHandler(() => built) } });
  // Warm up: secrets resolved, clients connected, so counts are per operation, not per cold start.
  await driver.slashCommand({ user: REQUESTER, text: 'help' });

  const measure = async (text: string): Promise<Trips> => {
    counter.reset();
    secretsManager.clearCalls();
    cloud.resetLog();
    slack.reset();
    enqueued = 0;
    const result = await driver.slashCommand({ user: REQUESTER, text });
    if (!result.acknowledged) throw new Error(`round trips: "${text}" was not acknowledged (${result.response.statusCode})`);
    const ackTable = counter.snapshot();
    const ackQueue = enqueued;
    await queue.drain();
    const table = counter.snapshot();
    const smCalls = secretsManager.calls();
    const violations = [...cloud.violations];
    if (violations.length > 0) throw new Error(`round trips: the Cloud API stand-in saw violations: ${JSON.stringify(violations[0])}`);
    const webApi = slack.calls();
    const responses = slack.responses();
    const failedText = responses.map((p) => JSON.stringify(p.body)).find((b) => /went wrong|failed/i.test(b));
    if (failedText !== undefined) throw new Error(`round trips: "${text}" failed: ${failedText}`);
    return {
      tableWrites: table.writes,
      tableReads: table.reads,
      slotClaims: table.slotClaims,
      tableByOperation: table.byOperation,
      secretWrites: smCalls.filter((c) => SECRET_WRITES.has(c.operation)).length,
      secretReads: smCalls.filter((c) => !SECRET_WRITES.has(c.operation)).length,
      clusterUserCreates: cloud.requestsFor('CockroachCloud_CreateSQLUser').length,
      clusterWrites: cloud.requests.filter((r) => r.method !== 'GET').length,
      clusterReads: cloud.requests.filter((r) => r.method === 'GET').length,
      slackWebApi: webApi.length,
      slackResponseUrl: responses.length,
      slackMethods: [...webApi.map((c) => c.method), ...responses.map(() => 'response_url')],
      queueMessages: enqueued,
      ack: { tableWrites: ackTable.writes, tableReads: ackTable.reads, queueMessages: ackQueue },
    };
  };

  return {
    driver,
    queue,
    measure,
    stop: async () => {
      await queue.drain();
      await runtime.close();
      await Promise.all([slack.stop(), cloud.stop(), secretsManager.stop(), counter.stop()]);
      await dynalite.close();
    },
  };
}

/** The median of each count over runs (they should not vary; `details` shows every run). */
function medianTrips(runs: readonly Trips[]): Trips {
  const first = runs[0];
  if (first === undefined) throw new Error('no runs');
  const m = (pick: (t: Trips) => number): number => median(runs.map(pick));
  return {
    ...first,
    tableWrites: m((t) => t.tableWrites),
    tableReads: m((t) => t.tableReads),
    secretWrites: m((t) => t.secretWrites),
    secretReads: m((t) => t.secretReads),
    clusterUserCreates: m((t) => t.clusterUserCreates),
    clusterWrites: m((t) => t.clusterWrites),
    clusterReads: m((t) => t.clusterReads),
    slackWebApi: m((t) => t.slackWebApi),
    slackResponseUrl: m((t) => t.slackResponseUrl),
    queueMessages: m((t) => t.queueMessages),
  };
}

export async function roundTripFigures(runs: number): Promise<Figure[]> {
  const rig = await startRig();
  const allowRuns: Trips[] = [];
  const createRuns: Trips[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      allowRuns.push(await rig.measure(`allow 198.51.100.${10 + i}`));
      createRuns.push(await rig.measure(`user create bench_user_${i}`));
    }
  } finally {
    await rig.stop();
  }
  const allow = medianTrips(allowRuns);
  const create = medianTrips(createRuns);
  const detail = (t: Trips, all: readonly Trips[]) => ({
    tableByOperation: t.tableByOperation,
    tableReads: t.tableReads,
    secretReads: t.secretReads,
    clusterReads: t.clusterReads,
    clusterWrites: t.clusterWrites,
    slackCalls: t.slackMethods,
    queueMessages: t.queueMessages,
    ack: t.ack,
    everyRunSame: all.every((r) => JSON.stringify({ ...r, slackMethods: [...r.slackMethods].sort() }) === JSON.stringify({ ...all[0], slackMethods: [...(all[0]?.slackMethods ?? [])].sort() })),
  });
  // A count: the row's name says of what.
  const row = (name: string, ours: number, target?: string, met?: boolean, details?: Record<string, unknown>): Figure =>
    figure({ name, ours, baseline: null, unit: '', runs, ...(target !== undefined && { target }), ...(met !== undefined && { met }), ...(details && { details }) });
  const slackCalls = (t: Trips): number => t.slackWebApi + t.slackResponseUrl;
  return [
    row('allow (auto-approved): cluster calls', allow.clusterWrites + allow.clusterReads, undefined, undefined, detail(allow, allowRuns)),
    row('allow (auto-approved): Slack calls', slackCalls(allow)),
    row('allow (auto-approved): table writes', allow.tableWrites),
    row('allow (auto-approved): Cloud API send slots', allow.slotClaims),
    row('user create: secret writes', create.secretWrites, '= 1', create.secretWrites === 1, detail(create, createRuns)),
    row('user create: cluster user creates', create.clusterUserCreates, '= 1', create.clusterUserCreates === 1),
    row('user create: Slack calls', slackCalls(create), '≤ 2', slackCalls(create) <= 2),
    row('user create: table writes', create.tableWrites, '≤ 3', create.tableWrites <= 3),
    row('user create: Cloud API send slots', create.slotClaims),
  ];
}
