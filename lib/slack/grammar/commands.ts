/**
 * The parsed commands: what callers of the parser switch on, one interface per command.
 */
import { type ConnectionFormatId } from '../../cluster-admin/connection-formats';
import { type ParsedNetwork } from '../../cluster-admin/network';
import { type Cidr } from '../../cluster-admin/types';
import { type ParsedCommand } from './definitions';

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
