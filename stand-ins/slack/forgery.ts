/**
 * Forged Slack requests, for tests of request verification: take a request the driver built and
 * signed correctly, then break exactly one thing the way an attacker or a broken proxy would.
 */
import { computeSlackSignature, type SlackRequest } from '.';

export interface ForgeryOptions {
  /** Sign again with these (another secret, a stale timestamp, another version label). */
  readonly resign?: { readonly signingSecret: string; readonly timestamp?: number; readonly version?: string };
  /** Keep the hash but change its `v0=` label, e.g. to `v1`. */
  readonly relabel?: string;
  /** Change the body after signing. */
  readonly tamper?: (body: string) => string;
  /** Drop these headers (any casing). */
  readonly omitHeaders?: readonly string[];
}

function header(request: SlackRequest, name: string): string | undefined {
  return Object.entries(request.headers).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
}

/** A copy of `request` with the forgery applied (in the order: resign, relabel, tamper, omit). */
export function forgeRequest(request: SlackRequest, { resign, relabel, tamper, omitHeaders = [] }: ForgeryOptions): SlackRequest {
  const headers: Record<string, string> = { ...request.headers };
  if (resign !== undefined) {
    const timestamp = resign.timestamp ?? Number(header(request, 'X-Slack-Request-Timestamp'));
    headers['X-Slack-Request-Timestamp'] = String(timestamp);
    headers['X-Slack-Signature'] = computeSlackSignature({ signingSecret: resign.signingSecret, timestamp, body: request.body, version: resign.version ?? 'v0' });
  }
  if (relabel !== undefined) {
    const hash = (headers['X-Slack-Signature'] ?? '').split('=')[1] ?? '';
    headers['X-Slack-Signature'] = `${relabel}=${hash}`;
  }
  const omitted = new Set(omitHeaders.map((h) => h.toLowerCase()));
  return {
    ...request,
    headers: Object.fromEntries(Object.entries(headers).filter(([key]) => !omitted.has(key.toLowerCase()))),
    body: tamper === undefined ? request.body : tamper(request.body),
  };
}
