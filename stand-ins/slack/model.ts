/**
 * The data the Slack emulator keeps and hands out: the workspace (team, bot, users, channels,
 * user groups), what the app posted (messages, ephemerals, views, response_url posts) and the
 * events a console subscribes to. Field names follow Slack's JSON where the value mirrors a Slack
 * object (`ts`, `thread_ts`, `bot_id` in payloads), camelCase where it is the emulator's own
 * bookkeeping.
 */

/** A Block Kit block as Slack stores it: any JSON object with a `type`. */
export type SlackBlock = { readonly type: string; readonly block_id?: string } & Readonly<Record<string, unknown>>;

export interface SlackTeam {
  readonly id: string;
  readonly domain: string;
  readonly name: string;
  /** The Enterprise Grid org the workspace belongs to; absent outside Grid (payloads say `enterprise: null`). */
  readonly enterprise?: { readonly id: string; readonly name: string };
}

/** The app's bot: the identity every bot token call acts as. */
export interface SlackBotIdentity {
  /** Bot token (`xoxb-...`) the Web API accepts. */
  readonly token: string;
  readonly userId: string;
  readonly botId: string;
  readonly appId: string;
  /** The bot user's name (`auth.test`'s `user`). */
  readonly name: string;
}

export interface SlackUserSpec {
  readonly id: string;
  /** Handle (`user_name` in slash commands, `username` in interactions). */
  readonly name: string;
  readonly realName?: string;
  readonly email?: string;
  readonly isAdmin?: boolean;
  readonly isBot?: boolean;
  readonly deleted?: boolean;
  readonly tz?: string;
}

export interface SlackChannelSpec {
  readonly id: string;
  /** Without the `#`. */
  readonly name: string;
  readonly isPrivate?: boolean;
}

export interface SlackUserGroupSpec {
  /** `S...` id, as `usergroups.users.list` takes it. */
  readonly id: string;
  readonly handle: string;
  readonly users: readonly string[];
}

/**
 * Where a message or ephemeral came from. `ack` is the HTTP response body of the app's ack;
 * `slackbot` is Slack's own notice when the app failed to answer.
 */
export type PostedVia = 'chat.postMessage' | 'chat.postEphemeral' | 'chat.update' | 'chat.delete' | 'response_url' | 'ack' | 'slackbot';

/** A channel message, as stored (snapshots: mutating one changes nothing). */
export interface SlackMessage {
  readonly channel: string;
  readonly ts: string;
  readonly type: 'message';
  /** Author: the bot user for messages the app posted. */
  readonly user: string;
  readonly bot_id?: string;
  readonly app_id?: string;
  readonly team: string;
  readonly text: string;
  readonly blocks?: readonly SlackBlock[];
  readonly thread_ts?: string;
  readonly edited?: { readonly user: string; readonly ts: string };
  /** Deleted by `chat.delete` or `delete_original`; kept so tests can see it was there. */
  readonly deleted: boolean;
  readonly via: PostedVia;
}

/** An ephemeral message: visible to one user in one channel, never in history. */
export interface SlackEphemeral {
  readonly channel: string;
  /** The one user who sees it. */
  readonly user: string;
  readonly ts: string;
  /** Who posted it: the bot user, or `USLACKBOT` for Slack's own error notices. */
  readonly author: string;
  readonly text: string;
  readonly blocks?: readonly SlackBlock[];
  readonly via: PostedVia;
  /** The response_url it was posted through, if any. */
  readonly responseUrlId?: string;
  /** Set when a later response replaced or deleted it. */
  readonly replaced: boolean;
  readonly deleted: boolean;
}

/**
 * A view as `views.open` and `views.publish` return it (Slack's field names): a modal, or a
 * user's Home tab (`type: 'home'`, whose `title`, `submit` and `close` are null).
 */
export interface SlackView {
  readonly id: string;
  readonly team_id: string;
  readonly type: string;
  readonly callback_id: string;
  readonly title: Readonly<Record<string, unknown>> | null;
  readonly submit: Readonly<Record<string, unknown>> | null;
  readonly close: Readonly<Record<string, unknown>> | null;
  readonly blocks: readonly SlackBlock[];
  readonly private_metadata: string;
  readonly external_id: string;
  readonly state: { readonly values: Readonly<Record<string, Readonly<Record<string, unknown>>>> };
  readonly hash: string;
  readonly clear_on_close: boolean;
  readonly notify_on_close: boolean;
  readonly root_view_id: string | null;
  readonly previous_view_id: string | null;
  readonly app_id: string;
  readonly app_installed_team_id: string;
  readonly bot_id: string;
}

export interface StoredView {
  readonly view: SlackView;
  /** The user the modal is open for, or whose Home tab it is. */
  readonly user: string;
  /** A Home tab is never closed. */
  readonly closed: boolean;
}

/** Every Web API call the server received, in order. */
export interface RecordedCall {
  readonly method: string;
  /** As received: form fields are strings (so `blocks` is JSON text); JSON bodies keep their types. */
  readonly args: Readonly<Record<string, unknown>>;
  readonly time: Date;
  readonly status: number;
  /** The `error` answered, when the call failed. */
  readonly error?: string;
  /** Whether the failure was injected by `failNext`. */
  readonly injected: boolean;
}

/** One POST to a response_url (accepted or refused). */
export interface ResponseUrlPost {
  readonly id: string;
  readonly url: string;
  readonly body: Readonly<Record<string, unknown>>;
  readonly time: Date;
  readonly status: number;
  /** `used_url`, `expired_url`, ... when refused. */
  readonly error?: string;
  /** 1-based count of accepted uses including this one; 0 when refused. */
  readonly use: number;
}

/** The event map of `SlackWebApiServer.on`. Payloads are snapshots. */
export interface SlackEmulatorEvents {
  /** A new channel or DM message (posted by the app, or an `in_channel` response). */
  message: { readonly message: SlackMessage; readonly via: PostedVia };
  /** A message changed in place (`chat.update`, `replace_original`). */
  update: { readonly before: SlackMessage; readonly after: SlackMessage; readonly via: PostedVia };
  /** A message removed (`chat.delete`, `delete_original`). */
  delete: { readonly message: SlackMessage; readonly via: PostedVia };
  /**
   * An ephemeral shown to one user. `replaces` (the ts) is set when it replaced an earlier one in
   * place, or removed it (then `ephemeral.deleted` is true).
   */
  ephemeral: { readonly ephemeral: SlackEphemeral; readonly replaces?: string };
  /** A POST to a response_url, accepted or refused. */
  response: { readonly post: ResponseUrlPost };
  /** A modal opened, updated or closed. */
  view: { readonly view: StoredView; readonly via: 'views.open' | 'views.update' | 'views.push' | 'response_action' };
  /** A user's Home tab published (first time or again) by `views.publish`. */
  home: { readonly user: string; readonly view: SlackView };
  /** Every Web API call, after it was answered. */
  call: { readonly call: RecordedCall };
}
