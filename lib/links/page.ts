/**
 * The `allow me` pages: one small HTML document each, no external asset, no script. Every value
 * shown is escaped (a reason is the requester's text; an address came off the network). Readable
 * on a phone, usable by keyboard alone, and every colour pair passes WCAG AA contrast.
 */
import { createHash } from 'node:crypto';
import { type Prose } from '../prose';

export interface PageResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 1.0625rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; background: #f4f5f7; }
main { max-width: 34rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.5rem; line-height: 1.25; margin: 0 0 1rem; }
p { margin: 0 0 1rem; }
.card { background: #fff; border: 1px solid #c9ccd1; border-radius: 0.5rem; padding: 1.25rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.5rem 1rem; margin: 0 0 1.25rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
code { font: 600 1.0625rem/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eef0f3; padding: 0.1rem 0.3rem; border-radius: 0.25rem; overflow-wrap: anywhere; }
.address { font-size: 1.5rem; display: inline-block; margin: 0.25rem 0 1rem; }
button { font: inherit; font-weight: 600; color: #fff; background: #0a58a8; border: 0; border-radius: 0.375rem; padding: 0.75rem 1.25rem; min-height: 2.75rem; width: 100%; cursor: pointer; }
button:hover { background: #084783; }
button:focus-visible { outline: 3px solid #1b1b1b; outline-offset: 3px; }
.note { color: #404348; font-size: 0.9375rem; }
.notice { border-left: 4px solid #8a5a00; background: #fff7e6; padding: 0.75rem 1rem; margin: 0 0 1rem; }
.ok { border-left: 4px solid #1d6b35; background: #eaf6ee; padding: 0.75rem 1rem; margin: 0 0 1rem; }
.bad { border-left: 4px solid #a61b1b; background: #fdeeee; padding: 0.75rem 1rem; margin: 0 0 1rem; }
@media (max-width: 26rem) { dl { grid-template-columns: 1fr; } dt { margin-top: 0.5rem; } }
`.trim();

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/**
 * No script, no external anything, no framing (clickjacking), the form posts only to this origin,
 * the link's token never leaves this origin in a Referer, and no cache keeps a page. (`same-origin`,
 * not `no-referrer`: with no referrer at all, browsers send `Origin: null` on the form's POST,
 * and the endpoint checks that Origin.)
 */
const SECURITY_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
} as const;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function page(statusCode: number, title: string, content: string): PageResponse {
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} · crdb-chatops</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${content}
</main>
</body>
</html>
`;
  return { statusCode, headers: SECURITY_HEADERS, body };
}

export interface ConfirmView {
  readonly address: string;
  readonly cluster: string;
  /** `SQL`, `DB Console`, `SQL and DB Console`. */
  readonly opens: string;
  /** `for 8h`, or `until removed`. */
  readonly duration: string;
  readonly reason?: string;
  readonly expiresAt: string;
  /** The form's CSRF field, bound to the link and this address. */
  readonly formToken: string;
  /** Shown when the address differs from the one an earlier page showed. */
  readonly changedFrom?: string;
}

export function confirmPage(view: ConfirmView): PageResponse {
  const reason = view.reason === undefined ? '' : `<dt>Reason</dt><dd>${escapeHtml(view.reason)}</dd>`;
  const changed =
    view.changedFrom === undefined
      ? ''
      : `<p class="notice" role="status">Your address changed from <code>${escapeHtml(view.changedFrom)}</code> since the page was shown. Nothing was requested; check the address below and confirm again.</p>`;
  return page(
    200,
    'Allow this network',
    `<h1>Allow this network on <code>${escapeHtml(view.cluster)}</code>?</h1>
${changed}<div class="card">
<p>This browser reaches the bot from</p>
<p><code class="address" id="address">${escapeHtml(view.address)}</code></p>
<dl>
<dt>Cluster</dt><dd><code>${escapeHtml(view.cluster)}</code></dd>
<dt>Entry</dt><dd><code>${escapeHtml(view.address)}/32</code>: ${escapeHtml(view.opens)}, ${escapeHtml(view.duration)}</dd>
${reason}</dl>
<p>Confirm requests exactly that, as you, through the cluster's policy: it may need an approval first. Slack tells you when you can connect.</p>
<form method="post">
<input type="hidden" name="address" value="${escapeHtml(view.address)}">
<input type="hidden" name="form" value="${escapeHtml(view.formToken)}">
<button type="submit" aria-describedby="address">Confirm: allow ${escapeHtml(view.address)}</button>
</form>
</div>
<p class="note">Not the machine you meant? Close this page: nothing changes until you confirm. The link works once, until ${escapeHtml(view.expiresAt.replace('T', ' ').slice(0, 16))} UTC.</p>`,
  );
}

export function ipv6Page(address: string, commandName: string): PageResponse {
  return page(
    200,
    'IPv4 needed',
    `<h1>This browser came over IPv6</h1>
<div class="card">
<p class="notice">The bot sees <code>${escapeHtml(address)}</code>, an IPv6 address. CockroachDB Cloud allowlists take IPv4 networks only, so there is nothing to allow. Nothing changed, and the link still works.</p>
<p>To reach the bot over IPv4, then open the link again:</p>
<ul>
<li>turn off IPv6 on this network connection, or use a network without it (a phone hotspot often has IPv4);</li>
<li>or, with a VPN or proxy, make sure it exits over IPv4;</li>
<li>or find your public IPv4 address (<code>curl -4 https://checkip.amazonaws.com</code>) and ask in Slack with <code>${escapeHtml(commandName)} allow &lt;that address&gt;</code>.</li>
</ul>
</div>`,
  );
}

export type Outcome = 'working' | 'pending' | 'refused' | 'already';

/**
 * Prose as HTML: everything escaped, values as `<code>`. People and channels are Slack ids, which
 * mean nothing on a web page: they are named by role instead.
 */
export function proseHtml(prose: Prose): string {
  return prose
    .map((part) => {
      if (typeof part === 'string') return escapeHtml(part);
      if ('code' in part) return `<code>${escapeHtml(part.code)}</code>`;
      if ('label' in part) return `“${escapeHtml(part.label)}”`;
      if ('said' in part) return escapeHtml(part.said);
      if ('person' in part) return 'someone';
      return "the approvers' channel";
    })
    .join('');
}

export function outcomePage(outcome: Outcome, headline: string, detail: Prose): PageResponse {
  const tone = outcome === 'refused' ? 'bad' : outcome === 'already' ? 'notice' : 'ok';
  return page(
    200,
    headline,
    `<h1>${escapeHtml(headline)}</h1>
<div class="card">
<p class="${tone}" role="status">${proseHtml(detail)}</p>
<p>Slack has the rest: the request's progress and outcome go to you there. You can close this page.</p>
</div>`,
  );
}

/** A link that cannot be used: one plain reason, what to do, nothing changed. */
export function errorPage(statusCode: number, headline: string, detail: string, commandName: string): PageResponse {
  return page(
    statusCode,
    headline,
    `<h1>${escapeHtml(headline)}</h1>
<div class="card">
<p class="bad" role="alert">${escapeHtml(detail)}</p>
<p>Nothing was changed. For a new link, type <code>${escapeHtml(commandName)} allow me</code> in Slack.</p>
</div>`,
  );
}
