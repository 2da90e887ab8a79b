/**
 * The endpoint half of `allow me`: `GET /allow-me/<token>` shows what confirming would do, from
 * the address the request came from; `POST` to the same URL confirms it. A link is honoured only
 * with its own MAC, while unused and unexpired, and a confirmation only with the form's token for
 * the very address the page showed and the POST came from. Anything else gets a plain page and
 * changes nothing.
 */
import { formatDuration } from '../config';
import { type Logger } from '../log';
import { describe, type SubmitResult } from '../requests/intake';
import { type AllowMeLink, type LinkStore } from './types';
import { type LinkKey } from './token';
import { confirmPage, errorPage, ipv6Page, outcomePage, type PageResponse } from './page';
import { sourceAddress } from './source-address';
import { code, prose } from '../prose';

export const LINK_PATH_PREFIX = '/allow-me/';

export interface LinkRequest {
  readonly method: string;
  /** The path, `/allow-me/<token>`. */
  readonly path: string;
  /** The connection's address (`requestContext.http.sourceIp`). */
  readonly sourceIp: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The form body of a POST (urlencoded). */
  readonly body: string;
  /** The Host the request was sent to, for the Origin check. */
  readonly host?: string;
}

export interface AllowMePagesOptions {
  readonly key: LinkKey;
  readonly store: LinkStore;
  /** Makes the request (`CommandHandler.confirmLink`). */
  /** Makes the request; no result when the link's cluster is no longer configured. */
  readonly confirm: (link: AllowMeLink, address: string, options: { readonly resumed: boolean }) => Promise<{ readonly result?: SubmitResult }>;
  readonly trustedProxies: readonly string[];
  readonly commandName: string;
  readonly logger: Logger;
  readonly now?: () => Date;
  /**
   * Fault-injection seam at the confirmation's step boundaries: `link:used` (the link is marked
   * used, nothing requested yet) and `link:requested` (the request is written, not yet noted on
   * the link). The crash suite kills the process there.
   */
  readonly checkpoint?: (step: string) => void | Promise<void>;
}

export class AllowMePages {
  constructor(private readonly o: AllowMePagesOptions) {}

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  private error(statusCode: number, headline: string, detail: string): PageResponse {
    return errorPage(statusCode, headline, detail, this.o.commandName);
  }

  async serve(request: LinkRequest): Promise<PageResponse> {
    if (request.method !== 'GET' && request.method !== 'POST') {
      const refused = this.error(405, 'Not allowed', 'This page only answers GET and POST.');
      return { ...refused, headers: { ...refused.headers, allow: 'GET, POST' } };
    }
    const id = this.o.key.verify(request.path.slice(LINK_PATH_PREFIX.length));
    const log = this.o.logger.child({ link: id ?? 'invalid', method: request.method });
    if (id === undefined) {
      log.warn({ event: 'link.refused', reason: 'bad-token', sourceIp: request.sourceIp }, 'allow-me link refused: not a link this bot issued');
      return this.error(404, 'This link is not valid', 'It was changed, cut short, or made by another bot. Copy the whole link from Slack, or ask for a new one.');
    }
    const link = await this.o.store.getLink(id);
    if (link === undefined) return this.error(404, 'This link is not known', 'It may be older than a day. Ask for a new one.');
    const source = sourceAddress(request.sourceIp, request.headers['x-forwarded-for'], this.o.trustedProxies);
    // Confirmed from this address, but its request was never recorded (the confirmation was cut
    // short): confirming again resumes it. The request's idempotency key makes it one request.
    const resumable = link.usedAt !== undefined && link.requestId === undefined && source.ok && link.usedFrom === source.address;
    if (link.usedAt !== undefined && !resumable) {
      log.info({ event: 'link.refused', reason: 'used', user: link.user }, 'allow-me link refused: already used');
      return this.used(link);
    }
    if (!resumable && Date.parse(link.expiresAt) <= this.now().getTime()) return this.error(410, 'This link has expired', 'Links work for 10 minutes.');
    if (!source.ok) {
      log.warn({ event: 'link.refused', reason: 'no-address', sourceIp: request.sourceIp }, 'allow-me link refused: could not tell the address');
      return this.error(400, 'Your address could not be told', 'The request did not come with an address the bot can trust. Open the link directly, not through another service.');
    }
    if (source.family === 'ipv6') return ipv6Page(source.address, this.o.commandName);
    const view = (changedFrom?: string): PageResponse =>
      confirmPage({
        address: source.address,
        cluster: link.cluster,
        opens: link.access.sql && link.access.ui ? 'SQL and DB Console' : link.access.ui ? 'DB Console' : 'SQL',
        duration: link.forMs === undefined ? "as long as the cluster's policy allows" : `for ${formatDuration(link.forMs)}`,
        ...(link.reason !== undefined ? { reason: link.reason } : {}),
        expiresAt: link.expiresAt,
        formToken: this.o.key.formToken(link.id, source.address),
        ...(changedFrom !== undefined ? { changedFrom } : {}),
      });
    if (request.method === 'GET') return view();

    // A cross-site form post is refused even though it could not know the form token.
    const origin = request.headers.origin;
    if (origin !== undefined && request.host !== undefined && hostOf(origin) !== request.host.toLowerCase()) {
      log.warn({ event: 'link.refused', reason: 'cross-origin', origin }, 'allow-me confirmation refused: posted from another site');
      return this.error(403, "Confirm on the link's own page", 'This confirmation came from another site.');
    }
    const form = new URLSearchParams(request.body);
    const shown = form.get('address') ?? '';
    if (!this.o.key.checkFormToken(link.id, shown, form.get('form') ?? '')) {
      log.warn({ event: 'link.refused', reason: 'bad-form' }, 'allow-me confirmation refused: form token does not match');
      return this.error(400, 'This confirmation is not valid', 'Open the link again and use its Confirm button.');
    }
    // The network changed between the page and the click: confirm the new address, not the old.
    if (shown !== source.address) return view(shown);

    let confirmed = link;
    if (!resumable) {
      const used = await this.o.store.useLink(link.id, { address: source.address, at: this.now() });
      if (!used.ok) return used.link?.usedAt !== undefined ? this.used(used.link) : this.error(410, 'This link has expired', 'Links work for 10 minutes.');
      confirmed = used.link;
    }
    log.info({ event: 'link.confirmed', user: link.user, cluster: link.cluster, address: source.address, resumed: resumable }, 'allow-me link confirmed');
    await this.o.checkpoint?.('link:used');
    const { result } = await this.o.confirm(confirmed, source.address, { resumed: resumable });
    await this.o.checkpoint?.('link:requested');
    if (result !== undefined && result.outcome !== 'refused') await this.o.store.setLinkRequest(link.id, result.request.id);
    return this.outcome(result, source.address, link.cluster);
  }

  private used(link: AllowMeLink): PageResponse {
    return this.error(410, 'This link was already used', `It was confirmed at ${(link.usedAt ?? '').replace('T', ' ').slice(0, 19)} UTC from ${link.usedFrom ?? 'an address'}. A link works once.`);
  }

  private outcome(result: SubmitResult | undefined, address: string, cluster: string): PageResponse {
    if (result === undefined) return outcomePage('refused', 'Not requested', prose`There is no cluster ${code(cluster)} any more; nothing was requested.`);
    if (result.outcome === 'refused') {
      const example = result.example === undefined ? undefined : prose` Try ${code(`${this.o.commandName} ${result.example}`)} in Slack.`;
      return outcomePage('refused', 'Not requested', prose`${result.reason}${example}`);
    }
    const { request } = result;
    if (result.outcome === 'duplicate') return outcomePage('already', 'Already requested', prose`This link already made request ${code(request.id)}, which is ${request.status}.`);
    if (request.quorum > 0) {
      const approvals = `${request.quorum} approval${request.quorum === 1 ? '' : 's'}`;
      return outcomePage('pending', `${address}/32 needs an approval on ${cluster}`, prose`It needs ${approvals} in Slack: ${describe(request)}. You hear there when it is decided. Request ${code(request.id)}.`);
    }
    return outcomePage('working', `Allowing ${address}/32 on ${cluster}`, prose`Working on it: ${describe(request)}. Request ${code(request.id)}.`);
  }
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    // `null` (an opaque origin: a sandboxed frame, a file) or garbage: never this endpoint.
    return undefined;
  }
}

