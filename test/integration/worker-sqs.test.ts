/**
 * The AWS path of a retry: the bot wired as deployed. The slack function writes the request to
 * the table (through a DynamoDB Streams stand-in); the stream's event source mapping, with the
 * infra's filter, invokes the outbox relay (`handlers/outbox.ts`), whose `SqsJobQueue` sends to an
 * SQS FIFO stand-in with real visibility semantics; Lambda's SQS event source mapping, batch size
 * 1 with ReportBatchItemFailures, is played by `SqsPoller` and invokes `handlers/worker.ts`.
 * The stand-in's clock is moved by hand: no sleeping for the delays, no wall-clock assertions.
 *
 * What it proves: a retryable failure is delivered again within seconds (the worker's
 * ChangeMessageVisibility backoff), not after the queue's 240 s visibility timeout; a
 * Retry-After wins over the backoff; a crashed worker's message comes back only after the
 * visibility timeout. Each request then completes on its next delivery.
 */
import { randomBytes } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type Context } from 'aws-lambda';
import { applyEnv, parseConfigDocument } from '../../lib/config';
import { createLogger } from '../../lib/log';
import { DynamoRequestStore } from '../../lib/requests/dynamo-store';
import { createRuntime, type Runtime } from '../../lib/compose/runtime';
import { SlackDriver, SlackWebApiServer } from '../../stand-ins/slack';
import { buildSlackFunction, slackHandler } from '../../lib/compose/slack-function';
import { outboxHandler } from '../../lib/compose/outbox-function';
import { workerHandler } from '../../lib/compose/worker-function';
import { MAX_RECEIVE_COUNT } from '../../lib/requests/jobs';
import { OUTBOX_STREAM_FILTER } from '../../lib/requests/outbox';
import { SqsJobQueue } from '../../lib/queue/sqs';
import { DynamoDbStreamsStandIn } from '../../stand-ins/dynamodb-streams';
import { CloudApiStandIn } from '../../stand-ins/cloud-api';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';
import { ManualClock, SqsStandIn } from '../../stand-ins/sqs';
import { testDynamo } from '../support/env';
import { type SqsFunction, SqsPoller } from '../support/sqs-poller';

/** infra: the worker's timeout (2 min) plus the 2 min margin (infra/job-queue.ts). */
const QUEUE_VISIBILITY_SECONDS = 240;
const CLUSTER_ID = '7a1c1f0e-0000-4000-8000-0000000005a5';
const ALICE = 'U0ALICE';
const SIGNING_SECRET = 'test-signing-secret-worker-sqs';
const BOT_TOKEN = 'xoxb-test-worker-sqs';
const CLOUD_API_KEY = `CCDB1_fake_workersqs_${'e5'.repeat(12)}`;
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

const clock = new ManualClock();
const sqs = new SqsStandIn({ visibilityTimeoutSeconds: QUEUE_VISIBILITY_SECONDS, maxReceiveCount: MAX_RECEIVE_COUNT, now: clock.now });
const slack = new SlackWebApiServer({
  bot: { token: BOT_TOKEN, userId: 'U0BOTUSER', botId: 'B0BOT' },
  users: [{ id: ALICE, name: 'alice' }],
  channels: [{ id: 'C0APPROVE', name: 'db-approvers' }],
});
const cloud = new CloudApiStandIn({ apiKeys: [{ key: CLOUD_API_KEY }] });
const secretsManager = new SecretsManagerStandIn();
let runtime: Runtime;
let driver: SlackDriver;
let sqsClient: SQSClient;
/** What the event source mapping invokes; a test may wrap it (a crash). */
let invoke: SqsFunction;
let poller: SqsPoller;
let streams: DynamoDbStreamsStandIn;
let outbox: ReturnType<typeof outboxHandler>;

beforeAll(async () => {
  const [{ baseUrl }, { endpoint: smEndpoint }] = await Promise.all([cloud.start(), secretsManager.start(), slack.start(), sqs.start()]);
  cloud.addCluster({ id: CLUSTER_ID, name: 'prod-eu', plan: 'STANDARD', regions: [{ name: 'europe-west1', sqlDns: 'prod-eu.gcp-europe-west1.cockroachlabs.cloud' }] });
  const env = { SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slack.apiUrl, CLOUD_API_KEY, AWS_REGION: 'us-east-1' };
  const config = applyEnv(
    parseConfigDocument({
      slack: {
        botUserId: 'U0BOTUSER',
        botId: 'B0BOT',
        signingSecret: { env: 'SLACK_SIGNING_SECRET' },
        botToken: { env: 'SLACK_BOT_TOKEN' },
        teamId: slack.team.id,
        responseUrlPrefix: `${slack.url}/response/`,
      },
      secrets: { store: 'aws', region: 'us-east-1', endpoint: smEndpoint },
      // As deployed: the runtime builds `SqsJobQueue` itself (QUEUE_URL, SQS_ENDPOINT).
      queue: { kind: 'sqs', url: sqs.queueUrl, endpoint: sqs.endpoint },
      clusters: [
        {
          alias: 'prod',
          backend: 'cloud',
          clusterId: CLUSTER_ID,
          apiBaseUrl: baseUrl,
          apiKey: { env: 'CLOUD_API_KEY' },
          approversChannel: 'C0APPROVE',
          approvers: ['U0BOB'],
          policy: { userCreateNeedsApproval: false },
        },
      ],
    }),
    env,
  );
  const logger = createLogger({ level: 'silent' });
  streams = new DynamoDbStreamsStandIn(testDynamo().endpoint);
  await streams.start();
  const store = new DynamoRequestStore({ client: { endpoint: streams.endpoint, region: 'us-east-1', credentials }, tableName: `crdb-chatops-sqs-${randomBytes(4).toString('hex')}`, logger });
  await store.ensureTable();
  runtime = createRuntime(config, { env, overrides: { store, logger, awsCredentials: credentials } });
  const built = buildSlackFunction(runtime);
  driver = new SlackDriver({ server: slack, signingSecret: SIGNING_SECRET, target: { kind: 'lambda', handler: slackHandler(() => built) } });

  const worker = workerHandler(() => runtime);
  invoke = worker;
  sqsClient = new SQSClient({ region: 'us-east-1', endpoint: sqs.endpoint, credentials });
  outbox = outboxHandler(() => ({ queue: new SqsJobQueue({ client: sqsClient, queueUrl: sqs.queueUrl }), logger }));
  poller = new SqsPoller({ client: sqsClient, queueUrl: sqs.queueUrl, queueArn: sqs.queueArn, function: (event, context) => invoke(event, context) });
});

afterAll(async () => {
  sqsClient.destroy();
  await runtime.close();
  await Promise.all([slack.stop(), sqs.stop(), cloud.stop(), secretsManager.stop(), streams.stop()]);
});

afterEach(() => {
  invoke = workerHandler(() => runtime);
  cloud.clearFaults();
  secretsManager.clearFaults();
  expect(sqs.violations).toEqual([]);
  expect(sqs.errors).toEqual([]);
  expect(cloud.takeViolations()).toEqual([]);
});

/** Alice types `/crdb user create <name>`; the one job it enqueued. */
async function userCreate(name: string) {
  const before = sqs.messages.length;
  const result = await driver.slashCommand({ user: ALICE, text: `user create ${name} --cluster prod` });
  expect(result.acknowledged).toBe(true);
  // The ack wrote the request and sent nothing; the stream's relay sends its job.
  expect(sqs.messages).toHaveLength(before);
  await expect(streams.deliver((event) => outbox(event, {} as Context), OUTBOX_STREAM_FILTER)).resolves.toEqual({ delivered: 1, failed: 0 });
  expect(sqs.messages).toHaveLength(before + 1);
  const message = sqs.messages[before];
  if (message === undefined) throw new Error('no job sent');
  return message;
}

async function requestOf(name: string) {
  const requests = await runtime.store.listByRequester(ALICE, 20);
  const request = requests.find((r) => JSON.stringify(r).includes(name));
  if (request === undefined) throw new Error(`no request for ${name}`);
  return request;
}

/** One poll that must deliver `messageId` (and only it). */
async function deliver(messageId: string) {
  const invocation = await poller.poll();
  expect(invocation?.event.Records.map((r) => r.messageId)).toEqual([messageId]);
  const record = invocation?.event.Records[0];
  if (invocation === undefined || record === undefined) throw new Error('nothing delivered');
  return { invocation, record };
}

/** The worker's ChangeMessageVisibility calls made with this receipt handle. */
function visibilityChangesFor(receiptHandle: string): number[] {
  return sqs
    .callsOf('ChangeMessageVisibility')
    .filter((c) => c.input.ReceiptHandle === receiptHandle)
    .map((c) => c.input.VisibilityTimeout as number);
}

describe('a retryable failure on the AWS path', () => {
  it('is delivered again within seconds (the worker backs off with ChangeMessageVisibility), then completes', async () => {
    // Every SDK attempt (3) of the first delivery's CreateSecret fails: the job fails retryably.
    secretsManager.failNext(3, { type: 'ServiceUnavailable', operation: 'CreateSecret' });
    const message = await userCreate('sqs_retry_e2e');

    const first = await deliver(message.messageId);
    expect(first.record.attributes.ApproximateReceiveCount).toBe('1');
    expect(first.invocation.outcome).toEqual({ kind: 'answered', response: { batchItemFailures: [{ itemIdentifier: message.messageId }] } });
    expect(first.invocation.deleted).toEqual([]);
    // Receive count 1: backoff of 1–2 s (2 s with jitter), far below the queue's 240 s.
    const [delaySeconds, ...more] = visibilityChangesFor(first.record.receiptHandle);
    expect(more).toEqual([]);
    expect(delaySeconds).toBeGreaterThanOrEqual(1);
    expect(delaySeconds).toBeLessThanOrEqual(2);
    const delayMs = (delaySeconds ?? 0) * 1000;

    // Invisible until just before the delay ends, receivable right at it.
    clock.advance(delayMs - 1);
    expect(sqs.messageState(message.messageId).state).toBe('in-flight');
    await expect(poller.poll()).resolves.toBeUndefined();
    clock.advance(1);
    const second = await deliver(message.messageId);
    expect(second.record.attributes.ApproximateReceiveCount).toBe('2');
    expect(second.record.receiptHandle).not.toBe(first.record.receiptHandle);
    expect(second.invocation.outcome).toEqual({ kind: 'answered', response: { batchItemFailures: [] } });
    expect(second.invocation.deleted).toEqual([message.messageId]);
    expect(visibilityChangesFor(second.record.receiptHandle)).toEqual([]);

    await poller.drain();
    expect(sqs.messageState(message.messageId)).toMatchObject({ state: 'deleted', receiveCount: 2 });
    expect(sqs.deadLetters).toEqual([]);
    expect(await requestOf('sqs_retry_e2e')).toMatchObject({ status: 'applied' });
    expect(cloud.state(CLUSTER_ID).users.has('sqs_retry_e2e')).toBe(true);
  });

  it("waits as long as the Cloud API's Retry-After asks, not the backoff", async () => {
    // A Retry-After beyond what the Cloud client waits in-process: the job fails at once, asking 45 s.
    cloud.failNext(1, { status: 429, retryAfterSeconds: 45, match: { operationId: 'CockroachCloud_CreateSQLUser' } });
    const message = await userCreate('sqs_rate_limited_e2e');

    const first = await deliver(message.messageId);
    expect(first.invocation.deleted).toEqual([]);
    expect(visibilityChangesFor(first.record.receiptHandle)).toEqual([45]);

    clock.advance(45_000 - 1);
    await expect(poller.poll()).resolves.toBeUndefined();
    clock.advance(1);
    const second = await deliver(message.messageId);
    expect(second.record.attributes.ApproximateReceiveCount).toBe('2');
    expect(second.invocation.deleted).toEqual([message.messageId]);

    await poller.drain();
    expect(await requestOf('sqs_rate_limited_e2e')).toMatchObject({ status: 'applied' });
  });
});

describe('a crashed worker on the AWS path', () => {
  it("gets its message back only after the queue's visibility timeout", async () => {
    // The function dies (an uncaught error, a timeout): nothing deleted, no visibility change.
    let crashes = 1;
    const worker = invoke;
    invoke = (event, context: Context) => {
      if (crashes-- > 0) return Promise.reject(new Error('Runtime.ExitError'));
      return worker(event, context);
    };
    const message = await userCreate('sqs_crash_e2e');
    const changesBefore = sqs.callsOf('ChangeMessageVisibility').length;

    const first = await deliver(message.messageId);
    expect(first.invocation.outcome.kind).toBe('threw');
    expect(first.invocation.deleted).toEqual([]);
    expect(sqs.callsOf('ChangeMessageVisibility')).toHaveLength(changesBefore);

    // Well past any backoff (the cap is 60 s), and up to just before the visibility timeout: nothing.
    clock.advance(60_000);
    await expect(poller.poll()).resolves.toBeUndefined();
    clock.advance(QUEUE_VISIBILITY_SECONDS * 1000 - 60_000 - 1);
    await expect(poller.poll()).resolves.toBeUndefined();
    clock.advance(1);
    const second = await deliver(message.messageId);
    expect(second.record.attributes.ApproximateReceiveCount).toBe('2');
    expect(second.invocation.deleted).toEqual([message.messageId]);

    await poller.drain();
    expect(await requestOf('sqs_crash_e2e')).toMatchObject({ status: 'applied' });
  });
});

describe('the outbox relay on the AWS path (DynamoDB Streams → SQS)', () => {
  it('relays each new request once and nothing else; a failed send stays on the stream for the retry', async () => {
    const down = new SQSClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials, maxAttempts: 1 });
    const failing = outboxHandler(() => ({ queue: new SqsJobQueue({ client: down, queueUrl: sqs.queueUrl }), logger: createLogger({ level: 'silent' }) }));
    const relay = (event: Parameters<typeof outbox>[0]) => outbox(event, {} as Context);
    const before = sqs.messages.length;
    for (const name of ['sqs_outbox_a', 'sqs_outbox_b']) expect((await driver.slashCommand({ user: ALICE, text: `user create ${name} --cluster prod` })).acknowledged).toBe(true);

    // SQS unreachable: the first record fails, and it and every later one are delivered again.
    await expect(streams.deliver((event) => failing(event, {} as Context), OUTBOX_STREAM_FILTER)).resolves.toEqual({ delivered: 2, failed: 2 });
    expect(sqs.messages).toHaveLength(before);
    await expect(streams.deliver(relay, OUTBOX_STREAM_FILTER)).resolves.toEqual({ delivered: 2, failed: 0 });
    expect(sqs.messages.slice(before).map((m) => JSON.parse(m.body) as unknown)).toEqual([
      { type: 'submit', requestId: (await requestOf('sqs_outbox_a')).id },
      { type: 'submit', requestId: (await requestOf('sqs_outbox_b')).id },
    ]);
    // A stream record delivered twice sends one job (FIFO deduplication on `submit-<id>`).
    const inserted = streams.records.filter((r) => r.dynamodb?.NewImage?.status?.S === 'received');
    await relay({ Records: inserted.slice(-2) });
    expect(sqs.messages).toHaveLength(before + 2);

    await poller.drain();
    for (const name of ['sqs_outbox_a', 'sqs_outbox_b']) expect(await requestOf(name)).toMatchObject({ status: 'applied' });
    // The worker's own writes (events, records) are on the stream too, and never reach the relay.
    const written = streams.records.length;
    await expect(streams.deliver(relay, OUTBOX_STREAM_FILTER)).resolves.toEqual({ delivered: 0, failed: 0 });
    expect(written).toBeGreaterThan(inserted.length);
    expect(sqs.messages).toHaveLength(before + 2);
    down.destroy();
  });
});
