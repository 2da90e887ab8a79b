/**
 * `npm start [-- flags]`: command-line flags and the environment variables local mode reads,
 * parsed once into `LocalOptions`. Everything configurable about the bot itself stays in the
 * config file (`CHATOPS_CONFIG`); these only say how to run it on this machine.
 */
import path from 'node:path';
import { LocalModeError } from './errors';

export type LocalRunMode = 'console' | 'headless' | 'socket';

export interface LocalOptions {
  /** `console` (default), `headless` (`--headless`), or `socket` (`SLACK_APP_TOKEN` set). */
  readonly mode: LocalRunMode;
  /** Everything local mode keeps: `.local/` under the repository unless `--data-dir`/`CHATOPS_LOCAL_DIR`. */
  readonly dataDir: string;
  /** Wipe `dataDir` first (`--reset`). */
  readonly reset: boolean;
  /** Interface the Slack endpoint listens on; default loopback only. */
  readonly host: string;
  /** Ports written into the default config on first start (later starts read them from the config). */
  readonly pgPort: number;
  readonly dynamoPort: number;
  /** How often the reconciler looks for due open requests (allowlist propagation waits are due in seconds). */
  readonly reconcileIntervalMs: number;
  /** The environment, for `loadConfig` and `{ env }` secret references. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly help: boolean;
}

export const DEFAULT_PG_PORT = 26257;
export const DEFAULT_DYNAMO_PORT = 4567;

export const USAGE = `Usage: npm start [-- options]

Runs crdb-chatops on this machine: an embedded PostgreSQL cluster "local" (TLS, allowlist in
pg_hba.conf), DynamoDB (dynalite), file secrets, the in-process queue, the Slack endpoint at
http://localhost:$PORT/slack/events, and a terminal console that plays Slack.

Options:
  --headless            no console: serve the endpoint, log JSON lines, stop on SIGINT/SIGTERM
  --reset               wipe the data directory first (cluster, state, secrets, default config)
  --data-dir <dir>      where local mode keeps its data (default: .local/ in the repository)
  --host <address>      interface the Slack endpoint listens on (default 127.0.0.1)
  --pg-port <port>      embedded PostgreSQL port, written into the default config (default ${DEFAULT_PG_PORT})
  --dynamo-port <port>  dynalite port, written into the default config (default ${DEFAULT_DYNAMO_PORT})
  -h, --help            this text

Environment:
  PORT                  Slack endpoint port (default 3000)
  CHATOPS_CONFIG        config file (default: <data dir>/config.yaml, written on first start)
  CHATOPS_LOCAL_DIR     data directory (like --data-dir)
  SLACK_SIGNING_SECRET  signing secret the endpoint verifies (default: generated per start)
  SLACK_BOT_TOKEN       bot token (default: generated per start)
  SLACK_API_URL         Slack Web API the bot calls (default: the console's own)
  SLACK_APP_TOKEN       xapp-… token: Socket Mode against a real workspace instead of the console
  LOG_LEVEL             bot log level (default info)
`;

function portValue(flag: string, raw: string | undefined): number {
  const port = Number(raw);
  if (raw === undefined || !/^\d+$/.test(raw) || port < 1 || port > 65535) {
    throw new LocalModeError('bad-flag', `${flag}: "${raw ?? ''}" is not a port number (1-65535).`);
  }
  return port;
}

/**
 * Parses `argv` (after `npm start --`) and the environment.
 * @throws LocalModeError (`bad-flag`) naming the flag.
 */
export function parseLocalOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  { repoRoot }: { repoRoot: string },
): LocalOptions {
  let headless = false;
  let reset = false;
  let help = false;
  let dataDir = env.CHATOPS_LOCAL_DIR !== undefined && env.CHATOPS_LOCAL_DIR !== '' ? env.CHATOPS_LOCAL_DIR : path.join(repoRoot, '.local');
  let host = '127.0.0.1';
  let pgPort = DEFAULT_PG_PORT;
  let dynamoPort = DEFAULT_DYNAMO_PORT;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag = '', inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (next === undefined || next === '') throw new LocalModeError('bad-flag', `${flag} needs a value; see npm start -- --help.`);
      return next;
    };
    switch (flag) {
      case '--headless':
        headless = true;
        break;
      case '--reset':
        reset = true;
        break;
      case '-h':
      case '--help':
        help = true;
        break;
      case '--data-dir':
        dataDir = value();
        break;
      case '--host':
        host = value();
        break;
      case '--pg-port':
        pgPort = portValue(flag, value());
        break;
      case '--dynamo-port':
        dynamoPort = portValue(flag, value());
        break;
      default:
        throw new LocalModeError('bad-flag', `unknown option ${JSON.stringify(arg)}; see npm start -- --help.`);
    }
  }
  const appToken = env.SLACK_APP_TOKEN;
  const mode = appToken !== undefined && appToken !== '' ? 'socket' : headless ? 'headless' : 'console';
  return {
    mode,
    dataDir: path.resolve(dataDir),
    reset,
    host,
    pgPort,
    dynamoPort,
    reconcileIntervalMs: 5_000,
    env,
    help,
  };
}
