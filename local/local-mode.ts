/**
 * Local mode's composition: the same runtime, handlers and queue semantics as on AWS, on one
 * machine with embedded servers.
 *
 * - the cluster `local`: embedded PostgreSQL (TLS with a generated CA, allowlist in its
 *   pg_hba.conf), started on the port its config names;
 * - state: dynalite on the config's `state.endpoint`, persisted under the data directory;
 * - secrets: the config's store (the default config: a 0600 file);
 * - the queue: `InProcessJobQueue`, delivering SQS-shaped batches to the worker (lib/compose/worker-function.ts);
 * - Slack: `handlers/slack.ts`'s handler behind a `node:http` endpoint, calling the Slack Web API
 *   at `SLACK_API_URL` or, by default, the console's own `SlackWebApiServer`;
 * - the schedules AWS runs: the reconciler (every open request on start, due ones every 5 s), the
 *   expiry sweep (`audit.sweepEvery`, every minute in the default config) and the daily report.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { buildSlackFunction, slackHandler } from '../lib/compose/slack-function';
import { workerHandler } from '../lib/compose/worker-function';
import { type Config, loadConfig, RESPONSE_URL_PREFIX, type SqlClusterConfig } from '../lib/config';
import { type Logger, SecretRedactor } from '../lib/log';
import { DynamoRequestStore } from '../lib/requests/dynamo-store';
import { InProcessJobQueue } from './in-process-queue';
import { createRuntime, type Runtime } from '../lib/compose/runtime';
import { SecretResolver } from '../lib/secrets/references';
import { ensureDefaultConfig } from './default-config';
import { type LocalPaths, prepareDataDir, readAdminPassword, runningPostmaster } from './data-dir';
import { startDynalite } from './dynalite';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres';
import { ensurePostgresOwner, reachablePgData } from './postgres-runtime';
import { LocalModeError } from './errors';
import { type SlackEndpoint, startSlackEndpoint } from './http-endpoint';
import { type Lifecycle } from './lifecycle';
import { type LocalOptions } from './options';
import { LocalSchedules } from './schedules';
import { assertPortFree } from './ports';
import { createLambdaContext, type FunctionUrlHandler, SlackWebApiServer } from '../stand-ins/slack';
import { startSocketMode } from './socket-mode';
import { LOCAL_BOT, localWorkspace } from './workspace';
import { LoggedMetrics } from '../lib/metrics';

export interface LocalMode {
  readonly options: LocalOptions;
  readonly paths: LocalPaths;
  readonly configPath: string;
  /** Whether this start wrote the default config. */
  readonly configWritten: boolean;
  readonly config: Config;
  readonly runtime: Runtime;
  readonly queue: InProcessJobQueue;
  readonly logger: Logger;
  /** The embedded cluster, when a configured cluster uses it. */
  readonly postgres?: { readonly cluster: string; readonly server: EmbeddedPostgres };
  readonly dynamoEndpoint?: string;
  /** The Slack endpoint (console and headless modes). */
  readonly endpoint?: SlackEndpoint;
  /** The built-in Slack Web API (unless `SLACK_API_URL` points elsewhere, or Socket Mode). */
  readonly slackApi?: SlackWebApiServer;
  /** Where the bot's Web API calls go. */
  readonly slackApiUrl: string;
  /** The signing secret the endpoint verifies (what the console signs with). */
  readonly signingSecret: string;
}

export interface StartLocalModeOptions {
  readonly options: LocalOptions;
  readonly lifecycle: Lifecycle;
  /** Where the bot's JSON log lines go (stdout when headless, a file under the console). */
  readonly createLogger: (level: string, redactor: SecretRedactor, paths: LocalPaths) => Logger;
}

/** Local AWS endpoints need some credentials; these sign requests nobody checks. */
const LOCAL_AWS_CREDENTIALS = { accessKeyId: 'AKIDLOCALMODE', secretAccessKey: 'local-mode-not-a-secret' };

/**
 * The response_url prefix of a Slack emulator on this machine (its `/response/` next to its
 * `/api/`), when the config keeps Slack's default and the Web API is such an emulator.
 */
function emulatorResponseUrlPrefix(configured: string, slackApiUrl: string): string {
  if (configured !== RESPONSE_URL_PREFIX || !isLoopbackUrl(slackApiUrl) || !slackApiUrl.endsWith('/api/')) return configured;
  return new URL('../response/', slackApiUrl).href;
}

function isLoopbackUrl(url: string | undefined): url is string {
  if (url === undefined) return false;
  const { hostname } = new URL(url);
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]';
}

/** The sql cluster whose allowlist is the embedded server's pg_hba.conf: the one local mode runs. */
function embeddedCluster(config: Config, paths: LocalPaths): SqlClusterConfig | undefined {
  return config.clusters.find(
    (c): c is SqlClusterConfig => c.backend === 'sql' && c.hba.kind === 'pg-hba-file' && path.resolve(config.baseDir, c.hba.path) === paths.pgHba,
  );
}

async function stopPostgres(server: EmbeddedPostgres, pgData: string): Promise<void> {
  // A Ctrl-C in a terminal also reaches PostgreSQL (same process group), which then stops on its
  // own and never reports an exit to a later stop(): watch its pid file too.
  const gone = (async () => {
    while ((await runningPostmaster(pgData)) !== undefined) await new Promise((r) => setTimeout(r, 100));
  })();
  await Promise.race([server.stop(), gone]);
}

export async function startLocalMode({ options, lifecycle, createLogger }: StartLocalModeOptions): Promise<LocalMode> {
  const { env, mode } = options;
  const paths = await prepareDataDir(options.dataDir, { reset: options.reset });
  const configPath = env.CHATOPS_CONFIG !== undefined && env.CHATOPS_CONFIG !== '' ? path.resolve(env.CHATOPS_CONFIG) : paths.config;
  const configWritten = configPath === paths.config ? await ensureDefaultConfig({ paths, pgPort: options.pgPort, dynamoPort: options.dynamoPort }) : false;

  if (mode === 'socket' && (env.SLACK_BOT_TOKEN === undefined || env.SLACK_BOT_TOKEN === '')) {
    throw new LocalModeError('slack-credentials', 'SLACK_APP_TOKEN is set (Socket Mode) but SLACK_BOT_TOKEN is not: give the bot token (xoxb-…) of the same app.');
  }
  // Generated values stand in for Slack's when none are given; they are never printed.
  const slackEnv = {
    SLACK_SIGNING_SECRET: env.SLACK_SIGNING_SECRET || randomBytes(32).toString('hex'),
    SLACK_BOT_TOKEN: env.SLACK_BOT_TOKEN || `xoxb-local-${randomBytes(16).toString('hex')}`,
  };
  const configEnv: Record<string, string | undefined> = { ...env, ...slackEnv, CHATOPS_CONFIG: configPath };
  // SLACK_API_URL is applied below: its default is a server not started yet.
  const { SLACK_API_URL: _later, ...withoutApiUrl } = configEnv;
  const fileConfig = loadConfig(withoutApiUrl);

  const redactor = new SecretRedactor();
  redactor.add(slackEnv.SLACK_SIGNING_SECRET);
  redactor.add(slackEnv.SLACK_BOT_TOKEN);
  redactor.add(env.SLACK_APP_TOKEN);
  const logger = createLogger(fileConfig.logLevel, redactor, paths);
  // What the console signs with and the built-in Web API accepts: the values the bot resolves too.
  const resolver = new SecretResolver({ env: configEnv, baseDir: fileConfig.baseDir, redactor });
  const serveHttp = mode !== 'socket';
  const wantsBuiltIn = mode === 'console' || (mode === 'headless' && !env.SLACK_API_URL);
  const signingSecret = serveHttp ? await resolver.resolve(fileConfig.slack.signingSecret, 'slack.signingSecret') : '';
  const botToken = wantsBuiltIn ? await resolver.resolve(fileConfig.slack.botToken, 'slack.botToken') : '';

  // Every port, before anything starts: a clash is one line, not a half-started stack.
  const local = embeddedCluster(fileConfig, paths);
  const startDynamo = isLoopbackUrl(fileConfig.state.endpoint) && (env.DYNAMODB_ENDPOINT === undefined || env.DYNAMODB_ENDPOINT === '');
  const dynamoPort = startDynamo ? Number(new URL(fileConfig.state.endpoint ?? '').port || 80) : undefined;
  if (serveHttp) await assertPortFree({ host: options.host, port: fileConfig.port, what: 'the Slack endpoint', hint: 'Choose another with PORT=<port> npm start.' });
  if (local !== undefined) {
    const stale = await runningPostmaster(paths.pgData);
    const hint =
      stale !== undefined
        ? `A PostgreSQL from an earlier run still holds it (pid ${stale}): stop it with "kill ${stale}".`
        : `Stop what uses it, or change clusters.${fileConfig.clusters.indexOf(local)}.connection.port in ${configPath}.`;
    await assertPortFree({ host: '127.0.0.1', port: local.connection.port, what: `the embedded PostgreSQL of cluster ${local.alias}`, hint });
  }
  if (dynamoPort !== undefined) {
    await assertPortFree({ host: '127.0.0.1', port: dynamoPort, what: 'dynalite (the local DynamoDB)', hint: `Stop what uses it, or change state.endpoint in ${configPath}.` });
  }

  let dynamoEndpoint: string | undefined;
  if (dynamoPort !== undefined) {
    const dynalite = await startDynalite({ host: '127.0.0.1', port: dynamoPort, path: paths.dynamoDir });
    lifecycle.defer('dynalite', () => dynalite.close());
    dynamoEndpoint = dynalite.endpoint;
    logger.info({ event: 'local.dynalite-started', endpoint: dynalite.endpoint, path: paths.dynamoDir }, 'dynalite started');
  }
  lifecycle.assertOpen();

  let postgres: LocalMode['postgres'];
  if (local !== undefined) {
    const server = await startEmbeddedPostgres({
      dataDir: await reachablePgData(paths.pgData, ensurePostgresOwner()),
      caFile: paths.pgCa,
      port: local.connection.port,
      adminUser: local.connection.user,
      adminPassword: await readAdminPassword(paths),
      database: local.connection.database,
      logFile: paths.pgLog,
    });
    lifecycle.defer('postgres', () => stopPostgres(server, paths.pgData));
    postgres = { cluster: local.alias, server };
    logger.info({ event: 'local.postgres-started', cluster: local.alias, port: server.port, dataDir: paths.pgData, hbaFile: server.hbaFile, caFile: server.caFile }, 'embedded PostgreSQL started');
  } else {
    logger.info({ event: 'local.postgres-skipped', hbaFile: paths.pgHba }, 'no configured cluster uses the embedded PostgreSQL; not starting it');
  }
  lifecycle.assertOpen();

  // The built-in Slack Web API: the console's workspace, and where the bot posts by default.
  let slackApi: SlackWebApiServer | undefined;
  if (wantsBuiltIn) {
    const workspace = localWorkspace(fileConfig);
    slackApi = new SlackWebApiServer({
      team: { id: 'T0LOCAL', domain: 'crdb-local', name: 'crdb-chatops local' },
      bot: { ...LOCAL_BOT, token: botToken, ...(fileConfig.slack.botUserId ? { userId: fileConfig.slack.botUserId } : {}), ...(fileConfig.slack.botId ? { botId: fileConfig.slack.botId } : {}) },
      users: workspace.users,
      channels: workspace.channels,
      userGroups: workspace.userGroups,
    });
    await slackApi.start();
    const api = slackApi;
    lifecycle.defer('slack-web-api', () => api.stop());
  }
  const slackApiUrl = env.SLACK_API_URL || (mode === 'socket' ? fileConfig.slack.apiUrl : (slackApi?.apiUrl ?? fileConfig.slack.apiUrl));
  // The emulator's response_urls are its own, not hooks.slack.com; the team is learnt from auth.test unless configured.
  // `allow me` links point at this endpoint unless the config says otherwise.
  const links = serveHttp && fileConfig.links.baseUrl === undefined ? { ...fileConfig.links, baseUrl: `http://localhost:${fileConfig.port}` } : fileConfig.links;
  const config: Config = {
    ...fileConfig,
    slack: { ...fileConfig.slack, apiUrl: slackApiUrl, responseUrlPrefix: emulatorResponseUrlPrefix(fileConfig.slack.responseUrlPrefix, slackApiUrl) },
    links,
  };

  const credentials = env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE ? undefined : LOCAL_AWS_CREDENTIALS;
  const store = new DynamoRequestStore({
    client: { region: config.state.region ?? config.awsRegion ?? 'us-east-1', ...(config.state.endpoint ? { endpoint: config.state.endpoint } : {}), ...(credentials ? { credentials } : {}) },
    tableName: config.state.tableName,
    logger,
    reconcileAfterMs: config.requests.reconcileAfter,
  });
  lifecycle.defer('state-store', () => store.close());
  await store.ensureTable();
  lifecycle.assertOpen();

  // Whatever `queue` the config names, local mode runs jobs in this process, as SQS would deliver them.
  // The queue needs the worker, the worker needs the runtime, the runtime needs the queue.
  const ref: { runtime?: Runtime } = {};
  const worker = workerHandler(() => {
    if (ref.runtime === undefined) throw new Error('unreachable: a job before the runtime exists');
    return ref.runtime;
  });
  const queue = new InProcessJobQueue({
    deliver: (event) => worker(event, createLambdaContext({ functionName: 'crdb-chatops-worker', timeoutMs: 15 * 60_000 })),
    logger,
  });
  const crash = crashSeam(env.CHATOPS_TEST_CRASH_AT, logger);
  const runtime = createRuntime(config, {
    env: configEnv,
    redactor,
    metrics: new LoggedMetrics(logger),
    overrides: { queue, store, logger, ...(credentials ? { awsCredentials: credentials } : {}), ...(crash ? { checkpoint: (step, request) => crash(step, request), ackCheckpoint: (step) => crash(step) } : {}) },
  });
  ref.runtime = runtime;
  lifecycle.defer('runtime', () => runtime.close());
  // Jobs in flight finish (or time out) before their servers go away.
  lifecycle.defer('queue', () => queue.drain());

  let endpoint: SlackEndpoint | undefined;
  if (serveHttp) {
    const built = await buildSlackFunction(runtime);
    const handler: FunctionUrlHandler = slackHandler(() => Promise.resolve(built));
    endpoint = await startSlackEndpoint({ handler, host: options.host, port: config.port, logger });
    const started = endpoint;
    lifecycle.defer('slack-endpoint', () => started.close());
  } else {
    const app = await startSocketMode({ runtime, appToken: env.SLACK_APP_TOKEN ?? '' });
    lifecycle.defer('socket-mode', () => app.stop());
  }

  startSchedules(runtime, config, options, lifecycle);

  return {
    options,
    paths,
    configPath,
    configWritten,
    config,
    runtime,
    queue,
    logger,
    ...(postgres ? { postgres } : {}),
    ...(dynamoEndpoint ? { dynamoEndpoint } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(slackApi ? { slackApi } : {}),
    slackApiUrl,
    signingSecret,
  };
}

/** The schedules AWS runs, on timers in this process (see `local/schedules.ts`). */
function startSchedules(runtime: Runtime, config: Config, { reconcileIntervalMs }: Pick<LocalOptions, 'reconcileIntervalMs'>, lifecycle: Lifecycle): void {
  const logged = (event: string, what: string) => (result: unknown) => {
    runtime.logger.info({ event, result }, what);
    return result;
  };
  const schedules = new LocalSchedules({
    tasks: {
      recoverAll: async () => {
        const driven = await (await runtime.maintenance()).reconcile({ everyOpen: true });
        if (driven.length > 0) runtime.logger.info({ event: 'local.recovered', driven }, 'open requests from an earlier run driven on');
      },
      reconcile: async () => {
        const maintenance = await runtime.maintenance();
        const driven = await maintenance.reconcile();
        if (driven.length > 0) runtime.logger.info({ event: 'local.reconciled', driven }, 'due open requests driven on');
        await maintenance.remindExpiring();
      },
      sweep: async () => (await runtime.audit()).sweep(),
      report: async () => logged('local.report', 'daily audit report ran')(await (await runtime.audit()).report()),
    },
    reconcileEveryMs: reconcileIntervalMs,
    sweepEveryMs: config.audit.sweepEvery,
    reportAt: config.audit.reportAt,
    timeZone: config.audit.timeZone,
    logger: runtime.logger,
  });
  schedules.start();
  lifecycle.defer('schedules', () => schedules.stop());
}

/**
 * The crash suite's seam (`CHATOPS_TEST_CRASH_AT=step[,step…]`, never set in use): at the first of
 * those step boundaries a request made in this run reaches, it says so on one log line and kills itself with
 * SIGKILL — a real kill -9, nothing unwinds, no finally runs — so a test can restart it on the
 * same data directory and check that every acked request is finished or rolled back.
 */
function crashSeam(spec: string | undefined, logger: Logger): ((step: string, request?: { readonly createdAt: string }) => void) | undefined {
  const steps = new Set((spec ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  if (steps.size === 0) return undefined;
  // Only requests made in this run: what an earlier run left is recovered without crashing again.
  const startedAt = Date.now();
  return (step, request) => {
    if (!steps.has(step) || (request !== undefined && Date.parse(request.createdAt) < startedAt)) return;
    logger.warn({ event: 'local.crash', step }, 'CHATOPS_TEST_CRASH_AT: killing this process');
    // pino writes synchronously to stdout here; the line is out before the signal lands.
    process.kill(process.pid, 'SIGKILL');
  };
}
