/**
 * The composition root: builds every port and use case from the validated config, once per
 * process. The worker and audit handlers, local mode and tests start here; nothing below reads the
 * environment.
 *
 * It is the ack path's runtime (`createAckRuntime`, ./ack-runtime.ts: config, state table, queue,
 * access, intake, decisions), which the Lambda slack handler builds alone, plus the worker's
 * world: cluster admins, the secret store, the notifier, the executor, maintenance and the audit.
 *
 * Construction is cheap and synchronous where it can be: clients are created but not called,
 * cluster admins are built on first use, secrets are fetched on first need.
 */
import { Auditor } from '../audit/auditor';
import {
  type AckRuntime,
  createAckRuntime,
  type CreateRuntimeOptions as CreateAckRuntimeOptions,
  memo,
  type RuntimeOverrides as AckRuntimeOverrides,
} from './ack-runtime';
import { CloudApiPacers } from '../cluster-admin/cloud/pacer';
import { ClusterAdmins } from '../cluster-admin/factory';
import { type Config } from '../config';
import { SecretRedactor } from '../log';
import { Admission } from '../requests/admission';
import { RequestExecutor, type RequestExecutorOptions } from '../requests/executor';
import { Maintenance } from '../requests/maintenance';
import { Home } from '../requests/home';
import { JobRouter } from '../queue/router';
import { defaultExtension } from '../policy/assess';
import { type Notifier } from '../requests/notifier';
import { AwsSecretStore } from '../secrets/aws-secrets-manager';
import { FileSecretStore } from '../secrets/file-store';
import { type SecretStore } from '../secrets/types';
import { SlackAuditReporter } from '../slack/audit-reporter';
import { SlackNotifier } from '../slack/notifier';

export { type AckRuntime, createAckRuntime } from './ack-runtime';

/** The ack path's overrides, and the worker's. */
export interface RuntimeOverrides extends AckRuntimeOverrides {
  /** Fault injection between the executor's steps (`RequestExecutorOptions.checkpoint`): tests only. */
  readonly checkpoint?: RequestExecutorOptions['checkpoint'];
}

export interface CreateRuntimeOptions extends CreateAckRuntimeOptions {
  readonly overrides?: RuntimeOverrides;
}

export interface Runtime extends AckRuntime {
  readonly secretStore: SecretStore;
  /** Cluster admins, built on first use per cluster (also the ack path's cluster directory). */
  readonly clusters: ClusterAdmins;
  notifier(): Promise<Notifier>;
  executor(): Promise<RequestExecutor>;
  /** Job dispatch: what the worker runs every job through. */
  router(): Promise<JobRouter>;
  maintenance(): Promise<Maintenance>;
  /** The audit: expiry sweep, reports, Remove fixes (the audit function and the worker). */
  audit(): Promise<Auditor>;
  close(): Promise<void>;
}

export function createRuntime(config: Config, options: CreateRuntimeOptions = {}): Runtime {
  const { overrides = {} } = options;
  const redactor = options.redactor ?? new SecretRedactor();
  const ack = createAckRuntime(config, { ...options, redactor });
  const { logger, metrics, resolver, store, access } = ack;
  const slack = () => ack.slack();

  const secretStore =
    overrides.secretStore ??
    (config.secrets.store === 'aws'
      ? new AwsSecretStore({ client: ack.secretsManager, ...(config.secrets.kmsKeyId ? { kmsKeyId: config.secrets.kmsKeyId } : {}), logger })
      : new FileSecretStore({ path: config.secrets.path, logger }));
  // Cloud API send slots are claimed in the state table, so every process using a key (worker
  // instances, the audit) stays under its 10 requests per second together.
  const clusters = new ClusterAdmins(config.clusters, { secrets: resolver, baseDir: config.baseDir, logger, pacers: new CloudApiPacers({ claims: store }), metrics });
  const { now, checkpoint } = overrides;

  const notifier = memo(async (): Promise<Notifier> =>
    overrides.notifier ??
    new SlackNotifier({
      client: await slack(),
      clusters,
      approvers: (cluster) => access.approverPrincipals(cluster),
      commandName: config.slack.command,
      dmTtlMs: config.delivery.dmTtl,
      logger,
      responseUrlPrefix: config.slack.responseUrlPrefix,
      ...(now ? { now } : {}),
    }),
  );
  const remindBefore = config.requests.remindBefore;
  const reminders =
    remindBefore === 'off'
      ? undefined
      : { beforeMs: remindBefore, extendByMs: (alias: string) => defaultExtension(config.clusters.find((c) => c.alias === alias)?.policy ?? { maxFor: 8 * 3_600_000 }) };
  const home = memo(
    async () =>
      new Home({ store, access, clusters: () => config.clusters.map((c) => c.alias), notifier: await notifier(), logger, ...(now ? { now } : {}) }),
  );
  const executor = memo(async () =>
    new RequestExecutor({
      home: await home(),
      admission: new Admission({ store, access: ack.access, cluster: (alias) => ack.clusters.config(alias), rateLimit: config.requests.rateLimit, logger }),
      store,
      secrets: secretStore,
      clusters,
      notifier: await notifier(),
      passwordDelivery: config.delivery.passwordDelivery,
      propagationTimeoutMs: config.requests.propagationTimeout,
      recoveryWindowDays: config.secrets.recoveryWindowDays,
      logger,
      metrics,
      readRateLimit: { max: config.requests.readRateLimit.max, windowMs: config.requests.readRateLimit.window },
      redactor,
      ...(now ? { now } : {}),
      ...(checkpoint ? { checkpoint } : {}),
    }),
  );
  const maintenance = memo(
    async () =>
      new Maintenance({
        store,
        notifier: await notifier(),
        executor: await executor(),
        queue: ack.queue,
        logger,
        cardlessAfterMs: config.requests.reconcileAfter,
        ...(reminders ? { reminders } : {}),
        ...(now ? { now } : {}),
      }),
  );
  const audit: () => Promise<Auditor> = memo(async () =>
    new Auditor({
      clusters,
      store,
      secrets: secretStore,
      reporter: new SlackAuditReporter({ client: await slack() }),
      notifier: await notifier(),
      maintenance: await maintenance(),
      executor: await executor(),
      queue: ack.queue,
      removeUnprovenExpired: config.audit.removeUnprovenExpired,
      recoveryWindowDays: config.secrets.recoveryWindowDays,
      commandName: config.slack.command,
      logger,
      ...(now ? { now } : {}),
    }),
  );

  // Every job, to its use case: the audit is built only when an audit job comes.
  const router = memo(async () => new JobRouter({ executor: await executor(), home: await home(), audit, store, notifier: await notifier(), logger }));

  return {
    ...ack,
    secretStore,
    router,
    clusters,
    notifier,
    executor,
    maintenance,
    audit,
    close: () => clusters.closeAll(),
  };
}
