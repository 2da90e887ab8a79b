/**
 * The composition root: builds every port and use case from the validated config, once per
 * process. Handlers (Lambda), local mode and tests all start here; nothing below reads the
 * environment.
 *
 * Construction is cheap and synchronous where it can be: clients are created but not called,
 * cluster admins are built on first use, secrets are fetched on first need. That keeps cold starts
 * short for the Slack function, which must answer within 3 seconds.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { type WebClient } from '@slack/web-api';
import { Auditor } from './audit/auditor';
import { FindingDecisions } from './audit/decisions';
import { ClusterAdmins } from './cluster-admin/factory';
import { type Config } from './config';
import { createLogger, type Logger, SecretRedactor } from './log';
import { AccessControl, type MembershipResolver } from './policy/access';
import { Decisions } from './requests/decisions';
import { createDocumentClient, DynamoRequestStore } from './requests/dynamo-store';
import { RequestExecutor } from './requests/executor';
import { RequestIntake } from './requests/intake';
import { Maintenance } from './requests/maintenance';
import { type JobQueue } from './requests/jobs';
import { type Notifier } from './requests/notifier';
import { SqsJobQueue } from './requests/queue';
import { type RequestStore } from './requests/store';
import { AwsSecretStore, createSecretsManagerClient } from './secrets/aws-secrets-manager';
import { FileSecretStore } from './secrets/file-store';
import { SecretResolver } from './secrets/references';
import { type SecretStore } from './secrets/types';
import { SlackAuditReporter } from './slack/audit-reporter';
import { SlackMembership } from './slack/membership';
import { SlackNotifier } from './slack/notifier';
import { createSlackClient } from './slack/web-client';

export interface RuntimeOverrides {
  readonly queue?: JobQueue;
  readonly store?: RequestStore;
  readonly secretStore?: SecretStore;
  readonly notifier?: Notifier;
  readonly membership?: MembershipResolver;
  readonly logger?: Logger;
  readonly now?: () => Date;
  /** Credentials for AWS clients pointed at local endpoints (dynalite, stand-ins). */
  readonly awsCredentials?: { accessKeyId: string; secretAccessKey: string };
}

export interface Runtime {
  readonly config: Config;
  readonly logger: Logger;
  readonly redactor: SecretRedactor;
  readonly resolver: SecretResolver;
  readonly store: RequestStore;
  readonly secretStore: SecretStore;
  readonly queue: JobQueue;
  readonly clusters: ClusterAdmins;
  readonly access: AccessControl;
  readonly intake: RequestIntake;
  readonly decisions: Decisions;
  /** Remove / Keep clicks on audit reports (the Slack function's ack path). */
  readonly findings: FindingDecisions;
  /** The Slack Web API client (bot token resolved on first call). */
  slack(): Promise<WebClient>;
  notifier(): Promise<Notifier>;
  executor(): Promise<RequestExecutor>;
  maintenance(): Promise<Maintenance>;
  /** The audit: expiry sweep, reports, Remove fixes (the audit function and the worker). */
  audit(): Promise<Auditor>;
  close(): Promise<void>;
}

export interface CreateRuntimeOptions {
  /** Environment for `{ env }` secret references. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly overrides?: RuntimeOverrides;
  readonly redactor?: SecretRedactor;
}

export function createRuntime(config: Config, { env = {}, overrides = {}, redactor = new SecretRedactor() }: CreateRuntimeOptions = {}): Runtime {
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
  const secretStore =
    overrides.secretStore ??
    (config.secrets.store === 'aws'
      ? new AwsSecretStore({ client: secretsManager, ...(config.secrets.kmsKeyId ? { kmsKeyId: config.secrets.kmsKeyId } : {}), logger })
      : new FileSecretStore({ path: config.secrets.path, logger }));
  const store =
    overrides.store ??
    new DynamoRequestStore({
      client: createDocumentClient({ region: config.state.region ?? region, ...(config.state.endpoint ? { endpoint: config.state.endpoint } : {}), ...(credentials ? { credentials } : {}) }),
      tableName: config.state.tableName,
      logger,
      ...(overrides.now ? { now: overrides.now } : {}),
    });

  let queue = overrides.queue;
  if (queue === undefined) {
    if (config.queue.kind !== 'sqs' || config.queue.url === undefined) {
      throw new Error('config: queue: an SQS queue URL (QUEUE_URL) is required outside local mode.');
    }
    queue = new SqsJobQueue({
      client: new SQSClient({ region, ...(config.queue.endpoint ? { endpoint: config.queue.endpoint } : {}), ...(credentials ? { credentials } : {}), maxAttempts: 3 }),
      queueUrl: config.queue.url,
    });
  }

  const clusters = new ClusterAdmins(config.clusters, { secrets: resolver, baseDir: config.baseDir, logger });

  const slack = memo(async () => createSlackClient({ token: await resolver.resolve(config.slack.botToken, 'slack.botToken'), slackApiUrl: config.slack.apiUrl, logger }));
  const membership = overrides.membership ?? lazyMembership(slack);
  const access = new AccessControl({ access: config.access, clusters: config.clusters, membership });
  const now = overrides.now;
  const intake = new RequestIntake({ store, queue, access, clusters, pendingTtlMs: config.requests.pendingTtl, logger, ...(now ? { now } : {}) });
  const decisions = new Decisions({ store, access, intake, logger, ...(now ? { now } : {}) });
  const findings = new FindingDecisions({ store, access, intake, clusters, logger, ...(now ? { now } : {}) });

  const notifier = memo(async (): Promise<Notifier> =>
    overrides.notifier ??
    new SlackNotifier({
      client: await slack(),
      store,
      clusters,
      approverMentions: (cluster) => access.approverMentions(cluster),
      commandName: config.slack.command,
      dmTtlMs: config.delivery.dmTtl,
      logger,
      ...(now ? { now } : {}),
    }),
  );
  const executor = memo(async () =>
    new RequestExecutor({
      store,
      secrets: secretStore,
      clusters,
      notifier: await notifier(),
      passwordDelivery: config.delivery.passwordDelivery,
      propagationTimeoutMs: config.requests.propagationTimeout,
      recoveryWindowDays: config.secrets.recoveryWindowDays,
      logger,
      redactor,
      // A thunk: the auditor needs this executor (to expire requests), so it is built on first use.
      audit: () => audit(),
      ...(now ? { now } : {}),
    }),
  );
  const maintenance = memo(async () => new Maintenance({ store, notifier: await notifier(), executor: await executor(), logger, ...(now ? { now } : {}) }));
  const audit: () => Promise<Auditor> = memo(async () =>
    new Auditor({
      clusters,
      store,
      secrets: secretStore,
      reporter: new SlackAuditReporter({ client: await slack() }),
      notifier: await notifier(),
      maintenance: await maintenance(),
      executor: await executor(),
      removeUnprovenExpired: config.audit.removeUnprovenExpired,
      recoveryWindowDays: config.secrets.recoveryWindowDays,
      commandName: config.slack.command,
      logger,
      ...(now ? { now } : {}),
    }),
  );

  return {
    config,
    logger,
    redactor,
    resolver,
    store,
    secretStore,
    queue,
    clusters,
    access,
    intake,
    decisions,
    findings,
    slack,
    notifier,
    executor,
    maintenance,
    audit,
    close: () => clusters.closeAll(),
  };
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
function memo<T>(build: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= build();
    value.catch(() => (value = undefined));
    return value;
  };
}
