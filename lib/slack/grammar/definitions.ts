/**
 * The vocabulary: one declarative definition per command (its words, arguments, flags, examples
 * and how its values build the typed command), the synonyms people reach for, and the lookups
 * over them. The parser, the corrected examples and the help text (`../help`) all read these: a
 * flag added here is parsed, validated, suggested and documented without another edit.
 */
import { CONNECTION_FORMAT_IDS, type ConnectionFormatId } from '../../cluster-admin/connection-formats';
import { NETWORK_EXAMPLES, type ParsedNetwork } from '../../cluster-admin/network';
import { type Cidr } from '../../cluster-admin/types';
import { DASH_RUN, SPACE, type Token, quoteFamily } from './tokenizer';
import { type AllowCommand, type AllowMeCommand, type AllowlistCommand, type AuditCommand, type CheckCommand, type ClustersCommand, type ConnectCommand, type ExtendCommand, type HelpCommand, type RequestsCommand, type RevokeCommand, type UserCreateCommand, type UserDeleteCommand, type UserExtendCommand, type UserRotateCommand, type UsersCommand } from './commands';
import { compact, keyword, nearest } from './helpers';

// ---------------------------------------------------------------------------------------------
// Definitions: the vocabulary

/** What a value kind parses to. The parser and the types both read this table. */
export interface KindValues {
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
export const COMMAND_SYNONYMS: Readonly<Record<string, CommandName>> = {
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
export const SUBCOMMAND_SYNONYMS: Readonly<Record<string, Readonly<Record<string, CommandName>>>> = {
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

export const FIRST_WORDS = [...new Set(COMMAND_DEFINITIONS.map((d) => d.words[0] ?? ''))];

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
export function renderValue(value: string): string {
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

export function renderToken(token: Token): string {
  if (token.quoted) return renderValue(token.text);
  const eq = token.text.indexOf('=');
  return token.text.startsWith('-') && eq !== -1 ? `${token.text.slice(0, eq)}=${renderValue(token.text.slice(eq + 1))}` : token.text;
}
