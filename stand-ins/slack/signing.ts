/**
 * Slack's request signing (v0): what Slack puts on every request it sends an app.
 *
 * `X-Slack-Signature: v0=<hex HMAC-SHA256(signingSecret, "v0:<timestamp>:<raw body>")>` and
 * `X-Slack-Request-Timestamp: <unix seconds>`. Bolt's receivers recompute the same HMAC over the
 * raw body they received and refuse requests older than five minutes.
 */
import { createHmac } from 'node:crypto';

export interface SlackSignatureOptions {
  readonly signingSecret: string;
  /** Unix seconds, as in `X-Slack-Request-Timestamp`. */
  readonly timestamp: number;
  /** The exact body bytes sent (as a string). */
  readonly body: string;
  /** Only `v0` exists; tests pass others to check they are refused. */
  readonly version?: string;
}

/** `v0=<hex>`: the value of `X-Slack-Signature`. */
export function computeSlackSignature({ signingSecret, timestamp, body, version = 'v0' }: SlackSignatureOptions): string {
  const hmac = createHmac('sha256', signingSecret).update(`${version}:${timestamp}:${body}`).digest('hex');
  return `${version}=${hmac}`;
}

/** The two signing headers, with the casing Slack sends. */
export function slackSignatureHeaders(options: SlackSignatureOptions): { 'X-Slack-Request-Timestamp': string; 'X-Slack-Signature': string } {
  return {
    'X-Slack-Request-Timestamp': String(options.timestamp),
    'X-Slack-Signature': computeSlackSignature(options),
  };
}

/** Unix seconds of a millisecond clock reading. */
export function toSlackTimestamp(nowMs: number): number {
  return Math.floor(nowMs / 1000);
}
