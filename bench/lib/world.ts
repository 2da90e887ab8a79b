/**
 * The outside world the slack function talks to, on this machine, for the timing figures: a local
 * DynamoDB (dynalite, with its transaction front server) and the SQS stand-in in a process of
 * their own (bench/children/services.ts), and the Slack emulator in the bench's process (its Web
 * API answers the baselines' `auth.test`; its driver signs commands like Slack). The code under
 * test runs in child processes of its own, so nobody shares an event loop with it, as on Lambda.
 */
import { randomBytes } from 'node:crypto';
import { DynamoRequestStore } from '../../lib/requests/dynamo-store';
import { SlackDriver, SlackWebApiServer } from '../../stand-ins/slack';
import { forkServer } from './processes';

export const SIGNING_SECRET = 'bench-signing-secret-not-a-secret';
export const BOT_TOKEN = 'xoxb-bench-not-a-token';
export const BOT = { token: BOT_TOKEN, userId: 'U0BOTUSER', botId: 'B0BOT' } as const;
export const REQUESTER = 'U0ALICE';
export const APPROVERS_CHANNEL = 'C0APPROVE';
/** Credentials that sign requests nobody checks (dynalite, the stand-ins). */
export const AWS_CREDENTIALS = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-not-a-secret' } as const;

export interface Services {
  readonly dynamoEndpoint: string;
  readonly sqsEndpoint: string;
  readonly queueUrl: string;
}

export interface World {
  readonly services: Services;
  readonly slack: SlackWebApiServer;
  readonly tableName: string;
  /** A driver that builds signed requests (no target: the figures send them their own way). */
  readonly driver: SlackDriver;
  stop(): Promise<void>;
}

/** `servicesScript`: the built bench/children/services.ts. */
export async function startWorld(servicesScript: string): Promise<World> {
  const services = await forkServer<Services>(servicesScript, [], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const slack = new SlackWebApiServer({
    bot: BOT,
    users: [{ id: REQUESTER, name: 'alice' }],
    channels: [
      { id: 'C0GENERAL', name: 'general' },
      { id: APPROVERS_CHANNEL, name: 'db-approvers' },
    ],
  });
  await slack.start();
  const tableName = `crdb-chatops-bench-${randomBytes(4).toString('hex')}`;
  const store = new DynamoRequestStore({ client: { endpoint: services.ready.dynamoEndpoint, region: 'us-east-1', credentials: AWS_CREDENTIALS }, tableName });
  await store.ensureTable();
  store.close();
  const driver = new SlackDriver({ server: slack, signingSecret: SIGNING_SECRET });
  return {
    services: services.ready,
    slack,
    tableName,
    driver,
    stop: async () => {
      await Promise.all([services.stop(), slack.stop()]);
    },
  };
}

/**
 * The bot's config for the slack function, as the stack transports it (CHATOPS_CONFIG_JSON).
 * `responseUrlPrefix`: where the emulator that builds the commands serves response_urls, as
 * Slack's are `https://hooks.slack.com/` (else every command would log that its response_url is
 * not Slack's, which a deployment never does).
 */
export function slackFunctionConfig(responseUrlPrefix?: string): Record<string, unknown> {
  return {
    // The emulator's workspace (T0TEST), so no `auth.test` is needed to learn it.
    slack: { botUserId: BOT.userId, botId: BOT.botId, teamId: 'T0TEST', signingSecret: { env: 'SLACK_SIGNING_SECRET' }, botToken: { env: 'SLACK_BOT_TOKEN' }, ...(responseUrlPrefix !== undefined ? { responseUrlPrefix } : {}) },
    secrets: { store: 'aws' },
    queue: { kind: 'sqs' },
    // One requester sends every command here: the per-requester limits would refuse the burst.
    // The limit is still checked (one conditional write per request), as deployed.
    requests: { rateLimit: { max: 1_000_000, maxPending: 1_000_000 } },
    clusters: [
      {
        alias: 'prod',
        backend: 'cloud',
        clusterId: '7a1c1f0e-0000-4000-8000-00000000c0de',
        apiKey: { env: 'CLOUD_API_KEY' },
        approversChannel: APPROVERS_CHANNEL,
        approvers: ['U0BOB'],
      },
    ],
  };
}

/**
 * The environment of a function process: what Lambda sets (region, credentials, function name,
 * `NODE_OPTIONS` as the stack sets it) plus the stack's variables for the bot's functions.
 */
export function functionEnv(world: World, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: AWS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: AWS_CREDENTIALS.secretAccessKey,
    AWS_LAMBDA_FUNCTION_NAME: 'crdb-chatops-slack',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    // The SDK's notice that it will drop Node.js 20 (this machine's; Lambda runs 22): noise.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    // Secrets by `{ env }` reference, so no Secrets Manager call is needed (see README, Performance).
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    CLOUD_API_KEY: 'CCDB1_bench_not_a_key',
    SLACK_API_URL: world.slack.apiUrl,
    CHATOPS_CONFIG_JSON: JSON.stringify(slackFunctionConfig(`${world.slack.url}/response/`)),
    TABLE_NAME: world.tableName,
    DYNAMODB_ENDPOINT: world.services.dynamoEndpoint,
    QUEUE_URL: world.services.queueUrl,
    SQS_ENDPOINT: world.services.sqsEndpoint,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** Node.js flags of a function process: the stack's `NODE_OPTIONS`. */
export const FUNCTION_NODE_FLAGS = ['--enable-source-maps'];

/** The command every timing figure sends: a single host, auto-approved, written and enqueued. */
export const ALLOW_COMMAND = 'allow 203.0.113.7';
