/**
 * The Bolt app: listeners only parse the payload, call a use case and render blocks.
 *
 * On Lambda, `AwsLambdaReceiver` sends the HTTP response only after the listener returns, so every
 * listener here does only fast work (config, state table, queue) before it returns. Errors are
 * translated once: a domain refusal is a message, anything else is logged in full and answered
 * with a generic line (never the error itself, which could carry SDK metadata).
 */
import { App, AwsLambdaReceiver, type BlockAction, type ButtonAction, type Receiver } from '@slack/bolt';
import { type WebClient } from '@slack/web-api';
import { type Logger } from '../log';
import { type Decisions } from '../requests/decisions';
import { ACTION_APPROVE, ACTION_DENY, denyReasonModal, textMessage, VIEW_DENY } from './blocks';
import { type CommandHandler } from './commands';
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
      const result = await options.decisions.decide({ requestId: action.value ?? '', actor: body.user.id, action: 'approve' });
      await respond({ response_type: 'ephemeral', replace_original: false, text: result.message });
    } catch (error) {
      logger.error({ event: 'approve.error', err: error, user: body.user.id }, 'approve failed');
      await respond({ response_type: 'ephemeral', replace_original: false, text: GENERIC_FAILURE });
    }
  });

  app.action<BlockAction<ButtonAction>>(ACTION_DENY, async ({ ack, body, action, respond }) => {
    await ack();
    try {
      const checked = await options.decisions.check(action.value ?? '', body.user.id, 'deny');
      if (!checked.ok) {
        await respond({ response_type: 'ephemeral', replace_original: false, text: checked.message });
        return;
      }
      // The modal asks for an optional reason; the decision happens on submit.
      await options.client.views.open({ trigger_id: body.trigger_id, view: denyReasonModal(checked.request) });
    } catch (error) {
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

  app.error(async (error) => {
    // Reached only by errors outside the listeners' own handling (middleware, acks twice, ...).
    logger.error({ event: 'bolt.error', err: error }, 'unhandled Bolt error');
    return Promise.resolve();
  });

  return { app, ...(lambdaReceiver ? { lambdaReceiver } : {}) };
}
