/**
 * The terminal console that plays Slack for local mode.
 *
 * You type as a workspace member; the console turns each line into what Slack would send the app
 * (a signed slash command, a button click, a modal submission) through `SlackDriver` over HTTP to
 * the bot's endpoint, and prints what the bot does through the Slack Web API and response URLs,
 * as `SlackWebApiServer` reports it: ephemeral replies, channel posts, DMs, edits and deletions.
 * `home` opens the app's Home tab the way the Slack client does (an `app_home_opened` event) and
 * shows what the bot published; its buttons are numbered like messages'.
 *
 * Input may be a terminal (prompt, line editing) or a pipe (each line is echoed after the prompt,
 * so a scripted run reads like a transcript); lines run one at a time, in order.
 */
import { createInterface, type Interface } from 'node:readline';
import {
  SLACKBOT_USER_ID,
  type SlackDriver,
  type SlackEphemeral,
  type SlackMessage,
  type SlackWebApiServer,
  type StoredView,
} from '../../stand-ins/slack';
import { type LocalUser } from '../workspace';
import { createStyle, type Directory, type RenderedButton, renderMessageBody, type RenderOptions, type Style } from './render';

export interface ConsoleOptions {
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
  /** A terminal: prompt and line editing; otherwise input lines are echoed. */
  readonly interactive: boolean;
  readonly color: boolean;
  readonly server: SlackWebApiServer;
  /** Signs and sends to the bot's endpoint (`{ kind: 'http' }`). */
  readonly driver: SlackDriver;
  readonly users: readonly LocalUser[];
  /** The user you start as. */
  readonly initialUser: string;
  /** `/crdb` unless configured otherwise. */
  readonly commandName: string;
  /** Where slash commands are typed. */
  readonly channel: string;
  /** Resolves when the bot has no background work left (its queue is drained). */
  readonly idle: () => Promise<void>;
}

/** Where a numbered button is: on a message (or a modal), or on someone's Home tab. */
type ButtonPlace = { readonly kind: 'message'; readonly channel: string; readonly ts: string } | { readonly kind: 'home'; readonly user: string };

type ButtonRef = RenderedButton & { readonly place: ButtonPlace };

/** Message bodies are indented under their heading; empty lines stay empty. */
const indent = (line: string): string => (line === '' ? '' : `  ${line}`);

const HELP = (command: string): string[] => [
  'Console commands (the bot sees signed Slack requests from the user you are):',
  ...[
    [`${command} <args>`, `run the slash command, e.g. ${command} help, ${command} allow 127.0.0.1`],
    ['as <user>', 'become someone else: a name from "users", or a Slack id (U…)'],
    ['whoami', 'who you are'],
    ['users', "the workspace's people and what they may do"],
    ['click <n>', 'press button [n] (a button marked … asks first: click <n> yes)'],
    ['home', 'open the bot\'s Home tab ("My access"); its buttons are numbered like messages\''],
    ['submit [text]', 'submit the modal open for you (Deny asks for a reason); cancel closes it'],
    ['wait', 'wait until the bot has finished its background work'],
    ['help', 'this list'],
    ['quit', 'stop everything (also Ctrl-D, Ctrl-C)'],
  ].map(([what = '', does = '']) => `  ${what.padEnd(20)}  ${does}`),
];

/** Resolves `'quit'` (typed quit, Ctrl-C) or `'eof'` (end of input) once the last line ran. */
export class SlackConsole {
  private readonly o: ConsoleOptions;
  private readonly style: Style;
  private readonly directory: Directory;
  private readonly buttons = new Map<number, ButtonRef>();
  private nextButton = 1;
  private user: LocalUser;
  private readonly modals = new Map<string, StoredView>();
  /** While `home` or a Home click shows the tab itself, its update notices are not needed. */
  private showingHome = false;
  private rl: Interface | undefined;

  constructor(options: ConsoleOptions) {
    this.o = options;
    this.style = createStyle(options.color);
    const first = options.users.find((u) => u.id === options.initialUser) ?? options.users[0];
    if (first === undefined) throw new Error('the console needs at least one user');
    this.user = first;
    this.directory = {
      userName: (id) => (id === options.server.bot.userId ? options.server.bot.name : (options.server.user(id)?.name ?? id)),
      channelName: (id) => options.server.conversation(id)?.name ?? id,
      groupName: (id) => id.toLowerCase(),
    };
  }

  /** Runs until quit or end of input. */
  async run(): Promise<'quit' | 'eof'> {
    const unsubscribe = this.subscribe();
    const rl = createInterface({ input: this.o.input, output: this.o.interactive ? this.o.output : undefined, terminal: this.o.interactive, historySize: 200 });
    this.rl = rl;
    let quit = false;
    rl.on('SIGINT', () => {
      quit = true;
      rl.close();
    });
    this.prompt();
    try {
      for await (const raw of rl) {
        const line = raw.trim();
        if (!this.o.interactive && line !== '') this.write([`${this.promptText()}${line}`]);
        if (line === 'quit' || line === 'exit') {
          quit = true;
          break;
        }
        try {
          await this.execute(line);
        } catch (error) {
          this.write([this.style.warn(`! ${error instanceof Error ? error.message : String(error)}`)]);
        }
        this.prompt();
      }
    } finally {
      this.rl = undefined;
      rl.close();
    }
    // Let what the last commands started finish and show before the servers stop.
    if (!quit) await this.o.idle();
    unsubscribe();
    return quit ? 'quit' : 'eof';
  }

  // ---------------------------------------------------------------- commands

  private async execute(line: string): Promise<void> {
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('/')) return this.slash(line);
    const [word = '', ...rest] = line.split(/\s+/);
    const argument = line.slice(word.length).trim();
    switch (word) {
      case 'help':
      case '?':
        return this.write(HELP(this.o.commandName));
      case 'as':
        return this.become(argument);
      case 'whoami':
        return this.write([`You are ${this.describe(this.user)}.`]);
      case 'users':
        return this.write(this.o.users.map((u) => `${u.id === this.user.id ? '*' : ' '} ${this.describe(u)}`));
      case 'click':
        return this.click(rest[0], rest[1]);
      case 'home':
        return this.home();
      case 'submit':
      case 'reason':
        return this.submit(argument);
      case 'cancel':
        return this.cancel();
      case 'wait':
        await this.o.idle();
        return;
      default:
        throw new Error(`unknown command "${word}": type help for the list (slash commands start with /).`);
    }
  }

  private async slash(line: string): Promise<void> {
    const [command = ''] = line.split(/\s+/);
    // Slack itself answers a command no installed app has.
    if (command !== this.o.commandName) throw new Error(`${command} is not a valid command: this app's is ${this.o.commandName}.`);
    await this.o.driver.slashCommand({ user: this.user.id, text: line.slice(command.length).trim(), command, channel: this.o.channel });
  }

  private become(who: string): void {
    if (who === '') throw new Error('as whom? e.g. as approver (see users).');
    const name = who.replace(/^@/, '');
    let user = this.o.users.find((u) => u.name === name || u.id === name);
    if (user === undefined && /^[UW][A-Z0-9]{2,}$/.test(name)) {
      const member = this.o.server.ensureUser(name);
      user = { ...member, role: 'workspace member' };
    }
    if (user === undefined) throw new Error(`no user "${who}": one of ${this.o.users.map((u) => u.name).join(', ')}, or a Slack id (U…).`);
    this.user = user;
    this.write([`You are now ${this.describe(user)}.`]);
  }

  private async click(which: string | undefined, answer: string | undefined): Promise<void> {
    const n = Number(which);
    const button = Number.isInteger(n) ? this.buttons.get(n) : undefined;
    if (button === undefined) throw new Error(which === undefined ? 'click which button? e.g. click 1' : `no button [${which}]`);
    // Slack's confirm dialog: nothing is sent until it is answered.
    if (button.confirm !== undefined && answer !== 'yes') {
      return this.write([button.confirm.title, ...button.confirm.text.map(indent), `${button.confirm.confirm}: click ${n} yes · or do nothing to go back`]);
    }
    const { place } = button;
    if (place.kind === 'home') return this.clickInHome(place.user, button);
    await this.o.driver.clickButton({ user: this.user.id, message: { channel: place.channel, ts: place.ts }, actionId: button.actionId, blockId: button.blockId });
  }

  /** Opens the Home tab as Slack does when you click the app, then shows what the bot published. */
  private async home(): Promise<void> {
    await this.whileShowingHome(async () => {
      const result = await this.o.driver.openHome({ user: this.user.id });
      // Slack shows nothing when an event fails; the console says so, for whoever runs the bot.
      if (!result.acknowledged) this.write([this.style.warn(`! the bot did not accept app_home_opened (HTTP ${result.response.statusCode})`)]);
      await this.o.idle();
    });
    this.showHome();
  }

  /**
   * A Home button: only its owner sees that tab. The Slack client updates an open Home tab in
   * place, so what the bot republishes (its answer to the click) is shown once it is done.
   */
  private async clickInHome(owner: string, button: ButtonRef): Promise<void> {
    if (owner !== this.user.id) throw new Error(`that button is on ${this.directory.userName(owner)}'s Home tab: only they see it (as ${this.directory.userName(owner)}).`);
    await this.whileShowingHome(async () => {
      const result = await this.o.driver.clickInHome({ user: owner, actionId: button.actionId, blockId: button.blockId });
      if (!result.acknowledged) this.write([this.style.warn(`! the bot did not accept the click (HTTP ${result.response.statusCode})`)]);
      await this.o.idle();
    });
    this.showHome();
  }

  private async whileShowingHome(work: () => Promise<void>): Promise<void> {
    this.showingHome = true;
    try {
      await work();
    } finally {
      this.showingHome = false;
    }
  }

  private openModal(): StoredView {
    const modal = this.modals.get(this.user.id);
    if (modal === undefined) throw new Error(`no modal is open for ${this.user.name}.`);
    return modal;
  }

  private async submit(text: string): Promise<void> {
    const modal = this.openModal();
    // The first text input gets what was typed (the deny modal has exactly one).
    const input = modal.view.blocks.find((b) => b.type === 'input' && typeof (b.element as { action_id?: unknown } | undefined)?.action_id === 'string');
    const values =
      input !== undefined && text !== ''
        ? { [String(input.block_id)]: { [String((input.element as { action_id: string }).action_id)]: text } }
        : {};
    const result = await this.o.driver.submitView({ user: this.user.id, view: modal.view.id, values });
    if (!result.acknowledged) {
      this.write([this.style.warn(`! the app did not accept the submission (HTTP ${result.response.statusCode})`)]);
      return;
    }
    if (result.viewAck.responseAction === 'errors') {
      this.write(Object.entries(result.viewAck.errors ?? {}).map(([field, error]) => this.style.warn(`! ${field}: ${error}`)));
      return;
    }
    if (result.viewAck.responseAction === undefined || result.viewAck.responseAction === 'clear') {
      this.modals.delete(this.user.id);
      this.write([this.style.dim('(modal closed)')]);
    }
  }

  private cancel(): void {
    this.openModal();
    this.modals.delete(this.user.id);
    this.write([this.style.dim('(modal closed)')]);
  }

  // ---------------------------------------------------------------- what the bot does

  private subscribe(): () => void {
    const { server } = this.o;
    const onMessage = ({ message }: { message: SlackMessage }) => this.showMessage(message, message.thread_ts ? 'thread reply' : undefined);
    const onUpdate = ({ after }: { after: SlackMessage }) => this.showMessage(after, 'edited');
    const onDelete = ({ message }: { message: SlackMessage }) =>
      this.write([`${this.where(message.channel)} ${this.style.dim(`(a message from ${this.directory.userName(message.user)} was deleted: "${message.text}")`)}`]);
    const onEphemeral = ({ ephemeral, replaces }: { ephemeral: SlackEphemeral; replaces?: string }) => this.showEphemeral(ephemeral, replaces);
    const onView = ({ view }: { view: StoredView }) => this.showModal(view);
    const onHome = ({ user }: { user: string }) => {
      if (user === this.user.id && !this.showingHome) this.write([this.style.dim('(your Home tab was updated — type home to see it)')]);
    };
    const onResponse = ({ post }: { post: { status: number; error?: string } }) => {
      if (post.status !== 200) this.write([this.style.dim(`(a response_url post was refused: ${post.error ?? post.status})`)]);
    };
    server.on('message', onMessage).on('update', onUpdate).on('delete', onDelete).on('ephemeral', onEphemeral).on('view', onView).on('home', onHome).on('response', onResponse);
    return () => {
      server.off('message', onMessage).off('update', onUpdate).off('delete', onDelete).off('ephemeral', onEphemeral).off('view', onView).off('home', onHome).off('response', onResponse);
    };
  }

  private renderOptions(place: ButtonPlace): RenderOptions {
    return {
      directory: this.directory,
      style: this.style,
      button: (button) => {
        const n = this.nextButton++;
        this.buttons.set(n, { ...button, place });
        return n;
      },
    };
  }

  /** `[#db-approvers]` or `[DM dev]`. */
  private where(channel: string): string {
    const conversation = this.o.server.conversation(channel);
    const label = conversation?.kind === 'im' ? `DM ${this.directory.userName(conversation.user ?? '')}` : `#${conversation?.name ?? channel}`;
    return this.style.accent(`[${label}]`);
  }

  private showMessage(message: SlackMessage, note?: string): void {
    const head = `${this.where(message.channel)} ${this.style.bold(this.directory.userName(message.user))}${note ? this.style.dim(` (${note})`) : ''}:`;
    this.write([head, ...renderMessageBody(message, this.renderOptions({ kind: 'message', channel: message.channel, ts: message.ts })).map(indent)]);
  }

  private showEphemeral(ephemeral: SlackEphemeral, replaces?: string): void {
    const who = this.directory.userName(ephemeral.user);
    const from = ephemeral.author === SLACKBOT_USER_ID ? 'Slackbot' : this.directory.userName(ephemeral.author);
    const head = `${this.where(ephemeral.channel)} ${this.style.dim(`only visible to ${who} ·`)} ${this.style.bold(from)}`;
    if (ephemeral.deleted) {
      this.write([`${head} ${this.style.dim('(removed the earlier reply)')}`]);
      return;
    }
    const note = replaces !== undefined ? this.style.dim(' (replaces the earlier reply)') : '';
    this.write([`${head}${note}:`, ...renderMessageBody(ephemeral, this.renderOptions({ kind: 'message', channel: ephemeral.channel, ts: ephemeral.ts })).map(indent)]);
  }

  private showModal(stored: StoredView): void {
    if (stored.closed) {
      this.modals.delete(stored.user);
      return;
    }
    this.modals.set(stored.user, stored);
    const label = (text: unknown, fallback: string): string => (typeof text === 'string' ? text : fallback);
    const title = label(stored.view.title?.text, 'Modal');
    const submit = label(stored.view.submit?.text, 'Submit');
    const body = renderMessageBody({ blocks: stored.view.blocks }, this.renderOptions({ kind: 'message', channel: '', ts: stored.view.id }));
    this.write([
      `${this.style.accent(`[modal for ${this.directory.userName(stored.user)}]`)} ${this.style.bold(title)}:`,
      ...body.map(indent),
      this.style.dim(`  → type "submit <text>" to press ${submit} (or just "submit"), "cancel" to close it`),
    ]);
  }

  /** The current user's Home tab as the bot last published it, or one line saying there is none. */
  private showHome(): void {
    const user = this.user;
    const view = this.o.server.homeView(user.id);
    const heading = this.style.accent(`[Home tab of ${user.name}]`);
    if (view === undefined) {
      this.write([`${heading} ${this.style.dim(`(${this.o.server.bot.name} has published no Home tab for ${user.name})`)}`]);
      return;
    }
    const body = renderMessageBody({ blocks: view.blocks }, this.renderOptions({ kind: 'home', user: user.id }));
    this.write([`${heading} ${this.style.bold(this.o.server.bot.name)}:`, ...body.map(indent)]);
  }

  // ---------------------------------------------------------------- output

  private describe(user: LocalUser): string {
    return `${user.name} (${user.id}) — ${user.role}`;
  }

  private promptText(): string {
    return `${this.user.name}> `;
  }

  private prompt(): void {
    if (this.rl === undefined || !this.o.interactive) return;
    this.rl.setPrompt(this.style.bold(this.promptText()));
    this.rl.prompt();
  }

  /** Prints lines; on a terminal, above the prompt and what is being typed. */
  private write(lines: readonly string[]): void {
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    const rl = this.rl;
    if (rl === undefined || !this.o.interactive) {
      this.o.output.write(text);
      return;
    }
    this.o.output.write('\r\u001b[2K');
    this.o.output.write(text);
    rl.prompt(true);
  }
}
