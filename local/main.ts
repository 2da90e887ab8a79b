/**
 * `npm start`: the whole bot on one machine (see `local-mode.ts` for what runs), driven by the
 * terminal console (default), by other tools over HTTP (`--headless`), or by a real Slack
 * workspace over Socket Mode (`SLACK_APP_TOKEN`).
 *
 * Known failures (a port in use, a bad config key, PostgreSQL not starting) end with one line on
 * stderr and exit code 1; SIGINT, SIGTERM and `quit` stop everything in order and exit 0.
 */
import path from 'node:path';
import pino from 'pino';
import { ConfigError } from '../lib/config';
import { createLogger } from '../lib/log';
import { SecretReferenceError } from '../lib/secrets/references';
import { SlackConsole } from './console/console';
import { EmbeddedPostgresError } from './embedded-postgres';
import { LocalModeError } from './errors';
import { Lifecycle, ShutdownRequested } from './lifecycle';
import { type LocalMode, startLocalMode } from './local-mode';
import { type LocalOptions, parseLocalOptions, USAGE } from './options';
import { SlackDriver } from '../stand-ins/slack';
import { GENERAL_CHANNEL, LOCAL_USERS, localWorkspace } from './workspace';

const REPO_ROOT = path.resolve(__dirname, '..');

/** The one-line message of a failure people can fix; undefined for a bug. */
function knownFailure(error: unknown): string | undefined {
  if (error instanceof LocalModeError || error instanceof ConfigError || error instanceof EmbeddedPostgresError || error instanceof SecretReferenceError) return error.message;
  return undefined;
}

function banner(local: LocalMode): string[] {
  const { config, paths } = local;
  const pg = local.postgres;
  const secrets = config.secrets.store === 'file' ? path.resolve(config.baseDir, config.secrets.path) : 'AWS Secrets Manager';
  const builtIn = local.slackApi !== undefined && local.slackApiUrl === local.slackApi.apiUrl;
  return [
    'crdb-chatops local mode',
    `  config         ${local.configPath}${local.configWritten ? '  (written now: edit it, or point CHATOPS_CONFIG at another file)' : ''}`,
    `  Slack endpoint ${local.endpoint?.url ?? '-'}`,
    `  Slack Web API  ${local.slackApiUrl}${builtIn ? '  (the console\'s)' : ''}`,
    ...(pg
      ? [`  cluster ${pg.cluster.padEnd(6)} PostgreSQL on localhost:${pg.server.port}, TLS CA ${pg.server.caFile}`, `                 allowlist: ${pg.server.hbaFile}`]
      : []),
    `  state          ${local.dynamoEndpoint ? `dynalite ${local.dynamoEndpoint} (${paths.dynamoDir})` : `DynamoDB table ${config.state.tableName}`}`,
    `  secrets        ${secrets}`,
    `  bot log        ${paths.log}`,
  ];
}

async function runConsole(local: LocalMode, lifecycle: Lifecycle): Promise<void> {
  const { slackApi, endpoint, config } = local;
  if (slackApi === undefined || endpoint === undefined) throw new Error('unreachable: console mode starts the Slack Web API and the endpoint');
  const interactive = process.stdin.isTTY && process.stdout.isTTY;
  const color = process.stdout.isTTY && !local.options.env.NO_COLOR;
  const users = localWorkspace(config).users;
  const you = users.find((u) => u.id === LOCAL_USERS[0]?.id) ?? users[0];
  process.stdout.write(
    [
      ...banner(local),
      '',
      `You are ${you?.name ?? '?'} (${you?.id ?? '?'}). Type help for console commands; try ${config.slack.command} help.`,
      `The walk-through: ${config.slack.command} allow 127.0.0.1 · as approver · click 1 · as dev · ${config.slack.command} user create maxroach`,
      '',
    ].join('\n') + '\n',
  );
  const driver = new SlackDriver({ server: slackApi, signingSecret: local.signingSecret, target: { kind: 'http', url: endpoint.directUrl }, defaultChannel: GENERAL_CHANNEL.id });
  const slackConsole = new SlackConsole({
    input: process.stdin,
    output: process.stdout,
    interactive,
    color,
    server: slackApi,
    driver,
    users,
    initialUser: you?.id ?? '',
    commandName: config.slack.command,
    channel: GENERAL_CHANNEL.id,
    idle: () => local.queue.drain(),
  });
  await Promise.race([slackConsole.run(), lifecycle.stopping]);
  process.stdout.write('Stopping…\n');
}

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let options: LocalOptions;
  try {
    options = parseLocalOptions(argv, env, { repoRoot: REPO_ROOT });
  } catch (error) {
    process.stderr.write(`crdb-chatops: ${knownFailure(error) ?? String(error)}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  let local: LocalMode | undefined;
  const lifecycle = new Lifecycle({
    onStepError: (step, error) => local?.logger.warn({ event: 'local.stop-failed', step, err: error }, `could not stop ${step} cleanly`),
  });
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled !== undefined) return;
    signalled = signal;
    local?.logger.info({ event: 'local.stopping', signal }, `stopping on ${signal}`);
    void lifecycle.close();
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

  try {
    // A signal while starting wins over a step that hangs (Slack unreachable, a slow disk).
    const starting = startLocalMode({
      options,
      lifecycle,
      createLogger: (level, redactor, paths) =>
        options.mode === 'console'
          ? // The terminal belongs to the console: the bot's JSON log goes to a file.
            // 0600 at creation: redacted, but it is the bot's whole story (who asked for what).
            createLogger({ level, redactor, destination: pino.destination({ dest: paths.log, sync: true, mkdir: true, mode: 0o600 }) })
          : createLogger({ level, redactor }),
    });
    const started = await Promise.race([starting, lifecycle.stopping.then(() => undefined)]);
    if (started === undefined) {
      starting.catch(() => undefined);
      await lifecycle.close();
      return 0;
    }
    local = started;
  } catch (error) {
    await lifecycle.close();
    if (error instanceof ShutdownRequested) return 0;
    const known = knownFailure(error);
    process.stderr.write(`crdb-chatops: ${known ?? `local mode failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`}\n`);
    return 1;
  }

  const { logger } = local;
  logger.info(
    {
      event: 'local.ready',
      mode: options.mode,
      config: local.configPath,
      configWritten: local.configWritten,
      endpoint: local.endpoint?.url,
      slackApiUrl: local.slackApiUrl,
      dataDir: local.paths.root,
      ...(local.postgres ? { postgres: { cluster: local.postgres.cluster, port: local.postgres.server.port, caFile: local.postgres.server.caFile, hbaFile: local.postgres.server.hbaFile } } : {}),
      ...(local.dynamoEndpoint ? { dynamodb: local.dynamoEndpoint } : {}),
    },
    'local mode ready',
  );

  if (options.mode === 'console') await runConsole(local, lifecycle);
  else await lifecycle.stopping;
  await lifecycle.close();
  logger.info({ event: 'local.stopped' }, 'local mode stopped');
  return 0;
}

// Lambda runs Node.js 22; the SDK's notice about Node.js 20 would only interrupt the console.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
void main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`crdb-chatops: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
