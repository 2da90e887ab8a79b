/**
 * The workspace directory of the Slack Web API stand-in: its members, conversations (channels and
 * the bot's DMs, which of those the app opened) and user groups, and the Web API methods that read
 * them (`auth.test`, `users.info`, `usergroups.users.list`, `conversations.open`).
 */
import { ApiError, type Args, bool, type MethodHandler, str, type WebApiContext } from './web-api-common';
import { type SlackChannelSpec, type SlackUserGroupSpec, type SlackUserSpec } from './model';

/** A conversation as the platform knows it. */
export interface SlackConversation {
  readonly id: string;
  /** `directmessage` for DMs, `privategroup` for private channels: what payloads carry. */
  readonly name: string;
  readonly kind: 'public' | 'private' | 'im';
  /** The other party, for DMs. */
  readonly user?: string;
}

export interface WorkspaceDirectoryOptions extends WebApiContext {
  readonly users: readonly SlackUserSpec[];
  readonly channels: readonly SlackChannelSpec[];
  readonly userGroups: readonly SlackUserGroupSpec[];
}

/** Members, conversations and user groups; the bot is a member from the start. */
export class WorkspaceDirectory {
  private readonly context: WebApiContext;
  private readonly users = new Map<string, SlackUserSpec>();
  private readonly conversations = new Map<string, SlackConversation>();
  private readonly groups = new Map<string, SlackUserGroupSpec>();
  // State the app creates; `reset()` clears it.
  private openedDms = new Set<string>();
  readonly methods: Readonly<Record<string, MethodHandler>> = {
    'auth.test': () => this.authTest(),
    'conversations.open': (args) => this.openConversation(args),
    'users.info': (args) => this.userInfo(args),
    'usergroups.users.list': (args) => this.userGroupUsers(args),
  };

  constructor({ users, channels, userGroups, ...context }: WorkspaceDirectoryOptions) {
    this.context = context;
    const { bot } = context;
    this.addUser({ id: bot.userId, name: bot.name, realName: bot.name, isBot: true });
    for (const user of users) this.addUser(user);
    for (const channel of channels) this.addChannel(channel);
    for (const group of userGroups) this.setUserGroup(group);
  }

  /** Forgets which DMs the app opened; keeps the workspace. */
  reset(): void {
    this.openedDms = new Set();
  }

  /** Adds (or replaces) a workspace member. */
  addUser(user: SlackUserSpec): void {
    this.users.set(user.id, user);
    const dm = this.dmChannelFor(user.id);
    this.conversations.set(dm, { id: dm, name: 'directmessage', kind: 'im', user: user.id });
  }

  /** The member, creating one named after the id if unknown (anyone who types a command exists). */
  ensureUser(id: string): SlackUserSpec {
    const existing = this.users.get(id);
    if (existing !== undefined) return existing;
    const user = { id, name: id.toLowerCase() };
    this.addUser(user);
    return user;
  }

  user(id: string): SlackUserSpec | undefined {
    return this.users.get(id);
  }

  addChannel({ id, name, isPrivate = false }: SlackChannelSpec): void {
    this.conversations.set(id, { id, name: name.replace(/^#/, ''), kind: isPrivate ? 'private' : 'public' });
  }

  /** The conversation, creating a channel named after the id when a command comes from an unknown one. */
  ensureConversation(id: string): SlackConversation {
    const existing = this.conversation(id);
    if (existing !== undefined) return existing;
    if (/^[UW]/.test(id)) return this.conversationOrThrow(this.dmChannelFor(this.ensureUser(id).id));
    if (id.startsWith('D')) throw new Error(`No DM channel ${id}: DMs exist per user (dmChannelFor(userId))`);
    this.addChannel({ id, name: id.toLowerCase(), isPrivate: id.startsWith('G') });
    return this.conversationOrThrow(id);
  }

  /** By id (`C`/`G`/`D`), `#name`, or a user id (their DM with the bot). */
  conversation(ref: string): SlackConversation | undefined {
    const byId = this.conversations.get(ref);
    if (byId !== undefined) return byId;
    if (/^[UW][A-Z0-9]+$/.test(ref) && this.users.has(ref)) return this.conversations.get(this.dmChannelFor(ref));
    const name = ref.replace(/^#/, '');
    return [...this.conversations.values()].find((c) => c.kind !== 'im' && c.name === name);
  }

  /** The id `ref` stands for (see `conversation`), or `ref` itself when it names no conversation. */
  conversationId(ref: string): string {
    return this.conversation(ref)?.id ?? ref;
  }

  conversationOrThrow(id: string): SlackConversation {
    const conversation = this.conversation(id);
    if (conversation === undefined) throw new ApiError('channel_not_found');
    return conversation;
  }

  /** chat.update/chat.delete take a channel id only: a user id or name is `channel_not_found`. */
  channelById(args: Args): string {
    const id = str(args, 'channel');
    if (id === undefined || !this.conversations.has(id)) throw new ApiError('channel_not_found');
    return id;
  }

  /** The bot's DM channel with a user: stable, `D` + the user id without its `U`. */
  dmChannelFor(userId: string): string {
    return `D${userId.replace(/^[UW]/, '')}`;
  }

  setUserGroup(group: SlackUserGroupSpec): void {
    this.groups.set(group.id, group);
  }

  // ---------------------------------------------------------------- Web API methods

  private authTest(): Record<string, unknown> {
    const { team, bot } = this.context;
    return {
      url: `https://${team.domain}.slack.com/`,
      team: team.name,
      user: bot.name,
      team_id: team.id,
      user_id: bot.userId,
      bot_id: bot.botId,
      ...(team.enterprise !== undefined && { enterprise_id: team.enterprise.id }),
      is_enterprise_install: false,
    };
  }

  private openConversation(args: Args): Record<string, unknown> {
    const users = (str(args, 'users') ?? '').split(',').map((u) => u.trim()).filter((u) => u !== '');
    const channelArg = str(args, 'channel');
    let id: string;
    if (channelArg !== undefined) {
      id = this.channelById({ channel: channelArg });
    } else if (users.length === 1 && users[0] !== undefined) {
      if (!this.users.has(users[0])) throw new ApiError('user_not_found');
      id = this.dmChannelFor(users[0]);
    } else if (users.length === 0) {
      throw new ApiError('users_list_not_supplied');
    } else {
      // Group DMs (G...) are not modelled: the bot only ever DMs one person.
      throw new ApiError('not_implemented_by_emulator');
    }
    const alreadyOpen = this.openedDms.has(id);
    this.openedDms.add(id);
    const conversation = this.conversationOrThrow(id);
    const channel = bool(args, 'return_im')
      ? { id, created: Math.floor(this.context.now() / 1000), is_im: true, is_org_shared: false, user: conversation.user, is_user_deleted: false, priority: 0 }
      : { id };
    return alreadyOpen ? { no_op: true, already_open: true, channel } : { channel };
  }

  private userInfo(args: Args): Record<string, unknown> {
    const { team, bot } = this.context;
    const id = str(args, 'user');
    const user = id === undefined ? undefined : this.users.get(id);
    if (user === undefined) throw new ApiError('user_not_found');
    const realName = user.realName ?? user.name;
    return {
      user: {
        id: user.id,
        team_id: team.id,
        name: user.name,
        deleted: user.deleted ?? false,
        real_name: realName,
        tz: user.tz ?? 'Europe/Amsterdam',
        tz_label: 'Central European Time',
        tz_offset: 3600,
        profile: {
          real_name: realName,
          real_name_normalized: realName,
          display_name: user.name,
          display_name_normalized: user.name,
          ...(user.email !== undefined && { email: user.email }),
          team: team.id,
          ...(user.isBot === true && { bot_id: bot.botId, api_app_id: bot.appId }),
        },
        is_admin: user.isAdmin ?? false,
        is_owner: false,
        is_primary_owner: false,
        is_restricted: false,
        is_ultra_restricted: false,
        is_bot: user.isBot ?? false,
        is_app_user: false,
        updated: Math.floor(this.context.now() / 1000),
        is_email_confirmed: user.email !== undefined,
      },
    };
  }

  private userGroupUsers(args: Args): Record<string, unknown> {
    const id = str(args, 'usergroup');
    const group = id === undefined ? undefined : this.groups.get(id);
    if (group === undefined) throw new ApiError('no_such_subteam');
    return { users: [...group.users] };
  }
}
