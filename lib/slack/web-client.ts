/**
 * The Slack Web API client, configured for Lambda: a short retry budget (the default retries for
 * about thirty minutes) and a request timeout, with the API base URL from config so tests and
 * local mode point it at a stand-in.
 */
import { LogLevel, WebClient, type Logger as SlackLogger } from '@slack/web-api';
import { type Logger } from '../log';

export interface SlackClientOptions {
  readonly token: string;
  readonly slackApiUrl: string;
  readonly logger?: Logger;
  /** Retries on 5xx, network errors and 429 (honouring Retry-After); default 2. */
  readonly retries?: number;
  readonly timeoutMs?: number;
}

/** Adapts pino to Slack's logger interface so SDK warnings land in the structured log. */
export function slackLogger(logger: Logger): SlackLogger {
  const child = logger.child({ component: 'slack-sdk' });
  return {
    // The SDK's debug lines carry whole request bodies (a DM's password among them): never forward them.
    debug: () => undefined,
    info: (...msg: unknown[]) => child.info(msg.map(String).join(' ')),
    warn: (...msg: unknown[]) => child.warn(msg.map(String).join(' ')),
    error: (...msg: unknown[]) => child.error(msg.map(String).join(' ')),
    setLevel: () => undefined,
    getLevel: () => LogLevel.INFO,
    setName: () => undefined,
  };
}

export function createSlackClient({ token, slackApiUrl, logger, retries = 2, timeoutMs = 5_000 }: SlackClientOptions): WebClient {
  return new WebClient(token, {
    slackApiUrl,
    timeout: timeoutMs,
    retryConfig: { retries, factor: 2, minTimeout: 200, maxTimeout: 2_000, randomize: true },
    ...(logger ? { logger: slackLogger(logger) } : { logLevel: LogLevel.ERROR }),
  });
}
