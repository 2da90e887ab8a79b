/**
 * The Bolt app: listeners only parse the payload, call a use case and render blocks.
 *
 * On Lambda, `AwsLambdaReceiver` sends the HTTP response only after the listener returns, so every
 * listener here does only fast work (config, state table, queue) before it returns. Errors are
 * translated once: a domain refusal is a message, anything else is logged in full and answered
 * with a generic line (never the error itself, which could carry SDK metadata).
 */
import { App, AwsLambdaReceiver, type BlockAction, type ButtonAction, type Receiver, type RespondFn } from '@slack/bolt';
import { type KnownBlock } from '@slack/types';
import { type WebClient } from '@slack/web-api';
import { type FindingClick, type FindingDecision, type FindingDecisions } from '../audit/decisions';
import { type Logger } from '../log';
import { type Decisions } from '../requests/decisions';
import { ACTION_APPROVE, ACTION_AUDIT_KEEP, ACTION_AUDIT_REMOVE, ACTION_DENY, denyReasonModal, findingResolvedBlocks, fingerprintOfActionsBlock, textMessage, VIEW_DENY } from './blocks';
import { type CommandHandler } from './commands';
import { slackError } from './notifier';
import { slackLogger } from './web-client';

export interface SlackAppOptions {
  readonly signingSecret: string;
  readonly botToken: string;
  /** Given so Bolt does not call `auth.test` at cold start. */
  readonly botId: string;
  readonly botUserId: string;
  readonly commandName: string;
  readonly commands: CommandHandler;
  readonly decisions: Decisions;
  /** Remove / Keep on audit reports. */
  readonly findings: FindingDecisions;
  readonly logger: Logger;
  /** The Web API client listeners use (same retry policy as the worker's). */
  readonly client: WebClient;
  /** Default: an `AwsLambdaReceiver`. Local mode passes an HTTP receiver. */
  readonly receiver?: Receiver;
}

const GENERIC_FAILURE = 'Something went wrong on our side and nothing was changed. Please try again in a minute.';

export interface SlackApp {
  readonly app: App;
  /** Present when the default Lambda receiver is used. */
  readonly lambdaReceiver?: AwsLambdaReceiver;
}

export function createSlackApp(options: SlackAppOptions): SlackApp {
  const { logger } = options;
  const lambdaReceiver = options.receiver
    ? undefined
    : new AwsLambdaReceiver({ signingSecret: options.signingSecret, logger: slackLogger(logger) });
  const receiver = options.receiver ?? lambdaReceiver;
  if (receiver === undefined) throw new Error('unreachable: a receiver is always set');
  const app = new App({
    receiver,
    token: options.botToken,
    botId: options.botId,
    botUserId: options.botUserId,
    logger: slackLogger(logger),
    // Listeners use the injected client (its retry budget fits Lambda); Bolt's own stays idle.
    clientOptions: { slackApiUrl: options.client.slackApiUrl },
    // Bolt would keep conversation state in memory per instance: unused, and wrong on Lambda.
    convoStore: false,
  });

  app.command(options.commandName, async ({ command, ack }) => {
    try {
      const message = await options.commands.handle({
        user: command.user_id,
        text: command.text,
        channel: command.channel_id,
        responseUrl: command.response_url,
        triggerId: command.trigger_id,
      });
      await ack({ response_type: 'ephemeral', text: message.text, blocks: message.blocks });
    } catch (error) {
      logger.error({ event: 'command.error', err: error, user: command.user_id }, 'command failed');
      const message = textMessage(GENERIC_FAILURE, 'error');
      await ack({ response_type: 'ephemeral', text: message.text, blocks: message.blocks });
    }
  });

  app.action<BlockAction<ButtonAction>>(ACTION_APPROVE, async ({ ack, body, action, respond }) => {
    await ack();
    try {
      const result = await options.decisions.decide({ requestId: action.value ?? '', actor: body.user.id, action: 'approve', ...cardOf(body) });
      await respond({ response_type: 'ephemeral', replace_original: false, text: result.message });
    } catch (error) {
      logger.error({ event: 'approve.error', err: error, user: body.user.id }, 'approve failed');
      await respond({ response_type: 'ephemeral', replace_original: false, text: GENERIC_FAILURE });
    }
  });

  app.action<BlockAction<ButtonAction>>(ACTION_DENY, async ({ ack, body, action, respond }) => {
    await ack();
    try {
      const checked = await options.decisions.check(action.value ?? '', body.user.id, 'deny', cardOf(body).card);
      if (!checked.ok) {
        await respond({ response_type: 'ephemeral', replace_original: false, text: checked.message });
        return;
      }
      // The modal asks for an optional reason; the decision happens on submit.
      await options.client.views.open({ trigger_id: body.trigger_id, view: denyReasonModal(checked.request) });
    } catch (error) {
      // A retried delivery of the click: the first one opened the modal with this trigger.
      if (slackError(error) === 'exchanged_trigger_id') {
        logger.info({ event: 'deny.modal-already-open', user: body.user.id }, 'deny modal already opened by an earlier delivery of this click');
        return;
      }
      logger.error({ event: 'deny.error', err: error, user: body.user.id }, 'deny failed');
      await respond({ response_type: 'ephemeral', replace_original: false, text: GENERIC_FAILURE });
    }
  });

  app.view(VIEW_DENY, async ({ ack, body, view }) => {
    try {
      const reason = view.state.values.reason?.reason?.value?.trim();
      const result = await options.decisions.decide({ requestId: view.private_metadata, actor: body.user.id, action: 'deny', ...(reason ? { reason } : {}) });
      if (result.ok) await ack();
      else await ack({ response_action: 'errors', errors: { reason: result.message } });
    } catch (error) {
      logger.error({ event: 'deny.error', err: error, user: body.user.id }, 'deny failed');
      await ack({ response_action: 'errors', errors: { reason: GENERIC_FAILURE } });
    }
  });

  // Remove and Keep on an audit report: the use case decides; on success the finding's buttons
  // give way to who did what (the report message is replaced through the click's response_url).
  const auditAction = (decide: (click: FindingClick) => Promise<FindingDecision>, done: (actor: string) => string, event: string) =>
    async ({ ack, body, action, respond }: { ack: () => Promise<void>; body: BlockAction<ButtonAction>; action: ButtonAction; respond: RespondFn }) => {
      await ack();
      try {
        const message = body.message;
        const channel = body.channel?.id;
        // Findings past the first twenty sit in the report's thread: its outcome goes to the same thread.
        const threadTs: unknown = message?.thread_ts;
        const reportTs = typeof threadTs === 'string' ? threadTs : message?.ts;
        const shownFingerprint = fingerprintOfActionsBlock(action.block_id);
        const result = await decide({
          value: action.value ?? '',
          actor: body.user.id,
          ...(shownFingerprint !== undefined ? { shownFingerprint } : {}),
          ...(channel !== undefined && reportTs !== undefined ? { report: { channel, ts: reportTs } } : {}),
        });
        const blocks = messageBlocks(message);
        if (!result.ok || blocks === undefined) {
          await respond({ response_type: 'ephemeral', replace_original: false, text: result.message });
          return;
        }
        await respond({ replace_original: true, text: typeof message?.text === 'string' ? message.text : 'Audit report', blocks: findingResolvedBlocks(blocks, result.ref.fingerprint, done(body.user.id)) });
      } catch (error) {
        logger.error({ event, err: error, user: body.user.id }, 'audit click failed');
        await respond({ response_type: 'ephemeral', replace_original: false, text: GENERIC_FAILURE });
      }
    };

  app.action<BlockAction<ButtonAction>>(
    ACTION_AUDIT_KEEP,
    auditAction((click) => options.findings.keep(click), (actor) => `:white_check_mark: Kept by <@${actor}>: not reported again until it changes.`, 'audit-keep.error'),
  );
  app.action<BlockAction<ButtonAction>>(
    ACTION_AUDIT_REMOVE,
    auditAction((click) => options.findings.remove(click), (actor) => `:hourglass_flowing_sand: Removing, as <@${actor}> asked; the outcome follows in the thread.`, 'audit-remove.error'),
  );

  app.error(async (error) => {
    // Reached only by errors outside the listeners' own handling (middleware, acks twice, ...).
    logger.error({ event: 'bolt.error', err: error }, 'unhandled Bolt error');
    return Promise.resolve();
  });

  return { app, ...(lambdaReceiver ? { lambdaReceiver } : {}) };
}

/** The message a button was on (an approval card), for checking that its value names that card's request. */
function cardOf(body: BlockAction): { card?: { channel: string; ts: string } } {
  const channel = body.channel?.id;
  const ts = body.message?.ts;
  return channel !== undefined && typeof ts === 'string' ? { card: { channel, ts } } : {};
}

/** The blocks of the message a button was on, as Slack sent them (absent for ephemeral messages). */
function messageBlocks(message: BlockAction['message']): KnownBlock[] | undefined {
  const blocks: unknown = message?.blocks;
  // Slack sends back the blocks the app posted, so they are KnownBlocks.
  return Array.isArray(blocks) ? (blocks as KnownBlock[]) : undefined;
}
