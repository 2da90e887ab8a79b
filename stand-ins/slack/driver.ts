/**
 * The Slack platform's side towards the app: builds the requests Slack sends when someone types a
 * slash command, clicks a button, submits a modal, or opens the app's Home tab and clicks in it;
 * signs them (v0), delivers them (as a Lambda Function URL event, or over HTTP to a running app),
 * and shows the app's answer the way the Slack client would (through `SlackWebApiServer`'s state
 * and events).
 *
 * Payloads follow Slack's documented shapes field by field (see the `build*` methods); the values
 * that tie back to the platform (response_url, trigger_id, the clicked message) come from the
 * server, so what the app does with them lands in the server's state.
 *
 * Slack's timing rule is modelled too: an answer that takes longer than 3 s is ignored and the
 * user sees `operation_timeout`; a non-200 answer shows `dispatch_failed`.
 */
import { randomBytes } from 'node:crypto';
import type { BlockAction, ButtonAction, EnvelopedEvent, SlashCommand, ViewStateValue, ViewSubmitAction } from '@slack/bolt';
import type { AppHomeOpenedEvent } from '@slack/types';
import { findButton, interactiveElements, type FoundButton } from './block-kit';
import { invokeHandler, type FunctionUrlEventOptions, type FunctionUrlHandler } from './lambda-function-url';
import { slackSignatureHeaders, toSlackTimestamp } from './signing';
import { sendHttp, type SlackAppResponse, type SlackRequest } from './transport';
import { type SlackBlock, type SlackView, type SlackMessage, type SlackEphemeral } from './model';
import { type SlackWebApiServer, type ViewAckResult } from './web-api-server';

/** Where the app listens: a Lambda handler invoked in-process, or an HTTP endpoint. */
export type SlackAppTarget =
  | ({ readonly kind: 'lambda'; readonly handler: FunctionUrlHandler } & FunctionUrlEventOptions)
  | { readonly kind: 'http'; readonly url: string };

export interface SlackDriverOptions {
  /** The platform state the driver's payloads point into. */
  readonly server: SlackWebApiServer;
  /** The app's signing secret: what Slack signs every request with. */
  readonly signingSecret: string;
  /** Where requests go; `send*` methods need it, `build*` methods do not. */
  readonly target?: SlackAppTarget;
  /** The legacy verification token Slack still puts in payloads; apps must not rely on it. */
  readonly verificationToken?: string;
  /** Path of the app's endpoint, as a Function URL event's `rawPath`. */
  readonly path?: string;
  /** Clock for request timestamps and action_ts; default `Date.now` (Bolt checks against its own clock). */
  readonly now?: () => number;
  /** Slack waits this long for the app's answer; default 3000 ms. */
  readonly ackDeadlineMs?: number;
  /** The default channel of slash commands; default the server's first channel, `C0GENERAL`. */
  readonly defaultChannel?: string;
}

export interface RequestTimingOptions {
  /** Unix seconds for `X-Slack-Request-Timestamp`; default now. */
  readonly timestamp?: number;
  /** `X-Slack-Retry-Num`: Slack's redelivery count. */
  readonly retryNum?: number;
  /** `X-Slack-Retry-Reason`, e.g. `http_timeout`. */
  readonly retryReason?: string;
}

export interface SlashCommandOptions extends RequestTimingOptions {
  readonly user: string;
  readonly text: string;
  /** Channel id (or a user id, for the DM with the bot); default `defaultChannel`. */
  readonly channel?: string;
  /** Default `/crdb`. */
  readonly command?: string;
}

export interface ClickButtonOptions extends RequestTimingOptions {
  readonly user: string;
  /** The message holding the button, as stored by the server (a channel message or the user's ephemeral). */
  readonly message: { readonly channel: string; readonly ts: string };
  readonly actionId: string;
  /** Which block, when several hold the same action_id. */
  readonly blockId?: string;
  /** Overrides the button's value: what a forged click would send. */
  readonly value?: string;
}

export interface OpenHomeOptions extends RequestTimingOptions {
  readonly user: string;
  /** Which tab of the app the user opened; default `home` (`messages` is the DM with the bot). */
  readonly tab?: 'home' | 'messages';
}

export interface ClickInHomeOptions extends RequestTimingOptions {
  /** Whose Home tab: the button is looked up in the view the app last published for them. */
  readonly user: string;
  readonly actionId: string;
  /** Which block, when several hold the same action_id. */
  readonly blockId?: string;
  /** Overrides the button's value: what a forged click would send. */
  readonly value?: string;
}

/** The Events API request of `app_home_opened`. */
export type AppHomeOpenedRequest = EnvelopedEvent<AppHomeOpenedEvent>;

/**
 * A click in a view (here: the Home tab): a `block_actions` payload with `container.type: 'view'`
 * and the `view`, but no `response_url`, `channel` or `message`, which Slack only sends for
 * clicks on messages (Bolt's type has `response_url` always).
 */
export type ViewBlockAction = Omit<BlockAction<ButtonAction>, 'response_url' | 'channel' | 'message'>;

/** A modal input's value: a string for plain_text_input, or Slack's full state value. */
export type ViewInputValue = string | ViewStateValue;

export interface SubmitViewOptions extends RequestTimingOptions {
  readonly user: string;
  /** The view id (or the stored view) to submit. */
  readonly view: string | { readonly id: string };
  /** `{ [block_id]: { [action_id]: value } }`. */
  readonly values?: Readonly<Record<string, Readonly<Record<string, ViewInputValue>>>>;
}

/** A request ready to send, with the payload it carries and the platform handles it minted. */
export interface BuiltRequest<P> {
  readonly request: SlackRequest;
  readonly payload: P;
  readonly responseUrlId?: string;
}

/** What happened when a request was delivered. */
export interface DeliveryResult<P> extends BuiltRequest<P> {
  readonly response: SlackAppResponse;
  readonly elapsedMs: number;
  /** Whether Slack would have accepted the answer: 200 within the ack deadline. */
  readonly acknowledged: boolean;
}

export interface ViewSubmissionResult extends DeliveryResult<ViewSubmitAction> {
  readonly viewAck: ViewAckResult;
}

const USER_AGENT = 'Slackbot 1.0 (+https://api.slack.com/robots)';
const ALNUM_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** An id like Slack's (`Ev08ABC...`, `EC...`): a prefix and upper-case letters and digits. */
function slackId(prefix: string, length = 10): string {
  return prefix + Array.from(randomBytes(length), (b) => ALNUM_UPPER[b % ALNUM_UPPER.length]).join('');
}

/** Drives an app the way the Slack platform does. See the module comment. */
export class SlackDriver {
  private readonly server: SlackWebApiServer;
  private readonly signingSecret: string;
  private readonly target: SlackAppTarget | undefined;
  private readonly verificationToken: string;
  private readonly path: string;
  private readonly now: () => number;
  private readonly ackDeadlineMs: number;
  private readonly defaultChannel: string;

  constructor({
    server,
    signingSecret,
    target,
    verificationToken = 'test-verification-token',
    path = '/slack/events',
    now = Date.now,
    ackDeadlineMs = 3000,
    defaultChannel = 'C0GENERAL',
  }: SlackDriverOptions) {
    this.server = server;
    this.signingSecret = signingSecret;
    this.target = target;
    this.verificationToken = verificationToken;
    this.path = path;
    this.now = now;
    this.ackDeadlineMs = ackDeadlineMs;
    this.defaultChannel = defaultChannel;
  }

  // ---------------------------------------------------------------- high level: build, send, show

  /** Types `/crdb <text>` as `user`; shows the ack as Slack would; returns the app's answer. */
  async slashCommand(options: SlashCommandOptions): Promise<DeliveryResult<SlashCommand>> {
    const built = this.buildSlashCommand(options);
    const result = await this.deliver(built);
    const channel = built.payload.channel_id;
    if (result.acknowledged) this.server.applyCommandAck(built.responseUrlId ?? '', result.response.body);
    else this.server.slackbotNotice(channel, options.user, this.failureNotice(built.payload.command, result));
    return result;
  }

  /** Clicks a button on a stored message as `user`. Slack ignores a block_actions answer's body. */
  async clickButton(options: ClickButtonOptions): Promise<DeliveryResult<BlockAction<ButtonAction>>> {
    const built = this.buildBlockAction(options);
    const result = await this.deliver(built);
    if (!result.acknowledged) this.server.slackbotNotice(options.message.channel, options.user, this.failureNotice(undefined, result));
    return result;
  }

  /**
   * Opens the app's Home tab as `user`: the `app_home_opened` event. What the app publishes with
   * `views.publish` lands in the server (`homeView(user)`); a failed delivery shows the user nothing.
   */
  async openHome(options: OpenHomeOptions): Promise<DeliveryResult<AppHomeOpenedRequest>> {
    return this.deliver(this.buildAppHomeOpened(options));
  }

  /**
   * Clicks a button on `user`'s Home tab. A view click has no response_url: the app answers by
   * republishing the tab (or by DM); a failed delivery shows as an error on the button only.
   */
  async clickInHome(options: ClickInHomeOptions): Promise<DeliveryResult<ViewBlockAction>> {
    return this.deliver(this.buildHomeBlockAction(options));
  }

  /** Submits a modal as `user`; applies the answer's `response_action` (errors, update, push, clear). */
  async submitView(options: SubmitViewOptions): Promise<ViewSubmissionResult> {
    const built = this.buildViewSubmission(options);
    const result = await this.deliver(built);
    const viewAck = result.acknowledged ? this.server.applyViewAck(built.payload.view.id, result.response.body) : {};
    return { ...result, viewAck };
  }

  /** Sends any request (e.g. a forged one) to the target and returns the raw answer. */
  async send(request: SlackRequest): Promise<SlackAppResponse> {
    const target = this.target;
    if (target === undefined) throw new Error('SlackDriver has no target: pass `target` to send requests');
    if (target.kind === 'http') return sendHttp(target.url, request);
    const { kind: _kind, handler, ...eventOptions } = target;
    return invokeHandler(handler, request, eventOptions);
  }

  private async deliver<P>(built: BuiltRequest<P>): Promise<DeliveryResult<P>> {
    const started = performance.now();
    const response = await this.send(built.request);
    const elapsedMs = performance.now() - started;
    return { ...built, response, elapsedMs, acknowledged: response.statusCode === 200 && elapsedMs <= this.ackDeadlineMs };
  }

  private failureNotice(command: string | undefined, result: { response: SlackAppResponse; elapsedMs: number }): string {
    const error = result.response.statusCode === 200 ? 'operation_timeout' : 'dispatch_failed';
    return command === undefined ? `This app responded with the error "${error}"` : `${command} failed with the error "${error}"`;
  }

  // ---------------------------------------------------------------- builders

  /** The form-encoded slash command body Slack posts, signed. */
  buildSlashCommand({ user, text, channel, command = '/crdb', ...timing }: SlashCommandOptions): BuiltRequest<SlashCommand> {
    const member = this.server.ensureUser(user);
    const conversation = this.server.ensureConversation(channel ?? this.defaultChannel);
    const { id: responseUrlId, url: responseUrl } = this.server.createResponseUrl({ kind: 'slash_command', channel: conversation.id, user: member.id });
    const payload: SlashCommand = {
      token: this.verificationToken,
      team_id: this.server.team.id,
      team_domain: this.server.team.domain,
      // On Enterprise Grid, Slack adds the org after the team.
      ...(this.server.team.enterprise !== undefined && { enterprise_id: this.server.team.enterprise.id, enterprise_name: this.server.team.enterprise.name }),
      channel_id: conversation.id,
      channel_name: conversation.name,
      user_id: member.id,
      user_name: member.name,
      command,
      text,
      api_app_id: this.server.bot.appId,
      is_enterprise_install: 'false',
      response_url: responseUrl,
      trigger_id: this.server.issueTriggerId(member.id),
    };
    // Slack sends the fields in this order, form-encoded with `+` for spaces.
    const body = new URLSearchParams(Object.entries(payload) as [string, string][]).toString();
    return { request: this.sign(body, 'application/x-www-form-urlencoded', timing), payload, responseUrlId };
  }

  /** The `block_actions` payload for a button click on a stored message, form-encoded as `payload=<json>` and signed. */
  buildBlockAction({ user, message: ref, actionId, blockId, value, ...timing }: ClickButtonOptions): BuiltRequest<BlockAction<ButtonAction>> {
    const member = this.server.ensureUser(user);
    const found = this.server.interactiveMessage(ref.channel, ref.ts, member.id);
    if (found === undefined) throw new Error(`No message ${ref.ts} in ${ref.channel} that ${member.id} can see (deleted, replaced, or another user's ephemeral?)`);
    const source: SlackMessage | SlackEphemeral = found.kind === 'message' ? found.message : found.ephemeral;
    const button = this.buttonIn(source.blocks ?? [], actionId, blockId, `message ${ref.ts}`);
    const conversation = this.server.ensureConversation(source.channel);
    const ephemeral = found.kind === 'ephemeral';
    const { id: responseUrlId, url: responseUrl } = this.server.createResponseUrl({
      kind: 'block_actions',
      channel: conversation.id,
      user: member.id,
      source: { ts: source.ts, ephemeral },
    });
    const action = this.buttonAction(button, value);
    const payload: BlockAction<ButtonAction> = {
      type: 'block_actions',
      user: { id: member.id, username: member.name, name: member.name, team_id: this.server.team.id },
      api_app_id: this.server.bot.appId,
      token: this.verificationToken,
      container: { type: 'message', message_ts: source.ts, channel_id: conversation.id, is_ephemeral: ephemeral },
      trigger_id: this.server.issueTriggerId(member.id),
      team: this.teamPayload(),
      // Slack sends `enterprise: null` outside Enterprise Grid; Bolt's type only allows an object.
      ...({ enterprise: this.server.team.enterprise ?? null } as object),
      is_enterprise_install: false,
      channel: { id: conversation.id, name: conversation.name },
      // Clicks on ephemeral messages carry no `message`: Slack does not keep ephemerals.
      ...(found.kind === 'message' && { message: messagePayload(found.message) }),
      state: { values: {} },
      response_url: responseUrl,
      actions: [action],
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    return { request: this.sign(body, 'application/x-www-form-urlencoded', timing), payload, responseUrlId };
  }

  /** The `block_actions` payload for a button click on `user`'s Home tab, form-encoded as `payload=<json>` and signed. */
  buildHomeBlockAction({ user, actionId, blockId, value, ...timing }: ClickInHomeOptions): BuiltRequest<ViewBlockAction> {
    const member = this.server.ensureUser(user);
    const view = this.server.homeView(member.id);
    if (view === undefined) throw new Error(`${member.id} has no Home tab: the app has published none for them (views.publish)`);
    const button = this.buttonIn(view.blocks, actionId, blockId, `the Home tab of ${member.id}`);
    const payload: ViewBlockAction = {
      type: 'block_actions',
      user: { id: member.id, username: member.name, name: member.name, team_id: this.server.team.id },
      api_app_id: this.server.bot.appId,
      token: this.verificationToken,
      container: { type: 'view', view_id: view.id },
      trigger_id: this.server.issueTriggerId(member.id),
      team: this.teamPayload(),
      ...({ enterprise: this.server.team.enterprise ?? null } as object),
      is_enterprise_install: false,
      view: view as unknown as NonNullable<ViewBlockAction['view']>,
      actions: [this.buttonAction(button, value)],
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    return { request: this.sign(body, 'application/x-www-form-urlencoded', timing), payload };
  }

  /** The Events API request Slack sends when `user` opens the app's Home tab: JSON, signed. */
  buildAppHomeOpened({ user, tab = 'home', ...timing }: OpenHomeOptions): BuiltRequest<AppHomeOpenedRequest> {
    const member = this.server.ensureUser(user);
    const { team, bot } = this.server;
    const channel = this.server.dmChannelFor(member.id);
    const view = tab === 'home' ? this.server.homeView(member.id) : undefined;
    const event: AppHomeOpenedEvent = {
      type: 'app_home_opened',
      user: member.id,
      channel,
      tab,
      event_ts: this.actionTs(),
      // Slack includes the Home tab the app last published, once there is one.
      ...(view !== undefined && { view: view as unknown as NonNullable<AppHomeOpenedEvent['view']> }),
    };
    const enterpriseId = team.enterprise?.id ?? null;
    const payload: AppHomeOpenedRequest = {
      token: this.verificationToken,
      team_id: team.id,
      ...(team.enterprise !== undefined && { enterprise_id: team.enterprise.id }),
      context_team_id: team.id,
      // Slack sends `context_enterprise_id: null` outside Enterprise Grid; Bolt's type only allows a string.
      ...({ context_enterprise_id: enterpriseId } as object),
      api_app_id: bot.appId,
      event,
      type: 'event_callback',
      event_id: slackId('Ev'),
      event_time: toSlackTimestamp(this.now()),
      authorizations: [{ enterprise_id: enterpriseId, team_id: team.id, user_id: bot.userId, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
      event_context: this.eventContext('app_home_opened', channel),
    };
    return { request: this.sign(JSON.stringify(payload), 'application/json', timing), payload };
  }

  /** The `view_submission` payload for an open modal with the user's input, signed. */
  buildViewSubmission({ user, view: viewRef, values = {}, ...timing }: SubmitViewOptions): BuiltRequest<ViewSubmitAction> {
    const member = this.server.ensureUser(user);
    const id = typeof viewRef === 'string' ? viewRef : viewRef.id;
    const stored = this.server.view(id);
    // A Home tab is a view too, but Slack sends no view_submission for it.
    if (stored === undefined || stored.closed || stored.view.type !== 'modal') throw new Error(`No open modal ${id}`);
    const stateValues: Record<string, Record<string, ViewStateValue>> = {};
    for (const [blockId, actions] of Object.entries(values)) {
      stateValues[blockId] = Object.fromEntries(
        Object.entries(actions).map(([actionId, v]) => [actionId, typeof v === 'string' ? { type: 'plain_text_input', value: v } : v]),
      );
    }
    const view: SlackView = this.server.setViewState(id, stateValues);
    const payload: ViewSubmitAction = {
      type: 'view_submission',
      team: this.teamPayload(),
      user: { id: member.id, name: member.name, team_id: this.server.team.id, ...({ username: member.name } as object) },
      api_app_id: this.server.bot.appId,
      token: this.verificationToken,
      trigger_id: this.server.issueTriggerId(member.id),
      view: view as unknown as ViewSubmitAction['view'],
      response_urls: [],
      is_enterprise_install: false,
      ...({ enterprise: this.server.team.enterprise ?? null } as object),
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    return { request: this.sign(body, 'application/x-www-form-urlencoded', timing), payload };
  }

  /** Signs a body as Slack does and wraps it in the headers Slack sends. */
  sign(body: string, contentType: string, { timestamp, retryNum, retryReason }: RequestTimingOptions = {}): SlackRequest {
    const ts = timestamp ?? toSlackTimestamp(this.now());
    return {
      method: 'POST',
      path: this.path,
      headers: {
        'Content-Type': contentType,
        'User-Agent': USER_AGENT,
        Accept: 'application/json,*/*',
        'Accept-Encoding': 'gzip,deflate',
        ...slackSignatureHeaders({ signingSecret: this.signingSecret, timestamp: ts, body }),
        ...(retryNum !== undefined && { 'X-Slack-Retry-Num': String(retryNum) }),
        ...(retryReason !== undefined && { 'X-Slack-Retry-Reason': retryReason }),
      },
      body,
    };
  }

  /** The `team` of an interactive payload: on Enterprise Grid it names the org too. */
  private teamPayload(): { id: string; domain: string; enterprise_id?: string; enterprise_name?: string } {
    const { id, domain, enterprise } = this.server.team;
    return { id, domain, ...(enterprise !== undefined && { enterprise_id: enterprise.id, enterprise_name: enterprise.name }) };
  }

  /** The button a click presses, or an error naming what is there. */
  private buttonIn(blocks: readonly SlackBlock[], actionId: string, blockId: string | undefined, where: string): FoundButton {
    const button = findButton(blocks, actionId, blockId);
    if (button !== undefined) return button;
    const available = interactiveElements(blocks).map(({ element }) => String(element.action_id));
    const which = blockId === undefined ? actionId : `${actionId} in block ${blockId}`;
    throw new Error(`No button with action_id ${which} on ${where} (available: ${available.join(', ') || 'none'})`);
  }

  /** A pressed button as `actions[0]`; `value` replaces the button's own (a forged click). */
  private buttonAction({ element, blockId }: FoundButton, value: string | undefined): ButtonAction {
    const sent = value ?? (typeof element.value === 'string' ? element.value : undefined);
    return {
      type: 'button',
      action_id: element.action_id,
      block_id: blockId,
      text: element.text as ButtonAction['text'],
      ...(sent !== undefined && { value: sent }),
      ...(typeof element.style === 'string' && { style: element.style }),
      action_ts: this.actionTs(),
    };
  }

  /**
   * Slack's opaque `event_context`: a version and base64url JSON naming the event type, team,
   * app and channel, as Slack builds it (apps pass it back to `apps.event.authorizations.list`).
   */
  private eventContext(eventType: string, channel: string): string {
    const { team, bot } = this.server;
    const json = JSON.stringify({ et: eventType, tid: team.id, eid: team.enterprise?.id ?? null, aid: bot.appId, cid: channel });
    return `4-${Buffer.from(json).toString('base64url')}`;
  }

  private actionTs(): string {
    const ms = this.now();
    return `${Math.floor(ms / 1000)}.${String((ms % 1000) * 1000).padStart(6, '0')}`;
  }
}

/** A stored message as Slack embeds it in a block_actions payload. */
function messagePayload(message: SlackMessage): NonNullable<BlockAction['message']> {
  const { deleted: _deleted, via: _via, channel: _channel, ...rest } = message;
  return rest;
}
