/**
 * The views of the Slack Web API stand-in: modals, Home tabs and the trigger_ids that open
 * modals, with the `views.open`/`views.update`/`views.publish` methods and what a view_submission
 * ack's `response_action` does to the submitted modal.
 */
import { randomBytes } from 'node:crypto';
import { BlockKitError, parseBlocks } from './block-kit';
import { ApiError, type Args, blocksOf, type Emit, isRecord, type MethodHandler, randomId, str, type WebApiContext } from './web-api-common';
import { type WorkspaceDirectory } from './web-api-directory';
import { type SlackBlock, type SlackView, type StoredView } from './model';

/** The result of applying a view_submission ack's `response_action`. */
export interface ViewAckResult {
  readonly responseAction?: 'errors' | 'update' | 'push' | 'clear';
  readonly errors?: Readonly<Record<string, string>>;
}

export interface ViewStoreOptions extends WebApiContext {
  readonly emit: Emit;
  readonly directory: WorkspaceDirectory;
  /** Slack allows 3 seconds. */
  readonly triggerTtlMs: number;
}

/** Slack refuses a view over 250 kB with `view_too_large`. */
const MAX_VIEW_BYTES = 250 * 1024;

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

/** Modals, Home tabs and trigger_ids, with the `views.*` methods. */
export class ViewStore {
  private readonly options: ViewStoreOptions;
  // State the app creates; `reset()` clears it.
  private openViews = new Map<string, StoredView>();
  /** Home tabs by user: one each, replaced by every `views.publish`. */
  private homeViews = new Map<string, StoredView>();
  private triggers = new Map<string, { user: string; issuedAt: number; used: boolean }>();
  readonly methods: Readonly<Record<string, MethodHandler>> = {
    'views.open': (args) => this.openView(args),
    'views.update': (args) => this.updateView(args),
    'views.publish': (args) => this.publishView(args),
  };

  constructor(options: ViewStoreOptions) {
    this.options = options;
  }

  /** Forgets the modals, Home tabs and trigger_ids. */
  reset(): void {
    this.openViews = new Map();
    this.homeViews = new Map();
    this.triggers = new Map();
  }

  // ---------------------------------------------------------------- state, for assertions and the console

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

  // ---------------------------------------------------------------- platform side (used by SlackDriver)

  /** A new trigger_id: single use, valid for 3 seconds on the platform's clock. */
  issueTriggerId(user: string): string {
    const id = `${Math.floor(this.options.now() / 1000)}${randomBytes(2).readUInt16BE(0)}.${randomBytes(4).readUInt32BE(0)}.${randomBytes(16).toString('hex')}`;
    this.triggers.set(id, { user, issuedAt: this.options.now(), used: false });
    return id;
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
        this.options.emit('view', { view: { view, user: stored.user, closed: false }, via: 'response_action' });
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

  // ---------------------------------------------------------------- building views

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
    return `${Math.floor(this.options.now() / 1000)}.${randomBytes(4).toString('hex')}`;
  }

  private buildView(raw: unknown, previous: StoredView | undefined, mode: 'open' | 'update' | 'push'): SlackView {
    const { team, bot } = this.options;
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
      team_id: team.id,
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
      app_id: bot.appId,
      app_installed_team_id: team.id,
      bot_id: bot.botId,
    };
  }

  private buildHomeView(view: Record<string, unknown>, user: string, previous: SlackView | undefined): SlackView {
    const { team, bot } = this.options;
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
      team_id: team.id,
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
      app_id: bot.appId,
      app_installed_team_id: team.id,
      bot_id: bot.botId,
    };
  }

  /** An `external_id` is unique per workspace: another open view (a modal, another user's Home tab) holding it. */
  private externalIdTaken(externalId: string, homeOf: string): boolean {
    const modals = [...this.openViews.values()].filter((v) => !v.closed);
    const homes = [...this.homeViews.values()].filter((v) => v.user !== homeOf);
    return [...modals, ...homes].some((v) => v.view.external_id === externalId);
  }

  // ---------------------------------------------------------------- Web API methods

  private openView(args: Args): Record<string, unknown> {
    const triggerId = str(args, 'trigger_id');
    const trigger = triggerId === undefined ? undefined : this.triggers.get(triggerId);
    if (trigger === undefined) throw new ApiError('invalid_trigger_id');
    if (trigger.used) throw new ApiError('exchanged_trigger_id');
    if (this.options.now() - trigger.issuedAt > this.options.triggerTtlMs) throw new ApiError('expired_trigger_id');
    const view = this.buildView(args.view, undefined, 'open');
    trigger.used = true;
    const stored: StoredView = { view, user: trigger.user, closed: false };
    this.openViews.set(view.id, stored);
    this.options.emit('view', { view: stored, via: 'views.open' });
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
    this.options.emit('view', { view: updated, via: 'views.update' });
    return { view };
  }

  /** `views.publish`: sets `user_id`'s Home tab (no trigger needed: a Home tab is there to be seen). */
  private publishView(args: Args): Record<string, unknown> {
    const user = str(args, 'user_id');
    if (user === undefined) throw new ApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: user_id'] } });
    const raw = this.viewArgument(args.view);
    if (this.options.directory.user(user) === undefined) throw new ApiError('user_not_found');
    const previous = this.homeViews.get(user);
    const hash = str(args, 'hash');
    // Slack compares with the stored view's hash; with no view yet, no hash can match.
    if (hash !== undefined && hash !== previous?.view.hash) throw new ApiError('hash_conflict');
    const view = this.buildHomeView(raw, user, previous?.view);
    const stored: StoredView = { view, user, closed: false };
    this.homeViews.set(user, stored);
    this.options.emit('home', { user, view });
    return { view };
  }
}
