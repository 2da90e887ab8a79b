/**
 * Socket Mode against a real Slack workspace (`SLACK_APP_TOKEN=xapp-…`), instead of the console:
 * Slack delivers commands and clicks over a WebSocket, so no public URL is needed.
 *
 * This is the one transport local mode cannot route through the Lambda handler: Socket Mode
 * envelopes are not HTTP requests and carry no signature (the app-level token authenticates the
 * socket). Everything behind the receiver is the same: the Bolt app from `lib/slack/app.ts`, the
 * same command handler, decisions, queue and worker.
 */
import { SocketModeReceiver } from '@slack/bolt';
import { type Runtime } from '../lib/compose/runtime';
import { slackAppFor } from '../lib/compose/slack-function';
import { slackLogger } from '../lib/slack/web-client';
import { LocalModeError } from './errors';

export interface SocketModeOptions {
  readonly runtime: Runtime;
  /** The app-level token (`xapp-…`, scope `connections:write`). */
  readonly appToken: string;
  /** How long to wait for the first connection; default 30 s. */
  readonly connectTimeoutMs?: number;
}

export interface SocketModeApp {
  /** The bot's user id in the workspace. */
  readonly botUserId: string;
  stop(): Promise<void>;
}

export async function startSocketMode({ runtime, appToken, connectTimeoutMs = 30_000 }: SocketModeOptions): Promise<SocketModeApp> {
  const { config, logger } = runtime;
  if (!appToken.startsWith('xapp-')) throw new LocalModeError('socket-mode', 'SLACK_APP_TOKEN must be an app-level token (xapp-…) with the connections:write scope.');
  const botToken = await runtime.resolver.resolve(config.slack.botToken, 'slack.botToken');
  let { botId, botUserId } = config.slack;
  if (botId === undefined || botUserId === undefined) {
    // Unlike Lambda, a long-lived process can afford one auth.test at start.
    const auth = await (await runtime.slack()).auth.test();
    botId ??= auth.bot_id;
    botUserId ??= auth.user_id;
  }
  if (botId === undefined || botUserId === undefined) throw new LocalModeError('socket-mode', 'auth.test did not say who the bot is; check SLACK_BOT_TOKEN (xoxb-…).');
  const receiver = new SocketModeReceiver({ appToken, logger: slackLogger(logger) });
  // Only the HTTP receivers verify signatures; Socket Mode connections are authenticated by the app token.
  const { app } = await slackAppFor(runtime, { signingSecret: '', botToken, botId, botUserId }, receiver);
  // Bolt's Socket Mode client retries for ever; at start-up an unreachable Slack should be one clear line.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LocalModeError('socket-mode', `could not open a Socket Mode connection to Slack within ${connectTimeoutMs / 1000} s: check SLACK_APP_TOKEN, SLACK_BOT_TOKEN and the network (details in the log).`)), connectTimeoutMs);
  });
  try {
    await Promise.race([app.start(), timeout]);
  } catch (error) {
    await app.stop().catch(() => undefined);
    if (error instanceof LocalModeError) throw error;
    throw new LocalModeError('socket-mode', `Slack refused the Socket Mode connection: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  return {
    botUserId,
    stop: async () => {
      await app.stop();
    },
  };
}
