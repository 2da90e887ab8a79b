/**
 * SQL user names and identifiers: CockroachDB's rules, enforced before anything reaches a server.
 * Identifiers are additionally always quoted (`quoteIdent`) when they are put into SQL.
 */
import { shownInput } from './display';
import { InvalidInputError } from './errors';
import { code, prose } from '../prose';

const MAX_NAME_BYTES = 63;
const USER_NAME = /^[a-z_][a-z0-9_.-]*$/;
const RESERVED_NAMES = new Set(['public', 'none', 'node', 'root', 'admin']);
const RESERVED_PREFIXES = ['pg_', 'crdb_internal'];
const EXAMPLE_USER = 'maxroach';

/**
 * Validates a SQL user name the bot may create or manage.
 * @returns the name, unchanged.
 * @throws InvalidInputError with a one-line reason and a corrected example.
 */
export function validateUserName(input: string): string {
  const name = input.trim();
  if (name === '') throw new InvalidInputError('A SQL user name is required.', EXAMPLE_USER);
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
    throw new InvalidInputError(`A SQL user name is at most ${MAX_NAME_BYTES} bytes.`, suggestUserName(name));
  }
  if (!USER_NAME.test(name)) {
    throw new InvalidInputError(
      prose`${code(shown(name))} is not a valid SQL user name: use lowercase letters, digits, ${code('_')}, ${code('-')} or ${code('.')}, starting with a letter or ${code('_')}.`,
      suggestUserName(name),
    );
  }
  if (RESERVED_NAMES.has(name)) {
    throw new InvalidInputError(prose`${code(name)} is a reserved name in CockroachDB.`, `${name}_app`);
  }
  const prefix = RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix !== undefined) {
    throw new InvalidInputError(prose`SQL user names starting with ${code(prefix)} are reserved.`, suggestUserName(name.slice(prefix.length)));
  }
  return name;
}

/** Database and role names the operator configures or a requester names: same shape as users, reserved names allowed. */
export function validateObjectName(input: string, what: 'database' | 'schema' | 'role'): string {
  const name = input.trim();
  const example = { database: 'defaultdb', schema: 'public', role: 'app_readwrite' }[what];
  if (name === '' || Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES || !USER_NAME.test(name)) {
    throw new InvalidInputError(
      prose`${code(shown(name))} is not a valid ${what} name: lowercase letters, digits, ${code('_')}, ${code('-')} or ${code('.')}, starting with a letter or ${code('_')}, at most ${MAX_NAME_BYTES} bytes.`,
      example,
    );
  }
  return name;
}

/**
 * Quotes an identifier for SQL (`"name"`, inner quotes doubled). Use for every identifier.
 * The standard rule, as pg's `escapeIdentifier` applies it; written out so that this module, which
 * the Slack grammar uses to validate names, does not pull the SQL driver into the slack function.
 */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A best-effort valid name derived from what the user typed, for the corrected example. */
export function suggestUserName(input: string): string {
  let s = input
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '_')
    .replace(/^[^a-z_]+/, '');
  while (Buffer.byteLength(s, 'utf8') > MAX_NAME_BYTES) s = s.slice(0, -1);
  if (s === '' || RESERVED_NAMES.has(s) || RESERVED_PREFIXES.some((p) => s.startsWith(p))) return EXAMPLE_USER;
  return s;
}

function shown(text: string): string {
  // Not just \r\n: U+2028, NEL, bidi controls; and never half a surrogate pair.
  return shownInput(text, 40);
}

/** Roles that exist on every cluster and are never the bot's to manage. */
export const SYSTEM_ROLES: ReadonlySet<string> = new Set(['root', 'admin', 'node', 'public', 'none', 'postgres']);

/**
 * The bot's mark on the roles it creates: a NOLOGIN role with no privileges that every user the
 * bot creates is made a member of, in the transaction that creates it. "The bot made this role"
 * is then a fact of the cluster, not only of the bot's own table, and works the same on
 * PostgreSQL and CockroachDB.
 */
export const MANAGED_ROLE = 'crdb_chatops_managed';

/** Names no chat request may create or touch, whatever the cluster says. */
export function isReservedRoleName(user: string): boolean {
  return SYSTEM_ROLES.has(user) || user === MANAGED_ROLE || user.startsWith('pg_') || user.startsWith('crdb_internal');
}
