/**
 * The Slack Web API client, configured for Lambda: a short retry budget (the default retries for
 * about thirty minutes) and a request timeout, with the API base URL from config so tests and
 * local mode point it at a stand-in.
 */
import { LogLevel, WebClient, type Logger as SlackLogger, type WebAPICallResult } from '@slack/web-api';
import { type Logger } from '../log';
import { SLACK_WEB_API } from '../retry-policies';

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

/**
 * Fields of Slack SDK errors that hold what the other end sent back: an HTTP error's raw `body`
 * and `headers`. Slack never echoes a token, but whatever answers in its place (a proxy, a
 * gateway's error page) may quote the request, `Authorization` header included. They stay on the
 * error for code that wants them, but are not enumerable, so a log line does not carry them.
 */
const ECHO_FIELDS = ['body', 'headers'] as const;

/** A `WebClient` whose errors never serialize what the server answered (see `ECHO_FIELDS`). */
class QuietWebClient extends WebClient {
  override async apiCall(method: string, options?: Record<string, unknown>): Promise<WebAPICallResult> {
    try {
      return await super.apiCall(method, options);
    } catch (error) {
      if (typeof error === 'object' && error !== null) {
        for (const field of ECHO_FIELDS) {
          if (Object.prototype.propertyIsEnumerable.call(error, field)) Object.defineProperty(error, field, { enumerable: false });
        }
      }
      throw error;
    }
  }
}

export function createSlackClient({ token, slackApiUrl, logger, retries = SLACK_WEB_API.retries, timeoutMs = SLACK_WEB_API.timeoutMs }: SlackClientOptions): WebClient {
  return new QuietWebClient(token, {
    slackApiUrl,
    timeout: timeoutMs,
    retryConfig: { retries, factor: SLACK_WEB_API.factor, minTimeout: SLACK_WEB_API.minTimeout, maxTimeout: SLACK_WEB_API.maxTimeout, randomize: SLACK_WEB_API.randomize },
    ...(logger ? { logger: slackLogger(logger) } : { logLevel: LogLevel.ERROR }),
  });
}
