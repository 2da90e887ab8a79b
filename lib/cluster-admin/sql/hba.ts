/**
 * Host-based authentication text, as PostgreSQL's `pg_hba.conf` and CockroachDB's
 * `server.host_based_authentication.configuration` both spell it.
 *
 * The bot owns exactly two things in it:
 * - admin lines, tagged `# crdb-chatops: admin`, that keep its own connection working: it adds them
 *   when missing and never removes them;
 * - one block between BEGIN/END markers holding the allowlist entries it manages, headed by a guard
 *   line (tagged `# crdb-chatops: guard`) that rejects the bot's admin user and every privileged
 *   role, so that no managed line ever admits them (see `guardLine`).
 * Every other line is the operator's and is preserved byte for byte.
 *
 * The parser never hides what it cannot judge: a rule it cannot reduce to an IPv4 CIDR (`all`,
 * `samehost`/`samenet`, host names, IPv6, includes, unparseable lines), any rule using `trust`,
 * and any line carrying one of the bot's tags that is not exactly what the bot writes are
 * returned as `opaque`: each may admit any address.
 */
import { InvalidInputError } from '../errors';
import { parseCidr, parseIpv4Network } from '../network';
import { type AllowlistEntry, type Cidr } from '../types';
import { code, joinProse, prose, type Prose } from '../../prose';

export const BLOCK_BEGIN = '# BEGIN crdb-chatops managed allowlist (edited by the bot; changes here are overwritten)';
export const BLOCK_END = '# END crdb-chatops managed allowlist';
const ADMIN_TAG = '# crdb-chatops: admin';
const GUARD_TAG = '# crdb-chatops: guard';
const ENTRY_TAG = '# crdb-chatops ';

export interface HbaRuleStyle {
  /** `hostssl` for PostgreSQL (TLS only); `host` for CockroachDB, which always requires TLS for passwords. */
  readonly connectionType: 'hostssl' | 'host';
  /** `scram-sha-256` (PostgreSQL) or `password` / `cert-password` (CockroachDB). */
  readonly method: string;
}

export interface AdminRule {
  readonly user: string;
  /** Networks the bot connects from, e.g. `127.0.0.1/32` locally or a NAT gateway's address. */
  readonly cidrs: readonly Cidr[];
  readonly method: string;
  readonly connectionType: 'hostssl' | 'host';
}

/** An allowlist rule the bot did not write: the operator's, reported by the audit as drift. */
export interface UnmanagedRule {
  readonly lineNumber: number;
  readonly cidr: Cidr;
  readonly line: string;
}

/** A rule the bot cannot judge: it may admit any address (and is reported, never hidden). */
export interface OpaqueHbaRule {
  readonly lineNumber: number;
  /** The line as written (from the cluster: untrusted text). */
  readonly line: string;
  /** Why the bot cannot judge it; plain text of the bot's own, no cluster text in it. */
  readonly reason: Prose;
}

/** Who the guard rejects: roles by name, and (PostgreSQL only) members of roles (`+role`). */
export interface HbaGuard {
  readonly users: readonly string[];
  readonly groups?: readonly string[];
}

export interface ParsedHba {
  readonly managed: AllowlistEntry[];
  readonly unmanaged: UnmanagedRule[];
  readonly hasAdminRule: boolean;
  /** Rules that may admit any address: see the module comment. */
  readonly opaque: OpaqueHbaRule[];
  /**
   * What the guard line heading the managed block rejects; undefined when the block has none
   * (a file written before the guard existed: it migrates on the next write).
   */
  readonly guard?: { readonly users: ReadonlySet<string>; readonly groups: ReadonlySet<string> };
}

/** What the bot writes for this cluster: lets the parser tell its own lines from look-alikes. */
export interface HbaExpectation {
  readonly style: HbaRuleStyle;
  readonly admin: AdminRule;
}

interface EntryMeta {
  name?: string;
  ui?: boolean;
}

interface HbaToken {
  readonly text: string;
  readonly quoted: boolean;
}

/** One line split as PostgreSQL does; undefined for an unterminated quote. */
interface HbaLine {
  /** Fields separated by blanks; each a comma-separated list of tokens. */
  readonly fields: readonly (readonly HbaToken[])[];
}

const BLANK = new Set([' ', '\t', '\r']);

/**
 * PostgreSQL's tokenizer: blanks separate fields, commas separate a field's list (blanks after a
 * comma continue the list), `"…"` quotes (`""` inside is a literal quote; a quoted token is never a
 * keyword or a `+group`), `#` outside quotes starts a comment. CockroachDB's is a subset.
 */
function tokenize(line: string): HbaLine | undefined {
  const fields: HbaToken[][] = [];
  let field: HbaToken[] | undefined;
  let i = 0;
  while (i < line.length) {
    const c = line.charAt(i);
    if (BLANK.has(c)) {
      field = undefined;
      i++;
      continue;
    }
    if (c === '#') break;
    let text = '';
    let quoted = false;
    let inQuote = false;
    while (i < line.length) {
      const ch = line.charAt(i);
      if (inQuote) {
        if (ch === '"' && line.charAt(i + 1) === '"') {
          text += '"';
          i += 2;
        } else if (ch === '"') {
          inQuote = false;
          i++;
        } else {
          text += ch;
          i++;
        }
        continue;
      }
      if (ch === '"') {
        inQuote = quoted = true;
        i++;
        continue;
      }
      if (BLANK.has(ch) || ch === '#' || ch === ',') break;
      text += ch;
      i++;
    }
    if (inQuote) return undefined;
    if (field === undefined) {
      field = [];
      fields.push(field);
    }
    field.push({ text, quoted });
    if (line.charAt(i) === ',') {
      i++;
      while (BLANK.has(line.charAt(i))) i++;
    } else {
      field = undefined;
    }
  }
  return { fields };
}

/** The field's only token when it is one unquoted word (a keyword position). */
function word(field: readonly HbaToken[] | undefined): string | undefined {
  if (field?.length !== 1) return undefined;
  const [token] = field;
  return token === undefined || token.quoted ? undefined : token.text;
}

const HOST_TYPES = new Set(['host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc']);
const INCLUDES = new Set(['include', 'include_if_exists', 'include_dir']);
const DOTTED = /^\d+\.\d+\.\d+\.\d+$/;

/** What one rule does, as far as the bot can tell. */
type RuleMeaning =
  /** Admits nobody: `reject`, or a `local` (socket) rule without `trust`. */
  | { readonly kind: 'inert'; readonly guardable: boolean }
  /** An IPv4 network rule (host*, any users); `trust` is also an opaque reason. */
  | { readonly kind: 'network'; readonly cidr: Cidr; readonly type: string; readonly method: string; readonly reasons: readonly Prose[] }
  | { readonly kind: 'opaque'; readonly reasons: readonly Prose[] };

const TRUST = prose`uses ${code('trust')}: whoever it matches logs in without a password`;
const UNPARSEABLE = prose`cannot be parsed`;

function maskBits(mask: string): number | undefined {
  if (!DOTTED.test(mask)) return undefined;
  const octets = mask.split('.').map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  const bits = octets.map((o) => o.toString(2).padStart(8, '0')).join('');
  if (!/^1*0*$/.test(bits)) return undefined;
  const zero = bits.indexOf('0');
  return zero === -1 ? 32 : zero;
}

function ipv4Cidr(address: string, mask: string | undefined): Cidr | undefined {
  try {
    if (address.includes('/')) return parseIpv4Network(address).cidr;
    if (!DOTTED.test(address) || mask === undefined) return undefined;
    const bits = maskBits(mask);
    return bits === undefined ? undefined : parseIpv4Network(`${address}/${bits}`).cidr;
  } catch {
    return undefined;
  }
}

function meaningOf(line: HbaLine): RuleMeaning {
  const { fields } = line;
  const type = word(fields[0]);
  if (type === undefined) return { kind: 'opaque', reasons: [UNPARSEABLE] };
  if (INCLUDES.has(type)) return { kind: 'opaque', reasons: [prose`includes rules from another file, which the bot does not read`] };
  if (type === 'local') {
    const method = word(fields[3]);
    if (method === undefined) return { kind: 'opaque', reasons: [UNPARSEABLE] };
    return method === 'trust' ? { kind: 'opaque', reasons: [prose`is a local (socket) rule that ${TRUST}`] } : { kind: 'inert', guardable: false };
  }
  if (!HOST_TYPES.has(type)) return { kind: 'opaque', reasons: [prose`has a connection type the bot does not know`] };
  const addressField = fields[3];
  if (fields[1] === undefined || fields[2] === undefined || addressField === undefined) return { kind: 'opaque', reasons: [UNPARSEABLE] };
  const address = word(addressField);
  // An IP address without `/bits` takes its mask from the next field.
  const ipLike = address !== undefined && !address.includes('/') && (DOTTED.test(address) || address.includes(':'));
  const method = word(fields[ipLike ? 5 : 4]);
  if (method === undefined) return { kind: 'opaque', reasons: [UNPARSEABLE] };
  if (method === 'reject') return { kind: 'inert', guardable: true };
  const reasons: Prose[] = [];
  let cidr: Cidr | undefined;
  if (address === undefined) reasons.push(prose`names a host (resolved when a client connects), not a network`);
  else if (address === 'all') reasons.push(prose`admits every address (${code('all')})`);
  else if (address === 'samehost' || address === 'samenet') reasons.push(prose`admits the server's own addresses or subnets (${code(address)}), which the bot cannot see`);
  else if (address.includes(':')) reasons.push(prose`is an IPv6 rule; the bot judges IPv4 networks only`);
  else if (address.includes('/') || DOTTED.test(address)) {
    cidr = ipv4Cidr(address, ipLike ? word(fields[4]) : undefined);
    if (cidr === undefined) reasons.push(prose`has an address the bot cannot parse`);
  } else reasons.push(prose`names a host (resolved when a client connects), not a network`);
  if (method === 'trust') reasons.push(TRUST);
  return cidr === undefined ? { kind: 'opaque', reasons } : { kind: 'network', cidr, type, method, reasons };
}

/** Blanks collapsed: how two spellings of one rule are compared. */
function normalize(line: string): string {
  return line.trim().split(/\s+/).join(' ');
}

/** Why a line tagged as the bot's admin rule is not one, or undefined when it is. */
function adminTagProblem(line: string, parsed: HbaLine, meaning: RuleMeaning, expected: HbaExpectation | undefined): Prose | undefined {
  const normalized = normalize(line);
  if (expected !== undefined && adminLines(expected.admin).some((l) => normalize(l) === normalized)) return undefined;
  // The bot's own shape: host/hostssl, every database, one named user, one IPv4 network, a password method.
  const user = parsed.fields[2];
  let canonical: string | undefined;
  if (meaning.kind === 'network' && (meaning.type === 'host' || meaning.type === 'hostssl') && word(parsed.fields[1]) === 'all' && user?.length === 1 && meaning.reasons.length === 0) {
    const [token] = user;
    if (token !== undefined && (token.quoted || !(HBA_USER_KEYWORDS.has(token.text) || token.text.startsWith('+') || token.text.startsWith('@') || token.text.startsWith('/')))) {
      try {
        canonical = normalize(`${meaning.type} all ${quoteHbaUser(token.text)} ${meaning.cidr} ${meaning.method} ${ADMIN_TAG}`);
      } catch {
        canonical = undefined;
      }
    }
  }
  if (canonical === normalized) {
    return expected === undefined ? undefined : prose`carries the bot's admin tag, but is not one of the rules it writes for its admin user and ${code('adminSourceCidrs')}`;
  }
  return prose`carries the bot's admin tag, but is not a rule the bot writes${meaning.kind === 'inert' ? '' : prose`; it ${meaning.reasons.length > 0 ? joinProse(meaning.reasons, '; ') : 'admits a network'}`}`;
}

function guardNames(parsed: HbaLine): { users: Set<string>; groups: Set<string> } {
  const users = new Set<string>();
  const groups = new Set<string>();
  for (const token of parsed.fields[2] ?? []) {
    if (!token.quoted && token.text.startsWith('+')) groups.add(token.text.slice(1));
    else users.add(token.text);
  }
  return { users, groups };
}

export function parseHba(text: string, expected?: HbaExpectation): ParsedHba {
  const lines = text.split('\n');
  const managed: AllowlistEntry[] = [];
  const unmanaged: UnmanagedRule[] = [];
  const opaque: OpaqueHbaRule[] = [];
  // Only the first BEGIN…END pair is the bot's block; a second copy is read as operator lines.
  let block: 'before' | 'in' | 'after' = 'before';
  let hasAdminRule = false;
  let guard: ParsedHba['guard'];
  let entriesSeen = false;
  lines.forEach((line, index) => {
    const lineNumber = index + 1;
    const trimmed = line.trim();
    if (trimmed === BLOCK_BEGIN && block === 'before') {
      block = 'in';
      return;
    }
    if (trimmed === BLOCK_END && block === 'in') {
      block = 'after';
      return;
    }
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const report = (reasons: readonly Prose[]) => {
      if (reasons.length > 0) opaque.push({ lineNumber, line: trimmed, reason: joinProse(reasons, '; ') });
    };
    if (trimmed.endsWith('\\')) {
      // PostgreSQL 16 joins it with the next line; the bot reads lines one by one.
      report([prose`continues on the next line, which the bot does not parse`]);
      return;
    }
    const parsed = tokenize(line);
    if (parsed === undefined) {
      report([prose`${UNPARSEABLE} (an unterminated quote)`]);
      return;
    }
    const meaning = meaningOf(parsed);
    if (trimmed.endsWith(ADMIN_TAG)) {
      hasAdminRule = true;
      const problem = adminTagProblem(trimmed, parsed, meaning, expected);
      if (problem === undefined) return;
      report([problem]);
      if (meaning.kind === 'network') unmanaged.push({ lineNumber, cidr: meaning.cidr, line: trimmed });
      return;
    }
    if (trimmed.endsWith(GUARD_TAG)) {
      if (meaning.kind === 'inert' && meaning.guardable) {
        if (block === 'in' && !entriesSeen && guard === undefined) guard = guardNames(parsed);
        return;
      }
      report([prose`carries the bot's guard tag, but is not a ${code('reject')} rule${meaning.kind === 'opaque' ? prose`; it ${joinProse(meaning.reasons, '; ')}` : ''}`]);
      if (meaning.kind === 'network') unmanaged.push({ lineNumber, cidr: meaning.cidr, line: trimmed });
      return;
    }
    if (block === 'in') {
      if (meaning.kind === 'inert') return;
      const notOurs = "sits in the bot's managed block, but is not a rule the bot writes";
      if (meaning.kind === 'opaque') {
        // Not an entry the bot can name: the next rewrite of the block drops it.
        report([prose`${notOurs}; it ${joinProse(meaning.reasons, '; ')}`]);
        return;
      }
      // Listed as managed, so revoke and the next rewrite (which writes it canonically) reach it.
      const entry: AllowlistEntry = { cidr: meaning.cidr, sql: true, ...metaOf(trimmed) };
      entriesSeen = true;
      managed.push(entry);
      const style: HbaRuleStyle | undefined =
        expected?.style ?? (meaning.type === 'host' || meaning.type === 'hostssl' ? { connectionType: meaning.type, method: meaning.method } : undefined);
      const exact = style !== undefined && word(parsed.fields[1]) === 'all' && word(parsed.fields[2]) === 'all' && normalize(entryLine(entry, style)) === normalize(trimmed);
      report([...(exact ? [] : [[notOurs]]), ...meaning.reasons]);
      return;
    }
    if (meaning.kind === 'network') unmanaged.push({ lineNumber, cidr: meaning.cidr, line: trimmed });
    if (meaning.kind !== 'inert') report(meaning.reasons);
  });
  return { managed, unmanaged, hasAdminRule, opaque, ...(guard !== undefined ? { guard } : {}) };
}

function metaOf(line: string): { ui: boolean; name?: string } {
  const at = line.indexOf(ENTRY_TAG);
  if (at === -1) return { ui: false };
  try {
    const meta = JSON.parse(line.slice(at + ENTRY_TAG.length)) as EntryMeta;
    return { ui: meta.ui === true, ...(typeof meta.name === 'string' ? { name: meta.name } : {}) };
  } catch {
    return { ui: false };
  }
}

function entryLine(entry: AllowlistEntry, style: HbaRuleStyle): string {
  const meta: EntryMeta = { ...(entry.name !== undefined ? { name: entry.name } : {}), ...(entry.ui ? { ui: true } : {}) };
  // JSON keeps the label unambiguous; newlines cannot occur in JSON.stringify output.
  return `${style.connectionType} all all ${parseCidr(entry.cidr).cidr} ${style.method} ${ENTRY_TAG}${JSON.stringify(meta)}`;
}

function adminLines(rule: AdminRule): string[] {
  return rule.cidrs.map((cidr) => `${rule.connectionType} all ${quoteHbaUser(rule.user)} ${parseCidr(cidr).cidr} ${rule.method} ${ADMIN_TAG}`);
}

/** Words the user field reads as keywords unless quoted. */
const HBA_USER_KEYWORDS = new Set(['all', 'sameuser', 'samerole', 'samegroup']);
const PLAIN_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * Whether a role name can be written into an HBA rule so that it means exactly that role:
 * quoted, it may hold anything but a double quote (CockroachDB's scanner has no escape for it),
 * a line break or another control character.
 */
export function isHbaSafeName(name: string): boolean {
  return name.length > 0 && !/["\p{Cc}\u2028\u2029]/u.test(name);
}

function quoteHbaUser(user: string): string {
  if (PLAIN_NAME.test(user) && !HBA_USER_KEYWORDS.has(user)) return user;
  if (!isHbaSafeName(user)) throw new InvalidInputError(prose`The role name ${code(user.replace(/[\p{Cc}]/gu, ' '))} cannot be written to an HBA rule.`);
  return `"${user}"`;
}

/**
 * The guard: `host all <admin user>,<privileged roles…>[,+<group>…] all reject`, the first rule of
 * the managed block. HBA rules match first to last, so it sits after the admin lines (the bot's
 * own connection from `adminSourceCidrs` still matches them first) and before every entry: the
 * entries (`… all all <cidr> …`) then admit everyone except the roles it names, from any address,
 * over TLS or not. Operator lines above the block are unaffected; below it, privileged roles are
 * rejected too, so admin access stays with the admin lines and what the operator put above them.
 *
 * Why names, and `+group` only as an addition: a superuser, CREATEROLE or BYPASSRLS is an
 * attribute, not a role membership, so no group can match it; the bot lists every privileged
 * role by name each time it writes the rules (`listPrivilegedRoles`). PostgreSQL's `+role`
 * additionally rejects members of the privileged roles granted after the write (members of a
 * superuser role can `SET ROLE` to it). CockroachDB's HBA has no `+role` (`groups` must be empty
 * there): a role made privileged after the last write is reported by the audit until the next.
 */
export function guardLine(guard: HbaGuard): string {
  const users = [...new Set(guard.users)].sort().map(quoteHbaUser);
  // `+"name"` is a literal name in PostgreSQL, not a group: only plain names can be groups.
  const groups = [...new Set(guard.groups ?? [])]
    .filter((g) => PLAIN_NAME.test(g))
    .sort()
    .map((g) => `+${g}`);
  if (users.length === 0) throw new InvalidInputError('The HBA guard must name at least the admin user.');
  return `host all ${[...users, ...groups].join(',')} all reject ${GUARD_TAG}`;
}

/** Without a list of privileged roles: the admin user and `postgres`. */
function defaultGuard(admin: AdminRule): HbaGuard {
  return { users: [admin.user, 'postgres'] };
}

/**
 * Rewrites the managed block with the guard and `entries` (sorted for stable output). Every admin
 * line the configuration asks for is present before the block afterwards (missing ones are added
 * after the existing admin lines, or at the top), so the guard never shadows the bot's own
 * connection. Operator lines are kept unchanged and in place; a file in the layout from before
 * the guard migrates here.
 */
export function renderHba(text: string, entries: readonly AllowlistEntry[], style: HbaRuleStyle, admin: AdminRule, guard: HbaGuard = defaultGuard(admin)): string {
  for (const entry of entries) {
    if (!entry.sql) {
      throw new InvalidInputError(`${entry.cidr}: a self-hosted cluster's allowlist controls SQL access only.`, '--sql');
    }
  }
  const block = [
    BLOCK_BEGIN,
    guardLine(guard),
    ...[...entries].sort((a, b) => compareCidr(a.cidr, b.cidr)).map((entry) => entryLine(entry, style)),
    BLOCK_END,
  ];
  let lines = text.replace(/\n+$/, '').split('\n').filter((l, i) => !(i === 0 && l === ''));
  const firstBegin = lines.findIndex((l) => l.trim() === BLOCK_BEGIN);
  const before = firstBegin === -1 ? lines : lines.slice(0, firstBegin);
  const present = new Set(before.map(normalize));
  const missing = adminLines(admin).filter((l) => !present.has(normalize(l)));
  if (missing.length > 0) {
    const lastAdmin = before.reduce((acc, l, i) => (l.trim().endsWith(ADMIN_TAG) ? i : acc), -1);
    lines = [...lines.slice(0, lastAdmin + 1), ...missing, ...lines.slice(lastAdmin + 1)];
  }
  const begin = lines.findIndex((l) => l.trim() === BLOCK_BEGIN);
  const end = lines.findIndex((l, i) => i > begin && l.trim() === BLOCK_END);
  let out: string[];
  if (begin !== -1 && end !== -1) {
    out = [...lines.slice(0, begin), ...block, ...lines.slice(end + 1)];
  } else {
    // First rule matching wins in HBA files: the block goes right after the admin lines so that
    // it never shadows the bot's own connection, and before any operator catch-all `reject`.
    const lastAdmin = lines.reduce((acc, l, i) => (l.trim().endsWith(ADMIN_TAG) ? i : acc), -1);
    out = [...lines.slice(0, lastAdmin + 1), ...block, ...lines.slice(lastAdmin + 1)];
  }
  return `${out.join('\n')}\n`;
}

/** A fresh HBA file: the admin lines and a managed block holding only the guard, i.e. nobody else may connect. */
export function initialHba(admin: AdminRule, guard: HbaGuard = defaultGuard(admin)): string {
  return ['# Host-based authentication; see crdb-chatops README, "sql backend".', ...adminLines(admin), BLOCK_BEGIN, guardLine(guard), BLOCK_END, ''].join('\n');
}

function compareCidr(a: Cidr, b: Cidr): number {
  const key = (cidr: Cidr) => {
    const [ip = '', bits = '0'] = cidr.split('/');
    return ip
      .split('.')
      .map((o) => o.padStart(3, '0'))
      .join('.')
      .concat('/', bits.padStart(2, '0'));
  };
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}
