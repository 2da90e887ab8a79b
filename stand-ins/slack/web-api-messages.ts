/**
 * The messages of the Slack Web API stand-in: channel and DM messages, ephemerals, message ts,
 * response_urls and what is posted to them, and the `chat.*` methods. Also how the client shows a
 * slash command's ack body and Slackbot's notices, and which message a click can come from.
 */
import { randomBytes } from 'node:crypto';
import {
  ApiError,
  type Args,
  blocksOf,
  type Emit,
  isRecord,
  type MethodHandler,
  type Reply,
  type SlackFault,
  str,
  type WebApiContext,
} from './web-api-common';
import { type WorkspaceDirectory } from './web-api-directory';
import { type PostedVia, type ResponseUrlPost, type SlackBlock, type SlackEphemeral, type SlackMessage } from './model';

/** What a response_url belongs to; the driver creates one per slash command or interaction. */
export interface ResponseUrlSpec {
  readonly kind: 'slash_command' | 'block_actions' | 'view_submission';
  readonly channel: string;
  readonly user: string;
  /** The message the interaction came from: what `replace_original`/`delete_original` act on. */
  readonly source?: { readonly ts: string; readonly ephemeral: boolean };
}

/** A message the user can interact with: a channel message or one of their ephemerals. */
export type InteractiveMessage = { readonly kind: 'message'; readonly message: SlackMessage } | { readonly kind: 'ephemeral'; readonly ephemeral: SlackEphemeral };

/** Slack's own notices (e.g. "/crdb failed with the error ...") come from Slackbot. */
export const SLACKBOT_USER_ID = 'USLACKBOT';

export interface MessageStoreOptions extends WebApiContext {
  readonly emit: Emit;
  readonly directory: WorkspaceDirectory;
  /** The server's base URL, which response_urls start with. */
  readonly url: () => string;
  /** The next injected fault for response_url posts, if any. */
  readonly takeFault: (method: 'response_url') => SlackFault | undefined;
  /** Slack allows 5. */
  readonly responseUrlMaxUses: number;
  /** Slack allows 30 minutes. */
  readonly responseUrlTtlMs: number;
}

interface ResponseUrlState extends ResponseUrlSpec {
  readonly id: string;
  readonly url: string;
  readonly createdAt: number;
  uses: number;
  lastEphemeralTs?: string;
}

const MAX_TEXT = 40_000;

/** Messages, ephemerals and response_urls, with the `chat.*` methods that post and change them. */
export class MessageStore {
  private readonly options: MessageStoreOptions;
  private readonly directory: WorkspaceDirectory;
  // State the app creates; `reset()` clears it.
  private channelMessages = new Map<string, SlackMessage[]>();
  private ephemeralLog: SlackEphemeral[] = [];
  private responseUrls = new Map<string, ResponseUrlState>();
  private responsePosts: ResponseUrlPost[] = [];
  private lastTsMicros = 0;
  readonly methods: Readonly<Record<string, MethodHandler>> = {
    'chat.postMessage': (args) => this.postMessage(args),
    'chat.postEphemeral': (args) => this.postEphemeral(args),
    'chat.update': (args) => this.updateMessage(args),
    'chat.delete': (args) => this.deleteMessage(args),
  };

  constructor(options: MessageStoreOptions) {
    this.options = options;
    this.directory = options.directory;
  }

  /** Forgets the messages, ephemerals and response URLs (and posts to them); ts stay increasing. */
  reset(): void {
    this.channelMessages = new Map();
    this.ephemeralLog = [];
    this.responseUrls = new Map();
    this.responsePosts = [];
  }

  // ---------------------------------------------------------------- state, for assertions and the console

  /**
   * Messages of a conversation (id, `#name` or user id for the DM), oldest first; without a
   * conversation, all. Deleted messages only with `includeDeleted`.
   */
  messages(conversation?: string, { includeDeleted = false }: { includeDeleted?: boolean } = {}): SlackMessage[] {
    const ids = conversation === undefined ? [...this.channelMessages.keys()] : [this.directory.conversationId(conversation)];
    const all = ids.flatMap((id) => this.channelMessages.get(id) ?? []);
    if (conversation === undefined) all.sort((a, b) => Number(a.ts) - Number(b.ts));
    return structuredClone(all.filter((m) => includeDeleted || !m.deleted));
  }

  /** One message, deleted or not. */
  message(conversation: string, ts: string): SlackMessage | undefined {
    const id = this.directory.conversationId(conversation);
    const found = this.channelMessages.get(id)?.find((m) => m.ts === ts);
    return found === undefined ? undefined : structuredClone(found);
  }

  /** Ephemerals shown, oldest first, including replaced and deleted ones (see their flags). */
  ephemerals({ channel, user }: { channel?: string; user?: string } = {}): SlackEphemeral[] {
    const channelId = channel === undefined ? undefined : this.directory.conversationId(channel);
    return structuredClone(this.ephemeralLog.filter((e) => (channelId === undefined || e.channel === channelId) && (user === undefined || e.user === user)));
  }

  /** POSTs to response URLs (optionally to one), accepted or refused, oldest first. */
  responses(id?: string): ResponseUrlPost[] {
    return structuredClone(this.responsePosts.filter((post) => id === undefined || post.id === id));
  }

  // ---------------------------------------------------------------- platform side (used by SlackDriver)

  /** A new response_url, as Slack mints one per slash command or interaction. */
  createResponseUrl(spec: ResponseUrlSpec): { id: string; url: string } {
    const id = randomBytes(16).toString('hex');
    const url = `${this.options.url()}/response/${id}`;
    this.responseUrls.set(id, { ...spec, id, url, createdAt: this.options.now(), uses: 0 });
    return { id, url };
  }

  /** A Slack message ts (`seconds.micros`), unique and increasing across the server. */
  nextTs(): string {
    const micros = Math.max(this.options.now() * 1000, this.lastTsMicros + 1);
    this.lastTsMicros = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  /** The message (or `user`'s ephemeral) with this ts, current version, if it can still be clicked. */
  interactiveMessage(channel: string, ts: string, user: string): InteractiveMessage | undefined {
    const id = this.directory.conversationId(channel);
    const message = this.channelMessages.get(id)?.find((m) => m.ts === ts && !m.deleted);
    if (message !== undefined) return { kind: 'message', message: structuredClone(message) };
    const ephemeral = this.ephemeralLog.findLast((e) => e.channel === id && e.user === user && e.ts === ts);
    if (ephemeral !== undefined && !ephemeral.deleted && !ephemeral.replaced) return { kind: 'ephemeral', ephemeral: structuredClone(ephemeral) };
    return undefined;
  }

  /**
   * Shows what the app answered a slash command with (its HTTP ack body) as Slack does: JSON with
   * `text`/`blocks` as a response_url post would be, plain text as an ephemeral; an empty body
   * shows nothing. Does not count as a use of the response_url.
   */
  applyCommandAck(responseUrlId: string, body: string): void {
    const state = this.responseUrls.get(responseUrlId);
    if (state === undefined || body.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = { text: body };
    }
    if (!isRecord(parsed) || (parsed.text === undefined && parsed.blocks === undefined)) return;
    try {
      this.applyResponse(state, parsed, 'ack');
    } catch {
      // An ack body Slack cannot render is dropped, as Slack drops it.
    }
  }

  /** Shows Slack's own notice to one user, e.g. `/crdb failed with the error "dispatch_failed"`. */
  slackbotNotice(channel: string, user: string, text: string): void {
    this.addEphemeral({ channel, user, author: SLACKBOT_USER_ID, text, via: 'slackbot' });
  }

  // ---------------------------------------------------------------- response_url posts

  /** A POST to `/response/<id>`: checked, recorded, answered with `reply`, then applied as the client shows it. */
  postToResponseUrl(id: string, contentType: string, body: string, reply: Reply): void {
    const state = this.responseUrls.get(id);
    const time = new Date(this.options.now());
    let parsed: unknown = {};
    const record = (status: number, use: number, error?: string, headers: Record<string, string> = {}): void => {
      const post: ResponseUrlPost = {
        id,
        url: state?.url ?? `${this.options.url()}/response/${id}`,
        body: isRecord(parsed) ? parsed : {},
        time,
        status,
        use,
        ...(error !== undefined && { error }),
      };
      this.responsePosts.push(post);
      reply(status, error === undefined ? { ok: true } : { ok: false, error }, headers);
      this.options.emit('response', { post });
    };
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = {};
      if (state !== undefined) return record(400, 0, 'invalid_payload');
    }
    // Unknown hooks answer like a removed incoming webhook.
    if (state === undefined) return record(404, 0, 'no_service');
    const fault = this.options.takeFault('response_url');
    if (fault !== undefined && 'status' in fault) return record(fault.status, 0, fault.body ?? 'injected_fault');
    if (fault?.error === 'ratelimited') return record(429, 0, fault.error, { 'Retry-After': String(fault.retryAfterSeconds ?? 1) });
    if (fault !== undefined) return record(400, 0, fault.error);
    if (this.options.now() - state.createdAt > this.options.responseUrlTtlMs) return record(404, 0, 'expired_url');
    if (state.uses >= this.options.responseUrlMaxUses) return record(404, 0, 'used_url');
    if (!isRecord(parsed)) return record(400, 0, 'invalid_payload');
    if (contentType !== 'application/json') return record(400, 0, 'invalid_payload');
    try {
      this.applyResponse(state, parsed, 'response_url');
    } catch (error) {
      if (error instanceof ApiError) return record(400, 0, error.error);
      throw error;
    }
    state.uses += 1;
    return record(200, state.uses);
  }

  /** What a response_url post (or a slash command's ack body) does in the client. */
  private applyResponse(state: ResponseUrlState, body: Record<string, unknown>, via: PostedVia): void {
    const text = typeof body.text === 'string' ? body.text : undefined;
    const blocks = blocksOf(body.blocks, 50);
    const deleteOriginal = body.delete_original === true || body.delete_original === 'true';
    const replaceOriginal = body.replace_original === true || body.replace_original === 'true';
    if (!deleteOriginal && text === undefined && blocks === undefined) throw new ApiError('no_text');
    const source = state.source ?? (state.lastEphemeralTs === undefined ? undefined : { ts: state.lastEphemeralTs, ephemeral: true });

    if (deleteOriginal) {
      if (source?.ephemeral === true) this.replaceEphemeral(state, source.ts, undefined);
      else if (source !== undefined) this.removeMessage(state.channel, source.ts, via);
      return;
    }
    if (replaceOriginal && source !== undefined) {
      const content = { text: text ?? '', ...(blocks !== undefined && { blocks }) };
      if (source.ephemeral) this.replaceEphemeral(state, source.ts, content);
      else this.editMessage(state.channel, source.ts, content, via);
      return;
    }
    if (body.response_type === 'in_channel') {
      const threadTs = typeof body.thread_ts === 'string' ? body.thread_ts : undefined;
      this.addMessage({ channel: state.channel, text: text ?? '', blocks, threadTs, via });
      return;
    }
    const ephemeral = this.addEphemeral({ channel: state.channel, user: state.user, author: this.options.bot.userId, text: text ?? '', blocks, via, responseUrlId: state.id });
    state.lastEphemeralTs = ephemeral.ts;
  }

  // ---------------------------------------------------------------- state changes

  private addMessage({ channel, text, blocks, threadTs, via }: { channel: string; text: string; blocks: SlackBlock[] | undefined; threadTs: string | undefined; via: PostedVia }): SlackMessage {
    const { bot, team } = this.options;
    const message: SlackMessage = {
      channel,
      ts: this.nextTs(),
      type: 'message',
      user: bot.userId,
      bot_id: bot.botId,
      app_id: bot.appId,
      team: team.id,
      text,
      ...(blocks !== undefined && { blocks }),
      ...(threadTs !== undefined && { thread_ts: threadTs }),
      deleted: false,
      via,
    };
    const list = this.channelMessages.get(channel) ?? [];
    list.push(message);
    this.channelMessages.set(channel, list);
    this.options.emit('message', { message, via });
    return message;
  }

  private findOwnMessage(channel: string, ts: string, refusal: 'cant_update_message' | 'cant_delete_message'): { list: SlackMessage[]; index: number; message: SlackMessage } {
    const list = this.channelMessages.get(channel) ?? [];
    const index = list.findIndex((m) => m.ts === ts && !m.deleted);
    const message = list[index];
    if (message === undefined) throw new ApiError('message_not_found');
    if (message.user !== this.options.bot.userId) throw new ApiError(refusal);
    return { list, index, message };
  }

  private editMessage(channel: string, ts: string, content: { text?: string; blocks?: SlackBlock[] }, via: PostedVia): SlackMessage {
    const { list, index, message: before } = this.findOwnMessage(channel, ts, 'cant_update_message');
    const { blocks: _old, ...withoutBlocks } = before;
    const blocks = content.blocks ?? before.blocks;
    const after: SlackMessage = {
      ...withoutBlocks,
      text: content.text ?? before.text,
      // Slack keeps the old blocks when none are sent; an empty array removes them.
      ...(blocks !== undefined && blocks.length > 0 && { blocks }),
      edited: { user: this.options.bot.userId, ts: this.nextTs() },
      via,
    };
    list[index] = after;
    this.options.emit('update', { before, after, via });
    return after;
  }

  private removeMessage(channel: string, ts: string, via: PostedVia): SlackMessage {
    const { list, index, message } = this.findOwnMessage(channel, ts, 'cant_delete_message');
    const deleted: SlackMessage = { ...message, deleted: true };
    list[index] = deleted;
    this.options.emit('delete', { message: deleted, via });
    return deleted;
  }

  private addEphemeral(e: {
    channel: string;
    user: string;
    author: string;
    text: string;
    blocks?: SlackBlock[] | undefined;
    via: PostedVia;
    responseUrlId?: string;
    ts?: string;
  }): SlackEphemeral {
    const ephemeral: SlackEphemeral = {
      channel: e.channel,
      user: e.user,
      ts: e.ts ?? this.nextTs(),
      author: e.author,
      text: e.text,
      ...(e.blocks !== undefined && { blocks: e.blocks }),
      via: e.via,
      ...(e.responseUrlId !== undefined && { responseUrlId: e.responseUrlId }),
      replaced: false,
      deleted: false,
    };
    this.ephemeralLog.push(ephemeral);
    this.options.emit('ephemeral', { ephemeral, ...(e.ts !== undefined && { replaces: e.ts }) });
    return ephemeral;
  }

  /** Replaces (content) or removes (undefined) an ephemeral in place: same ts, as the client shows it. */
  private replaceEphemeral(state: ResponseUrlState, ts: string, content: { text: string; blocks?: SlackBlock[] } | undefined): void {
    const index = this.ephemeralLog.findLastIndex((e) => e.channel === state.channel && e.user === state.user && e.ts === ts);
    const old = this.ephemeralLog[index];
    if (old === undefined || old.deleted || old.replaced) return;
    if (content === undefined) {
      const deleted = { ...old, deleted: true };
      this.ephemeralLog[index] = deleted;
      this.options.emit('ephemeral', { ephemeral: deleted, replaces: ts });
      return;
    }
    this.ephemeralLog[index] = { ...old, replaced: true };
    this.addEphemeral({ channel: old.channel, user: old.user, author: old.author, text: content.text, blocks: content.blocks, via: 'response_url', responseUrlId: state.id, ts });
  }

  // ---------------------------------------------------------------- Web API methods

  private messageJson(message: SlackMessage): Record<string, unknown> {
    const { bot, team } = this.options;
    const { deleted: _d, via: _v, channel: _c, ...json } = message;
    return {
      ...json,
      bot_profile: { id: bot.botId, app_id: bot.appId, name: bot.name, deleted: false, team_id: team.id },
    };
  }

  private content(args: Args, { required }: { required: boolean }): { text?: string; blocks?: SlackBlock[] } {
    const blocks = blocksOf(args.blocks, 50);
    const text = typeof args.text === 'string' ? args.text : undefined;
    if (required && (text === undefined || text === '') && blocks === undefined && args.attachments === undefined) throw new ApiError('no_text');
    if (text !== undefined && text.length > MAX_TEXT) throw new ApiError('msg_too_long');
    return { ...(text !== undefined && { text }), ...(blocks !== undefined && { blocks }) };
  }

  private postMessage(args: Args): Record<string, unknown> {
    const ref = str(args, 'channel');
    if (ref === undefined) throw new ApiError('channel_not_found');
    const conversation = this.directory.conversationOrThrow(ref);
    const { text = '', blocks } = this.content(args, { required: true });
    const message = this.addMessage({ channel: conversation.id, text, blocks, threadTs: str(args, 'thread_ts'), via: 'chat.postMessage' });
    return { channel: conversation.id, ts: message.ts, message: this.messageJson(message) };
  }

  private postEphemeral(args: Args): Record<string, unknown> {
    const ref = str(args, 'channel');
    if (ref === undefined) throw new ApiError('channel_not_found');
    const conversation = this.directory.conversationOrThrow(ref);
    const user = str(args, 'user');
    if (user === undefined || this.directory.user(user) === undefined) throw new ApiError('user_not_found');
    const { text = '', blocks } = this.content(args, { required: true });
    const ephemeral = this.addEphemeral({ channel: conversation.id, user, author: this.options.bot.userId, text, blocks, via: 'chat.postEphemeral' });
    return { message_ts: ephemeral.ts };
  }

  private updateMessage(args: Args): Record<string, unknown> {
    const channel = this.directory.channelById(args);
    const ts = str(args, 'ts');
    if (ts === undefined) throw new ApiError('message_not_found');
    const content = this.content(args, { required: false });
    if (content.text === undefined && content.blocks === undefined && args.attachments === undefined) throw new ApiError('no_text');
    const after = this.editMessage(channel, ts, content, 'chat.update');
    const { ts: _ts, thread_ts: _thread, ...json } = this.messageJson(after);
    return { channel, ts, text: after.text, message: json };
  }

  private deleteMessage(args: Args): Record<string, unknown> {
    const channel = this.directory.channelById(args);
    const ts = str(args, 'ts');
    if (ts === undefined) throw new ApiError('message_not_found');
    this.removeMessage(channel, ts, 'chat.delete');
    return { channel, ts };
  }
}
