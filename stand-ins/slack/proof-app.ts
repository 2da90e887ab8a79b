/**
 * A minimal Bolt app on `AwsLambdaReceiver`, wired like production (Lambda handler, WebClient with
 * an explicit retry policy, no auth.test at cold start), that exercises every path the Slack
 * stand-in must carry: ack bodies, `respond()` through response_url, `chat.postMessage`, button
 * clicks with `chat.update` and `replace_original`, modals. It proves the stand-in, not the bot.
 *
 * `/crdb <text>`:
 * - `card`: posts an approval card with Approve/Deny buttons (value `req-1`) to `#approvers`;
 * - `modal`: opens a modal with the command's trigger_id (empty ack);
 * - `post-after-ack`: acks, then calls `chat.postMessage` (tests inject faults into it);
 * - anything else: acks "Working on: <text>", responds "Done: <text>", DMs the user.
 */
import { App, AwsLambdaReceiver, LogLevel, type BlockAction, type ButtonAction, type Logger, type SlashCommand } from '@slack/bolt';
import { type FunctionUrlHandler } from '.';

export const PROOF_SIGNING_SECRET = 'test-signing-secret';
export const PROOF_BOT_TOKEN = 'xoxb-test-token';
export const APPROVERS_CHANNEL = 'C0APPROVERS';

export interface ProofAppOptions {
  /** The stand-in's `apiUrl`. */
  readonly slackApiUrl: string;
  readonly signingSecret?: string;
  readonly token?: string;
  readonly botId?: string;
  readonly botUserId?: string;
  /** Handle listener errors in `app.error` (the ack still goes out) instead of letting Bolt answer 500. */
  readonly swallowErrors?: boolean;
}

/** What the listeners saw, for assertions. */
export interface ProofAppObservations {
  readonly commands: SlashCommand[];
  readonly retries: { retryNum: unknown; retryReason: unknown }[];
  readonly clicks: { actionId: string; value: string | undefined; user: string; channel: string | undefined; messageTs: string | undefined }[];
  readonly submissions: { callbackId: string; values: unknown; user: string }[];
  readonly errors: unknown[];
}

export interface ProofApp {
  readonly app: App;
  readonly receiver: AwsLambdaReceiver;
  readonly handler: FunctionUrlHandler;
  readonly observed: ProofAppObservations;
}

/** A logger that keeps quiet: forged requests are expected here, their log lines are noise. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  setLevel: () => undefined,
  getLevel: () => LogLevel.ERROR,
  setName: () => undefined,
};

export function approvalCard(requestId: string): { text: string; blocks: object[] } {
  return {
    text: `Request ${requestId} needs approval`,
    blocks: [
      { type: 'section', block_id: 'summary', text: { type: 'mrkdwn', text: `*Request ${requestId}* needs approval` } },
      {
        type: 'actions',
        block_id: 'decision',
        elements: [
          { type: 'button', action_id: 'approve', style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: requestId },
          { type: 'button', action_id: 'deny', style: 'danger', text: { type: 'plain_text', text: 'Deny' }, value: requestId },
        ],
      },
    ],
  };
}

export function createProofApp({
  slackApiUrl,
  signingSecret = PROOF_SIGNING_SECRET,
  token = PROOF_BOT_TOKEN,
  botId = 'B0BOT',
  botUserId = 'U0BOTUSER',
  swallowErrors = false,
}: ProofAppOptions): ProofApp {
  const observed: ProofAppObservations = { commands: [], retries: [], clicks: [], submissions: [], errors: [] };
  const receiver = new AwsLambdaReceiver({ signingSecret, logger: silentLogger });
  const app = new App({
    token,
    receiver,
    // Given ids, Bolt skips auth.test: a cold start must not spend the 3 s ack budget on it.
    botId,
    botUserId,
    tokenVerificationEnabled: false,
    logger: silentLogger,
    clientOptions: { slackApiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true },
  });

  app.command('/crdb', async ({ command, ack, respond, client, context }) => {
    observed.commands.push(command);
    observed.retries.push({ retryNum: context.retryNum, retryReason: context.retryReason });
    switch (command.text) {
      case 'card':
        await ack({ response_type: 'ephemeral', text: 'Sent for approval' });
        await client.chat.postMessage({ channel: APPROVERS_CHANNEL, ...approvalCard('req-1') });
        return;
      case 'modal':
        await ack();
        await client.views.open({
          trigger_id: command.trigger_id,
          view: {
            type: 'modal',
            callback_id: 'request_modal',
            title: { type: 'plain_text', text: 'Request access' },
            submit: { type: 'plain_text', text: 'Request' },
            blocks: [{ type: 'input', block_id: 'cidr', label: { type: 'plain_text', text: 'CIDR' }, element: { type: 'plain_text_input', action_id: 'value' } }],
          },
        });
        return;
      case 'post-after-ack':
        await ack({ response_type: 'ephemeral', text: 'Working on it' });
        await client.chat.postMessage({ channel: command.channel_id, text: 'Finished' });
        return;
      default:
        await ack({ response_type: 'ephemeral', text: `Working on: ${command.text}` });
        await respond({ text: `Done: ${command.text}` });
        await client.chat.postMessage({ channel: command.user_id, text: `Details for ${command.text}` });
    }
  });

  app.action<BlockAction<ButtonAction>>({ action_id: 'approve' }, async ({ ack, body, action, client }) => {
    await ack();
    observed.clicks.push({ actionId: action.action_id, value: action.value, user: body.user.id, channel: body.channel?.id, messageTs: body.message?.ts });
    if (body.channel !== undefined && body.message !== undefined) {
      await client.chat.update({ channel: body.channel.id, ts: body.message.ts, text: `Approved by <@${body.user.id}>`, blocks: [] });
    }
  });

  app.action<BlockAction<ButtonAction>>({ action_id: 'deny' }, async ({ ack, body, action, respond }) => {
    await ack();
    observed.clicks.push({ actionId: action.action_id, value: action.value, user: body.user.id, channel: body.channel?.id, messageTs: body.message?.ts });
    await respond({ replace_original: true, text: `Denied by <@${body.user.id}>` });
  });

  app.view('request_modal', async ({ ack, view, body }) => {
    observed.submissions.push({ callbackId: view.callback_id, values: view.state.values, user: body.user.id });
    const cidr = view.state.values.cidr?.value?.value ?? '';
    if (cidr.includes(':')) {
      await ack({ response_action: 'errors', errors: { cidr: 'IPv6 is not supported' } });
      return;
    }
    await ack();
  });

  app.error((error) => {
    observed.errors.push(error.original ?? error);
    // Rethrowing is Bolt's default: AwsLambdaReceiver then answers 500 even after ack().
    return swallowErrors ? Promise.resolve() : Promise.reject(error);
  });

  return { app, receiver, handler: receiver.toHandler(), observed };
}
