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
 *
 * This file is the HTTP shell: listening, token checks, the method table, faults, the call log and
 * events. The state and the methods live in parts: the workspace directory (`web-api-directory.ts`),
 * messages and response_urls (`web-api-messages.ts`) and views (`web-api-views.ts`).
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type RecordedCall, type ResponseUrlPost, type SlackBotIdentity, type SlackChannelSpec, type SlackEmulatorEvents, type SlackEphemeral, type SlackMessage, type SlackTeam, type SlackUserGroupSpec, type SlackUserSpec, type SlackView, type StoredView } from './model';
import { ApiError, type Args, isRecord, type MethodHandler, type Reply, type SlackFault } from './web-api-common';
import { type SlackConversation, WorkspaceDirectory } from './web-api-directory';
import { type InteractiveMessage, MessageStore, type ResponseUrlSpec } from './web-api-messages';
import { type ViewAckResult, ViewStore } from './web-api-views';
import { close, listen } from '../http';

export { type SlackFault } from './web-api-common';
export { type SlackConversation } from './web-api-directory';
export { type InteractiveMessage, type ResponseUrlSpec, SLACKBOT_USER_ID } from './web-api-messages';
export { type ViewAckResult } from './web-api-views';

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

const MAX_BODY = 1024 * 1024;
const DEFAULT_TEAM: SlackTeam = { id: 'T0TEST', domain: 'crdb-test', name: 'crdb-chatops test' };
const DEFAULT_BOT: SlackBotIdentity = { token: 'xoxb-test-token', userId: 'U0BOTUSER', botId: 'B0BOT', appId: 'A0TEST', name: 'crdb-chatops' };

/** The Slack Web API and response_url stand-in. See the module comment for the rules it keeps. */
export class SlackWebApiServer {
  private readonly host: string;
  private readonly port: number;
  private readonly publicUrl: string | undefined;
  private readonly now: () => number;
  /** The workspace. */
  readonly team: SlackTeam;
  /** The app's bot identity; its token is the one the Web API accepts. */
  readonly bot: SlackBotIdentity;
  private readonly directory: WorkspaceDirectory;
  private readonly messageStore: MessageStore;
  private readonly viewStore: ViewStore;
  private readonly events = new EventEmitter();
  private server: Server | undefined;
  private baseUrl: string | undefined;
  // State the app creates; `reset()` clears it (and the parts' own).
  private log: MutableCall[] = [];
  private faults = new Map<string, QueuedFault[]>();
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
    this.team = { ...DEFAULT_TEAM, ...team };
    this.bot = { ...DEFAULT_BOT, ...bot };
    const context = { team: this.team, bot: this.bot, now, emit: this.emit.bind(this) };
    this.directory = new WorkspaceDirectory({ ...context, users, channels, userGroups });
    const parts = { ...context, directory: this.directory };
    this.messageStore = new MessageStore({ ...parts, url: () => this.url, takeFault: (method) => this.takeFault(method), responseUrlMaxUses, responseUrlTtlMs });
    this.viewStore = new ViewStore({ ...parts, triggerTtlMs });
    this.methods = {
      'api.test': (args) => ({ args }),
      ...this.messageStore.methods,
      ...this.directory.methods,
      ...this.viewStore.methods,
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
    this.messageStore.reset();
    this.viewStore.reset();
    this.directory.reset();
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
    this.directory.addUser(user);
  }

  /** The member, creating one named after the id if unknown (anyone who types a command exists). */
  ensureUser(id: string): SlackUserSpec {
    return this.directory.ensureUser(id);
  }

  user(id: string): SlackUserSpec | undefined {
    return this.directory.user(id);
  }

  addChannel(channel: SlackChannelSpec): void {
    this.directory.addChannel(channel);
  }

  /** The conversation, creating a channel named after the id when a command comes from an unknown one. */
  ensureConversation(id: string): SlackConversation {
    return this.directory.ensureConversation(id);
  }

  /** By id (`C`/`G`/`D`), `#name`, or a user id (their DM with the bot). */
  conversation(ref: string): SlackConversation | undefined {
    return this.directory.conversation(ref);
  }

  /** The bot's DM channel with a user: stable, `D` + the user id without its `U`. */
  dmChannelFor(userId: string): string {
    return this.directory.dmChannelFor(userId);
  }

  setUserGroup(group: SlackUserGroupSpec): void {
    this.directory.setUserGroup(group);
  }

  // ---------------------------------------------------------------- state, for assertions and the console

  /**
   * Messages of a conversation (id, `#name` or user id for the DM), oldest first; without a
   * conversation, all. Deleted messages only with `includeDeleted`.
   */
  messages(conversation?: string, options: { includeDeleted?: boolean } = {}): SlackMessage[] {
    return this.messageStore.messages(conversation, options);
  }

  /** One message, deleted or not. */
  message(conversation: string, ts: string): SlackMessage | undefined {
    return this.messageStore.message(conversation, ts);
  }

  /** Ephemerals shown, oldest first, including replaced and deleted ones (see their flags). */
  ephemerals(filter: { channel?: string; user?: string } = {}): SlackEphemeral[] {
    return this.messageStore.ephemerals(filter);
  }

  /** Modals opened, oldest first. */
  views(): StoredView[] {
    return this.viewStore.views();
  }

  /** A modal, or a Home tab, by view id. */
  view(id: string): StoredView | undefined {
    return this.viewStore.view(id);
  }

  /** The Home tab the app last published for `user`, if any. */
  homeView(user: string): SlackView | undefined {
    return this.viewStore.homeView(user);
  }

  /** POSTs to response URLs (optionally to one), accepted or refused, oldest first. */
  responses(id?: string): ResponseUrlPost[] {
    return this.messageStore.responses(id);
  }

  // ---------------------------------------------------------------- platform side (used by SlackDriver)

  /** A new response_url, as Slack mints one per slash command or interaction. */
  createResponseUrl(spec: ResponseUrlSpec): { id: string; url: string } {
    return this.messageStore.createResponseUrl(spec);
  }

  /** A new trigger_id: single use, valid for 3 seconds on the platform's clock. */
  issueTriggerId(user: string): string {
    return this.viewStore.issueTriggerId(user);
  }

  /** A Slack message ts (`seconds.micros`), unique and increasing across the server. */
  nextTs(): string {
    return this.messageStore.nextTs();
  }

  /** The message (or `user`'s ephemeral) with this ts, current version, if it can still be clicked. */
  interactiveMessage(channel: string, ts: string, user: string): InteractiveMessage | undefined {
    return this.messageStore.interactiveMessage(channel, ts, user);
  }

  /**
   * Shows what the app answered a slash command with (its HTTP ack body) as Slack does: JSON with
   * `text`/`blocks` as a response_url post would be, plain text as an ephemeral; an empty body
   * shows nothing. Does not count as a use of the response_url.
   */
  applyCommandAck(responseUrlId: string, body: string): void {
    this.messageStore.applyCommandAck(responseUrlId, body);
  }

  /** Shows Slack's own notice to one user, e.g. `/crdb failed with the error "dispatch_failed"`. */
  slackbotNotice(channel: string, user: string, text: string): void {
    this.messageStore.slackbotNotice(channel, user, text);
  }

  /** Records the values a user typed into a modal (the driver's submitView). */
  setViewState(viewId: string, values: SlackView['state']['values']): SlackView {
    return this.viewStore.setViewState(viewId, values);
  }

  /** Applies a view_submission ack body's `response_action` to the submitted view. */
  applyViewAck(viewId: string, body: string): ViewAckResult {
    return this.viewStore.applyViewAck(viewId, body);
  }

  // ---------------------------------------------------------------- HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const body = await readBody(req);
      if (url.pathname.startsWith('/api/')) return this.handleApi(decodeURIComponent(url.pathname.slice(5)), req, url, body, res);
      if (url.pathname.startsWith('/response/') && req.method === 'POST') {
        return this.messageStore.postToResponseUrl(url.pathname.slice(10), mediaType(req), body, (status, payload, headers) => send(res, status, payload, headers));
      }
      return send(res, 404, { ok: false, error: 'not_found' });
    } catch (error) {
      return send(res, 500, { ok: false, error: 'fatal_error', detail: error instanceof Error ? error.message : String(error) });
    }
  }

  private handleApi(method: string, req: IncomingMessage, url: URL, body: string, res: ServerResponse): void {
    const contentType = mediaType(req);
    const call: MutableCall = { method, args: {}, time: new Date(this.now()), status: 200, injected: false };
    this.log.push(call);
    const answer: Reply = (status, payload, headers = {}) => {
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
    // Only the table's own names: `toString` or `constructor` is no Web API method.
    const handler = Object.hasOwn(this.methods, method) ? this.methods[method] : undefined;
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

  private answerFault(fault: SlackFault, answer: Reply): void {
    if ('status' in fault) return answer(fault.status, fault.body ?? '');
    if (fault.error === 'ratelimited') {
      return answer(429, { ok: false, error: 'ratelimited' }, { 'Retry-After': String(fault.retryAfterSeconds ?? 1) });
    }
    return answer(200, { ok: false, error: fault.error });
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

/** The request's `Content-Type` without parameters, lower case; `''` when absent. */
function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function send(res: ServerResponse, status: number, payload: Record<string, unknown> | string, headers: Record<string, string> = {}): void {
  const json = typeof payload !== 'string';
  const body = json ? JSON.stringify(payload) : payload;
  res.writeHead(status, { 'Content-Type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
