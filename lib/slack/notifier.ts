/**
 * `Notifier` on Slack: the request layer's messages as Block Kit, through the Web API and
 * `response_url`.
 *
 * A command's `response_url` works 5 times within 30 minutes. A request posts few messages there
 * (a progress line, its outcome; again only when a job is redelivered), so uses are not counted in
 * the state table: a reply goes there while the URL is young, and to a DM when Slack refuses it
 * (404 `used_url` / `expired_url`) or it has expired. Passwords travel only in DMs, and only in
 * `dm` delivery mode.
 */
import { type WebClient } from '@slack/web-api';
import { type ClusterConfig } from '../config';
import { type Logger } from '../log';
import { defaultExtension } from '../policy/assess';
import { type AccessOverview, type HomeNotice } from '../requests/home';
import { type ConnectionDelivery, type ExpiryReminder, type Notifier, type ReplyTarget, type RequesterUpdate, type View } from '../requests/notifier';
import { type ChatRequest, type DmReceipt } from '../requests/types';
import { allowedResponseUrl } from './binding';
import { homeView, reminderMessage, requestMovedLine } from './home';
import { approvalCard, connectionFormatsThread, connectionMessage, type Message, requesterUpdateMessage, textMessage, viewMessage } from './blocks';
import { type Prose } from '../prose';
import { mrkdwn } from './text';

/** Slack: a response_url is valid for 30 minutes (and 5 uses). We stop a minute early. */
const RESPONSE_URL_TTL_MS = 29 * 60_000;
const DECISIONS: ReadonlySet<RequesterUpdate['kind']> = new Set(['approved', 'denied', 'expired']);

export interface SlackNotifierOptions {
  readonly client: WebClient;
  readonly clusters: { config(alias: string): ClusterConfig | undefined };
  /** A cluster's approvers as configured (user and user group ids): mentioned on its cards. */
  readonly approvers: (cluster: string) => readonly string[];
  readonly commandName: string;
  readonly dmTtlMs: number;
  readonly logger: Logger;
  /** A response_url is posted to only under this prefix (`https://hooks.slack.com/`); any other is never fetched. */
  readonly responseUrlPrefix: string;
  readonly fetch?: typeof fetch;
  readonly now?: () => Date;
}

export class SlackNotifier implements Notifier {
  private readonly o: SlackNotifierOptions;
  private readonly fetch: typeof fetch;
  private readonly now: () => Date;

  constructor(options: SlackNotifierOptions) {
    this.o = options;
    this.fetch = options.fetch ?? fetch;
    this.now = options.now ?? (() => new Date());
  }

  async tellRequester(request: ChatRequest, update: RequesterUpdate): Promise<void> {
    const message = requesterUpdateMessage(request, update, this.o.commandName);
    // A decision may come hours later: it goes to a DM, where it cannot be missed.
    if (DECISIONS.has(update.kind)) {
      await this.dm(request.requester, message);
      return;
    }
    if (await this.viaResponseUrl(request, message)) return;
    // Progress is only worth a line where the requester is already looking.
    if (update.kind === 'progress') return;
    await this.dm(request.requester, message);
  }

  async showApprovalCard(request: ChatRequest): Promise<{ channel: string; ts: string } | undefined> {
    const card = approvalCard(request, this.o.approvers(request.cluster).map(mention));
    if (request.card) {
      await this.o.client.chat.update({ channel: request.card.channel, ts: request.card.ts, text: card.text, blocks: card.blocks });
      return request.card;
    }
    const channel = this.o.clusters.config(request.cluster)?.approversChannel;
    if (channel === undefined) {
      this.o.logger.error({ event: 'card.no-channel', cluster: request.cluster, requestId: request.id }, 'no approvers channel configured');
      return undefined;
    }
    const posted = await this.o.client.chat.postMessage({ channel, text: card.text, blocks: card.blocks, unfurl_links: false });
    if (!posted.ts || !posted.channel) return undefined;
    return { channel: posted.channel, ts: posted.ts };
  }

  async notifyApprovers(request: ChatRequest, text: Prose): Promise<void> {
    const channel = request.card?.channel ?? this.o.clusters.config(request.cluster)?.approversChannel;
    if (channel === undefined) return;
    const message = textMessage(mrkdwn(text), 'warning');
    await this.o.client.chat.postMessage({ channel, text: message.text, blocks: message.blocks, ...(request.card ? { thread_ts: request.card.ts } : {}) });
  }

  async deliverConnection(delivery: ConnectionDelivery, options: { record(receipt: DmReceipt): Promise<void> }): Promise<DmReceipt | undefined> {
    const message = connectionMessage(delivery, { dmTtlMs: this.o.dmTtlMs, command: this.o.commandName });
    if (delivery.password === undefined) {
      const posted = await this.dm(delivery.recipient, message);
      if (posted !== undefined) await this.otherFormats(delivery, posted);
      return undefined;
    }
    // Posted empty, recorded, then filled in: the password is never in a DM the sweep does not know.
    const placeholder = textMessage(`Connection details for \`${delivery.details.user}\` on \`${delivery.cluster}\` are on their way…`);
    const posted = await this.dm(delivery.recipient, placeholder);
    if (posted === undefined) throw new Error('Slack did not say where the DM was posted');
    const receipt: DmReceipt = { channel: posted.channel, ts: posted.ts, user: delivery.recipient, deleteAfter: new Date(this.now().getTime() + this.o.dmTtlMs).toISOString() };
    await options.record(receipt);
    await this.o.client.chat.update({ channel: posted.channel, ts: posted.ts, text: message.text, blocks: message.blocks });
    await this.otherFormats(delivery, posted);
    return receipt;
  }

  /**
   * The other formats in the DM's thread (none when one format was asked for). They hold no
   * password, and are a convenience: a failure is logged, never retried into a second DM.
   */
  private async otherFormats(delivery: ConnectionDelivery, dm: { channel: string; ts: string }): Promise<void> {
    if (delivery.format !== undefined) return;
    const thread = connectionFormatsThread(delivery);
    try {
      await this.o.client.chat.postMessage({ channel: dm.channel, thread_ts: dm.ts, text: thread.text, blocks: thread.blocks, unfurl_links: false, unfurl_media: false });
    } catch (error) {
      this.o.logger.warn({ event: 'connection.formats-failed', user: delivery.recipient, cluster: delivery.cluster, err: error }, 'could not post the other connection formats in the DM thread');
    }
  }

  async reply(target: ReplyTarget, view: View): Promise<void> {
    const message = viewMessage(view);
    if (target.responseUrl !== undefined && (await this.postToResponseUrl(target.responseUrl, message))) return;
    await this.dm(target.user, message);
  }

  async publishHome(overview: AccessOverview, notice?: HomeNotice): Promise<void> {
    const text = notice === undefined || typeof notice === 'string' ? notice : requestMovedLine(notice.request);
    const view = homeView(overview, text, {
      command: this.o.commandName,
      extendBy: (cluster) => this.extendBy(cluster),
      approversChannel: (cluster) => this.o.clusters.config(cluster)?.approversChannel,
    });
    await this.o.client.views.publish({ user_id: overview.user, view });
  }

  async remindExpiry(reminder: ExpiryReminder): Promise<void> {
    await this.dm(reminder.holder, reminderMessage(reminder));
  }

  /** What Extend asks for on a cluster (`extend` without `--for`). */
  private extendBy(cluster: string): number {
    const config = this.o.clusters.config(cluster);
    return config === undefined ? 8 * 3_600_000 : defaultExtension(config.policy);
  }

  async deleteMessage(channel: string, ts: string): Promise<void> {
    try {
      await this.o.client.chat.delete({ channel, ts });
    } catch (error) {
      // Already deleted (by the user, or an earlier sweep) is the outcome we wanted.
      if (slackError(error) !== 'message_not_found') throw error;
    }
  }

  private async viaResponseUrl(request: ChatRequest, message: Message): Promise<boolean> {
    if (request.responseUrl === undefined) return false;
    if (this.now().getTime() - Date.parse(request.createdAt) > RESPONSE_URL_TTL_MS) return false;
    // A post Slack refuses (uses spent, expired) returns false: the caller falls back to a DM.
    return this.postToResponseUrl(request.responseUrl, message);
  }

  private async postToResponseUrl(url: string, message: Message): Promise<boolean> {
    // The edge drops any other URL already; a record written before that (or by anything else) is checked again.
    const allowed = allowedResponseUrl(url, this.o.responseUrlPrefix);
    if (allowed === undefined) {
      this.o.logger.warn({ event: 'response-url.ignored' }, 'response_url is not Slack\'s: not used; answering by DM');
      return false;
    }
    try {
      const response = await this.fetch(allowed, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text: message.text, blocks: message.blocks }),
        signal: AbortSignal.timeout(5_000),
      });
      if (response.ok) return true;
      this.o.logger.warn({ event: 'response-url.refused', status: response.status }, 'response_url refused the message; falling back to a DM');
    } catch (error) {
      this.o.logger.warn({ event: 'response-url.failed', err: error }, 'response_url failed; falling back to a DM');
    }
    return false;
  }

  private async dm(user: string, message: Message): Promise<{ channel: string; ts: string } | undefined> {
    // Posted to the user id, the message lands in the bot's DM with that user and Slack answers
    // with the DM's id (`D…`): one Web API call, no `conversations.open` (and no im:write) first.
    const posted = await this.o.client.chat.postMessage({ channel: user, text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false });
    return posted.ts && posted.channel ? { channel: posted.channel, ts: posted.ts } : undefined;
  }
}

/** A configured principal as a Slack mention: a user group (`S…`) or a user. */
function mention(principal: string): string {
  return principal.startsWith('S') ? `<!subteam^${principal}>` : `<@${principal}>`;
}

/** The `error` code of a Slack platform error (`channel_not_found`, ...), if it is one. */
export function slackError(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'data' in error) {
    const data = (error as { data?: { error?: unknown } }).data;
    if (typeof data?.error === 'string') return data.error;
  }
  return undefined;
}
