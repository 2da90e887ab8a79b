/**
 * Slack request verification, run before anything parses the body.
 *
 * Bolt's receiver parses the body first and checks staleness only towards the past; this gate
 * refuses oversized bodies, missing headers and timestamps more than five minutes off in either
 * direction, then checks the v0 signature with Bolt's own `verifySlackRequest` (constant-time).
 */
import { verifySlackRequest } from '@slack/bolt';

export type VerifyOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: 'too-large' | 'missing-headers' | 'stale' | 'bad-signature' };

export interface VerifyRequestOptions {
  readonly signingSecret: string;
  readonly rawBody: string;
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
  readonly nowMs?: number;
  /** Slack payloads are a few KB; anything much larger is not Slack. */
  readonly maxBodyBytes?: number;
}

const MAX_SKEW_SECONDS = 5 * 60;

export function verifyRequest({ signingSecret, rawBody, signature, timestamp, nowMs = Date.now(), maxBodyBytes = 256 * 1024 }: VerifyRequestOptions): VerifyOutcome {
  if (Buffer.byteLength(rawBody, 'utf8') > maxBodyBytes) return { ok: false, reason: 'too-large' };
  if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'missing-headers' };
  const ts = Number(timestamp);
  if (Math.abs(Math.floor(nowMs / 1000) - ts) > MAX_SKEW_SECONDS) return { ok: false, reason: 'stale' };
  try {
    verifySlackRequest({ signingSecret, body: rawBody, headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': ts }, nowMilliseconds: nowMs });
    return { ok: true };
  } catch {
    return { ok: false, reason: 'bad-signature' };
  }
}

/** Case-insensitive header lookup (Function URLs lower-case names; API Gateway v1 may not). */
export function header(headers: Readonly<Record<string, string | undefined>> | null | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** The body exactly as Slack signed it. */
export function rawBodyOf(event: { body?: string | null; isBase64Encoded?: boolean }): string {
  if (event.body === undefined || event.body === null) return '';
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}
