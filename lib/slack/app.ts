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
import { decodeFindingRef } from '../audit/findings';
import { failureReference, type Logger } from '../log';
import { type ClickedCard, type Decisions } from '../requests/decisions';
import { allowedResponseUrl, clickedMessage, commandOrigin, interactionOrigin, originRefusal, type PayloadOrigin, type Workspace } from './binding';
import { type Message, ACTION_APPROVE, ACTION_AUDIT_KEEP, ACTION_AUDIT_REMOVE, ACTION_AUDIT_RETRY, ACTION_DENY, denyReasonModal, findingResolvedBlocks, fingerprintOfActionsBlock, refusalMessage, requestIdOfDecisionBlock, textMessage, VIEW_DENY } from './blocks';
import { type CommandHandler } from './commands';
import { ACTION_REMINDER_EXTEND, ACTION_REMINDER_LET_EXPIRE, decodeShortcut, HOME_ACTION_IDS, letExpireText, reminderAnswered } from './home';
import { slackError } from './notifier';
import { slackLogger } from './web-client';
import { mrkdwn } from './text';

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
  /** The workspace the bot serves (config `slack.teamId`/`enterpriseId`); unset: the bot token's, from `auth.test`. */
  readonly workspace?: Workspace;
  /** A payload's `response_url` is used only under this prefix (config `slack.responseUrlPrefix`). */
  readonly responseUrlPrefix: string;
  /** The clusters' audit channels: a Remove / Keep counts only on a report in its cluster's channel. */
  readonly clusters: { config(alias: string): { readonly auditChannel?: string } | undefined };
  /** Configured cluster aliases: a Home or reminder button must name one. */
  readonly clusterAliases: readonly string[];
}

/** What a person is told when a listener fails unexpectedly: with the reference logged beside the details. */
const genericFailure = (ref: string): string => `Something went wrong on our side and nothing was changed. Please try again in a minute (reference \`${ref}\`).`;
const NOT_OUR_WORKSPACE = 'This bot does not serve this workspace or user; nothing was changed.';
const NOT_THIS_CARD = 'That button does not belong to this request; use the buttons on its own card.';
const NOT_THIS_FINDING = 'That button does not belong to this finding; nothing was changed.';
const NOT_A_BOT_BUTTON = 'That button is not one the bot made; nothing was changed.';

export interface SlackApp {
  readonly app: App;
  /** Present when the default Lambda receiver is used. */
  readonly lambdaReceiver?: AwsLambdaReceiver;
}

export function createSlackApp(options: SlackAppOptions): SlackApp {
  const { logger } = options;
  const lambdaReceiver = options.receiver
    ? undefined
    : // Its one caller, `slackHandler` (handlers/slack.ts), verifies the signature before Bolt
      // sees the request (and answers 401 without parsing it): Bolt's own check would repeat it.
      new AwsLambdaReceiver({
        signingSecret: options.signingSecret,
        signatureVerification: false,
        logger: slackLogger(logger),
        // The Function URL the command came through: where `allow me` links point by default.
        customPropertiesExtractor: (event) => {
          const domain = (event as { requestContext?: { domainName?: unknown } }).requestContext?.domainName;
          return typeof domain === 'string' && /^[a-z0-9.-]+$/i.test(domain) ? { endpoint: `https://${domain}` } : {};
        },
      });
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

  // The workspace the bot serves: configured, or the bot token's own (one `auth.test`, on first need).
  let learned: Promise<Workspace> | undefined;
  const workspace = (): Promise<Workspace> => {
    const configured = options.workspace;
    if (configured?.teamId !== undefined || configured?.enterpriseId !== undefined) return Promise.resolve(configured);
    learned ??= options.client.auth.test().then((auth) => ({
      ...(typeof auth.team_id === 'string' && auth.team_id !== '' ? { teamId: auth.team_id } : {}),
      ...(typeof auth.enterprise_id === 'string' && auth.enterprise_id !== '' ? { enterpriseId: auth.enterprise_id } : {}),
    }));
    learned.catch(() => (learned = undefined));
    return learned;
  };

  /** Whether a payload is from elsewhere than the bot's workspace (or not from a user); logged when it is. */
  const foreign = async (origin: PayloadOrigin, event: string): Promise<boolean> => {
    const reason = originRefusal(origin, await workspace());
    if (reason === undefined) return false;
    logger.warn({ event, reason, team: clip(origin.teamId), enterprise: clip(origin.enterpriseId), user: clip(origin.userId) }, 'payload refused: not from a user of the bot\'s workspace');
    return true;
  };

  /**
   * An ephemeral answer to a click: through the click's response_url when it is Slack's, otherwise
   * by DM (`dm: false`: not at all, for a payload that is not from our workspace).
   */
  const answer = async (body: BlockAction, respond: RespondFn, text: string, { dm = true }: { dm?: boolean } = {}): Promise<void> => {
    if (allowedResponseUrl(body.response_url, options.responseUrlPrefix) !== undefined) {
      await respond({ response_type: 'ephemeral', replace_original: false, text });
      return;
    }
    logger.warn({ event: 'response-url.ignored', user: clip(body.user?.id), kind: 'click' }, 'a click\'s response_url is not Slack\'s: not used');
    if (!dm) return;
    try {
      await options.client.chat.postMessage({ channel: body.user.id, text, unfurl_links: false, unfurl_media: false });
    } catch (error) {
      logger.warn({ event: 'click.answer-failed', err: error, user: clip(body.user?.id) }, 'could not DM the answer to a click');
    }
  };

  /** A click that does not count: logged, answered, nothing changed. */
  const refuseClick = async (body: BlockAction, respond: RespondFn, event: string, reason: string, text: string): Promise<void> => {
    logger.warn({ event, reason, action: clip(body.actions?.[0]?.action_id), user: clip(body.user?.id), channel: clip(body.channel?.id) }, 'click refused');
    await answer(body, respond, text);
  };

  /**
   * Runs a listener's work. An unexpected failure is logged in full with a reference (`event`),
   * and the person hears one generic line with that reference through `tell` (never the error,
   * which could carry SDK metadata); a failure to tell them is not a second error.
   */
  const failSafe = async (event: string, user: unknown, work: () => Promise<void>, tell: (text: string) => Promise<unknown>): Promise<void> => {
    try {
      await work();
    } catch (error) {
      const ref = failureReference();
      logger.error({ event, ref, err: error, user: clip(user) }, 'a Slack listener failed');
      await tell(genericFailure(ref)).catch(() => undefined);
    }
  };

  /**
   * The message and block an Approve / Deny click came from (the use case checks they are the card
   * of the request the value names), or `undefined` when the click is refused here.
   */
  const cardClicked = async (body: BlockAction<ButtonAction>, action: ButtonAction, respond: RespondFn, event: string): Promise<ClickedCard | undefined> => {
    if (await foreign(interactionOrigin(body), event)) {
      await answer(body, respond, NOT_OUR_WORKSPACE, { dm: false });
      return undefined;
    }
    const clicked = clickedMessage(body, action);
    if (typeof clicked === 'string') return void (await refuseClick(body, respond, event, clicked, NOT_THIS_CARD));
    return { channel: clicked.channel, ts: clicked.ts, blockRequestId: requestIdOfDecisionBlock(clicked.blockId) };
  };

  app.command(options.commandName, async ({ command, ack, context }) => {
    const ackWith = (message: Message) => ack({ response_type: 'ephemeral', text: message.text, blocks: message.blocks });
    await failSafe('command.error', command.user_id, async () => {
      if (await foreign(commandOrigin(command), 'command.refused')) {
        const message = refusalMessage(NOT_OUR_WORKSPACE);
        await ack({ response_type: 'ephemeral', text: message.text, blocks: message.blocks });
        return;
      }
      // Only Slack's response_url is kept; without one, the worker answers by DM.
      const responseUrl = allowedResponseUrl(command.response_url, options.responseUrlPrefix);
      if (responseUrl === undefined) logger.warn({ event: 'response-url.ignored', user: command.user_id, kind: 'command' }, 'the command\'s response_url is not Slack\'s: answers go by DM');
      const message = await options.commands.handle({
        user: command.user_id,
        text: command.text,
        channel: command.channel_id,
        ...(responseUrl !== undefined ? { responseUrl } : {}),
        triggerId: command.trigger_id,
        // Slack's X-Slack-Retry-Num: a delivery of a command Slack sent before.
        ...(context.retryNum !== undefined ? { retry: true } : {}),
        ...(typeof context.endpoint === 'string' ? { endpoint: context.endpoint } : {}),
      });
      await ackWith(message);
    }, (text) => ackWith(textMessage(text, 'error')));
  });

  app.action<BlockAction<ButtonAction>>(ACTION_APPROVE, async ({ ack, body, action, respond }) => {
    await ack();
    await failSafe('approve.error', body.user?.id, async () => {
      const card = await cardClicked(body, action, respond, 'click.refused');
      if (card === undefined) return;
      const result = await options.decisions.decide({ requestId: action.value ?? '', actor: body.user.id, action: 'approve', card });
      await answer(body, respond, mrkdwn(result.message));
    }, (text) => answer(body, respond, text));
  });

  app.action<BlockAction<ButtonAction>>(ACTION_DENY, async ({ ack, body, action, respond }) => {
    await ack();
    await failSafe('deny.error', body.user?.id, async () => {
      const card = await cardClicked(body, action, respond, 'click.refused');
      if (card === undefined) return;
      const checked = await options.decisions.check(action.value ?? '', body.user.id, 'deny', card);
      if (!checked.ok) {
        await answer(body, respond, mrkdwn(checked.message));
        return;
      }
      // The modal asks for an optional reason; the decision happens on submit.
      await options.client.views.open({ trigger_id: body.trigger_id, view: denyReasonModal(checked.request) }).catch((error: unknown) => {
        // A retried delivery of the click: the first one opened the modal with this trigger.
        if (slackError(error) !== 'exchanged_trigger_id') throw error;
        logger.info({ event: 'deny.modal-already-open', user: body.user.id }, 'deny modal already opened by an earlier delivery of this click');
      });
    }, (text) => answer(body, respond, text));
  });

  app.view(VIEW_DENY, async ({ ack, body, view }) => {
    const refuse = (reason: string) => ack({ response_action: 'errors', errors: { reason } });
    await failSafe('deny.error', body.user?.id, async () => {
      if (await foreign(interactionOrigin(body), 'click.refused')) return void (await refuse(NOT_OUR_WORKSPACE));
      const reason = view.state.values.reason?.reason?.value?.trim();
      const result = await options.decisions.decide({ requestId: view.private_metadata, actor: body.user.id, action: 'deny', ...(reason ? { reason } : {}) });
      if (result.ok) await ack();
      else await refuse(mrkdwn(result.message));
    }, refuse);
  });

  // Remove and Keep on an audit report: the use case decides; on success the finding's buttons
  // give way to who did what (the report message is replaced through the click's response_url,
  // or with chat.update when that is not Slack's). A click counts only on the bot's report in the
  // finding's cluster's audit channel, from the block of the finding its value names.
  const auditAction = (decide: (click: FindingClick) => Promise<FindingDecision>, done: (actor: string) => string, event: string) =>
    async ({ ack, body, action, respond }: { ack: () => Promise<void>; body: BlockAction<ButtonAction>; action: ButtonAction; respond: RespondFn }) => {
      await ack();
      await failSafe(event, body.user?.id, async () => {
        if (await foreign(interactionOrigin(body), 'click.refused')) return void (await answer(body, respond, NOT_OUR_WORKSPACE, { dm: false }));
        const clicked = clickedMessage(body, action);
        if (typeof clicked === 'string') return void (await refuseClick(body, respond, 'click.refused', clicked, NOT_THIS_FINDING));
        const shownFingerprint = fingerprintOfActionsBlock(clicked.blockId);
        if (shownFingerprint === undefined) return void (await refuseClick(body, respond, 'click.refused', 'not a finding\'s block', NOT_THIS_FINDING));
        if (clicked.message.bot_id !== options.botId) return void (await refuseClick(body, respond, 'click.refused', 'not the bot\'s message', NOT_THIS_FINDING));
        const ref = decodeFindingRef(action.value ?? '');
        const auditChannel = ref === undefined ? undefined : options.clusters.config(ref.cluster)?.auditChannel;
        if (ref !== undefined && auditChannel !== clicked.channel) return void (await refuseClick(body, respond, 'click.refused', 'not in the cluster\'s audit channel', NOT_THIS_FINDING));
        // Findings past the first twenty sit in the report's thread: its outcome goes to the same thread.
        const threadTs = clicked.message.thread_ts;
        const reportTs = typeof threadTs === 'string' && threadTs !== '' ? threadTs : clicked.ts;
        const result = await decide({ value: action.value ?? '', actor: body.user.id, shownFingerprint, report: { channel: clicked.channel, ts: reportTs } });
        const message = body.message;
        const blocks = messageBlocks(message);
        if (!result.ok || blocks === undefined) {
          await answer(body, respond, mrkdwn(result.message));
          return;
        }
        const text = typeof message?.text === 'string' ? message.text : 'Audit report';
        const resolved = findingResolvedBlocks(blocks, result.ref.fingerprint, done(body.user.id));
        if (allowedResponseUrl(body.response_url, options.responseUrlPrefix) !== undefined) await respond({ replace_original: true, text, blocks: resolved });
        else await options.client.chat.update({ channel: clicked.channel, ts: clicked.ts, text, blocks: resolved });
      }, (text) => answer(body, respond, text));
    };

  app.action<BlockAction<ButtonAction>>(
    ACTION_AUDIT_KEEP,
    auditAction((click) => options.findings.keep(click), (actor) => `:white_check_mark: Kept by <@${actor}>: not reported again until it changes.`, 'audit-keep.error'),
  );
  app.action<BlockAction<ButtonAction>>(
    ACTION_AUDIT_RETRY,
    auditAction((click) => options.findings.retry(click), (actor) => `:arrows_counterclockwise: Driven on now, as <@${actor}> asked; its requester hears the outcome.`, 'audit-retry.error'),
  );
  app.action<BlockAction<ButtonAction>>(
    ACTION_AUDIT_REMOVE,
    auditAction((click) => options.findings.remove(click), (actor) => `:hourglass_flowing_sand: Removing, as <@${actor}> asked; the outcome follows in the thread.`, 'audit-remove.error'),
  );

  // The Home tab ("My access"): published by the worker when its person opens it. Only the
  // person's own tab, for a user of the bot's workspace.
  app.event('app_home_opened', async ({ event, body }) => {
    if (event.tab !== 'home') return;
    // Nobody to answer: the next open tries again.
    await failSafe('home.error', event.user, async () => {
      const origin: PayloadOrigin = { teamId: body.team_id, enterpriseId: body.enterprise_id, userId: event.user, interactive: false };
      if (await foreign(origin, 'event.refused')) return;
      await options.commands.publishHome(event.user, body.event_id, { opened: true });
    }, () => Promise.resolve());
  });

  // A button on the Home tab: the command it stands for, as the clicker; the answer shows on top
  // of their Home tab (a view click has no response_url), and the outcome comes by DM as usual.
  app.action<BlockAction<ButtonAction>>(new RegExp(`^(${HOME_ACTION_IDS.join('|')})$`), async ({ ack, body, action }) => {
    await ack();
    const user = body.user.id;
    const clickId = body.trigger_id ?? `${user}-${action.action_ts}`;
    await failSafe('home-click.error', user, async () => {
      if (await foreign(interactionOrigin(body), 'click.refused')) return;
      if (body.view?.type !== 'home' || body.container?.type !== 'view') {
        logger.warn({ event: 'click.refused', reason: 'a Home button outside the Home tab', action: clip(action.action_id), user: clip(user) }, 'click refused');
        return;
      }
      const shortcut = decodeShortcut(action.action_id, action.value, options.clusterAliases);
      let notice: string;
      if ('refused' in shortcut) {
        logger.warn({ event: 'click.refused', reason: 'button value', action: clip(action.action_id), user: clip(user) }, 'click refused');
        notice = shortcut.refused;
      } else if (shortcut.kind === 'cancel') {
        notice = mrkdwn((await options.decisions.withdraw(shortcut.requestId, user)).message);
      } else if (shortcut.kind === 'let-expire') {
        notice = NOT_A_BOT_BUTTON;
      } else {
        notice = (await options.commands.perform(user, shortcut, body.trigger_id)).text;
      }
      await options.commands.publishHome(user, clickId, { notice });
    }, (text) => options.commands.publishHome(user, clickId, { notice: text }));
  });

  // The buttons of an expiry reminder (a DM): Extend is `extend` as the clicker; Let it expire
  // only answers. Either replaces the reminder's buttons with the answer.
  app.action<BlockAction<ButtonAction>>(new RegExp(`^(${ACTION_REMINDER_EXTEND}|${ACTION_REMINDER_LET_EXPIRE})$`), async ({ ack, body, action, respond }) => {
    await ack();
    await failSafe('reminder-click.error', body.user?.id, async () => {
      if (await foreign(interactionOrigin(body), 'click.refused')) return void (await answer(body, respond, NOT_OUR_WORKSPACE, { dm: false }));
      const shortcut = decodeShortcut(action.action_id, action.value, options.clusterAliases);
      if ('refused' in shortcut || (shortcut.kind !== 'extend' && shortcut.kind !== 'let-expire')) {
        // The reminder stays as it was: only the clicker hears why nothing happened.
        return void (await refuseClick(body, respond, 'click.refused', 'button value', 'refused' in shortcut ? shortcut.refused : NOT_A_BOT_BUTTON));
      }
      const text = shortcut.kind === 'let-expire' ? letExpireText(shortcut) : (await options.commands.perform(body.user.id, shortcut, body.trigger_id)).text;
      const channel = body.channel?.id;
      const ts = body.message?.ts;
      const answered = reminderAnswered(text);
      if (allowedResponseUrl(body.response_url, options.responseUrlPrefix) !== undefined) await respond({ replace_original: true, text: answered.text, blocks: answered.blocks });
      else if (channel !== undefined && ts !== undefined && body.message?.bot_id === options.botId) await options.client.chat.update({ channel, ts, text: answered.text, blocks: answered.blocks });
      else await answer(body, respond, text);
    }, (text) => answer(body, respond, text));
  });

  app.error(async (error) => {
    // Reached only by errors outside the listeners' own handling (middleware, acks twice, ...).
    logger.error({ event: 'bolt.error', err: error }, 'unhandled Bolt error');
    return Promise.resolve();
  });

  return { app, ...(lambdaReceiver ? { lambdaReceiver } : {}) };
}

/** A payload field for a log line: a short string, whatever was sent. */
function clip(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return (typeof value === 'string' ? value : JSON.stringify(value)).slice(0, 64);
}

/** The blocks of the message a button was on, as Slack sent them (absent for ephemeral messages). */
function messageBlocks(message: BlockAction['message']): KnownBlock[] | undefined {
  const blocks: unknown = message?.blocks;
  // Slack sends back the blocks the app posted, so they are KnownBlocks.
  return Array.isArray(blocks) ? (blocks as KnownBlock[]) : undefined;
}
