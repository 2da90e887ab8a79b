/**
 * A request Slack sends an app, and the app's answer, independent of how it travels: over HTTP to
 * a running app (local mode, `sendHttp`) or as a Lambda Function URL event (`invokeHandler` in
 * `lambda-function-url.ts`).
 */

/** An HTTP request from the Slack platform to the app, exactly as signed. */
export interface SlackRequest {
  /** Slack only POSTs; a browser GETs the pages of `allow me` links. */
  readonly method: 'POST' | 'GET';
  /** Path on the app's host, e.g. `/slack/events`. */
  readonly path: string;
  /** With the casing Slack sends (`Content-Type`, `X-Slack-Signature`, ...). */
  readonly headers: Readonly<Record<string, string>>;
  /** The raw body: what the signature covers. */
  readonly body: string;
}

/** The app's answer. */
export interface SlackAppResponse {
  readonly statusCode: number;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The body parsed as JSON; throws when it is not JSON. */
  json<T = unknown>(): T;
  /** What the handler threw, when `invokeHandler` answered 502 for it (Lambda keeps it in the logs). */
  readonly error?: unknown;
}

/** Builds a `SlackAppResponse`, lower-casing header names. */
export function appResponse(statusCode: number, headers: Readonly<Record<string, unknown>>, body: string, error?: unknown): SlackAppResponse {
  const lower: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    // Lambda responses may carry numbers and booleans as header values.
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') lower[name.toLowerCase()] = String(value);
  }
  return {
    statusCode,
    headers: lower,
    body,
    ...(error !== undefined && { error }),
    json<T>(): T {
      return JSON.parse(body) as T;
    },
  };
}

export interface SendHttpOptions {
  /** Give up after this long; default 10 s (Slack itself waits 3 s, the driver measures that). */
  readonly timeoutMs?: number;
}

// fetch computes these itself and refuses some of them.
const TRANSPORT_HEADERS = new Set(['host', 'content-length', 'connection']);

/** POSTs `request` to `url` (the app's full endpoint URL) and returns its answer. */
export async function sendHttp(url: string, request: SlackRequest, { timeoutMs = 10_000 }: SendHttpOptions = {}): Promise<SlackAppResponse> {
  const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !TRANSPORT_HEADERS.has(name.toLowerCase())));
  const response = await fetch(url, { method: request.method, headers, body: request.body, signal: AbortSignal.timeout(timeoutMs) });
  return appResponse(response.status, Object.fromEntries(response.headers.entries()), await response.text());
}
