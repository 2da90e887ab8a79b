/**
 * `AuditReporter` on Slack: reports, sweep summaries and Remove outcomes in a cluster's audit
 * channel, through `chat.postMessage` (the bot must be a member of the channel).
 */
import { type WebClient } from '@slack/web-api';
import { type AuditReporter, type ClusterReport } from '../audit/auditor';
import { type SweepAction } from '../audit/sweep';
import { type Tone } from '../requests/notifier';
import { auditFailureMessage, auditReportMessages, auditSweepMessage, type Message, textMessage } from './blocks';
import { type Prose } from '../prose';
import { mrkdwn } from './text';

export interface SlackAuditReporterOptions {
  readonly client: WebClient;
}

export class SlackAuditReporter implements AuditReporter {
  private readonly client: WebClient;

  constructor({ client }: SlackAuditReporterOptions) {
    this.client = client;
  }

  async postReport(channel: string, report: ClusterReport): Promise<{ channel: string; ts: string } | undefined> {
    const [first, ...rest] = auditReportMessages(report);
    if (first === undefined) return undefined;
    const posted = await this.post(channel, first);
    if (posted === undefined) return undefined;
    // The rest of a long report goes in the first message's thread, so the channel shows one message a day.
    for (const message of rest) await this.post(posted.channel, message, posted.ts);
    return posted;
  }

  async postSweep(channel: string, cluster: string, actions: readonly SweepAction[]): Promise<void> {
    await this.post(channel, auditSweepMessage(cluster, actions));
  }

  async postFailure(channel: string, cluster: string, reason: Prose, ref: string): Promise<void> {
    await this.post(channel, auditFailureMessage(cluster, reason, ref));
  }

  async postOutcome(thread: { readonly channel: string; readonly ts: string }, text: Prose, tone: Tone): Promise<void> {
    await this.post(thread.channel, textMessage(mrkdwn(text), tone), thread.ts);
  }

  private async post(channel: string, message: Message, threadTs?: string): Promise<{ channel: string; ts: string } | undefined> {
    const posted = await this.client.chat.postMessage({
      channel,
      text: message.text,
      blocks: message.blocks,
      unfurl_links: false,
      unfurl_media: false,
      ...(threadTs !== undefined ? { thread_ts: threadTs } : {}),
    });
    return posted.ts ? { channel: posted.channel ?? channel, ts: posted.ts } : undefined;
  }
}
