/**
 * Host-based authentication text, as PostgreSQL's `pg_hba.conf` and CockroachDB's
 * `server.host_based_authentication.configuration` both spell it.
 *
 * The bot owns exactly two things in it:
 * - admin lines, tagged `# crdb-chatops: admin`, that keep its own connection working: it adds them
 *   when missing and never removes them;
 * - one block between BEGIN/END markers holding the allowlist entries it manages.
 * Every other line is the operator's and is preserved byte for byte.
 */
import { InvalidInputError } from '../errors';
import { parseCidr, parseIpv4Network } from '../network';
import { type AllowlistEntry, type Cidr } from '../types';

export const BLOCK_BEGIN = '# BEGIN crdb-chatops managed allowlist (edited by the bot; changes here are overwritten)';
export const BLOCK_END = '# END crdb-chatops managed allowlist';
const ADMIN_TAG = '# crdb-chatops: admin';
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

export interface ParsedHba {
  readonly managed: AllowlistEntry[];
  readonly unmanaged: UnmanagedRule[];
  readonly hasAdminRule: boolean;
}

interface EntryMeta {
  name?: string;
  ui?: boolean;
}

function fieldsOf(line: string): string[] {
  const hash = line.indexOf('#');
  const body = hash === -1 ? line : line.slice(0, hash);
  return body.trim().split(/\s+/).filter(Boolean);
}

/** The CIDR a `host*` rule admits, or undefined for rules that are not IPv4 network rules. */
function ruleCidr(fields: readonly string[]): Cidr | undefined {
  const [type, , , address, maybeMask] = fields;
  if (type === undefined || !type.startsWith('host') || address === undefined) return undefined;
  try {
    if (address.includes('/')) return parseIpv4Network(address).cidr;
    // `address mask` form: 10.0.0.0 255.255.0.0
    if (maybeMask !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(maybeMask)) {
      const bits = maybeMask
        .split('.')
        .map((o) => Number(o).toString(2).padStart(8, '0'))
        .join('');
      if (/^1*0*$/.test(bits)) return parseIpv4Network(`${address}/${bits.indexOf('0') === -1 ? 32 : bits.indexOf('0')}`).cidr;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function methodOf(fields: readonly string[], cidrHasMaskField: boolean): string | undefined {
  return fields[cidrHasMaskField ? 5 : 4];
}

export function parseHba(text: string): ParsedHba {
  const lines = text.split('\n');
  const managed: AllowlistEntry[] = [];
  const unmanaged: UnmanagedRule[] = [];
  let inBlock = false;
  let hasAdminRule = false;
  lines.forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === BLOCK_BEGIN) {
      inBlock = true;
      return;
    }
    if (trimmed === BLOCK_END) {
      inBlock = false;
      return;
    }
    if (trimmed.endsWith(ADMIN_TAG)) {
      hasAdminRule = true;
      return;
    }
    const fields = fieldsOf(line);
    if (fields.length === 0) return;
    const cidr = ruleCidr(fields);
    if (inBlock) {
      if (cidr === undefined) return;
      managed.push({ cidr, sql: true, ...metaOf(line) });
      return;
    }
    const hasMaskField = cidr !== undefined && !(fields[3] ?? '').includes('/');
    if (cidr !== undefined && methodOf(fields, hasMaskField) !== 'reject') {
      unmanaged.push({ lineNumber: index + 1, cidr, line: trimmed });
    }
  });
  return { managed, unmanaged, hasAdminRule };
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

function quoteHbaUser(user: string): string {
  if (/^[a-z_][a-z0-9_]*$/.test(user)) return user;
  if (/["\n]/.test(user)) throw new InvalidInputError(`The admin user name \`${user}\` cannot be written to an HBA rule.`);
  return `"${user}"`;
}

/**
 * Rewrites the managed block with `entries` (sorted for stable output), adding the admin lines at
 * the top when none exist. Operator lines are kept unchanged and in place.
 */
export function renderHba(text: string, entries: readonly AllowlistEntry[], style: HbaRuleStyle, admin: AdminRule): string {
  for (const entry of entries) {
    if (!entry.sql) {
      throw new InvalidInputError(`${entry.cidr}: a self-hosted cluster's allowlist controls SQL access only.`, '--sql');
    }
  }
  const block = [
    BLOCK_BEGIN,
    ...[...entries].sort((a, b) => compareCidr(a.cidr, b.cidr)).map((entry) => entryLine(entry, style)),
    BLOCK_END,
  ];
  const existing = text.replace(/\n+$/, '').split('\n').filter((l, i) => !(i === 0 && l === ''));
  const lines = existing.some((l) => l.trim().endsWith(ADMIN_TAG)) ? existing : [...adminLines(admin), ...existing];
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

/** A fresh HBA file: the admin lines and an empty managed block, i.e. nobody else may connect. */
export function initialHba(admin: AdminRule): string {
  return ['# Host-based authentication; see crdb-chatops README, "sql backend".', ...adminLines(admin), BLOCK_BEGIN, BLOCK_END, ''].join('\n');
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
