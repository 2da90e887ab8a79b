/**
 * The whole bot wired as deployed, with every outside party replaced by a real-protocol stand-in:
 *
 * - Slack: the emulator's Web API server; the driver signs commands and clicks like Slack and
 *   delivers them as Function URL events to `handlers/slack.ts`'s handler;
 * - the queue: `InProcessJobQueue`, delivering SQS-shaped batches to `handlers/worker.ts`;
 * - DynamoDB: dynalite (real SDK); Secrets Manager: the JSON-protocol stand-in (real SDK);
 * - clusters: `local` on the real test PostgreSQL (sql backend), `prod` on the Cloud API stand-in.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './temp-dirs';
import { type Context } from 'aws-lambda';
import { applyEnv, type Config, parseConfigDocument } from '../../lib/config';
import { createLogger, type Logger, SecretRedactor } from '../../lib/log';
import { DynamoRequestStore } from '../../lib/requests/dynamo-store';
import { type RequestExecutorOptions } from '../../lib/requests/executor';
import { driveJob } from '../../lib/requests/jobs';
import { InProcessJobQueue } from '../../local/in-process-queue';
import { createRuntime, type Runtime } from '../../lib/compose/runtime';
import { type SlackMessage, SlackDriver, SlackWebApiServer, type DeliveryResult, type SlackTeam, invokeHandler, type SlackAppResponse } from '../../stand-ins/slack';
import { buildSlackFunction, slackHandler } from '../../lib/compose/slack-function';
import { workerHandler } from '../../lib/compose/worker-function';
import { CloudApiStandIn } from '../../stand-ins/cloud-api';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';
import { testDynamo, testPostgres } from './env';
import { type Metrics } from '../../lib/metrics';

export const USERS = {
  alice: 'U0ALICE',
  bob: 'U0BOB',
  carol: 'U0CAROL',
  admin: 'U0ADMIN',
  dave: 'U0DAVE',
  mallory: 'U0MALLORY',
} as const;
export const APPROVERS_CHANNEL = 'C0APPROVE';
export const PROD_CLUSTER_ID = '7a1c1f0e-0000-4000-8000-00000000c0de';
export const SIGNING_SECRET = 'test-signing-secret-harness';
export const BOT_TOKEN = 'xoxb-test-harness-token';
export const CLOUD_API_KEY = `CCDB1_fake_harness_${'d4'.repeat(12)}`;

export interface HarnessOptions {
  readonly passwordDelivery?: 'dm' | 'secret-reference';
  /** Adjust the config document before it is validated. */
  readonly config?: (document: Record<string, unknown>) => void;
  /** The business clock (request expiry, DM TTL); Slack signatures use the real clock. */
  readonly now?: () => Date;
  readonly logger?: Logger;
  /** The redactor `logger` scrubs with; the runtime registers every secret it handles there. */
  readonly redactor?: SecretRedactor;
  /** Fault injection between the executor's steps (see `RequestExecutorOptions.checkpoint`). */
  readonly checkpoint?: RequestExecutorOptions['checkpoint'];
  /** SQS at-least-once: deliver every job this many extra times after it was handled. Default 0. */
  readonly duplicateJobDeliveries?: number;
  /** The emulated workspace (e.g. an Enterprise Grid org); the config's `slack.teamId`/`enterpriseId` follow it. */
  readonly team?: Partial<SlackTeam>;
  /** Where application metrics go (default nowhere), as `CreateRuntimeOptions.metrics`. */
  readonly metrics?: Metrics;
  /**
   * Keep the `local` cluster's allowlist in a private copy of pg_hba.conf (removed after the test
   * file): for suites that need no real connection and must not race the files that check the
   * shared file byte for byte.
   */
  readonly privateHba?: boolean;
}

export interface Harness {
  readonly slack: SlackWebApiServer;
  readonly driver: SlackDriver;
  readonly cloud: CloudApiStandIn;
  readonly secretsManager: SecretsManagerStandIn;
  readonly runtime: Runtime;
  readonly queue: InProcessJobQueue;
  readonly config: Config;
  readonly redactor: SecretRedactor;
  /** Types `/crdb <text>` as `user` and waits for the ack. */
  command(user: string, text: string, options?: { retryNum?: number; channel?: string }): Promise<DeliveryResult<unknown>>;
  /** Waits until every queued job (and the jobs they queue) has finished. */
  settle(): Promise<void>;
  /** The text of the app's ack to a command (the ephemeral body). */
  ackText(result: DeliveryResult<unknown>): string;
  /** The approvers' card for a request. */
  card(requestId: string): SlackMessage;
  clickCard(user: string, requestId: string, action: 'approve' | 'deny'): Promise<DeliveryResult<unknown>>;
  /** Every live (not deleted) message in `user`'s DM with the bot, oldest first. */
  dms(user: string): SlackMessage[];
  /** Texts the app posted to the response_url of a command (accepted posts only). */
  responses(result: DeliveryResult<unknown>): string[];
  /**
   * Everything the requester was told about a command once the bot is idle: the ack, then each
   * response_url post, one per line. A refusal that needs the state table (admission) arrives as
   * a post after the ack; one that needs none is the ack itself.
   */
  answer(result: DeliveryResult<unknown>): Promise<string>;
  /** Every body the Slack function answered with (acks, refusals, 401s), oldest first. */
  readonly appResponses: readonly string[];
  /** A browser's request to the function's URL (an `allow me` page), from `sourceIp`. */
  browse(request: { method: 'GET' | 'POST'; path: string; body?: string; headers?: Record<string, string> }, sourceIp: string): Promise<SlackAppResponse>;
  /** Every job body the queue delivered to the worker (duplicates and redeliveries included). */
  readonly jobBodies: readonly string[];
  stop(): Promise<void>;
}

/** Text of a message including its blocks (what a person would read). */
export function messageText(message: { text?: string; blocks?: readonly unknown[] }): string {
  const parts: string[] = [message.text ?? ''];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'text' && typeof value === 'string') parts.push(value);
        else visit(value);
      }
    }
  };
  visit(message.blocks ?? []);
  return parts.join('\n');
}

export function requestIdIn(text: string): string {
  const match = /Request `([0-9A-Z]{26})`/.exec(text);
  if (!match?.[1]) throw new Error(`no request id in: ${text}`);
  return match[1];
}

export function localCluster(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const pg = testPostgres();
  return {
    alias: 'local',
    backend: 'sql',
    dialect: 'postgres',
    approversChannel: APPROVERS_CHANNEL,
    approvers: [USERS.bob, USERS.carol],
    connection: { host: pg.host, port: pg.port, database: pg.database, user: pg.adminUser, password: { env: 'LOCAL_ADMIN_PASSWORD' }, caFile: pg.caFile },
    hba: { kind: 'pg-hba-file', path: pg.hbaFile },
    endpoints: [{ region: 'local', host: 'localhost' }],
    caFile: pg.caFile,
    grants: [
      { kind: 'database', database: pg.database, privileges: ['CONNECT'] },
      { kind: 'schema', schema: 'public', privileges: ['USAGE', 'CREATE'] },
    ],
    policy: { userCreateNeedsApproval: false },
    ...overrides,
  };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const pg = testPostgres();
  const slack = new SlackWebApiServer({
    ...(options.team ? { team: options.team } : {}),
    bot: { token: BOT_TOKEN, userId: 'U0BOTUSER', botId: 'B0BOT' },
    users: Object.entries(USERS).map(([name, id]) => ({ id, name })),
    channels: [
      { id: 'C0GENERAL', name: 'general' },
      { id: APPROVERS_CHANNEL, name: 'db-approvers' },
    ],
    userGroups: [
      { id: 'S0APPROVERS', handle: 'db-approvers', users: [USERS.bob, USERS.carol] },
      { id: 'S0BREAKGLASS', handle: 'oncall', users: [USERS.dave] },
    ],
  });
  await slack.start();

  const cloud = new CloudApiStandIn({ apiKeys: [{ key: CLOUD_API_KEY }], propagatingListCalls: 1 });
  const { baseUrl } = await cloud.start();
  cloud.addCluster({ id: PROD_CLUSTER_ID, name: 'prod-eu', plan: 'STANDARD', regions: [{ name: 'europe-west1', sqlDns: 'prod-eu.gcp-europe-west1.cockroachlabs.cloud' }] });

  const secretsManager = new SecretsManagerStandIn();
  const { endpoint: smEndpoint } = await secretsManager.start();

  const tableName = `crdb-chatops-e2e-${randomBytes(4).toString('hex')}`;
  const document: Record<string, unknown> = {
    slack: {
      botUserId: 'U0BOTUSER',
      botId: 'B0BOT',
      signingSecret: { env: 'SLACK_SIGNING_SECRET' },
      botToken: { env: 'SLACK_BOT_TOKEN' },
      // Bound to the emulated workspace, and its response_urls (Slack's would be https://hooks.slack.com/).
      teamId: slack.team.id,
      ...(slack.team.enterprise ? { enterpriseId: slack.team.enterprise.id } : {}),
      responseUrlPrefix: `${slack.url}/response/`,
    },
    access: { admins: [USERS.admin], breakGlass: ['S0BREAKGLASS'] },
    delivery: { passwordDelivery: options.passwordDelivery ?? 'dm', dmTtl: '60m' },
    // Suites here make hundreds of requests as a handful of people; the limits have their own tests.
    requests: { pendingTtl: '24h', propagationTimeout: '30m', rateLimit: { max: 100_000, window: '10m', maxPending: 10_000 }, readRateLimit: { max: 100_000, window: '1m' } },
    secrets: { store: 'aws', region: 'us-east-1', endpoint: smEndpoint },
    state: { tableName, endpoint: testDynamo().endpoint, region: 'us-east-1' },
    queue: { kind: 'in-process' },
    clusters: [
      localCluster(),
      {
        alias: 'prod',
        backend: 'cloud',
        clusterId: PROD_CLUSTER_ID,
        apiBaseUrl: baseUrl,
        apiKey: { env: 'CLOUD_API_KEY' },
        approversChannel: APPROVERS_CHANNEL,
        approvers: ['S0APPROVERS'],
        policy: { allowOpen: true, minPrefix: 16 },
      },
    ],
  };
  if (options.privateHba === true) {
    const copy = path.join(tempDir('harness-hba-'), 'pg_hba.conf');
    copyFileSync(testPostgres().hbaFile, copy);
    for (const cluster of document.clusters as Array<Record<string, unknown>>) if (cluster.alias === 'local') cluster.hba = { kind: 'pg-hba-file', path: copy };
  }
  options.config?.(document);
  const env = {
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_API_URL: slack.apiUrl,
    LOCAL_ADMIN_PASSWORD: pg.adminPassword,
    CLOUD_API_KEY,
    AWS_REGION: 'us-east-1',
  };
  const config = applyEnv(parseConfigDocument(document), env);
  const redactor = options.redactor ?? new SecretRedactor();
  const logger = options.logger ?? createLogger({ level: 'silent', redactor });
  const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };
  const store = new DynamoRequestStore({ client: { endpoint: testDynamo().endpoint, region: 'us-east-1', credentials }, tableName, logger, ...(options.now ? { now: options.now } : {}) });
  await store.ensureTable();

  // The queue needs the worker, the worker needs the runtime, the runtime needs the queue.
  const ref: { runtime?: Runtime } = {};
  const worker = workerHandler(() => {
    if (ref.runtime === undefined) throw new Error('runtime not ready');
    return ref.runtime;
  });
  const context = { awsRequestId: 'local', functionName: 'worker' } as Context;
  const jobBodies: string[] = [];
  const queue = new InProcessJobQueue({
    deliver: (event) => {
      jobBodies.push(...event.Records.map((r) => r.body));
      return worker(event, context);
    },
    logger,
    redeliveryDelayMs: () => 10,
    duplicateDeliveries: options.duplicateJobDeliveries ?? 0,
  });
  const runtime = createRuntime(config, {
    env,
    redactor,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    overrides: {
      queue,
      store,
      logger,
      awsCredentials: credentials,
      ...(options.now ? { now: options.now } : {}),
      ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    },
  });
  ref.runtime = runtime;
  const built = buildSlackFunction(runtime);
  const slackFunction = slackHandler(() => built);
  const appResponses: string[] = [];
  const handler: typeof slackFunction = async (event, ctx) => {
    const response = await slackFunction(event, ctx);
    appResponses.push(response.body ?? '');
    return response;
  };
  const driver = new SlackDriver({ server: slack, signingSecret: SIGNING_SECRET, target: { kind: 'lambda', handler } });

  const harness: Harness = {
    slack,
    driver,
    cloud,
    secretsManager,
    runtime,
    queue,
    config,
    redactor,
    command: (user, text, opts = {}) => driver.slashCommand({ user, text, ...opts }),
    // What the scheduled reconciler does for a request waiting for propagation, without waiting
    // for its due time: drive it again, until nothing waits.
    settle: async () => {
      for (let round = 0; round < 100; round++) {
        await queue.drain();
        const waiting = (await store.listDue(new Date(Date.now() + 365 * 86_400_000), 1_000)).filter((r) => r.step === 'propagating');
        if (waiting.length === 0) return;
        for (const request of waiting) {
          const { job, options } = driveJob(request);
          await queue.enqueue(job, options);
        }
      }
      throw new Error('requests still waiting for propagation after 100 rounds');
    },
    ackText: (result) => messageText(result.response.json<{ text?: string; blocks?: unknown[] }>()),
    card: (requestId) => {
      const card = slack.messages(APPROVERS_CHANNEL).find((m) => messageText(m).includes(requestId) && !m.thread_ts);
      if (card === undefined) throw new Error(`no card for ${requestId}`);
      return card;
    },
    clickCard: (user, requestId, action) =>
      driver.clickButton({ user, message: harness.card(requestId), actionId: action === 'approve' ? 'crdb_approve' : 'crdb_deny' }),
    dms: (user) => slack.messages(slack.dmChannelFor(user)),
    responses: (result) =>
      result.responseUrlId === undefined ? [] : slack.responses(result.responseUrlId).filter((p) => p.status === 200).map((p) => messageText(p.body as { text?: string; blocks?: unknown[] })),
    answer: async (result) => {
      await harness.settle();
      return [harness.ackText(result), ...harness.responses(result)].join('\n');
    },
    appResponses,
    browse: ({ method, path, body = '', headers = {} }, sourceIp) =>
      invokeHandler(slackFunction, { method, path, body, headers: { ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...headers } }, { sourceIp }),
    jobBodies,
    stop: async () => {
      await queue.drain();
      await runtime.close();
      await slack.stop();
      await cloud.stop();
      await secretsManager.stop();
    },
  };
  return harness;
}
