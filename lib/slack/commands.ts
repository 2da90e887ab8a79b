/**
 * What `/crdb …` does in the 3-second ack window: parse, authorise, validate, write a request or
 * enqueue a job, and produce the ephemeral reply. Nothing here calls a cluster, Secrets Manager
 * or Slack: only config, the state table and the queue.
 */
import { type ClusterConfig, formatDuration } from '../config';
import { type Logger } from '../log';
import { type AccessControl } from '../policy/access';
import { type Job } from '../requests/jobs';
import { type RequestIntake, type SubmitResult } from '../requests/intake';
import { type RequestStore } from '../requests/store';
import { type ChatRequest, isOpen, type RequestParams } from '../requests/types';
import { acceptedMessage, allowMeLinkMessage, duplicateMessage, escapeText, markdownMessage, type Message, refusalMessage, summary, textMessage } from './blocks';
import { type AllowCommand, type AllowMeCommand, type ParsedCommand, parseCommand, rangeWarnings } from './grammar';
import { LINK_TTL_MS, type AllowMeLink, type LinkStore } from '../links/types';
import { type LinkKey } from '../links/token';
import { parseIpv4Network } from '../cluster-admin/network';
import { helpText } from './help';
import { defaultExtension } from '../policy/assess';
import { type Shortcut } from './home';
import { mrkdwn } from './text';

export interface SlashCommandInput {
  readonly user: string;
  readonly text: string;
  readonly channel?: string;
  readonly responseUrl?: string;
  /** Unique per command; a Slack retry carries the same one. */
  readonly triggerId?: string;
  /** Slack says it delivered this command before (`X-Slack-Retry-Num`). */
  readonly retry?: boolean;
  /** The origin of the endpoint the command came through (the Function URL): where `allow me` links point by default. */
  readonly endpoint?: string;
}

/** What `allow me` needs: the link key, where links are recorded, and (optionally) where they point. */
export interface AllowMeLinks {
  readonly key: LinkKey;
  readonly store: LinkStore;
  /** Config `links.baseUrl`; default the command's `endpoint`. */
  readonly baseUrl?: string;
}

export interface CommandHandlerOptions {
  readonly commandName: string;
  readonly clusters: readonly ClusterConfig[];
  readonly intake: RequestIntake;
  readonly store: RequestStore;
  readonly access: AccessControl;
  readonly logger: Logger;
  /** `allow me`; without it the command says the deployment does not offer it. */
  readonly links?: AllowMeLinks;
  readonly now?: () => Date;
}

type Refusal = { readonly refused: Message };

/** The commands that make a request (a change), as opposed to reading or answering. */
type ChangeCommandName = 'allow' | 'revoke' | 'user create' | 'user rotate' | 'user delete' | 'extend' | 'user extend';

export class CommandHandler {
  private readonly o: CommandHandlerOptions;
  private readonly byAlias: ReadonlyMap<string, ClusterConfig>;

  constructor(options: CommandHandlerOptions) {
    this.o = options;
    this.byAlias = new Map(options.clusters.map((c) => [c.alias, c]));
  }

  async handle(input: SlashCommandInput): Promise<Message> {
    const parsed = parseCommand(input.text, { commandName: this.o.commandName });
    if (!parsed.ok) {
      this.o.logger.info({ event: 'command.invalid', user: input.user, reason: parsed.reason }, 'command refused: invalid input');
      // The parser echoes what was typed: escape it so nobody can inject `<!channel>`.
      return refusalMessage(escapeText(parsed.reason), parsed.example);
    }
    const command = parsed.command;
    if (command.name === 'help') return markdownMessage(helpText(this.o.commandName, command.topic));
    if (!(await this.o.access.canRequest(input.user))) {
      this.o.logger.info({ event: 'command.unauthorised', user: input.user, command: command.name }, 'command refused: not a requester');
      return refusalMessage('You are not on the list of people who may use this bot; ask a crdb-chatops admin.');
    }
    switch (command.name) {
      case 'clusters':
        return this.clustersMessage();
      case 'requests':
        return this.requests(input.user);
      case 'allow me':
        return this.allowMe(input, command);
      case 'allow':
      case 'revoke':
      case 'user create':
      case 'user rotate':
      case 'user delete':
      case 'extend':
      case 'user extend':
        return this.submit(input, command, parsed.notes.map(escapeText));
      case 'allowlist':
      case 'check':
      case 'users':
        return this.read(input, command);
      case 'connect':
        return this.connect(input, command);
      case 'audit':
        return this.audit(input, command.cluster);
    }
  }

  private cluster(alias: string | undefined, rest: string): ClusterConfig | Refusal {
    if (alias !== undefined) {
      const found = this.byAlias.get(alias);
      if (found) return found;
      return { refused: refusalMessage(`There is no cluster \`${alias}\`; configured: ${this.aliases()}.`, `${this.o.commandName} clusters`) };
    }
    const [only, ...others] = this.o.clusters;
    if (only !== undefined && others.length === 0) return only;
    return {
      refused: refusalMessage(`Several clusters are configured (${this.aliases()}); say which with --cluster.`, `${this.o.commandName} ${rest} --cluster ${only?.alias ?? 'prod'}`.replace(/\s+/g, ' ')),
    };
  }

  private aliases(): string {
    return this.o.clusters.map((c) => c.alias).join(', ');
  }

  private async submit(input: SlashCommandInput, command: Extract<ParsedCommand, { name: ChangeCommandName }>, notes: readonly string[]): Promise<Message> {
    return (await this.submitRequest(input, command, notes)).message;
  }

  private async submitRequest(
    input: SlashCommandInput,
    command: Extract<ParsedCommand, { name: ChangeCommandName }>,
    notes: readonly string[],
  ): Promise<{ message: Message; result?: SubmitResult }> {
    const cluster = this.cluster(command.cluster, rebuild(input.text));
    if ('refused' in cluster) return { message: cluster.refused };
    const params = toParams(command, cluster);
    // A Cloud cluster only ever sees public addresses; on a self-hosted one any range may be right.
    const warnings = command.name === 'allow' && cluster.backend === 'cloud' ? rangeWarnings(command.network).map(escapeText) : [];
    const breakGlass = 'breakGlass' in command && command.breakGlass;
    const reason = 'reason' in command ? command.reason : undefined;
    const result: SubmitResult = await this.o.intake.submit({
      requester: input.user,
      cluster: cluster.alias,
      params,
      breakGlass,
      ...(reason !== undefined ? { reason } : {}),
      ...(input.responseUrl !== undefined ? { responseUrl: input.responseUrl } : {}),
      ...(input.channel !== undefined ? { channel: input.channel } : {}),
      ...(input.triggerId !== undefined ? { idempotencyKey: input.triggerId } : {}),
      ...(input.retry === true ? { retry: true } : {}),
    });
    switch (result.outcome) {
      case 'refused':
        return { result, message: refusalMessage(mrkdwn(result.reason), result.example === undefined ? undefined : `${this.o.commandName} ${result.example}`) };
      case 'duplicate':
        return { result, message: duplicateMessage(result.request) };
      case 'accepted':
        return { result, message: acceptedMessage(result.request, [...notes, ...warnings], cluster.approversChannel, { byDm: input.responseUrl === undefined }) };
    }
  }

  /**
   * `allow me`: records a link (who, which cluster, which options) and replies with it. Nothing is
   * requested until the link is confirmed from the machine to authorize (`confirmLink`).
   */
  private async allowMe(input: SlashCommandInput, command: AllowMeCommand): Promise<Message> {
    const cluster = this.cluster(command.cluster, rebuild(input.text));
    if ('refused' in cluster) return cluster.refused;
    const links = this.o.links;
    const base = links?.baseUrl ?? input.endpoint;
    if (links === undefined || base === undefined) {
      return refusalMessage('`allow me` needs the bot\'s public address in this deployment (config `links.baseUrl`); give your address instead.', `${this.o.commandName} allow 203.0.113.7 --cluster ${cluster.alias}`);
    }
    const now = this.now();
    const { id, token } = links.key.issue();
    await links.store.putLink({
      id,
      user: input.user,
      cluster: cluster.alias,
      access: command.access,
      ...(command.forMs !== undefined ? { forMs: command.forMs } : {}),
      ...(command.reason !== undefined ? { reason: command.reason } : {}),
      ...(input.channel !== undefined ? { channel: input.channel } : {}),
      ...(input.responseUrl !== undefined ? { responseUrl: input.responseUrl } : {}),
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + LINK_TTL_MS).toISOString(),
    });
    this.o.logger.info({ event: 'link.issued', user: input.user, cluster: cluster.alias, link: id }, 'allow-me link issued');
    return allowMeLinkMessage(`${base}/allow-me/${token}`, cluster.alias, LINK_TTL_MS);
  }

  /**
   * A confirmed `allow me` link: exactly the request `allow <address>/32 …` with the link's options
   * would make, from the link's requester, through the same checks and intake.
   */
  async confirmLink(link: AllowMeLink, address: string, { resumed = false }: { resumed?: boolean } = {}): Promise<{ message: Message; result?: SubmitResult }> {
    // Whether the link's owner may still make requests is intake's check (`authorise`), as for a typed command.
    const command: AllowCommand = {
      name: 'allow',
      network: parseIpv4Network(`${address}/32`),
      access: link.access,
      cluster: link.cluster,
      breakGlass: false,
      ...(link.forMs !== undefined ? { forMs: link.forMs } : {}),
      ...(link.reason !== undefined ? { reason: link.reason } : {}),
    };
    const input: SlashCommandInput = {
      user: link.user,
      text: `allow ${address}/32 --cluster ${link.cluster}`,
      // One request per link, however often the form is sent: a resumed confirmation finds the
      // request an interrupted one wrote, as a Slack retry finds its command's.
      triggerId: `link-${link.id}`,
      ...(resumed ? { retry: true } : {}),
      ...(link.channel !== undefined ? { channel: link.channel } : {}),
      ...(link.responseUrl !== undefined ? { responseUrl: link.responseUrl } : {}),
    };
    return this.submitRequest(input, command, []);
  }

  /**
   * A Home tab or reminder button: exactly the command it stands for (`revoke`, `extend`,
   * `user extend`, `user rotate`, `connect`), from the clicker, through the same checks. Returns
   * the answer the typed command would get. `triggerId`: the click's, so Slack's retry of the same
   * click makes no second request.
   */
  async perform(user: string, shortcut: Exclude<Shortcut, { kind: 'cancel' | 'let-expire' }>, triggerId: string | undefined): Promise<Message> {
    if (!(await this.o.access.canRequest(user))) return refusalMessage('You are not on the list of people who may use this bot; ask a crdb-chatops admin.');
    const base = { user, ...(triggerId !== undefined ? { triggerId } : {}) };
    switch (shortcut.kind) {
      case 'revoke':
        return this.submit({ ...base, text: `revoke ${shortcut.cidr} --cluster ${shortcut.cluster}` }, { name: 'revoke', cidr: shortcut.cidr, cluster: shortcut.cluster, breakGlass: false }, []);
      case 'extend': {
        const { subject } = shortcut;
        return subject.type === 'entry'
          ? this.submit({ ...base, text: `extend ${subject.cidr} --cluster ${shortcut.cluster}` }, { name: 'extend', cidr: subject.cidr, cluster: shortcut.cluster }, [])
          : this.submit({ ...base, text: `user extend ${subject.user} --cluster ${shortcut.cluster}` }, { name: 'user extend', user: subject.user, cluster: shortcut.cluster }, []);
      }
      case 'rotate':
        return this.submit({ ...base, text: `user rotate ${shortcut.user} --cluster ${shortcut.cluster}` }, { name: 'user rotate', user: shortcut.user, cluster: shortcut.cluster }, []);
      case 'resend':
        return this.connect({ ...base, text: `connect ${shortcut.user} --cluster ${shortcut.cluster}` }, { name: 'connect', user: shortcut.user, cluster: shortcut.cluster });
    }
  }

  /**
   * Asks the worker to publish `user`'s Home tab: they opened it (`opened`), or clicked on it
   * (`notice`: the answer). `id`: the Slack event or click, so a redelivery publishes once.
   */
  async publishHome(user: string, id: string, { opened = false, notice }: { opened?: boolean; notice?: string } = {}): Promise<void> {
    const jobId = `home-${id}`;
    await this.o.intake.enqueue({ type: 'home', id: jobId, user, ...(opened ? { opened } : {}), ...(notice !== undefined ? { notice } : {}) }, jobId);
  }

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  private async read(input: SlashCommandInput, command: Extract<ParsedCommand, { name: 'allowlist' | 'check' | 'users' }>): Promise<Message> {
    const cluster = this.cluster(command.cluster, rebuild(input.text));
    if ('refused' in cluster) return cluster.refused;
    const id = `read-${input.triggerId ?? `${input.user}-${Date.now()}`}`;
    const job: Job = {
      type: 'read',
      id,
      command: command.name,
      cluster: cluster.alias,
      requester: input.user,
      ...(command.name === 'check' ? { ip: command.ip } : {}),
      ...(input.responseUrl !== undefined ? { responseUrl: input.responseUrl } : {}),
    };
    await this.o.intake.enqueue(job, id);
    const what = command.name === 'check' ? `whether \`${command.ip}\` is allowed` : command.name === 'users' ? 'the SQL users' : 'the allowlist';
    return textMessage(`Looking up ${what} on \`${cluster.alias}\`…`);
  }

  private async connect(input: SlashCommandInput, command: Extract<ParsedCommand, { name: 'connect' }>): Promise<Message> {
    const cluster = this.cluster(command.cluster, rebuild(input.text));
    if ('refused' in cluster) return cluster.refused;
    let user = command.user;
    if (user === undefined) {
      const mine = (await this.o.store.listManagedUsers(cluster.alias)).filter((u) => u.owner === input.user);
      const [first, ...more] = mine;
      if (first === undefined) {
        return refusalMessage(`You have no SQL user on \`${cluster.alias}\` yet.`, `${this.o.commandName} user create ${suggestName(input.user)} --cluster ${cluster.alias}`);
      }
      if (more.length > 0) {
        return refusalMessage(`You own several users on \`${cluster.alias}\` (${mine.map((u) => u.user).join(', ')}); name one.`, `${this.o.commandName} connect ${first.user} --cluster ${cluster.alias}`);
      }
      user = first.user;
    }
    const managed = await this.o.store.getManagedUser(cluster.alias, user);
    if (managed === undefined) {
      return refusalMessage(`\`${user}\` is not a user the bot manages on \`${cluster.alias}\`.`, `${this.o.commandName} users --cluster ${cluster.alias}`);
    }
    if (managed.owner !== input.user && !(await this.o.access.isAdmin(input.user))) {
      this.o.logger.warn({ event: 'connect.refused', user: input.user, cluster: cluster.alias, sqlUser: user, owner: managed.owner }, 'connect refused: not the owner');
      return refusalMessage(`Only <@${managed.owner}>, who owns \`${user}\`, or an admin can get its connection details.`);
    }
    const id = `connect-${input.triggerId ?? `${input.user}-${Date.now()}`}`;
    const job: Job = {
      type: 'connect',
      id,
      requester: input.user,
      cluster: cluster.alias,
      user,
      ...(command.database !== undefined ? { database: command.database } : {}),
      ...(command.region !== undefined ? { region: command.region } : {}),
      ...(command.format !== undefined ? { format: command.format } : {}),
      ...(input.responseUrl !== undefined ? { responseUrl: input.responseUrl } : {}),
    };
    await this.o.intake.enqueue(job, id);
    return textMessage(`Sending the connection details of \`${user}\` on \`${cluster.alias}\` to your DMs…`);
  }

  private async audit(input: SlashCommandInput, alias: string | undefined): Promise<Message> {
    if (!(await this.o.access.isAdmin(input.user))) {
      this.o.logger.warn({ event: 'command.unauthorised', user: input.user, command: 'audit' }, 'command refused: not an admin');
      return refusalMessage('Only crdb-chatops admins can run the audit.');
    }
    if (alias !== undefined && !this.byAlias.has(alias)) return refusalMessage(`There is no cluster \`${alias}\`; configured: ${this.aliases()}.`, `${this.o.commandName} audit`);
    const id = `audit-${input.triggerId ?? `${input.user}-${Date.now()}`}`;
    await this.o.intake.enqueue({ type: 'audit', id, requester: input.user, ...(alias !== undefined ? { cluster: alias } : {}), ...(input.responseUrl !== undefined ? { responseUrl: input.responseUrl } : {}) }, id);
    return textMessage(`Running the audit${alias ? ` of \`${alias}\`` : ''}; the report follows here.`);
  }

  private async requests(user: string): Promise<Message> {
    const [mine, approverOf, pending] = await Promise.all([this.o.store.listByRequester(user, 10), this.o.access.approverClusters(user), this.o.store.listPending()]);
    const toDecide = pending.filter((r) => approverOf.includes(r.cluster) && r.requester !== user && !r.approvals.some((a) => a.by === user));
    const line = (r: ChatRequest) => `• \`${r.id}\` ${summary(r)} on \`${r.cluster}\` — *${r.status}*${r.status === 'pending' ? ` (${r.approvals.length}/${r.quorum})` : ''}`;
    // Decided but not done (or done but not yet told): the bot still owes these an outcome.
    const unfinished = mine.filter((r) => isOpen(r));
    const since = (r: ChatRequest) => (r.step === 'propagating' ? ' — waiting for the allowlist to propagate' : ` — since ${r.createdAt.replace('T', ' ').slice(0, 16)} UTC; the bot picks it up again by itself`);
    const parts = [
      `*Waiting for your decision* (${toDecide.length})`,
      ...(toDecide.length ? toDecide.map((r) => `${line(r)} from <@${r.requester}>`) : ['_nothing_']),
      ...(unfinished.length ? [`*Your unfinished requests* (${unfinished.length})`, ...unfinished.map((r) => `${line(r)}${since(r)}`)] : []),
      `*Your recent requests*`,
      ...(mine.length ? mine.map(line) : ['_none yet_']),
    ];
    return markdownMessage(parts.join('\n'));
  }

  private clustersMessage(): Message {
    const lines = this.o.clusters.map((c) => {
      const p = c.policy;
      const approval = p.approveAll ? 'every change needs approval' : `${p.autoApproveSingleHost ? 'single hosts apply at once' : 'every entry needs approval'}${p.userCreateNeedsApproval ? ', new users need approval' : ''}`;
      return [
        `*\`${c.alias}\`* — ${c.backend === 'cloud' ? 'CockroachDB Cloud' : c.dialect === 'postgres' ? 'self-hosted PostgreSQL' : 'self-hosted CockroachDB'}${c.description ? `: ${escapeText(c.description)}` : ''}`,
        `   ${approval}; broader than /${p.minPrefix} needs ${p.quorum.high} approvals; 0.0.0.0/0 ${p.allowOpen ? `allowed with ${p.quorum.high} approvals` : 'never allowed'}; --for at most ${formatDuration(p.maxFor)}${p.defaultFor ? `, default ${formatDuration(p.defaultFor)}` : ''}${c.approversChannel ? `; approvals in <#${c.approversChannel}>` : ''}`,
      ].join('\n');
    });
    return markdownMessage(lines.join('\n'));
  }
}


function toParams(command: Extract<ParsedCommand, { name: ChangeCommandName }>, cluster: ClusterConfig): RequestParams {
  switch (command.name) {
    case 'allow':
      return {
        kind: 'allow',
        allow: {
          cidr: command.network.cidr,
          sql: command.access.sql,
          ui: command.access.ui,
          ...(command.forMs !== undefined ? { forMs: command.forMs } : {}),
          ...(command.label !== undefined ? { label: command.label } : {}),
          ...(command.network.normalisedFrom !== undefined ? { normalisedFrom: command.network.normalisedFrom } : {}),
        },
      };
    case 'revoke':
      return { kind: 'revoke', revoke: { cidr: command.cidr } };
    case 'user create':
      return { kind: 'user-create', userCreate: { user: command.user, database: command.database ?? cluster.defaultDatabase, ...(command.forMs !== undefined ? { forMs: command.forMs } : {}) } };
    case 'user rotate':
      return { kind: 'user-rotate', user: { user: command.user } };
    case 'user delete':
      return { kind: 'user-delete', user: { user: command.user } };
    case 'extend':
      return { kind: 'extend', extend: { subject: { type: 'entry', cidr: command.cidr }, forMs: command.forMs ?? defaultExtension(cluster.policy) } };
    case 'user extend':
      return { kind: 'extend', extend: { subject: { type: 'user', user: command.user }, forMs: command.forMs ?? defaultExtension(cluster.policy) } };
  }
}

/** The typed text, whitespace-normalised, for examples that append a flag. */
function rebuild(text: string): string {
  return text.trim().replace(/\s+/g, ' ');
}

function suggestName(slackUser: string): string {
  return `u_${slackUser.toLowerCase()}`;
}

