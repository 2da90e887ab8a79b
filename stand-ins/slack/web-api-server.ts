/**
 * A Slack platform stand-in on 127.0.0.1: the Web API (`/api/<method>`) that `@slack/web-api`'s
 * `WebClient({ slackApiUrl: server.apiUrl })` talks to unchanged, and the response_url endpoints
 * (`/response/<id>`) that `SlackDriver` puts in the payloads it sends the app.
 *
 * It keeps the workspace's state (channel and DM messages, ephemerals per user, open modals),
 * records every call, injects faults, and emits events a console prints as they happen.
 *
 * Slack's rules mirrored, because production code trips over them:
 * - Tokens: `Authorization: Bearer` or, for form posts only, the `token` field (JSON bodies must
 *   use the header, as on Slack); none → `not_authed`, unknown → `invalid_auth`.
 * - Errors are HTTP 200 with `{ok:false,error}`; rate limits are HTTP 429 with `Retry-After`.
 * - `chat.postMessage` to a user id posts in the bot's DM with that user (`D...`), answering the
 *   DM's id; `chat.update`/`chat.delete` need the channel id and only touch the bot's messages;
 *   `chat.update` without `blocks` keeps the old blocks (`[]` removes them).
 * - Block Kit hard limits (see `block-kit.ts`); missing `block_id`/`action_id` filled in.
 * - `trigger_id`s are single-use and expire after 3 s (`views.open` after a slow ack fails).
 * - `views.publish` keeps one Home tab per user (same view id on republish, a new `hash` each
 *   time); a stale `hash` is `hash_conflict`; view errors, its blocks' included, are
 *   `invalid_arguments` with pointers under `/view`, as Slack answers them.
 * - A response_url takes at most 5 posts within 30 minutes; then 404 `used_url` / `expired_url`.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BlockKitError, parseBlocks } from './block-kit';
import {
  type PostedVia,
  type RecordedCall,
  type ResponseUrlPost,
  type SlackBlock,
  type SlackBotIdentity,
  type SlackChannelSpec,
  type SlackEmulatorEvents,
  type SlackEphemeral,
  type SlackMessage,
  type SlackTeam,
  type SlackUserGroupSpec,
  type SlackUserSpec,
  type SlackView,
  type StoredView,
} from './model';
import { close, listen } from '../http';

/**
 * An injected failure for the next call(s) of a method:
 * - `{ error: 'ratelimited', retryAfterSeconds }`: HTTP 429 with `Retry-After` (default 1 s);
 * - `{ error: 'channel_not_found' }` (any code): HTTP 200 `{ok:false,error}`;
 * - `{ status: 500, body? }`: that HTTP status.
 * With `afterApply`, the call takes effect and then the failure is answered: the response lost
 * after the work was done, which is what makes retries post twice.
 */
export type SlackFault =
  | { readonly error: string; readonly retryAfterSeconds?: number; readonly afterApply?: boolean }
  | { readonly status: number; readonly body?: string; readonly afterApply?: boolean };

export interface SlackWebApiServerOptions {
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Base URL the app reaches the server at (response_urls, `apiUrl`), when not the listening address: a tunnel, a container. */
  readonly publicUrl?: string;
  readonly team?: Partial<SlackTeam>;
  readonly bot?: Partial<SlackBotIdentity>;
  readonly users?: readonly SlackUserSpec[];
  /** Default: `#general` (`C0GENERAL`). */
  readonly channels?: readonly SlackChannelSpec[];
  readonly userGroups?: readonly SlackUserGroupSpec[];
  /** The platform's clock, in ms: message ts, response_url and trigger_id expiry. */
  readonly now?: () => number;
  /** Slack allows 5. */
  readonly responseUrlMaxUses?: number;
  /** Slack allows 30 minutes. */
  readonly responseUrlTtlMs?: number;
  /** Slack allows 3 seconds. */
  readonly triggerTtlMs?: number;
}

/** What a response_url belongs to; the driver creates one per slash command or interaction. */
export interface ResponseUrlSpec {
  readonly kind: 'slash_command' | 'block_actions' | 'view_submission';
  readonly channel: string;
  readonly user: string;
  /** The message the interaction came from: what `replace_original`/`delete_original` act on. */
  readonly source?: { readonly ts: string; readonly ephemeral: boolean };
}

/** A conversation as the platform knows it. */
export interface SlackConversation {
  readonly id: string;
  /** `directmessage` for DMs, `privategroup` for private channels: what payloads carry. */
  readonly name: string;
  readonly kind: 'public' | 'private' | 'im';
  /** The other party, for DMs. */
  readonly user?: string;
}

/** A message the user can interact with: a channel message or one of their ephemerals. */
export type InteractiveMessage = { readonly kind: 'message'; readonly message: SlackMessage } | { readonly kind: 'ephemeral'; readonly ephemeral: SlackEphemeral };

/** The result of applying a view_submission ack's `response_action`. */
export interface ViewAckResult {
  readonly responseAction?: 'errors' | 'update' | 'push' | 'clear';
  readonly errors?: Readonly<Record<string, string>>;
}

/** Slack's own notices (e.g. "/crdb failed with the error ...") come from Slackbot. */
export const SLACKBOT_USER_ID = 'USLACKBOT';

class ApiError extends Error {
  constructor(
    readonly error: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(error);
  }
}

interface ResponseUrlState extends ResponseUrlSpec {
  readonly id: string;
  readonly url: string;
  readonly createdAt: number;
  uses: number;
  lastEphemeralTs?: string;
}

interface MutableCall {
  method: string;
  args: Record<string, unknown>;
  time: Date;
  status: number;
  error?: string;
  injected: boolean;
}

interface QueuedFault {
  remaining: number;
  readonly fault: SlackFault;
}

type Args = Record<string, unknown>;
type MethodHandler = (args: Args) => Record<string, unknown>;

const MAX_BODY = 1024 * 1024;
const MAX_TEXT = 40_000;
/** Slack refuses a view over 250 kB with `view_too_large`. */
const MAX_VIEW_BYTES = 250 * 1024;
const DEFAULT_TEAM: SlackTeam = { id: 'T0TEST', domain: 'crdb-test', name: 'crdb-chatops test' };
const DEFAULT_BOT: SlackBotIdentity = { token: 'xoxb-test-token', userId: 'U0BOTUSER', botId: 'B0BOT', appId: 'A0TEST', name: 'crdb-chatops' };
const ALNUM_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomId(prefix: string, length = 10): string {
  return prefix + Array.from(randomBytes(length), (b) => ALNUM_UPPER[b % ALNUM_UPPER.length]).join('');
}

function str(args: Args, key: string): string | undefined {
  const value = args[key];
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function bool(args: Args, key: string): boolean {
  const value = args[key];
  return value === true || value === 'true' || value === '1' || value === 1;
}

function blocksOf(raw: unknown, maxBlocks: number): SlackBlock[] | undefined {
  try {
    return parseBlocks(raw, { maxBlocks });
  } catch (error) {
    if (error instanceof BlockKitError) throw new ApiError(error.error, { response_metadata: { messages: error.messages } });
    throw error;
  }
}

/**
 * A view's blocks: what Slack answers a bad one with is `invalid_arguments`, its pointers under
 * `/view` (`[json-pointer:/view/blocks]`), not the `invalid_blocks` of messages.
 */
function viewBlocksOf(raw: unknown, maxBlocks: number): SlackBlock[] | undefined {
  try {
    return parseBlocks(raw, { maxBlocks });
  } catch (error) {
    if (!(error instanceof BlockKitError)) throw error;
    const messages = error.messages.map((m) => m.replace('[json-pointer:/blocks', '[json-pointer:/view/blocks'));
    throw new ApiError('invalid_arguments', { response_metadata: { messages } });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The Slack Web API and response_url stand-in. See the module comment for the rules it keeps. */
export class SlackWebApiServer {
  private readonly host: string;
  private readonly port: number;
  private readonly publicUrl: string | undefined;
  private readonly now: () => number;
  private readonly responseUrlMaxUses: number;
  private readonly responseUrlTtlMs: number;
  private readonly triggerTtlMs: number;
  /** The workspace. */
  readonly team: SlackTeam;
  /** The app's bot identity; its token is the one the Web API accepts. */
  readonly bot: SlackBotIdentity;
  private readonly users = new Map<string, SlackUserSpec>();
  private readonly conversations = new Map<string, SlackConversation>();
  private readonly groups = new Map<string, SlackUserGroupSpec>();
  private readonly events = new EventEmitter();
  private server: Server | undefined;
  private baseUrl: string | undefined;
  // State the app creates; `reset()` clears it.
  private channelMessages = new Map<string, SlackMessage[]>();
  private ephemeralLog: SlackEphemeral[] = [];
  private openViews = new Map<string, StoredView>();
  /** Home tabs by user: one each, replaced by every `views.publish`. */
  private homeViews = new Map<string, StoredView>();
  private triggers = new Map<string, { user: string; issuedAt: number; used: boolean }>();
  private responseUrls = new Map<string, ResponseUrlState>();
  private responsePosts: ResponseUrlPost[] = [];
  private openedDms = new Set<string>();
  private log: MutableCall[] = [];
  private faults = new Map<string, QueuedFault[]>();
  private lastTsMicros = 0;
  private readonly methods: Readonly<Record<string, MethodHandler>>;

  constructor({
    host = '127.0.0.1',
    port = 0,
    publicUrl,
    team = {},
    bot = {},
    users = [],
    channels = [{ id: 'C0GENERAL', name: 'general' }],
    userGroups = [],
    now = Date.now,
    responseUrlMaxUses = 5,
    responseUrlTtlMs = 30 * 60 * 1000,
    triggerTtlMs = 3000,
  }: SlackWebApiServerOptions = {}) {
    this.host = host;
    this.port = port;
    this.publicUrl = publicUrl?.replace(/\/+$/, '');
    this.now = now;
    this.responseUrlMaxUses = responseUrlMaxUses;
    this.responseUrlTtlMs = responseUrlTtlMs;
    this.triggerTtlMs = triggerTtlMs;
    this.team = { ...DEFAULT_TEAM, ...team };
    this.bot = { ...DEFAULT_BOT, ...bot };
    this.addUser({ id: this.bot.userId, name: this.bot.name, realName: this.bot.name, isBot: true });
    for (const user of users) this.addUser(user);
    for (const channel of channels) this.addChannel(channel);
    for (const group of userGroups) this.setUserGroup(group);
    this.methods = {
      'api.test': (args) => ({ args }),
      'auth.test': () => this.authTest(),
      'chat.postMessage': (args) => this.postMessage(args),
      'chat.postEphemeral': (args) => this.postEphemeral(args),
      'chat.update': (args) => this.updateMessage(args),
      'chat.delete': (args) => this.deleteMessage(args),
      'conversations.open': (args) => this.openConversation(args),
      'views.open': (args) => this.openView(args),
      'views.update': (args) => this.updateView(args),
      'views.publish': (args) => this.publishView(args),
      'users.info': (args) => this.userInfo(args),
      'usergroups.users.list': (args) => this.userGroupUsers(args),
    };
  }

  // ---------------------------------------------------------------- lifecycle

  /** Listens; resolves with the base URL and the `slackApiUrl` to give `WebClient`. */
  async start(): Promise<{ url: string; apiUrl: string }> {
    const server = createServer((req, res) => void this.handle(req, res));
    const port = await listen(server, { host: this.host, port: this.port });
    this.server = server;
    this.baseUrl = `http://${this.host}:${port}`;
    return { url: this.url, apiUrl: this.apiUrl };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await close(server);
  }

  /** `http://127.0.0.1:<port>`, or `publicUrl`. */
  get url(): string {
    const url = this.publicUrl ?? this.baseUrl;
    if (url === undefined) throw new Error('SlackWebApiServer is not started');
    return url;
  }

  /** `<url>/api/`: `WebClient`'s `slackApiUrl`. */
  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  /** Forgets everything the app did (messages, views, Home tabs, calls, faults, response URLs); keeps the workspace. */
  reset(): void {
    this.channelMessages = new Map();
    this.ephemeralLog = [];
    this.openViews = new Map();
    this.homeViews = new Map();
    this.triggers = new Map();
    this.responseUrls = new Map();
    this.responsePosts = [];
    this.openedDms = new Set();
    this.log = [];
    this.faults = new Map();
  }

  // ---------------------------------------------------------------- events

  /** Subscribes to an event; listener errors are swallowed so a console bug cannot break the API. */
  on<E extends keyof SlackEmulatorEvents>(event: E, listener: (payload: SlackEmulatorEvents[E]) => void): this {
    this.events.on(event, listener);
    return this;
  }

  off<E extends keyof SlackEmulatorEvents>(event: E, listener: (payload: SlackEmulatorEvents[E]) => void): this {
    this.events.off(event, listener);
    return this;
  }

  private emit<E extends keyof SlackEmulatorEvents>(event: E, payload: SlackEmulatorEvents[E]): void {
    for (const listener of this.events.listeners(event)) {
      try {
        (listener as (p: SlackEmulatorEvents[E]) => void)(structuredClone(payload));
      } catch {
        // A listener is an observer (a console, a test probe); its failure is not the platform's.
      }
    }
  }

  // ---------------------------------------------------------------- faults and call log

  /** The next `times` calls of `method` (`'*'`: any method; `'response_url'`: response_url posts) fail with `fault`. */
  failNext(method: string, fault: SlackFault, times = 1): void {
    const queue = this.faults.get(method) ?? [];
    queue.push({ remaining: times, fault });
    this.faults.set(method, queue);
  }

  clearFaults(): void {
    this.faults = new Map();
  }

  /** Every Web API call received (optionally of one method), oldest first. */
  calls(method?: string): RecordedCall[] {
    return structuredClone(this.log.filter((call) => method === undefined || call.method === method));
  }

  private takeFault(method: string): SlackFault | undefined {
    // `'*'` stands for any Web API method; response_url posts only take their own faults.
    for (const key of method === 'response_url' ? [method] : [method, '*']) {
      const queue = this.faults.get(key);
      const head = queue?.[0];
      if (queue === undefined || head === undefined) continue;
      head.remaining -= 1;
      if (head.remaining <= 0) queue.shift();
      return head.fault;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- workspace directory

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

  private conversationOrThrow(id: string): SlackConversation {
    const conversation = this.conversation(id);
    if (conversation === undefined) throw new ApiError('channel_not_found');
    return conversation;
  }

  /** The bot's DM channel with a user: stable, `D` + the user id without its `U`. */
  dmChannelFor(userId: string): string {
    return `D${userId.replace(/^[UW]/, '')}`;
  }

  setUserGroup(group: SlackUserGroupSpec): void {
    this.groups.set(group.id, group);
  }

  // ---------------------------------------------------------------- state, for assertions and the console

  /**
   * Messages of a conversation (id, `#name` or user id for the DM), oldest first; without a
   * conversation, all. Deleted messages only with `includeDeleted`.
   */
  messages(conversation?: string, { includeDeleted = false }: { includeDeleted?: boolean } = {}): SlackMessage[] {
    const ids = conversation === undefined ? [...this.channelMessages.keys()] : [this.conversation(conversation)?.id ?? conversation];
    const all = ids.flatMap((id) => this.channelMessages.get(id) ?? []);
    if (conversation === undefined) all.sort((a, b) => Number(a.ts) - Number(b.ts));
    return structuredClone(all.filter((m) => includeDeleted || !m.deleted));
  }

  /** One message, deleted or not. */
  message(conversation: string, ts: string): SlackMessage | undefined {
    const id = this.conversation(conversation)?.id ?? conversation;
    const found = this.channelMessages.get(id)?.find((m) => m.ts === ts);
    return found === undefined ? undefined : structuredClone(found);
  }

  /** Ephemerals shown, oldest first, including replaced and deleted ones (see their flags). */
  ephemerals({ channel, user }: { channel?: string; user?: string } = {}): SlackEphemeral[] {
    const channelId = channel === undefined ? undefined : (this.conversation(channel)?.id ?? channel);
    return structuredClone(this.ephemeralLog.filter((e) => (channelId === undefined || e.channel === channelId) && (user === undefined || e.user === user)));
  }

  /** Modals opened, oldest first. */
  views(): StoredView[] {
    return structuredClone([...this.openViews.values()]);
  }

  /** A modal, or a Home tab, by view id. */
  view(id: string): StoredView | undefined {
    const found = this.openViews.get(id) ?? [...this.homeViews.values()].find((home) => home.view.id === id);
    return found === undefined ? undefined : structuredClone(found);
  }

  /** The Home tab the app last published for `user`, if any. */
  homeView(user: string): SlackView | undefined {
    const found = this.homeViews.get(user);
    return found === undefined ? undefined : structuredClone(found.view);
  }

  /** POSTs to response URLs (optionally to one), accepted or refused, oldest first. */
  responses(id?: string): ResponseUrlPost[] {
    return structuredClone(this.responsePosts.filter((post) => id === undefined || post.id === id));
  }

  // ---------------------------------------------------------------- platform side (used by SlackDriver)

  /** A new response_url, as Slack mints one per slash command or interaction. */
  createResponseUrl(spec: ResponseUrlSpec): { id: string; url: string } {
    const id = randomBytes(16).toString('hex');
    const url = `${this.url}/response/${id}`;
    this.responseUrls.set(id, { ...spec, id, url, createdAt: this.now(), uses: 0 });
    return { id, url };
  }

  /** A new trigger_id: single use, valid for 3 seconds on the platform's clock. */
  issueTriggerId(user: string): string {
    const id = `${Math.floor(this.now() / 1000)}${randomBytes(2).readUInt16BE(0)}.${randomBytes(4).readUInt32BE(0)}.${randomBytes(16).toString('hex')}`;
    this.triggers.set(id, { user, issuedAt: this.now(), used: false });
    return id;
  }

  /** A Slack message ts (`seconds.micros`), unique and increasing across the server. */
  nextTs(): string {
    const micros = Math.max(this.now() * 1000, this.lastTsMicros + 1);
    this.lastTsMicros = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  /** The message (or `user`'s ephemeral) with this ts, current version, if it can still be clicked. */
  interactiveMessage(channel: string, ts: string, user: string): InteractiveMessage | undefined {
    const id = this.conversation(channel)?.id ?? channel;
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

  /** Records the values a user typed into a modal (the driver's submitView). */
  setViewState(viewId: string, values: SlackView['state']['values']): SlackView {
    const stored = this.openViews.get(viewId);
    if (stored === undefined) throw new Error(`No view ${viewId}`);
    const view = { ...stored.view, state: { values } };
    this.openViews.set(viewId, { ...stored, view });
    return structuredClone(view);
  }

  /** Applies a view_submission ack body's `response_action` to the submitted view. */
  applyViewAck(viewId: string, body: string): ViewAckResult {
    const stored = this.openViews.get(viewId);
    let parsed: unknown;
    try {
      parsed = body.trim() === '' ? {} : JSON.parse(body);
    } catch {
      parsed = {};
    }
    if (stored === undefined || !isRecord(parsed)) return {};
    switch (parsed.response_action) {
      case 'errors':
        return { responseAction: 'errors', errors: isRecord(parsed.errors) ? (parsed.errors as Record<string, string>) : {} };
      case 'update':
      case 'push': {
        const action = parsed.response_action;
        const view = this.buildView(parsed.view, stored, action === 'push' ? 'push' : 'update');
        if (action === 'update') this.openViews.set(viewId, { ...stored, view });
        else this.openViews.set(view.id, { view, user: stored.user, closed: false });
        this.emit('view', { view: { view, user: stored.user, closed: false }, via: 'response_action' });
        return { responseAction: action };
      }
      case 'clear':
        for (const [id, v] of this.openViews) if (v.user === stored.user) this.openViews.set(id, { ...v, closed: true });
        return { responseAction: 'clear' };
      default:
        // No response_action: the modal closes.
        this.openViews.set(viewId, { ...stored, closed: true });
        return {};
    }
  }

  // ---------------------------------------------------------------- HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const body = await readBody(req);
      if (url.pathname.startsWith('/api/')) return this.handleApi(decodeURIComponent(url.pathname.slice(5)), req, url, body, res);
      if (url.pathname.startsWith('/response/') && req.method === 'POST') return this.handleResponseUrl(url.pathname.slice(10), req, body, res);
      return send(res, 404, { ok: false, error: 'not_found' });
    } catch (error) {
      return send(res, 500, { ok: false, error: 'fatal_error', detail: error instanceof Error ? error.message : String(error) });
    }
  }

  private handleApi(method: string, req: IncomingMessage, url: URL, body: string, res: ServerResponse): void {
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const call: MutableCall = { method, args: {}, time: new Date(this.now()), status: 200, injected: false };
    this.log.push(call);
    const answer = (status: number, payload: Record<string, unknown> | string, headers: Record<string, string> = {}): void => {
      call.status = status;
      if (typeof payload !== 'string' && payload.ok === false && typeof payload.error === 'string') call.error = payload.error;
      send(res, status, payload, headers);
      this.emit('call', { call });
    };
    let args: Args = Object.fromEntries(url.searchParams);
    if (contentType === 'application/json') {
      try {
        const parsed: unknown = body === '' ? {} : JSON.parse(body);
        if (!isRecord(parsed)) return answer(200, { ok: false, error: 'invalid_json' });
        // Slack ignores `token` in JSON bodies: JSON posts must carry it in the Authorization header.
        const { token: _ignored, ...rest } = parsed;
        args = { ...args, ...rest };
      } catch {
        return answer(200, { ok: false, error: 'invalid_json' });
      }
    } else if (contentType === 'application/x-www-form-urlencoded' || contentType === '') {
      args = { ...args, ...Object.fromEntries(new URLSearchParams(body)) };
    } else {
      return answer(200, { ok: false, error: 'invalid_post_type' });
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const { token: formToken, ...callArgs } = args;
    call.args = callArgs;
    const token = bearer ?? (typeof formToken === 'string' ? formToken : undefined);
    if (token === undefined || token === '') return answer(200, { ok: false, error: 'not_authed' });
    if (token !== this.bot.token) return answer(200, { ok: false, error: 'invalid_auth' });
    const handler = this.methods[method];
    if (handler === undefined) return answer(200, { ok: false, error: 'unknown_method', req_method: method });

    const fault = this.takeFault(method);
    if (fault !== undefined) call.injected = true;
    if (fault !== undefined && fault.afterApply !== true) return this.answerFault(fault, answer);
    let result: Record<string, unknown>;
    try {
      result = { ok: true, ...handler(callArgs) };
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (fault !== undefined) return this.answerFault(fault, answer);
      return answer(200, { ok: false, error: error.error, ...error.extra });
    }
    if (fault !== undefined) return this.answerFault(fault, answer);
    return answer(200, result);
  }

  private answerFault(fault: SlackFault, answer: (status: number, payload: Record<string, unknown> | string, headers?: Record<string, string>) => void): void {
    if ('status' in fault) return answer(fault.status, fault.body ?? '');
    if (fault.error === 'ratelimited') {
      return answer(429, { ok: false, error: 'ratelimited' }, { 'Retry-After': String(fault.retryAfterSeconds ?? 1) });
    }
    return answer(200, { ok: false, error: fault.error });
  }

  private handleResponseUrl(id: string, req: IncomingMessage, body: string, res: ServerResponse): void {
    const state = this.responseUrls.get(id);
    const time = new Date(this.now());
    let parsed: unknown = {};
    const record = (status: number, use: number, error?: string, headers: Record<string, string> = {}): void => {
      const post: ResponseUrlPost = {
        id,
        url: state?.url ?? `${this.url}/response/${id}`,
        body: isRecord(parsed) ? parsed : {},
        time,
        status,
        use,
        ...(error !== undefined && { error }),
      };
      this.responsePosts.push(post);
      send(res, status, error === undefined ? { ok: true } : { ok: false, error }, headers);
      this.emit('response', { post });
    };
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = {};
      if (state !== undefined) return record(400, 0, 'invalid_payload');
    }
    // Unknown hooks answer like a removed incoming webhook.
    if (state === undefined) return record(404, 0, 'no_service');
    const fault = this.takeFault('response_url');
    if (fault !== undefined && 'status' in fault) return record(fault.status, 0, fault.body ?? 'injected_fault');
    if (fault?.error === 'ratelimited') return record(429, 0, fault.error, { 'Retry-After': String(fault.retryAfterSeconds ?? 1) });
    if (fault !== undefined) return record(400, 0, fault.error);
    if (this.now() - state.createdAt > this.responseUrlTtlMs) return record(404, 0, 'expired_url');
    if (state.uses >= this.responseUrlMaxUses) return record(404, 0, 'used_url');
    if (!isRecord(parsed)) return record(400, 0, 'invalid_payload');
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
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
    const ephemeral = this.addEphemeral({ channel: state.channel, user: state.user, author: this.bot.userId, text: text ?? '', blocks, via, responseUrlId: state.id });
    state.lastEphemeralTs = ephemeral.ts;
  }

  // ---------------------------------------------------------------- state changes

  private addMessage({ channel, text, blocks, threadTs, via }: { channel: string; text: string; blocks: SlackBlock[] | undefined; threadTs: string | undefined; via: PostedVia }): SlackMessage {
    const message: SlackMessage = {
      channel,
      ts: this.nextTs(),
      type: 'message',
      user: this.bot.userId,
      bot_id: this.bot.botId,
      app_id: this.bot.appId,
      team: this.team.id,
      text,
      ...(blocks !== undefined && { blocks }),
      ...(threadTs !== undefined && { thread_ts: threadTs }),
      deleted: false,
      via,
    };
    const list = this.channelMessages.get(channel) ?? [];
    list.push(message);
    this.channelMessages.set(channel, list);
    this.emit('message', { message, via });
    return message;
  }

  private findOwnMessage(channel: string, ts: string, refusal: 'cant_update_message' | 'cant_delete_message'): { list: SlackMessage[]; index: number; message: SlackMessage } {
    const list = this.channelMessages.get(channel) ?? [];
    const index = list.findIndex((m) => m.ts === ts && !m.deleted);
    const message = list[index];
    if (message === undefined) throw new ApiError('message_not_found');
    if (message.user !== this.bot.userId) throw new ApiError(refusal);
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
      edited: { user: this.bot.userId, ts: this.nextTs() },
      via,
    };
    list[index] = after;
    this.emit('update', { before, after, via });
    return after;
  }

  private removeMessage(channel: string, ts: string, via: PostedVia): SlackMessage {
    const { list, index, message } = this.findOwnMessage(channel, ts, 'cant_delete_message');
    const deleted: SlackMessage = { ...message, deleted: true };
    list[index] = deleted;
    this.emit('delete', { message: deleted, via });
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
    this.emit('ephemeral', { ephemeral, ...(e.ts !== undefined && { replaces: e.ts }) });
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
      this.emit('ephemeral', { ephemeral: deleted, replaces: ts });
      return;
    }
    this.ephemeralLog[index] = { ...old, replaced: true };
    this.addEphemeral({ channel: old.channel, user: old.user, author: old.author, text: content.text, blocks: content.blocks, via: 'response_url', responseUrlId: state.id, ts });
  }

  // ---------------------------------------------------------------- Web API methods

  private authTest(): Record<string, unknown> {
    return {
      url: `https://${this.team.domain}.slack.com/`,
      team: this.team.name,
      user: this.bot.name,
      team_id: this.team.id,
      user_id: this.bot.userId,
      bot_id: this.bot.botId,
      ...(this.team.enterprise !== undefined && { enterprise_id: this.team.enterprise.id }),
      is_enterprise_install: false,
    };
  }

  private messageJson(message: SlackMessage): Record<string, unknown> {
    const { deleted: _d, via: _v, channel: _c, ...json } = message;
    return {
      ...json,
      bot_profile: { id: this.bot.botId, app_id: this.bot.appId, name: this.bot.name, deleted: false, team_id: this.team.id },
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
    const conversation = this.conversationOrThrow(ref);
    const { text = '', blocks } = this.content(args, { required: true });
    const message = this.addMessage({ channel: conversation.id, text, blocks, threadTs: str(args, 'thread_ts'), via: 'chat.postMessage' });
    return { channel: conversation.id, ts: message.ts, message: this.messageJson(message) };
  }

  private postEphemeral(args: Args): Record<string, unknown> {
    const ref = str(args, 'channel');
    if (ref === undefined) throw new ApiError('channel_not_found');
    const conversation = this.conversationOrThrow(ref);
    const user = str(args, 'user');
    if (user === undefined || !this.users.has(user)) throw new ApiError('user_not_found');
    const { text = '', blocks } = this.content(args, { required: true });
    const ephemeral = this.addEphemeral({ channel: conversation.id, user, author: this.bot.userId, text, blocks, via: 'chat.postEphemeral' });
    return { message_ts: ephemeral.ts };
  }

  /** chat.update/chat.delete take a channel id only: a user id or name is `channel_not_found`. */
  private channelById(args: Args): string {
    const id = str(args, 'channel');
    if (id === undefined || !this.conversations.has(id)) throw new ApiError('channel_not_found');
    return id;
  }

  private updateMessage(args: Args): Record<string, unknown> {
    const channel = this.channelById(args);
    const ts = str(args, 'ts');
    if (ts === undefined) throw new ApiError('message_not_found');
    const content = this.content(args, { required: false });
    if (content.text === undefined && content.blocks === undefined && args.attachments === undefined) throw new ApiError('no_text');
    const after = this.editMessage(channel, ts, content, 'chat.update');
    const { ts: _ts, thread_ts: _thread, ...json } = this.messageJson(after);
    return { channel, ts, text: after.text, message: json };
  }

  private deleteMessage(args: Args): Record<string, unknown> {
    const channel = this.channelById(args);
    const ts = str(args, 'ts');
    if (ts === undefined) throw new ApiError('message_not_found');
    this.removeMessage(channel, ts, 'chat.delete');
    return { channel, ts };
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
      ? { id, created: Math.floor(this.now() / 1000), is_im: true, is_org_shared: false, user: conversation.user, is_user_deleted: false, priority: 0 }
      : { id };
    return alreadyOpen ? { no_op: true, already_open: true, channel } : { channel };
  }

  /** The `view` argument as an object: form posts carry it as JSON text, JSON bodies as an object. */
  private viewArgument(raw: unknown): Record<string, unknown> {
    let view: unknown = raw;
    if (typeof raw === 'string') {
      try {
        view = JSON.parse(raw);
      } catch {
        throw new ApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] view is not valid JSON [json-pointer:/view]'] } });
      }
    }
    if (!isRecord(view)) throw new ApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: view'] } });
    return view;
  }

  /** A view's `hash`: new on every change, so `hash` arguments catch a stale writer. */
  private viewHash(): string {
    return `${Math.floor(this.now() / 1000)}.${randomBytes(4).toString('hex')}`;
  }

  private buildView(raw: unknown, previous: StoredView | undefined, mode: 'open' | 'update' | 'push'): SlackView {
    const view = this.viewArgument(raw);
    const messages: string[] = [];
    if (view.type !== 'modal') messages.push('[ERROR] must be modal [json-pointer:/view/type]');
    const title = isRecord(view.title) ? view.title : undefined;
    if (title === undefined) messages.push('[ERROR] missing required field: title [json-pointer:/view/title]');
    else if (typeof title.text === 'string' && title.text.length > 24) messages.push('[ERROR] must be less than 25 characters [json-pointer:/view/title/text]');
    const privateMetadata = typeof view.private_metadata === 'string' ? view.private_metadata : '';
    if (privateMetadata.length > 3000) messages.push('[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]');
    if (messages.length > 0) throw new ApiError('invalid_arguments', { response_metadata: { messages } });
    const blocks = blocksOf(view.blocks, 100) ?? [];
    const id = mode === 'update' && previous !== undefined ? previous.view.id : randomId('V');
    return {
      id,
      team_id: this.team.id,
      type: 'modal',
      callback_id: typeof view.callback_id === 'string' ? view.callback_id : '',
      title: title ?? null,
      submit: isRecord(view.submit) ? view.submit : null,
      close: isRecord(view.close) ? view.close : null,
      blocks,
      private_metadata: privateMetadata,
      external_id: typeof view.external_id === 'string' ? view.external_id : '',
      state: { values: {} },
      hash: this.viewHash(),
      clear_on_close: view.clear_on_close === true,
      notify_on_close: view.notify_on_close === true,
      root_view_id: previous === undefined ? id : previous.view.root_view_id,
      previous_view_id: mode === 'push' && previous !== undefined ? previous.view.id : (previous?.view.previous_view_id ?? null),
      app_id: this.bot.appId,
      app_installed_team_id: this.team.id,
      bot_id: this.bot.botId,
    };
  }

  private openView(args: Args): Record<string, unknown> {
    const triggerId = str(args, 'trigger_id');
    const trigger = triggerId === undefined ? undefined : this.triggers.get(triggerId);
    if (trigger === undefined) throw new ApiError('invalid_trigger_id');
    if (trigger.used) throw new ApiError('exchanged_trigger_id');
    if (this.now() - trigger.issuedAt > this.triggerTtlMs) throw new ApiError('expired_trigger_id');
    const view = this.buildView(args.view, undefined, 'open');
    trigger.used = true;
    const stored: StoredView = { view, user: trigger.user, closed: false };
    this.openViews.set(view.id, stored);
    this.emit('view', { view: stored, via: 'views.open' });
    return { view };
  }

  private updateView(args: Args): Record<string, unknown> {
    const viewId = str(args, 'view_id');
    const externalId = str(args, 'external_id');
    const stored =
      viewId !== undefined ? this.openViews.get(viewId) : [...this.openViews.values()].find((v) => externalId !== undefined && v.view.external_id === externalId);
    if (stored === undefined) throw new ApiError('not_found');
    const hash = str(args, 'hash');
    if (hash !== undefined && hash !== stored.view.hash) throw new ApiError('hash_conflict');
    const view = { ...this.buildView(args.view, stored, 'update'), state: stored.view.state };
    const updated: StoredView = { ...stored, view };
    this.openViews.set(view.id, updated);
    this.emit('view', { view: updated, via: 'views.update' });
    return { view };
  }

  /** `views.publish`: sets `user_id`'s Home tab (no trigger needed: a Home tab is there to be seen). */
  private publishView(args: Args): Record<string, unknown> {
    const user = str(args, 'user_id');
    if (user === undefined) throw new ApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: user_id'] } });
    const raw = this.viewArgument(args.view);
    if (!this.users.has(user)) throw new ApiError('user_not_found');
    const previous = this.homeViews.get(user);
    const hash = str(args, 'hash');
    // Slack compares with the stored view's hash; with no view yet, no hash can match.
    if (hash !== undefined && hash !== previous?.view.hash) throw new ApiError('hash_conflict');
    const view = this.buildHomeView(raw, user, previous?.view);
    const stored: StoredView = { view, user, closed: false };
    this.homeViews.set(user, stored);
    this.emit('home', { user, view });
    return { view };
  }

  private buildHomeView(view: Record<string, unknown>, user: string, previous: SlackView | undefined): SlackView {
    const messages: string[] = [];
    if (view.type !== 'home') messages.push('[ERROR] must be home [json-pointer:/view/type]');
    const privateMetadata = typeof view.private_metadata === 'string' ? view.private_metadata : '';
    if (privateMetadata.length > 3000) messages.push('[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]');
    if (messages.length > 0) throw new ApiError('invalid_arguments', { response_metadata: { messages } });
    if (Buffer.byteLength(JSON.stringify(view)) > MAX_VIEW_BYTES) throw new ApiError('view_too_large');
    const blocks = viewBlocksOf(view.blocks, 100) ?? [];
    const externalId = typeof view.external_id === 'string' ? view.external_id : '';
    if (externalId !== '' && this.externalIdTaken(externalId, user)) throw new ApiError('duplicate_external_id');
    // The Home tab keeps its id for good; republishing replaces its content.
    const id = previous?.id ?? randomId('V');
    return {
      id,
      team_id: this.team.id,
      type: 'home',
      callback_id: typeof view.callback_id === 'string' ? view.callback_id : '',
      title: null,
      submit: null,
      close: null,
      blocks,
      private_metadata: privateMetadata,
      external_id: externalId,
      state: { values: {} },
      hash: this.viewHash(),
      clear_on_close: false,
      notify_on_close: false,
      root_view_id: id,
      previous_view_id: null,
      app_id: this.bot.appId,
      app_installed_team_id: this.team.id,
      bot_id: this.bot.botId,
    };
  }

  /** An `external_id` is unique per workspace: another open view (a modal, another user's Home tab) holding it. */
  private externalIdTaken(externalId: string, homeOf: string): boolean {
    const modals = [...this.openViews.values()].filter((v) => !v.closed);
    const homes = [...this.homeViews.values()].filter((v) => v.user !== homeOf);
    return [...modals, ...homes].some((v) => v.view.external_id === externalId);
  }

  private userInfo(args: Args): Record<string, unknown> {
    const id = str(args, 'user');
    const user = id === undefined ? undefined : this.users.get(id);
    if (user === undefined) throw new ApiError('user_not_found');
    const realName = user.realName ?? user.name;
    return {
      user: {
        id: user.id,
        team_id: this.team.id,
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
          team: this.team.id,
          ...(user.isBot === true && { bot_id: this.bot.botId, api_app_id: this.bot.appId }),
        },
        is_admin: user.isAdmin ?? false,
        is_owner: false,
        is_primary_owner: false,
        is_restricted: false,
        is_ultra_restricted: false,
        is_bot: user.isBot ?? false,
        is_app_user: false,
        updated: Math.floor(this.now() / 1000),
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

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, payload: Record<string, unknown> | string, headers: Record<string, string> = {}): void {
  const json = typeof payload !== 'string';
  const body = json ? JSON.stringify(payload) : payload;
  res.writeHead(status, { 'Content-Type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
