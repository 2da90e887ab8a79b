/**
 * The `/crdb` command grammar. One declarative definition per command drives the parser, the
 * corrected examples in refusals and the help text (`./help`): a flag added here is parsed,
 * validated, suggested and documented without another edit.
 *
 * Parsing never throws on user input and never half-succeeds: the result is either a fully typed,
 * normalised command with user-facing notes, or a one-line reason plus a complete corrected
 * command line that itself parses.
 *
 * All text returned here is plain text with backtick code spans; escape it (`escapeMrkdwn`) before
 * putting it in a Slack mrkdwn field, because it echoes what the requester typed.
 */
import { CONNECTION_FORMAT_IDS, type ConnectionFormatId } from '../cluster-admin/connection-formats';
import { shownInput } from '../cluster-admin/display';
import { InvalidInputError } from '../cluster-admin/errors';
import { NETWORK_EXAMPLES, parseIpv4Address, parseIpv4Network, type ParsedNetwork } from '../cluster-admin/network';
import { validateObjectName, validateUserName } from '../cluster-admin/sql-names';
import { type Cidr } from '../cluster-admin/types';
import { parseDuration } from '../config';

// ---------------------------------------------------------------------------------------------
// Parsed commands: what callers switch on

/** `help [command]`. */
export interface HelpCommand {
  readonly name: 'help';
  /** What the requester asked about, lowercased, words separated by one space; may name no command. */
  readonly topic?: string;
}

/** `clusters`. */
export interface ClustersCommand {
  readonly name: 'clusters';
}

/** `allow <ipv4[/mask]> ...`: request an allowlist entry. */
export interface AllowCommand {
  readonly name: 'allow';
  /** Normalised network; `normalisedFrom` is set when host bits were cleared. */
  readonly network: ParsedNetwork;
  /** What the entry opens; `--sql` (the default) is `{ sql: true, ui: false }`. */
  readonly access: { readonly sql: boolean; readonly ui: boolean };
  /** Set by `--for`: the entry is temporary and expires this long after it is applied. */
  readonly forMs?: number;
  /** `--name`: the requester's label for the entry. */
  readonly label?: string;
  /** `--cluster` alias, not yet checked against the configuration. */
  readonly cluster?: string;
  readonly reason?: string;
  /** `--break-glass`: apply at once if policy lets this requester; always comes with `reason`. */
  readonly breakGlass: boolean;
}

/** `allow me ...`: a one-time link that authorizes the network the browser opening it is on. */
export interface AllowMeCommand {
  readonly name: 'allow me';
  readonly access: { readonly sql: boolean; readonly ui: boolean };
  readonly forMs?: number;
  readonly cluster?: string;
  readonly reason?: string;
}

/** `allowlist [--cluster c]`. */
export interface AllowlistCommand {
  readonly name: 'allowlist';
  readonly cluster?: string;
}

/** `check <ipv4>`: is this address allowed, and by which entry. */
export interface CheckCommand {
  readonly name: 'check';
  /** Normalised dotted quad. */
  readonly ip: string;
  readonly cluster?: string;
}

/** `revoke <cidr>`: remove an allowlist entry. */
export interface RevokeCommand {
  readonly name: 'revoke';
  /** Normalised CIDR; a bare address is its `/32`. */
  readonly cidr: Cidr;
  readonly cluster?: string;
  readonly reason?: string;
  readonly breakGlass: boolean;
}

/** `user create <name>`. */
export interface UserCreateCommand {
  readonly name: 'user create';
  /** Validated SQL user name (CockroachDB's rules, reserved names refused). */
  readonly user: string;
  /** Validated database name; absent means the cluster's default database. */
  readonly database?: string;
  /** Set by `--for`: the user is temporary. */
  readonly forMs?: number;
  readonly cluster?: string;
  readonly reason?: string;
  readonly breakGlass: boolean;
}

/** `user rotate <name>`. */
export interface UserRotateCommand {
  readonly name: 'user rotate';
  readonly user: string;
  readonly cluster?: string;
}

/** `user delete <name>`. */
export interface UserDeleteCommand {
  readonly name: 'user delete';
  readonly user: string;
  readonly cluster?: string;
  readonly reason?: string;
  readonly breakGlass: boolean;
}

/** `extend <cidr>`: keep a temporary allowlist entry of yours longer. */
export interface ExtendCommand {
  readonly name: 'extend';
  readonly cidr: Cidr;
  /** `--for`: how long from now; absent: the cluster's default extension. */
  readonly forMs?: number;
  readonly cluster?: string;
  readonly reason?: string;
}

/** `user extend <name>`: keep a temporary SQL user of yours longer. */
export interface UserExtendCommand {
  readonly name: 'user extend';
  readonly user: string;
  readonly forMs?: number;
  readonly cluster?: string;
  readonly reason?: string;
}

/** `users [--cluster c]`. */
export interface UsersCommand {
  readonly name: 'users';
  readonly cluster?: string;
}

/** `connect [user] ...`: DM the connection details again. */
export interface ConnectCommand {
  readonly name: 'connect';
  /** Absent: the requester's own user (the caller decides which). */
  readonly user?: string;
  readonly database?: string;
  readonly region?: string;
  /** Absent: every format. */
  readonly format?: ConnectionFormatId;
  readonly cluster?: string;
}

/** `requests`. */
export interface RequestsCommand {
  readonly name: 'requests';
}

/** `audit [--cluster c]`. */
export interface AuditCommand {
  readonly name: 'audit';
  readonly cluster?: string;
}

export interface ParseOptions {
  /** The slash command as configured, e.g. `/crdb`; used in examples and accepted as a prefix. */
  readonly commandName?: string;
}

/** A command that parsed, with user-facing lines worth showing (host bits cleared, private range...). */
export interface ParseSuccess {
  readonly ok: true;
  readonly command: ParsedCommand;
  readonly notes: readonly string[];
}

/** A refusal: nothing was parsed, nothing should change. */
export interface ParseFailure {
  readonly ok: false;
  /** One line, at most 200 characters: what is wrong. */
  readonly reason: string;
  /** A complete command line (with the command name) that parses, built from the input where possible. */
  readonly example: string;
}

export type ParseResult = ParseSuccess | ParseFailure;

export const DEFAULT_COMMAND_NAME = '/crdb';

// ---------------------------------------------------------------------------------------------
// Definitions: the vocabulary

/** What a value kind parses to. The parser and the types both read this table. */
interface KindValues {
  network: ParsedNetwork;
  ipv4: string;
  cidr: Cidr;
  user: string;
  database: string;
  duration: number;
  cluster: string;
  region: string;
  label: string;
  reason: string;
  format: ConnectionFormatId;
  topic: string;
}

/** The kinds of value an argument or option takes; each has one validator below. */
export type ValueKind = keyof KindValues;

/** A positional argument. */
export interface PositionalSpec {
  /** Key in the values handed to `build`. */
  readonly key: string;
  readonly kind: ValueKind;
  readonly required: boolean;
  /** Takes every remaining argument, joined by a space (only `help`'s topic). */
  readonly rest?: boolean;
  /** As shown in usage lines, e.g. `ipv4[/mask]`. */
  readonly display: string;
  /** What it is, for "needs ..." reasons: `an IPv4 address or CIDR`. */
  readonly noun: string;
  readonly summary: string;
  /** A valid value, used when a corrected example needs one. */
  readonly example: string;
}

/** `--flag value` or `--flag=value`. */
export interface ValueFlagSpec {
  readonly type: 'value';
  /** The flag's name without dashes; also its key in the values. */
  readonly key: string;
  readonly kind: ValueKind;
  /** As shown in usage lines: `--for 8h`. */
  readonly metavar: string;
  readonly summary: string;
  /** A valid value to put in a corrected example; absent: drop the flag instead. */
  readonly example?: string;
  /** Names people reach for that mean this flag (`--db`): suggested, never accepted silently. */
  readonly aliases?: readonly string[];
}

/** `--flag` on its own. */
export interface SwitchFlagSpec {
  readonly type: 'switch';
  readonly key: string;
  readonly summary: string;
  /** Key of a value flag that must be present too. */
  readonly requires?: string;
  readonly aliases?: readonly string[];
}

/** Mutually exclusive switches that set one value (`--sql | --ui | --both`). */
export interface ChoiceFlagSpec {
  readonly type: 'choice';
  readonly key: string;
  readonly choices: ReadonlyArray<{ readonly name: string; readonly summary: string; readonly aliases?: readonly string[] }>;
  readonly default: string;
  readonly summary: string;
  /** The single choice that covers two conflicting ones, for the corrected example. */
  readonly merge: (a: string, b: string) => string;
}

export type FlagSpec = ValueFlagSpec | SwitchFlagSpec | ChoiceFlagSpec;

export type CommandGroup = 'Access' | 'Users' | 'Info';

/** One command: the parser, the corrected examples and the help all come from this. */
export interface CommandDefinition<C extends { readonly name: string } = ParsedCommand> {
  /** One or two words: `allow`, `user create`. */
  readonly name: C['name'];
  readonly words: readonly string[];
  readonly group: CommandGroup;
  readonly summary: string;
  readonly description: string;
  readonly positionals: readonly PositionalSpec[];
  readonly flags: readonly FlagSpec[];
  /** Command lines without the slash command (`allow 203.0.113.7`); the first is the fallback example. */
  readonly examples: readonly string[];
  /** Turns validated values (keys from the specs) into the typed command. */
  readonly build: (values: Readonly<Record<string, unknown>>) => C;
}

type PositionalValue<P> = P extends { readonly kind: infer K extends ValueKind; readonly required: true }
  ? KindValues[K]
  : P extends { readonly kind: infer K extends ValueKind }
    ? KindValues[K] | undefined
    : never;

type FlagValue<F> = F extends { readonly type: 'switch' }
  ? boolean
  : F extends { readonly type: 'choice'; readonly choices: ReadonlyArray<{ readonly name: infer N }> }
    ? N
    : F extends { readonly type: 'value'; readonly kind: infer K extends ValueKind }
      ? KindValues[K] | undefined
      : never;

/** The values `build` receives, derived from the specs so a definition cannot misread its own flags. */
type ValuesOf<P extends readonly PositionalSpec[], F extends readonly FlagSpec[]> = {
  readonly [X in P[number] as X['key']]: PositionalValue<X>;
} & { readonly [X in F[number] as X['key']]: FlagValue<X> };

function defineCommand<const P extends readonly PositionalSpec[], const F extends readonly FlagSpec[], C extends { readonly name: string }>(spec: {
  readonly name: C['name'];
  readonly group: CommandGroup;
  readonly summary: string;
  readonly description: string;
  readonly positionals: P;
  readonly flags: F;
  readonly examples: readonly string[];
  readonly build: (values: ValuesOf<P, F>) => C;
}): CommandDefinition<C> {
  return {
    ...spec,
    words: spec.name.split(' '),
    // The parser fills exactly the keys the specs declare, each with its kind's value type
    // (see `collectValues`), which is what ValuesOf spells out.
    build: (values) => spec.build(values as ValuesOf<P, F>),
  };
}

const CLUSTER_FLAG = {
  type: 'value',
  key: 'cluster',
  kind: 'cluster',
  metavar: 'c',
  summary: 'Cluster alias (see `clusters`); required when several clusters are configured.',
  aliases: ['env', 'environment', 'cl'],
} as const satisfies ValueFlagSpec;

const REASON_FLAG = {
  type: 'value',
  key: 'reason',
  kind: 'reason',
  metavar: '"..."',
  summary: 'Why, for the approvers and the audit trail (one line, at most 300 characters).',
  example: 'why it cannot wait',
  aliases: ['why', 'message', 'msg', 'comment', 'justification', 'because'],
} as const satisfies ValueFlagSpec;

const BREAK_GLASS_FLAG = {
  type: 'switch',
  key: 'break-glass',
  summary: 'Apply at once without waiting for approval, if you may.',
  requires: 'reason',
  aliases: ['emergency', 'urgent', 'force', 'now'],
} as const satisfies SwitchFlagSpec;

const FOR_FLAG = {
  type: 'value',
  key: 'for',
  kind: 'duration',
  metavar: '8h',
  summary: 'Temporary: removed after this long (`30m`, `8h`, `7d`).',
  example: '8h',
  aliases: ['duration', 'ttl', 'expires', 'expire', 'expiry', 'time', 'hours', 'temp', 'temporary'],
} as const satisfies ValueFlagSpec;

const DATABASE_FLAG = {
  type: 'value',
  key: 'database',
  kind: 'database',
  metavar: 'db',
  summary: "Database; default: the cluster's default database.",
  example: 'defaultdb',
  aliases: ['db', 'dbname', 'd'],
} as const satisfies ValueFlagSpec;

const SQL_USER = {
  key: 'user',
  kind: 'user',
  required: true,
  display: 'name',
  noun: 'a SQL user name',
  summary: 'SQL user name: lowercase letters, digits, `_`, `-`, `.`, starting with a letter or `_`.',
  example: 'maxroach',
} as const satisfies PositionalSpec;

const HELP = defineCommand({
  name: 'help',
  group: 'Info',
  summary: 'Usage of every command, or of one, with examples.',
  description: 'Without a command, lists every command. With one, shows its options and examples.',
  positionals: [
    { key: 'topic', kind: 'topic', required: false, rest: true, display: 'command', noun: 'a command', summary: 'The command to explain.', example: 'allow' },
  ],
  flags: [],
  examples: ['help', 'help allow'],
  build: (v): HelpCommand => compact({ name: 'help', topic: v.topic }),
});

const CLUSTERS = defineCommand({
  name: 'clusters',
  group: 'Info',
  summary: 'Configured clusters and their policies.',
  description: 'Lists the clusters this bot manages, their aliases for `--cluster`, and what needs approval on each.',
  positionals: [],
  flags: [],
  examples: ['clusters'],
  build: (): ClustersCommand => ({ name: 'clusters' }),
});

const ACCESS_FLAG = {
  type: 'choice',
  key: 'access',
  choices: [
    { name: 'sql', summary: 'the SQL port (26257)', aliases: ['port'] },
    { name: 'ui', summary: 'the DB Console', aliases: ['console', 'db-console', 'web', 'dashboard'] },
    { name: 'both', summary: 'both', aliases: ['all'] },
  ],
  default: 'sql',
  summary: 'What the entry opens: the SQL port, the DB Console, or both.',
  merge: (a: string, b: string) => (a === b ? a : 'both'),
} as const satisfies ChoiceFlagSpec;

const ALLOW = defineCommand({
  name: 'allow',
  group: 'Access',
  summary: 'Request an allowlist entry for an IPv4 address or network.',
  description:
    'Adds an entry to the cluster\'s IP allowlist, for the SQL port by default. Give the address the cluster sees (your public address, not a private one). With `--for` the entry is temporary and removed when it expires. Broad networks and some clusters need approval first.',
  positionals: [
    {
      key: 'network',
      kind: 'network',
      required: true,
      display: 'ipv4[/mask]',
      noun: 'an IPv4 address or CIDR',
      summary: 'An IPv4 address (a /32) or network in CIDR form; host bits are cleared.',
      example: NETWORK_EXAMPLES.host,
    },
  ],
  flags: [
    ACCESS_FLAG,
    FOR_FLAG,
    {
      type: 'value',
      key: 'name',
      kind: 'label',
      metavar: 'label',
      summary: 'A label for the entry (at most 48 printable characters).',
      aliases: ['label', 'note', 'description', 'desc', 'title'],
    },
    CLUSTER_FLAG,
    REASON_FLAG,
    BREAK_GLASS_FLAG,
  ],
  examples: [
    `allow ${NETWORK_EXAMPLES.host}`,
    `allow ${NETWORK_EXAMPLES.network} --both --for 8h --name "home office"`,
    'allow 198.51.100.25 --cluster prod --reason "on-call laptop" --break-glass',
  ],
  build: (v): AllowCommand =>
    compact({
      name: 'allow',
      network: v.network,
      access: { sql: v.access !== 'ui', ui: v.access !== 'sql' },
      forMs: v.for,
      label: v.name,
      cluster: v.cluster,
      reason: v.reason,
      breakGlass: v['break-glass'],
    }),
});

const ALLOW_ME = defineCommand({
  name: 'allow me',
  group: 'Access',
  summary: 'Allow the network you are on: a one-time link to open on that machine.',
  description:
    'Replies with a link that works once, for 10 minutes. Open it in a browser on the machine to authorize: the page shows the public address it sees and the cluster, and Confirm makes the same request as `allow <that address>` would, from you, through the same policy and approvals. IPv4 only.',
  positionals: [],
  flags: [ACCESS_FLAG, FOR_FLAG, CLUSTER_FLAG, REASON_FLAG],
  examples: ['allow me', 'allow me --for 8h --cluster prod', 'allow me --both --reason "hotel wifi"'],
  build: (v): AllowMeCommand =>
    compact({
      name: 'allow me',
      access: { sql: v.access !== 'ui', ui: v.access !== 'sql' },
      forMs: v.for,
      cluster: v.cluster,
      reason: v.reason,
    }),
});

const ALLOWLIST = defineCommand({
  name: 'allowlist',
  group: 'Access',
  summary: 'List allowlist entries: who asked, expiry, propagation state.',
  description: "Shows the cluster's allowlist as the cluster reports it, with the request behind each entry the bot created.",
  positionals: [],
  flags: [CLUSTER_FLAG],
  examples: ['allowlist', 'allowlist --cluster prod'],
  build: (v): AllowlistCommand => compact({ name: 'allowlist', cluster: v.cluster }),
});

const CHECK = defineCommand({
  name: 'check',
  group: 'Access',
  summary: 'Is this address allowed, and by which entry?',
  description: 'Checks one IPv4 address against the allowlist and names the entries that admit it.',
  positionals: [
    { key: 'ip', kind: 'ipv4', required: true, display: 'ipv4', noun: 'an IPv4 address', summary: 'One IPv4 address.', example: NETWORK_EXAMPLES.host },
  ],
  flags: [CLUSTER_FLAG],
  examples: [`check ${NETWORK_EXAMPLES.host}`, `check ${NETWORK_EXAMPLES.host} --cluster prod`],
  build: (v): CheckCommand => compact({ name: 'check', ip: v.ip, cluster: v.cluster }),
});

const REVOKE = defineCommand({
  name: 'revoke',
  group: 'Access',
  summary: 'Remove an allowlist entry.',
  description: 'Removes the entry for exactly this network. A bare address means its /32 entry.',
  positionals: [
    { key: 'cidr', kind: 'cidr', required: true, display: 'cidr', noun: 'a CIDR', summary: 'The entry\'s network, e.g. `203.0.113.0/24`.', example: NETWORK_EXAMPLES.network },
  ],
  flags: [CLUSTER_FLAG, REASON_FLAG, BREAK_GLASS_FLAG],
  examples: [`revoke ${NETWORK_EXAMPLES.network}`, 'revoke 198.51.100.25/32 --cluster prod --reason "laptop returned"'],
  build: (v): RevokeCommand => compact({ name: 'revoke', cidr: v.cidr, cluster: v.cluster, reason: v.reason, breakGlass: v['break-glass'] }),
});

const USER_CREATE = defineCommand({
  name: 'user create',
  group: 'Users',
  summary: 'Create a SQL user; the password goes to Secrets Manager and reaches you by DM.',
  description:
    'Creates the user with a generated password, stores it in AWS Secrets Manager and DMs you everything needed to connect. The password never appears in a channel. With `--for` the user is temporary.',
  positionals: [SQL_USER],
  flags: [DATABASE_FLAG, FOR_FLAG, CLUSTER_FLAG, REASON_FLAG, BREAK_GLASS_FLAG],
  examples: ['user create maxroach', 'user create reporting --database analytics --for 7d'],
  build: (v): UserCreateCommand =>
    compact({
      name: 'user create',
      user: v.user,
      database: v.database,
      forMs: v.for,
      cluster: v.cluster,
      reason: v.reason,
      breakGlass: v['break-glass'],
    }),
});

const USER_ROTATE = defineCommand({
  name: 'user rotate',
  group: 'Users',
  summary: "Rotate a user's password and DM the new connection details.",
  description: 'Generates a new password, updates the secret and the user, and DMs you the new connection details.',
  positionals: [SQL_USER],
  flags: [CLUSTER_FLAG],
  examples: ['user rotate maxroach'],
  build: (v): UserRotateCommand => compact({ name: 'user rotate', user: v.user, cluster: v.cluster }),
});

const USER_DELETE = defineCommand({
  name: 'user delete',
  group: 'Users',
  summary: "Drop a user and schedule its secret's deletion.",
  description: 'Drops the SQL user and schedules its secret for deletion after the recovery window.',
  positionals: [SQL_USER],
  flags: [CLUSTER_FLAG, REASON_FLAG, BREAK_GLASS_FLAG],
  examples: ['user delete maxroach', 'user delete maxroach --reason "left the team"'],
  build: (v): UserDeleteCommand =>
    compact({ name: 'user delete', user: v.user, cluster: v.cluster, reason: v.reason, breakGlass: v['break-glass'] }),
});

const EXTEND_FOR_FLAG = {
  ...FOR_FLAG,
  summary: "How long from now it stays (`30m`, `8h`, `7d`); default: the cluster's `defaultFor`, else 8h (never past `maxFor`).",
} as const satisfies ValueFlagSpec;

const EXTEND = defineCommand({
  name: 'extend',
  group: 'Access',
  summary: 'Keep a temporary allowlist entry of yours longer.',
  description: 'Moves the expiry of an entry you asked for to this long from now, through the same policy (and approvals) as allowing it for that long.',
  positionals: [
    { key: 'cidr', kind: 'cidr', required: true, display: 'cidr', noun: 'a CIDR', summary: 'The entry\'s network, e.g. `203.0.113.7/32`.', example: NETWORK_EXAMPLES.host },
  ],
  flags: [EXTEND_FOR_FLAG, CLUSTER_FLAG, REASON_FLAG],
  examples: [`extend ${NETWORK_EXAMPLES.host}`, `extend ${NETWORK_EXAMPLES.host}/32 --for 4h --cluster prod`],
  build: (v): ExtendCommand => compact({ name: 'extend', cidr: v.cidr, forMs: v.for, cluster: v.cluster, reason: v.reason }),
});

const USER_EXTEND = defineCommand({
  name: 'user extend',
  group: 'Users',
  summary: 'Keep a temporary SQL user of yours longer.',
  description: 'Moves the expiry of a temporary user you own to this long from now (its `VALID UNTIL` too, on self-hosted clusters), through the same policy as creating it for that long.',
  positionals: [SQL_USER],
  flags: [EXTEND_FOR_FLAG, CLUSTER_FLAG, REASON_FLAG],
  examples: ['user extend maxroach', 'user extend maxroach --for 2d'],
  build: (v): UserExtendCommand => compact({ name: 'user extend', user: v.user, forMs: v.for, cluster: v.cluster, reason: v.reason }),
});

const USERS = defineCommand({
  name: 'users',
  group: 'Users',
  summary: 'Users the bot manages and their owners.',
  description: 'Lists the SQL users this bot created on the cluster, who owns each, and when temporary ones expire.',
  positionals: [],
  flags: [CLUSTER_FLAG],
  examples: ['users', 'users --cluster prod'],
  build: (v): UsersCommand => compact({ name: 'users', cluster: v.cluster }),
});

const CONNECT = defineCommand({
  name: 'connect',
  group: 'Users',
  summary: 'DM the connection details again.',
  description: 'DMs the host per region, port, database, user, password and ready-to-paste connection strings.',
  positionals: [{ ...SQL_USER, required: false, display: 'user', summary: 'The SQL user; default: yours.' }],
  flags: [
    DATABASE_FLAG,
    { type: 'value', key: 'region', kind: 'region', metavar: 'r', summary: 'Only this region\'s host.', aliases: ['r', 'host', 'location'] },
    {
      type: 'value',
      key: 'format',
      kind: 'format',
      metavar: 'f',
      summary: `Only this format: ${CONNECTION_FORMAT_IDS.join(', ')}.`,
      example: 'psql',
      aliases: ['f', 'fmt', 'as', 'output', 'client', 'driver'],
    },
    CLUSTER_FLAG,
  ],
  examples: ['connect', 'connect maxroach --format psql', 'connect maxroach --database analytics --region us-east1 --format jdbc'],
  build: (v): ConnectCommand =>
    compact({ name: 'connect', user: v.user, database: v.database, region: v.region, format: v.format, cluster: v.cluster }),
});

const REQUESTS = defineCommand({
  name: 'requests',
  group: 'Info',
  summary: 'Pending requests you made or may approve.',
  description: 'Lists pending requests you made and those waiting for your approval.',
  positionals: [],
  flags: [],
  examples: ['requests'],
  build: (): RequestsCommand => ({ name: 'requests' }),
});

const AUDIT = defineCommand({
  name: 'audit',
  group: 'Info',
  summary: 'Run the allowlist and user audit now.',
  description: 'Runs the scheduled audit at once: open or broad entries, drift, expired entries, users without a secret.',
  positionals: [],
  flags: [CLUSTER_FLAG],
  examples: ['audit', 'audit --cluster prod'],
  build: (v): AuditCommand => compact({ name: 'audit', cluster: v.cluster }),
});

const DEFINITION_LIST = [HELP, CLUSTERS, ALLOW, ALLOW_ME, ALLOWLIST, CHECK, REVOKE, EXTEND, USER_CREATE, USER_ROTATE, USER_EXTEND, USER_DELETE, USERS, CONNECT, REQUESTS, AUDIT] as const;

/** Every command the bot understands, as a discriminated union on `name`. */
export type ParsedCommand = ReturnType<(typeof DEFINITION_LIST)[number]['build']>;
export type CommandName = ParsedCommand['name'];

/** Every command definition, in help order within each group. */
export const COMMAND_DEFINITIONS: ReadonlyArray<CommandDefinition> = DEFINITION_LIST;

export const COMMAND_GROUPS: readonly CommandGroup[] = ['Access', 'Users', 'Info'];

/**
 * Words people type for a command that has another name. Suggested in the corrected example,
 * never accepted silently: a typed command does exactly what it says or nothing.
 */
const COMMAND_SYNONYMS: Readonly<Record<string, CommandName>> = {
  add: 'allow',
  permit: 'allow',
  grant: 'allow',
  open: 'allow',
  list: 'allowlist',
  ls: 'allowlist',
  whitelist: 'allowlist',
  entries: 'allowlist',
  remove: 'revoke',
  rm: 'revoke',
  unallow: 'revoke',
  disallow: 'revoke',
  deny: 'revoke',
  cluster: 'clusters',
  create: 'user create',
  prolong: 'extend',
  renew: 'extend',
  rotate: 'user rotate',
  conn: 'connect',
  connection: 'connect',
  credentials: 'connect',
  creds: 'connect',
  pending: 'requests',
  approvals: 'requests',
  usage: 'help',
  man: 'help',
  '?': 'help',
};

/** Second words after a group word (`user make bob`). */
const SUBCOMMAND_SYNONYMS: Readonly<Record<string, Readonly<Record<string, CommandName>>>> = {
  user: {
    make: 'user create',
    add: 'user create',
    new: 'user create',
    reset: 'user rotate',
    renew: 'user extend',
    prolong: 'user extend',
    regenerate: 'user rotate',
    password: 'user rotate',
    remove: 'user delete',
    rm: 'user delete',
    drop: 'user delete',
    del: 'user delete',
    destroy: 'user delete',
    list: 'users',
    ls: 'users',
  },
};

/** The definition for a command name such as `allow` or `user create` (case-insensitive). */
export function findCommandDefinition(name: string): CommandDefinition | undefined {
  const wanted = keyword(name).split(/\s+/).filter(Boolean).join(' ');
  return COMMAND_DEFINITIONS.find((d) => d.name === wanted);
}

/**
 * The command someone probably meant by `text` (a synonym, a typo, a two-word command with a
 * wrong second word), or undefined when nothing is close.
 */
export function suggestCommand(text: string): CommandDefinition | undefined {
  const words = keyword(text).split(/\s+/).filter(Boolean);
  const [first, second] = words;
  if (first === undefined) return undefined;
  const exact = findCommandDefinition(words.join(' '));
  if (exact) return exact;
  const synonym = COMMAND_SYNONYMS[first] ?? (second === undefined ? undefined : SUBCOMMAND_SYNONYMS[first]?.[second]);
  if (synonym) return findCommandDefinition(synonym);
  const firstWord = nearest(first, FIRST_WORDS) ?? (COMMAND_DEFINITIONS.some((d) => d.words[0] === first) ? first : undefined);
  if (firstWord === undefined) return undefined;
  const group = COMMAND_DEFINITIONS.filter((d) => d.words[0] === firstWord);
  if (second !== undefined && group.length > 1) {
    const sub = nearest(second, group.map((d) => d.words[1] ?? ''));
    const match = group.find((d) => d.words[1] === sub);
    if (match) return match;
  }
  return group[0];
}

/** Every spelling a flag accepts, with dashes: `--for`, or `--sql`, `--ui`, `--both`. */
export function flagSpellings(flag: FlagSpec): string[] {
  return flag.type === 'choice' ? flag.choices.map((c) => `--${c.name}`) : [`--${flag.key}`];
}

const FIRST_WORDS = [...new Set(COMMAND_DEFINITIONS.map((d) => d.words[0] ?? ''))];

// ---------------------------------------------------------------------------------------------
// Value validation: one function per kind

type Checked<T> = { readonly ok: true; readonly value: T; readonly notes: readonly string[] } | { readonly ok: false; readonly reason: string; readonly fix?: string };

const ALIAS = /^[a-z0-9][a-z0-9-]{0,62}$/;
const MAX_LABEL = 48;
const MAX_REASON = 300;
/** Characters that make a label unreadable or misleading in a list: controls, bidi and zero-width, line breaks. */
const UNPRINTABLE_LABEL = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/u;
/** A reason may carry emoji (ZWJ sequences are format characters) but no line break or control. */
const UNPRINTABLE_REASON = /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}]/u;
const PORT_SUFFIX = /^(\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?):\d{1,5}$/;
/** `1.2.3.4,` from a pasted list; `1.2.3.4.` from the end of a sentence. */
const TRAILING_PUNCTUATION = /[,;.]+$/;

function ok<T>(value: T, notes: readonly string[] = []): Checked<T> {
  return { ok: true, value, notes };
}

function refused(reason: string, fix?: string): { ok: false; reason: string; fix?: string } {
  return fix === undefined ? { ok: false, reason } : { ok: false, reason, fix };
}

/** Runs a cluster-admin validator, turning its refusal into a reason and a fixed value. */
function viaValidator<T>(run: () => T, fix?: (example: string | undefined) => string | undefined): { value: T } | { ok: false; reason: string; fix?: string } {
  try {
    return { value: run() };
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    return refused(error.message, fix ? fix(error.example) : error.example);
  }
}

/** A fix for an address someone typed with a port or trailing punctuation, when that is all that is wrong. */
function addressCleanup(raw: string, accepts: (text: string) => boolean): { reason: string; fix: string } | undefined {
  const port = PORT_SUFFIX.exec(raw);
  if (port?.[1] !== undefined && accepts(port[1])) {
    return { reason: `\`${shown(raw, 40)}\` includes a port; allowlist entries are addresses only.`, fix: port[1] };
  }
  const trimmed = raw.replace(TRAILING_PUNCTUATION, '');
  if (trimmed !== raw && accepts(trimmed)) {
    return { reason: `\`${shown(raw, 40)}\` has trailing punctuation; give one address per command.`, fix: trimmed };
  }
  return undefined;
}

function succeeds(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}

function networkNotes(network: ParsedNetwork): string[] {
  return network.normalisedFrom === undefined ? [] : [`\`${network.normalisedFrom}\` has host bits set; using \`${network.cidr}\`.`];
}

/**
 * Warnings for networks a managed (Cloud) cluster never sees connections from: private and
 * reserved ranges. Not part of parsing: on a self-hosted cluster such a network is ordinary, so
 * the caller decides, knowing the cluster.
 */
export function rangeWarnings(network: ParsedNetwork): string[] {
  const single = network.prefixLength === 32;
  const shownAs = single ? network.address : network.cidr;
  const warnings: string[] = [];
  if (network.flags.includes('private')) {
    warnings.push(
      single
        ? `\`${shownAs}\` is a private address: the cluster sees your public address, not this one.`
        : `\`${shownAs}\` is a private range: the cluster sees your public address, not one in this range.`,
    );
  }
  if (network.flags.includes('reserved')) {
    warnings.push(
      `\`${shownAs}\` is ${single ? 'a reserved address' : 'in reserved address space'} (loopback, link-local, documentation or similar): no client reaches the cluster from there.`,
    );
  }
  return warnings;
}

function checkNetwork(raw: string): Checked<ParsedNetwork> {
  const cleanup = addressCleanup(raw, (text) => succeeds(() => parseIpv4Network(text)));
  if (cleanup) return refused(cleanup.reason, cleanup.fix);
  const parsed = viaValidator(() => parseIpv4Network(raw));
  if (!('value' in parsed)) return parsed;
  const network = parsed.value;
  return ok(network, networkNotes(network));
}

function checkAddress(raw: string): Checked<string> {
  const cleanup = addressCleanup(raw, (text) => succeeds(() => parseIpv4Address(text)));
  if (cleanup) return refused(cleanup.reason, cleanup.fix);
  if (raw.includes('/')) {
    const network = viaValidator(() => parseIpv4Network(raw));
    if (!('value' in network)) return network;
    // `a.b.c.d/32` is one address written as a network: nothing to refuse.
    if (network.value.prefixLength === 32) return ok(network.value.address, networkNotes(network.value));
    const typed = raw.slice(0, raw.indexOf('/'));
    return refused(`\`check\` takes one address, not a network like \`${shown(raw, 40)}\`.`, parseIpv4Address(typed));
  }
  const parsed = viaValidator(() => parseIpv4Address(raw));
  if (!('value' in parsed)) return parsed;
  return ok(parsed.value);
}

function checkCidr(raw: string): Checked<Cidr> {
  const cleanup = addressCleanup(raw, (text) => succeeds(() => parseIpv4Network(text)));
  if (cleanup) return refused(cleanup.reason, cleanup.fix);
  const parsed = viaValidator(() => parseIpv4Network(raw));
  if (!('value' in parsed)) return parsed;
  const network = parsed.value;
  return ok(network.cidr, network.normalisedFrom === undefined ? [] : [`\`${network.normalisedFrom}\` has host bits set; using \`${network.cidr}\`.`]);
}

function checkUser(raw: string): Checked<string> {
  const parsed = viaValidator(() => validateUserName(raw));
  return 'value' in parsed ? ok(parsed.value) : parsed;
}

function checkDatabase(raw: string): Checked<string> {
  // validateObjectName's own example is always `defaultdb`; a lowercased version of what was typed is a better one.
  const derived = raw
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '_')
    .replace(/^[^a-z_]+/, '');
  const parsed = viaValidator(
    () => validateObjectName(raw, 'database'),
    (example) => (succeeds(() => validateObjectName(derived, 'database')) ? derived : example),
  );
  return 'value' in parsed ? ok(parsed.value) : parsed;
}

const UNIT_WORDS: Readonly<Record<string, number>> = {
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  wk: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};
const LOOSE_DURATION = /^(\d{1,6}(?:[.,]\d{1,3})?)\s*([a-z]*)$/;

/** `8 hours`, `1.5h`, `2w`, `8H` → the canonical `8h`, `90m`, `14d`; undefined when unsure. */
function canonicalDuration(text: string): string | undefined {
  const match = LOOSE_DURATION.exec(keyword(text).trim());
  if (!match) return undefined;
  const [, amount = '', unit = ''] = match;
  // A bare number is almost always hours ("for 8"): suggest it, the requester sees the example.
  const unitMs = unit === '' ? UNIT_WORDS.h : UNIT_WORDS[unit];
  if (unitMs === undefined) return undefined;
  const ms = Number(amount.replace(',', '.')) * unitMs;
  if (!(ms >= 60_000)) return undefined;
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return `${Math.ceil(ms / 60_000)}m`;
}

function checkDuration(raw: string, subject: string): Checked<number> {
  const ms = parseDuration(raw);
  if (ms !== undefined && Number.isSafeInteger(ms)) return ok(ms);
  if (ms !== undefined) return refused(`\`${subject} ${shown(raw, 20)}\` is too long.`);
  if (/^\s*0+\s*[mhd]\s*$/.test(raw)) return refused(`\`${subject}\` must be longer than zero.`);
  const fix = canonicalDuration(raw);
  if (fix !== undefined && /^\d+(?:[.,]\d+)?$/.test(raw.trim())) return refused(`\`${subject} ${shown(raw, 20)}\` needs a unit, like \`${fix}\`.`, fix);
  return refused(`\`${shown(raw, 30)}\` is not a duration; write it like \`30m\`, \`8h\` or \`7d\`.`, fix);
}

function aliasLike(what: string): (raw: string) => Checked<string> {
  return (raw) => {
    if (ALIAS.test(raw)) return ok(raw);
    const derived = raw
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+/, '')
      .slice(0, 63);
    return refused(`\`${shown(raw, 40)}\` is not a ${what}: lowercase letters, digits and \`-\`.`, ALIAS.test(derived) ? derived : undefined);
  };
}

function freeText(what: string, max: number, unprintable: RegExp): (raw: string) => Checked<string> {
  return (raw) => {
    const text = raw.trim();
    if (unprintable.test(text)) {
      const cleaned = cut(text.replace(new RegExp(unprintable.source, 'gu'), ' ').replace(/ {2,}/g, ' ').trim(), max);
      return refused(`${what} must be printable text on one line.`, cleaned === '' ? undefined : cleaned);
    }
    const length = Array.from(text).length;
    if (length > max) return refused(`${what} is at most ${max} characters; this one has ${length}.`, cut(text, max).trim());
    if (text === '') return refused(`${what} is empty.`);
    return ok(text);
  };
}

function checkFormat(raw: string): Checked<ConnectionFormatId> {
  const wanted = keyword(raw);
  const id = CONNECTION_FORMAT_IDS.find((f) => f === wanted);
  if (id !== undefined) return ok(id);
  return refused(`\`${shown(raw, 30)}\` is not a connection format; use one of ${CONNECTION_FORMAT_IDS.join(', ')}.`, nearest(wanted, CONNECTION_FORMAT_IDS));
}

const KIND_CHECKS: { readonly [K in ValueKind]: (raw: string, subject: string) => Checked<KindValues[K]> } = {
  network: checkNetwork,
  ipv4: checkAddress,
  cidr: checkCidr,
  user: checkUser,
  database: checkDatabase,
  duration: checkDuration,
  cluster: aliasLike('cluster alias'),
  region: aliasLike('region name'),
  label: freeText('An entry name', MAX_LABEL, UNPRINTABLE_LABEL),
  reason: freeText('A reason', MAX_REASON, UNPRINTABLE_REASON),
  format: checkFormat,
  topic: (raw) => ok(keyword(raw).split(/\s+/).filter(Boolean).join(' ')),
};

/** Kinds whose values are prose: an unquoted value followed by stray words wanted quotes. */
const FREE_TEXT_KINDS: ReadonlySet<ValueKind> = new Set(['label', 'reason']);

// ---------------------------------------------------------------------------------------------
// Slack text: links, entities, quotes, dashes

interface Token {
  readonly text: string;
  /** Started with a quote: never a flag, even if it starts with `--`. */
  readonly quoted: boolean;
}

/** Separators: `\s` covers tabs, NBSP and other Unicode spaces; zero-width spaces come from pastes. */
const SPACE = /[\s\u200B\u2060]/;
const EDGE_SPACE = /^[\s\u200B\u2060]+|[\s\u200B\u2060]+$/g;
const DOUBLE_QUOTES = '"“”„‟';
const SINGLE_QUOTES = "'‘’‚‛";
/** macOS and Slack turn `--` into an em dash; some keyboards give an en dash or a minus sign. */
const DASH_RUN = /^[-—–‒―−]+/;
const ODD_DASH = /[—–‒―−]/;
const LINE_BREAK = /[\n\r\v\f\u0085\u2028\u2029]/g;

type Failure = { readonly ok: false; readonly reason: string; readonly candidate?: string; readonly fallback?: string };

/**
 * Undoes Slack's formatting of command text: `<url|label>` and `<mailto:..|label>` become the
 * label, `&amp;` `&lt;` `&gt;` become `&` `<` `>`. Mentions (`<@U..>`, `<#C..>`, `<!here>`) are
 * refused: no value here is a Slack user or channel. One pass, so `&amp;lt;` stays `&lt;`.
 */
function decodeSlackText(raw: string): { ok: true; text: string } | Failure {
  let mention: string | undefined;
  const text = raw.replace(/<([^<>]*)>|&(amp|lt|gt);/g, (whole, link: string | undefined, entity: string | undefined) => {
    if (entity !== undefined) return ENTITIES[entity] ?? whole;
    const inner = link ?? '';
    const bar = inner.indexOf('|');
    const label = decodeEntities(bar === -1 ? inner : inner.slice(bar + 1));
    if (/^[@#!]/.test(inner)) {
      // Shown as Slack shows it: `@bob`, `#general`, `@here`.
      const sigil = inner.startsWith('#') ? '#' : '@';
      const name = (bar === -1 ? inner.slice(1) : label).replace(/^[@#]/, '');
      mention ??= `${sigil}${name}`;
      return bar === -1 ? '' : name;
    }
    return label;
  });
  if (mention !== undefined) {
    const what = mention.startsWith('#') ? 'a channel link' : 'a Slack mention';
    return { ok: false, reason: `\`${shown(mention, 40)}\` is ${what}; type plain text instead.`, candidate: text };
  }
  return { ok: true, text };
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>' };

function decodeEntities(text: string): string {
  return text.replace(/&(amp|lt|gt);/g, (whole, entity: string) => ENTITIES[entity] ?? whole);
}

function quoteFamily(ch: string | undefined): string | undefined {
  if (ch === undefined || ch === '') return undefined;
  if (DOUBLE_QUOTES.includes(ch)) return DOUBLE_QUOTES;
  if (SINGLE_QUOTES.includes(ch)) return SINGLE_QUOTES;
  return undefined;
}

/** The conventional closing quote for an opening one, for a corrected example. */
function closerFor(open: string): string {
  return ({ '“': '”', '„': '“', '‘': '’', '‚': '‘' } as Record<string, string>)[open] ?? open;
}

/**
 * Splits on whitespace. A quote opens a quoted value only at the start of a token or right after
 * `--flag=`, so apostrophes inside words (`don't`) are just letters; it closes at a quote of the same
 * family (straight or smart) followed by whitespace or the end, so `'it's'` is `it's`.
 */
function tokenize(text: string): { ok: true; tokens: Token[] } | Failure {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (SPACE.test(text.charAt(i))) {
      i += 1;
      continue;
    }
    const start = i;
    let value = '';
    let quoted = false;
    while (i < text.length && !SPACE.test(text.charAt(i))) {
      const ch = text.charAt(i);
      const family = quoteFamily(ch);
      const opensQuote = family !== undefined && (i === start || (value.endsWith('=') && !value.slice(0, -1).includes('=') && DASH_RUN.test(value)));
      if (!opensQuote) {
        value += ch;
        i += 1;
        continue;
      }
      const close = findClosingQuote(text, i + 1, family);
      if (close === -1) return unterminatedQuote(text, start, i);
      // Space just inside quotes never means anything (`“ deploy ”`); trimming here keeps every kind consistent.
      value += text.slice(i + 1, close).replace(EDGE_SPACE, '');
      quoted = i === start;
      i = close + 1;
      break;
    }
    tokens.push({ text: quoted ? value : normaliseDashes(value), quoted });
  }
  return { ok: true, tokens };
}

function findClosingQuote(text: string, from: number, family: string): number {
  for (let j = from; j < text.length; j += 1) {
    if (family.includes(text.charAt(j)) && (j + 1 === text.length || SPACE.test(text.charAt(j + 1)))) return j;
  }
  return -1;
}

function unterminatedQuote(text: string, tokenStart: number, quoteAt: number): Failure {
  const open = text.charAt(quoteAt);
  const rest = text.slice(quoteAt);
  // Close before the next option if there is one: `--reason "fix it --for 8h` meant the reason to end there.
  const nextFlag = /\s+(?:--|[—–])\S/.exec(rest);
  const end = nextFlag ? quoteAt + nextFlag.index : text.trimEnd().length;
  const candidate = `${text.slice(0, end)}${closerFor(open)}${text.slice(end)}`;
  return { ok: false, reason: `The quote in \`${shown(text.slice(tokenStart), 30)}\` is never closed.`, candidate };
}

/** `—for` and `–for` are `--for`, as are `—-for` and other runs mixing dashes. */
function normaliseDashes(token: string): string {
  const run = DASH_RUN.exec(token)?.[0];
  return run !== undefined && ODD_DASH.test(run) ? `--${token.slice(run.length)}` : token;
}

// ---------------------------------------------------------------------------------------------
// Rendering a command line back, for corrected examples

/** The quote pairs tried in order when a value needs quoting. */
const QUOTE_PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['"', '"'],
  ["'", "'"],
  ['“', '”'],
  ['‘', '’'],
];

/** A value as one token: quoted when it has spaces or would otherwise read as a flag or a quote. */
function renderValue(value: string): string {
  const needsQuotes = value === '' || SPACE.test(value) || quoteFamily(value.charAt(0)) !== undefined || DASH_RUN.test(value);
  if (!needsQuotes) return value;
  for (const [open, close] of QUOTE_PAIRS) {
    const family = quoteFamily(open) ?? '';
    const breaksQuote = [...value].some((ch, index, chars) => family.includes(ch) && (index + 1 === chars.length ? false : SPACE.test(chars[index + 1] ?? '')));
    if (!breaksQuote) return `${open}${value}${close}`;
  }
  // Unrepresentable: the caller's verification rejects the example and falls back.
  return `"${value}"`;
}

function renderToken(token: Token): string {
  if (token.quoted) return renderValue(token.text);
  const eq = token.text.indexOf('=');
  return token.text.startsWith('-') && eq !== -1 ? `${token.text.slice(0, eq)}=${renderValue(token.text.slice(eq + 1))}` : token.text;
}

// ---------------------------------------------------------------------------------------------
// Parsing

interface ArgItem {
  readonly type: 'arg';
  readonly value: string;
}

interface FlagItem {
  readonly type: 'flag';
  /** As typed, without dashes: kept for unknown flags so the example shows what was there. */
  readonly spelled: string;
  /** Lowercased, NFKC: what lookups use. */
  readonly name: string;
  readonly singleDash: boolean;
  readonly spec?: FlagSpec;
  /** For a choice flag: which choice. */
  readonly choice?: string;
  readonly value?: string;
  /** Written `--flag=value`. */
  readonly inline: boolean;
}

type Item = ArgItem | FlagItem;

type Analysis = { readonly ok: true; readonly command: ParsedCommand; readonly notes: readonly string[] } | Failure;

const HELP_FLAGS = new Set(['--help', '-h', '-help', '-?']);
const MAX_REPAIRS = 8;
const MAX_REASON_LENGTH = 200;
const COMMAND_NAME = /^\/[a-z0-9_-]+$/;

/**
 * Parses the text of a slash command (as Slack sends it: HTML-escaped, possibly with links, smart
 * quotes and autocorrected dashes). A leading command name (`/crdb allow ...`) is accepted, so a
 * corrected example can be pasted back as is. Never throws on any text.
 * @throws RangeError only when `options.commandName` is not a slash command name (a configuration bug).
 */
export function parseCommand(text: string, options: ParseOptions = {}): ParseResult {
  const commandName = options.commandName ?? DEFAULT_COMMAND_NAME;
  if (!COMMAND_NAME.test(commandName)) throw new RangeError(`Not a slash command name: ${JSON.stringify(commandName)}`);
  const analysis = analyse(text, commandName);
  if (analysis.ok) return { ok: true, command: analysis.command, notes: analysis.notes };
  return { ok: false, reason: oneLine(analysis.reason), example: correctedExample(analysis, commandName) };
}

/**
 * Repairs one problem at a time: each refusal proposes the input with its problem fixed, and the
 * proposal is analysed again until it parses. `alow 10.0.0.1/8 --fro 8 hours` becomes
 * `allow 10.0.0.1/8 --for 8h` over three steps. Anything unrepairable falls back to the command's
 * own first example, or to `help`.
 */
function correctedExample(failure: Failure, commandName: string): string {
  let candidate = failure.candidate;
  let fallback = failure.fallback;
  for (let step = 0; candidate !== undefined && step < MAX_REPAIRS; step += 1) {
    const next = analyse(candidate, commandName);
    if (next.ok && next.command.name === 'help') {
      // Help parses from almost anything (`-h` in a stray fragment, a free-form topic): show a clean one.
      const topic = next.command.topic === undefined ? undefined : findCommandDefinition(next.command.topic)?.name;
      return topic === undefined ? `${commandName} help` : `${commandName} help ${topic}`;
    }
    if (next.ok) {
      const line = canonicalLine(candidate, commandName);
      if (line !== undefined && usableExample(line, commandName)) return line;
      break;
    }
    fallback ??= next.fallback;
    candidate = next.candidate;
  }
  const fromDefinition = fallback === undefined ? undefined : `${commandName} ${fallback}`;
  return fromDefinition !== undefined && usableExample(fromDefinition, commandName) ? fromDefinition : `${commandName} help`;
}

/**
 * A candidate repaired from raw text (an unterminated quote, a mention) keeps the requester's
 * spacing and may lack the command name: re-render it the way every other example looks.
 */
function canonicalLine(text: string, commandName: string): string | undefined {
  const decoded = decodeSlackText(text);
  if (!decoded.ok) return undefined;
  const tokenized = tokenize(decoded.text);
  if (!tokenized.ok) return undefined;
  const [first, ...rest] = tokenized.tokens;
  const tokens = first !== undefined && keyword(first.text) === commandName ? rest : tokenized.tokens;
  if (tokens.length === 0) return `${commandName} help`;
  // Command words as the definitions spell them (`ALLOW` -> `allow`); everything else as typed.
  const words = tokens.slice(0, 2).map((t) => keyword(t.text));
  const definition = findCommandDefinition(words.join(' ')) ?? findCommandDefinition(words[0] ?? '');
  const wordCount = definition?.words.length ?? 0;
  return [commandName, ...(definition?.words ?? []), ...tokens.slice(wordCount).map(renderToken)].join(' ');
}

/** One line, and it parses both as shown and as Slack would deliver it once retyped. */
function usableExample(example: string, commandName: string): boolean {
  if (new RegExp(LINE_BREAK.source).test(example)) return false;
  if (!analyse(example, commandName).ok) return false;
  return !/[<>&]/.test(example) || analyse(slackEscape(example), commandName).ok;
}

function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function analyse(input: string, commandName: string): Analysis {
  const decoded = decodeSlackText(input);
  if (!decoded.ok) return decoded;
  const tokenized = tokenize(decoded.text);
  if (!tokenized.ok) return tokenized;
  let tokens = tokenized.tokens;
  if (tokens[0] !== undefined && keyword(tokens[0].text) === commandName) tokens = tokens.slice(1);
  if (tokens.length === 0) return { ok: true, command: { name: 'help' }, notes: [] };
  // `--help` anywhere asks for help on whatever command precedes it.
  if (tokens.some((t) => !t.quoted && HELP_FLAGS.has(keyword(t.text)))) {
    const words = tokens.filter((t) => !t.text.startsWith('-')).map((t) => keyword(t.text));
    const definition = findCommandDefinition(words.slice(0, 2).join(' ')) ?? findCommandDefinition(words[0] ?? '');
    return { ok: true, command: definition ? { name: 'help', topic: definition.name } : { name: 'help' }, notes: [] };
  }
  const resolved = resolveCommand(tokens, commandName);
  if (!resolved.ok) return resolved;
  return analyseArguments(resolved.definition, resolved.rest, commandName);
}

function resolveCommand(tokens: readonly Token[], commandName: string): { ok: true; definition: CommandDefinition; rest: readonly Token[] } | Failure {
  const [firstToken, secondToken, thirdToken] = tokens;
  const first = keyword(firstToken?.text ?? '');
  const render = (name: string, rest: readonly Token[]): string => [commandName, name, ...rest.map(renderToken)].join(' ');
  const group = COMMAND_DEFINITIONS.filter((d) => d.words[0] === first);
  // A two-word command that shares its first word with a one-word command (`allow me`, `allow`):
  // its exact second word, unquoted, wins.
  const second = secondToken !== undefined && !secondToken.quoted ? keyword(secondToken.text) : undefined;
  const twoWord = second === undefined ? undefined : group.find((d) => d.words.length === 2 && d.words[1] === second);
  if (twoWord !== undefined && group.some((d) => d.words.length === 1)) return { ok: true, definition: twoWord, rest: tokens.slice(2) };
  const single = group.find((d) => d.words.length === 1);
  if (single) {
    // `users create bob`: a plural (or a typo) of a group word followed by one of its subcommands.
    const second = secondToken === undefined ? undefined : keyword(secondToken.text);
    const meant = single.positionals.length === 0 ? COMMAND_DEFINITIONS.find((d) => d.words.length === 2 && d.words[1] === second && nearest(first, [d.words[0] ?? '']) !== undefined) : undefined;
    if (meant !== undefined) {
      return { ok: false, reason: `\`${first} ${second ?? ''}\` is not a command; did you mean \`${meant.name}\`?`, candidate: render(meant.name, tokens.slice(2)), fallback: single.examples[0] ?? 'help' };
    }
    return { ok: true, definition: single, rest: tokens.slice(1) };
  }

  if (group.length > 0) {
    const subcommands = group.map((d) => d.words[1] ?? '');
    const list = subcommands.map((s) => `\`${s}\``).join(', ');
    const fallback = group[0]?.examples[0];
    const withFallback = (failure: Failure): Failure => (fallback === undefined ? failure : { ...failure, fallback });
    if (secondToken === undefined) return withFallback({ ok: false, reason: `\`${first}\` needs a subcommand: ${list}.` });
    const second = keyword(secondToken.text);
    const exact = group.find((d) => d.words[1] === second);
    if (exact) return { ok: true, definition: exact, rest: tokens.slice(2) };
    const synonym = SUBCOMMAND_SYNONYMS[first]?.[second];
    const typo = nearest(second, subcommands);
    const meant = synonym ?? (typo === undefined ? undefined : `${first} ${typo}`);
    if (meant !== undefined) {
      return withFallback({
        ok: false,
        reason: `\`${first} ${shown(secondToken.text, 30)}\` is not a command; did you mean \`${meant}\`?`,
        candidate: render(meant, tokens.slice(2)),
      });
    }
    // `user bob create`: the words in the wrong order.
    const third = thirdToken === undefined ? undefined : keyword(thirdToken.text);
    const swapped = third === undefined ? undefined : (SUBCOMMAND_SYNONYMS[first]?.[third] ?? (subcommands.includes(third) ? `${first} ${third}` : undefined));
    return withFallback({
      ok: false,
      reason: `\`${shown(secondToken.text, 30)}\` is not a \`${first}\` subcommand; use ${list}.`,
      ...(swapped === undefined ? {} : { candidate: render(swapped, [secondToken, ...tokens.slice(3)]) }),
    });
  }

  const synonym = COMMAND_SYNONYMS[first];
  const typo = nearest(first, FIRST_WORDS);
  const meant = synonym ?? typo;
  const typed = shown(firstToken?.text ?? '', 30);
  if (typed.trim() === '') return { ok: false, reason: `Start with a command; see \`${commandName} help\`.` };
  if (meant === undefined) return { ok: false, reason: `\`${typed}\` is not a ${commandName} command; see \`${commandName} help\`.` };
  return {
    ok: false,
    reason: `\`${typed}\` is not a ${commandName} command; did you mean \`${meant}\`?`,
    candidate: render(meant, tokens.slice(1)),
  };
}

function lookupFlag(definition: CommandDefinition, name: string): { spec: FlagSpec; choice?: string } | undefined {
  for (const spec of definition.flags) {
    if (spec.type === 'choice') {
      const choice = spec.choices.find((c) => c.name === name);
      if (choice) return { spec, choice: choice.name };
    } else if (spec.key === name) {
      return { spec };
    }
  }
  return undefined;
}

function toItems(definition: CommandDefinition, tokens: readonly Token[]): Item[] {
  const items: Item[] = [];
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i];
    if (token === undefined) break;
    if (token.quoted || !token.text.startsWith('-')) {
      items.push({ type: 'arg', value: token.text });
      continue;
    }
    const singleDash = !token.text.startsWith('--');
    const body = token.text.slice(singleDash ? 1 : 2);
    const eq = body.indexOf('=');
    const spelled = eq === -1 ? body : body.slice(0, eq);
    const name = keyword(spelled);
    const found = lookupFlag(definition, name);
    let value = eq === -1 ? undefined : body.slice(eq + 1);
    const next = tokens[i + 1];
    // Only a known value flag takes the next token: for an unknown flag we cannot tell.
    if (found?.spec.type === 'value' && value === undefined && next !== undefined && (next.quoted || !next.text.startsWith('-'))) {
      value = next.text;
      i += 1;
    }
    items.push({
      type: 'flag',
      spelled,
      name,
      singleDash,
      inline: eq !== -1,
      ...(found ? { spec: found.spec } : {}),
      ...(found?.choice === undefined ? {} : { choice: found.choice }),
      ...(value === undefined ? {} : { value }),
    });
  }
  return items;
}

function renderItem(item: Item): string {
  if (item.type === 'arg') return renderValue(item.value);
  const name = item.spec ? `--${item.choice ?? item.spec.key}` : `${item.singleDash ? '-' : '--'}${item.spelled}`;
  if (item.value === undefined) return name;
  return item.inline ? `${name}=${renderValue(item.value)}` : `${name} ${renderValue(item.value)}`;
}

function analyseArguments(definition: CommandDefinition, tokens: readonly Token[], commandName: string): Analysis {
  const items = toItems(definition, tokens);
  const fallback = definition.examples[0];
  const fail = (reason: string, repaired?: readonly Item[]): Failure => ({
    ok: false,
    reason,
    ...(repaired === undefined ? {} : { candidate: [commandName, definition.name, ...repaired.map(renderItem)].join(' ') }),
    ...(fallback === undefined ? {} : { fallback }),
  });
  const replaced = (index: number, ...with_: Item[]): Item[] => [...items.slice(0, index), ...with_, ...items.slice(index + 1)];

  const structural = checkFlags(definition, items, replaced);
  if (structural) return fail(structural.reason, structural.repaired);

  const slots = definition.positionals;
  const args = items.filter((item): item is ArgItem => item.type === 'arg');
  const restSlot = slots.some((s) => s.rest === true);
  if (!restSlot && args.length > slots.length) {
    const unquoted = unquotedFreeText(items, args.length - slots.length);
    if (unquoted) return fail(unquoted.reason, unquoted.repaired);
    const extra = args[slots.length];
    const extras = new Set(args.slice(slots.length));
    const takes =
      slots.length === 0
        ? definition.flags.length === 0
          ? 'takes no arguments'
          : 'takes only options'
        : `takes one ${slots.map((s) => `\`<${s.display}>\``).join(' and ')}`;
    return fail(`\`${shown(extra?.value ?? '', 30)}\` is extra: \`${definition.name}\` ${takes}.`, items.filter((item) => !(item.type === 'arg' && extras.has(item))));
  }
  const missing = slots.findIndex((slot, index) => slot.required && args[index] === undefined);
  const missingSlot = slots[missing];
  if (missingSlot) {
    const lastArg = items.findLastIndex((item) => item.type === 'arg');
    const at = lastArg + 1;
    return fail(`\`${definition.name}\` needs ${missingSlot.noun}, like \`${missingSlot.example}\`.`, [
      ...items.slice(0, at),
      { type: 'arg', value: missingSlot.example },
      ...items.slice(at),
    ]);
  }

  const collected = collectValues(definition, items, replaced);
  if (!collected.ok) return fail(collected.reason, collected.repaired);

  for (const [index, item] of items.entries()) {
    if (item.type !== 'flag' || item.spec?.type !== 'switch' || item.spec.requires === undefined) continue;
    const required = item.spec.requires;
    if (items.some((other) => other.type === 'flag' && other.spec?.key === required)) continue;
    const requiredSpec = definition.flags.find((f) => f.key === required);
    const value = requiredSpec?.type === 'value' ? requiredSpec.example : undefined;
    const addition: FlagItem = { type: 'flag', spelled: required, name: required, singleDash: false, inline: false, ...(requiredSpec ? { spec: requiredSpec } : {}), ...(value === undefined ? {} : { value }) };
    return fail(`\`--${item.spec.key}\` needs \`--${required} "..."\` saying why.`, replaced(index, item, addition));
  }

  return { ok: true, command: definition.build(collected.values), notes: collected.notes };
}

type Repair = { readonly reason: string; readonly repaired?: readonly Item[] };

/** Unknown, misspelled, valueless, repeated and conflicting flags, left to right. */
function checkFlags(definition: CommandDefinition, items: readonly Item[], replaced: (index: number, ...with_: Item[]) => Item[]): Repair | undefined {
  const seen = new Map<string, FlagItem>();
  for (const [index, item] of items.entries()) {
    if (item.type !== 'flag') continue;
    const typed = `${item.singleDash ? '-' : '--'}${shown(item.spelled, 30)}`;
    if (item.name === '') return { reason: `\`${typed}\` on its own is not an option.`, repaired: replaced(index) };
    const spec = item.spec;
    if (spec === undefined) return unknownFlag(definition, item, typed, replaced(index, ...suggestedFlag(definition, item)));
    const canonical = `--${item.choice ?? spec.key}`;
    if (item.singleDash) return { reason: `Options start with two dashes: \`${canonical}\`.`, repaired: replaced(index, { ...item, singleDash: false }) };
    if (spec.type !== 'value' && item.value !== undefined) {
      const { value: _dropped, ...bare } = item;
      return { reason: `\`${canonical}\` takes no value.`, repaired: replaced(index, { ...bare, inline: false }) };
    }
    if (spec.type === 'value') {
      if (item.value === undefined || item.value.trim() === '') {
        const { value: _empty, ...bare } = item;
        const hint = spec.example === undefined ? '' : `, like \`${canonical} ${renderValue(spec.example)}\``;
        return {
          reason: `\`${canonical}\` needs a value${hint}.`,
          repaired: spec.example === undefined ? replaced(index) : replaced(index, { ...bare, value: spec.example }),
        };
      }
      const next = items[index + 1];
      // `--for 8 hours`: the unit became a word of its own.
      if (spec.kind === 'duration' && !item.inline && next?.type === 'arg' && /^\d+(?:[.,]\d+)?$/.test(item.value) && UNIT_WORDS[keyword(next.value)] !== undefined) {
        const fix = canonicalDuration(`${item.value}${keyword(next.value)}`);
        if (fix !== undefined) {
          return {
            reason: `Write durations without a space, like \`${canonical} ${fix}\`.`,
            repaired: [...items.slice(0, index), { ...item, value: fix }, ...items.slice(index + 2)],
          };
        }
      }
    }
    const previous = seen.get(spec.key);
    if (previous !== undefined) {
      if (spec.type === 'choice' && previous.choice !== item.choice && previous.choice !== undefined && item.choice !== undefined) {
        const merged = spec.merge(previous.choice, item.choice);
        const previousIndex = items.indexOf(previous);
        const repaired = items.flatMap((other, i) => (i === index ? [] : i === previousIndex ? [{ ...previous, choice: merged }] : [other]));
        const hint = merged === previous.choice || merged === item.choice ? `use \`--${merged}\` alone` : `use \`--${merged}\``;
        return { reason: `\`--${previous.choice}\` and \`--${item.choice}\` cannot be combined; ${hint}.`, repaired };
      }
      return { reason: `\`${canonical}\` is given twice.`, repaired: replaced(index) };
    }
    seen.set(spec.key, item);
  }
  return undefined;
}

/** The same flag with the name it was probably meant to have, or nothing (drop it). */
function suggestedFlag(definition: CommandDefinition, item: FlagItem): Item[] {
  const meant = meantFlag(definition, item.name);
  if (meant === undefined) return [];
  const found = lookupFlag(definition, meant);
  if (!found) return [];
  return [{ ...item, name: meant, spelled: meant, singleDash: false, spec: found.spec, ...(found.choice === undefined ? {} : { choice: found.choice }) }];
}

function meantFlag(definition: CommandDefinition, name: string): string | undefined {
  for (const spec of definition.flags) {
    if (spec.type === 'choice') {
      const choice = spec.choices.find((c) => c.aliases?.includes(name));
      if (choice) return choice.name;
    } else if (spec.aliases?.includes(name)) {
      return spec.key;
    }
  }
  const names = definition.flags.flatMap((spec) => (spec.type === 'choice' ? spec.choices.map((c) => c.name) : [spec.key]));
  return nearest(name, names);
}

function unknownFlag(definition: CommandDefinition, item: FlagItem, typed: string, repaired: readonly Item[]): Repair {
  const meant = meantFlag(definition, item.name);
  if (meant !== undefined) return { reason: `\`${typed}\` is not an option of \`${definition.name}\`; did you mean \`--${meant}\`?`, repaired };
  if (definition.flags.length === 0) return { reason: `\`${definition.name}\` takes no options.`, repaired };
  const elsewhere = COMMAND_DEFINITIONS.some((d) => lookupFlag(d, item.name) !== undefined);
  if (elsewhere) return { reason: `\`${definition.name}\` has no \`--${item.name}\` option.`, repaired };
  return { reason: `\`${typed}\` is not an option of \`${definition.name}\`.`, repaired };
}

/** `--reason deploy the hotfix` left `the hotfix` as stray arguments: they belong inside quotes. */
function unquotedFreeText(items: readonly Item[], extraCount: number): Repair | undefined {
  for (const [index, item] of items.entries()) {
    if (item.type !== 'flag' || item.spec?.type !== 'value' || !FREE_TEXT_KINDS.has(item.spec.kind) || item.value === undefined) continue;
    let followers = 0;
    while (followers < extraCount && items[index + 1 + followers]?.type === 'arg') followers += 1;
    if (followers === 0) continue;
    const words = items.slice(index + 1, index + 1 + followers).map((a) => (a.type === 'arg' ? a.value : ''));
    const value = [item.value, ...words].join(' ');
    const flag = `--${item.spec.key}`;
    return {
      reason: `Put quotes around text with spaces: \`${flag} "${shown(value, 40)}"\`.`,
      repaired: [...items.slice(0, index), { ...item, value }, ...items.slice(index + 1 + followers)],
    };
  }
  return undefined;
}

/** Validates every value in the order typed; fills defaults; gathers notes. */
function collectValues(
  definition: CommandDefinition,
  items: readonly Item[],
  replaced: (index: number, ...with_: Item[]) => Item[],
): { ok: true; values: Record<string, unknown>; notes: string[] } | ({ ok: false } & Repair) {
  const values: Record<string, unknown> = {};
  const notes: string[] = [];
  for (const spec of definition.flags) {
    if (spec.type === 'switch') values[spec.key] = false;
    else if (spec.type === 'choice') values[spec.key] = spec.default;
  }
  const restSlot = definition.positionals.find((s) => s.rest === true);
  if (restSlot) {
    const words = items.filter((item): item is ArgItem => item.type === 'arg').map((a) => a.value);
    const checked = KIND_CHECKS.topic(words.join(' '), restSlot.display);
    if (checked.ok && checked.value !== '') values[restSlot.key] = checked.value;
  }
  let argIndex = 0;
  for (const [index, item] of items.entries()) {
    if (item.type === 'arg') {
      const slot = definition.positionals[argIndex];
      argIndex += 1;
      if (slot === undefined || slot.rest === true) continue;
      const checked = KIND_CHECKS[slot.kind](item.value, `<${slot.display}>`);
      if (!checked.ok) return { ok: false, reason: checked.reason, repaired: replaced(index, { type: 'arg', value: checked.fix ?? slot.example }) };
      values[slot.key] = checked.value;
      notes.push(...checked.notes);
      continue;
    }
    const spec = item.spec;
    if (spec === undefined) continue;
    if (spec.type === 'switch') values[spec.key] = true;
    else if (spec.type === 'choice') values[spec.key] = item.choice ?? spec.default;
    else {
      const checked = KIND_CHECKS[spec.kind](item.value ?? '', `--${spec.key}`);
      if (!checked.ok) {
        const fix = checked.fix ?? spec.example;
        return { ok: false, reason: checked.reason, repaired: fix === undefined ? replaced(index) : replaced(index, { ...item, value: fix }) };
      }
      values[spec.key] = checked.value;
      notes.push(...checked.notes);
    }
  }
  return { ok: true, values, notes };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Command words, flag names and format ids are keywords: case- and width-insensitive (`ＡＬＬＯＷ`). */
function keyword(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

function shown(text: string, max: number): string {
  return shownInput(text, max);
}

/** At most `max` code points. */
function cut(text: string, max: number): string {
  return Array.from(text).slice(0, max).join('');
}

/** Collapses a reason to one line of at most 200 UTF-16 units, cutting on a code point boundary. */
function oneLine(text: string): string {
  const flat = text.replace(LINE_BREAK, ' ');
  if (flat.length <= MAX_REASON_LENGTH) return flat;
  let out = '';
  for (const ch of flat) {
    if (out.length + ch.length > MAX_REASON_LENGTH - 1) break;
    out += ch;
  }
  return `${out}…`;
}

/** Drops keys whose value is undefined, so optional fields are absent rather than present-but-undefined. */
function compact<T extends object>(value: T): T {
  // Object.entries loses the key types; the filtered object has a subset of T's (optional) keys.
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The candidate closest to `word` by edit distance (adjacent transpositions count one), if close
 * enough to be a typo: one edit for short words, two for words of five or more characters.
 */
function nearest(word: string, candidates: readonly string[]): string | undefined {
  const limit = word.length >= 5 ? 2 : 1;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    if (Math.abs(candidate.length - word.length) > limit) continue;
    const distance = editDistance(word, candidate);
    if (distance < bestDistance && distance < Math.max(candidate.length, 2)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance over UTF-16 units (candidates are ASCII). */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i += 1) d[i * cols] = i;
  for (let j = 0; j < cols; j += 1) d[j] = j;
  for (let i = 1; i < rows; i += 1) {
    for (let j = 1; j < cols; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, at(i - 2, j - 2) + 1);
      d[i * cols + j] = value;
    }
  }
  return at(a.length, b.length);
}
