/**
 * The composition root of the ack path: everything the slack function needs to answer a command
 * or a click within Slack's 3 seconds, and nothing else. It reads config, the state table and the
 * queue; it never calls a cluster, never writes a secret, never posts to Slack.
 *
 * `createRuntime` (./runtime.ts) builds this and adds the worker's world (cluster-admin backends
 * with pg and the Cloud API client, the executor, the notifier, the audit, the secret store). The
 * Lambda slack handler builds only this one, so its bundle and its cold start carry none of that
 * (see README, "Performance").
 *
 * Construction makes no call: clients are created but not used, secrets are fetched on first need.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type WebClient } from '@slack/web-api';
import { FindingDecisions } from '../audit/decisions';
import { type ClusterConfig, type Config } from '../config';
import { createLogger, type Logger, SecretRedactor } from '../log';
import { type Metrics, NO_METRICS } from '../metrics';
import { AccessControl, type MembershipResolver } from '../policy/access';
import { Decisions } from '../requests/decisions';
import { createDocumentClient, DynamoRequestStore } from '../requests/dynamo-store';
import { RequestIntake } from '../requests/intake';
import { type JobQueue } from '../requests/jobs';
import { SqsJobQueue } from '../queue/sqs';
import { type RequestStore } from '../requests/store';
import { createSecretsManagerClient } from '../secrets/aws-secrets-manager';
import { SecretResolver } from '../secrets/references';
import { type SecretStore } from '../secrets/types';
import { SlackMembership } from '../slack/membership';
import { type Notifier } from '../requests/notifier';
import { createSlackClient } from '../slack/web-client';
import { AWS_SDK } from '../retry-policies';

export interface RuntimeOverrides {
  /**
   * A queue that delivers in this process (local mode, tests). New requests are handed to it at
   * the ack (no round trip); with the SQS queue built here, the table's stream relays them
   * (handlers/outbox.ts) and the ack sends nothing.
   */
  readonly queue?: JobQueue;
  readonly store?: RequestStore;
  readonly secretStore?: SecretStore;
  readonly notifier?: Notifier;
  readonly membership?: MembershipResolver;
  readonly logger?: Logger;
  readonly now?: () => Date;
  /** Credentials for AWS clients pointed at local endpoints (dynalite, stand-ins). */
  readonly awsCredentials?: { accessKeyId: string; secretAccessKey: string };
  /**
   * Called at the ack path's step boundaries (`intake:written`: a request is written, its job not
   * yet sent; `decision:written`: a click's decision is written, its job not yet sent). A
   * fault-injection seam for the crash suite, like the executor's `checkpoint`.
   */
  readonly ackCheckpoint?: (step: string) => void | Promise<void>;
}

export interface CreateRuntimeOptions {
  /** Environment for `{ env }` secret references. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly overrides?: RuntimeOverrides;
  readonly redactor?: SecretRedactor;
  /** Where application metrics go (EMF on Lambda, the log in local mode); default nowhere. */
  readonly metrics?: Metrics;
}

/** The configured clusters by alias: what the ack path knows of clusters (their config only). */
export class ClusterConfigs {
  private readonly byAlias: ReadonlyMap<string, ClusterConfig>;

  constructor(clusters: readonly ClusterConfig[]) {
    this.byAlias = new Map(clusters.map((c) => [c.alias, c]));
  }

  get aliases(): string[] {
    return [...this.byAlias.keys()];
  }

  config(alias: string): ClusterConfig | undefined {
    return this.byAlias.get(alias);
  }
}

export interface AckRuntime {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly redactor: SecretRedactor;
  readonly resolver: SecretResolver;
  /** The one Secrets Manager client (`{ secretId }` references; the worker's secret store shares it). */
  readonly secretsManager: SecretsManagerClient;
  readonly store: RequestStore;
  readonly queue: JobQueue;
  readonly clusters: Pick<ClusterConfigs, 'aliases' | 'config'>;
  readonly access: AccessControl;
  readonly intake: RequestIntake;
  readonly decisions: Decisions;
  /** Remove / Keep clicks on audit reports. */
  readonly findings: FindingDecisions;
  /** The Slack Web API client (bot token resolved on first call). */
  slack(): Promise<WebClient>;
  /** The business clock, when a test sets one. */
  readonly now?: () => Date;
  /** The ack path's step boundaries (`RuntimeOverrides.ackCheckpoint`), for the crash suite. */
  readonly checkpoint?: (step: string) => void | Promise<void>;
}

export function createAckRuntime(config: Config, { env = {}, overrides = {}, redactor = new SecretRedactor(), metrics = NO_METRICS }: CreateRuntimeOptions = {}): AckRuntime {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel, redactor });
  const region = config.awsRegion ?? 'us-east-1';
  const credentials = overrides.awsCredentials;

  // Constructing an SDK client makes no call; it is used only by `{ secretId }` references and the aws store.
  const secretsManager = createSecretsManagerClient({
    region: (config.secrets.store === 'aws' ? config.secrets.region : undefined) ?? region,
    ...(config.secrets.store === 'aws' && config.secrets.endpoint ? { endpoint: config.secrets.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  });
  const resolver = new SecretResolver({ secretsManager, env, baseDir: config.baseDir, redactor });
  const store =
    overrides.store ??
    new DynamoRequestStore({
      client: createDocumentClient({ region: config.state.region ?? region, ...(config.state.endpoint ? { endpoint: config.state.endpoint } : {}), ...(credentials ? { credentials } : {}) }),
      tableName: config.state.tableName,
      logger,
      reconcileAfterMs: config.requests.reconcileAfter,
      ...(overrides.now ? { now: overrides.now } : {}),
    });

  let queue = overrides.queue;
  const nudge = overrides.queue;
  if (queue === undefined) {
    if (config.queue.kind !== 'sqs' || config.queue.url === undefined) {
      throw new Error('config: queue: an SQS queue URL (QUEUE_URL) is required outside local mode.');
    }
    queue = new SqsJobQueue({
      client: new SQSClient({ region, ...(config.queue.endpoint ? { endpoint: config.queue.endpoint } : {}), ...(credentials ? { credentials } : {}), maxAttempts: AWS_SDK.maxAttempts }),
      queueUrl: config.queue.url,
    });
  }

  const clusters = new ClusterConfigs(config.clusters);
  const slack = memo(async () => createSlackClient({ token: await resolver.resolve(config.slack.botToken, 'slack.botToken'), slackApiUrl: config.slack.apiUrl, logger }));
  const membership = overrides.membership ?? lazyMembership(slack);
  const access = new AccessControl({ access: config.access, clusters: config.clusters, membership });
  const now = overrides.now;
  const checkpoint = overrides.ackCheckpoint;
  const intake = new RequestIntake({ store, queue, ...(nudge ? { nudge } : {}), access, clusters, pendingTtlMs: config.requests.pendingTtl, logger, ...(now ? { now } : {}), ...(checkpoint ? { checkpoint } : {}) });
  const decisions = new Decisions({ store, access, intake, logger, metrics, ...(now ? { now } : {}), ...(checkpoint ? { checkpoint } : {}) });
  const findings = new FindingDecisions({ store, access, intake, clusters, logger, ...(now ? { now } : {}) });

  return { config, logger, metrics, redactor, resolver, secretsManager, store, queue, clusters, access, intake, decisions, findings, slack, ...(now ? { now } : {}), ...(checkpoint ? { checkpoint } : {}) };
}

/** One `SlackMembership` (and its cache) for the process, created when first needed. */
function lazyMembership(slack: () => Promise<WebClient>): MembershipResolver {
  let resolver: SlackMembership | undefined;
  return {
    groupMembers: async (group) => {
      resolver ??= new SlackMembership({ client: await slack() });
      return resolver.groupMembers(group);
    },
  };
}

/** Builds once on first call; a failed build (a secret not readable yet) is retried next time. */
export function memo<T>(build: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= build();
    value.catch(() => (value = undefined));
    return value;
  };
}
