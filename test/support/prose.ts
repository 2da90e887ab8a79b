/** How Slack shows the domain's prose: what tests compare with what a person reads. */
import { type Prose } from '../../lib/prose';
import { ChatopsError } from '../../lib/errors';
import { mrkdwn } from '../../lib/slack/text';

export function slackText(prose: Prose | undefined): string {
  return prose === undefined ? '' : mrkdwn(prose);
}

/** A known error's message as Slack shows it (its plain `message` has no code marks). */
export function slackTextOf(error: unknown): string {
  if (!(error instanceof ChatopsError)) throw new Error(`not a ChatopsError: ${String(error)}`);
  return mrkdwn(error.prose);
}
