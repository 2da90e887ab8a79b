/**
 * The audit rules: pure functions from what a cluster and the state table say to findings.
 *
 * Everything here is linear in the number of entries, users and secrets (maps by key), except the
 * overlap rule, which sorts once (O(n log n)) and sweeps: CIDR blocks either nest or are disjoint,
 * so after sorting by start address (wider first on ties) the entries that enclose the current
 * one form a stack, and the top of the stack is the innermost entry that contains it.
 */
import { requestIdFromEntryName } from '../cluster-admin/allowlist';
import { parseCidr, type ParsedNetwork } from '../cluster-admin/network';
import { type AllowlistEntry, type BackendKind, type OpaqueRule, type PrivilegedRole } from '../cluster-admin/types';
import { type ClusterPolicy } from '../config';
import { unionOf, unionViolation } from '../policy/union';
import { type ChatRequest, type DmReceipt, type ManagedEntry, type ManagedUser } from '../requests/types';
import { parseSecretName, type SecretSummary } from '../secrets/types';
import { type Finding, type FindingFix, fingerprintOf, type FindingRule, type Severity } from './findings';
import { code, joinProse, label, plainText, prose, type Prose } from '../prose';

/** Everything the rules look at for one cluster, read once per audit run. */
export interface ClusterInputs {
  readonly cluster: string;
  readonly backend: BackendKind;
  readonly policy: Pick<ClusterPolicy, 'minPrefix' | 'expectedAdmins'> & Partial<Pick<ClusterPolicy, 'allowOpen' | 'maxBreadth'>>;
  /** Allowlist cap (configured, or the plan's); undefined = no cap. */
  readonly cap?: number;
  readonly entries: readonly AllowlistEntry[];
  /**
   * CIDRs of rules the backend reports but the bot never edits: a self-hosted cluster's
   * `pg_hba.conf` lines outside the bot's block. An entry here without a bot name offers no Remove.
   */
  readonly operatorCidrs: ReadonlySet<string>;
  readonly managedEntries: readonly ManagedEntry[];
  /** SQL users on the cluster (the bot's own admin user excluded). */
  readonly users: readonly string[];
  /** Members of `admin`; undefined when the backend cannot see role memberships. */
  readonly admins?: readonly string[];
  /**
   * Self-hosted clusters: every privileged role (superuser, CREATEROLE, BYPASSRLS, member of
   * `admin` or of any of those), `postgres` included, the bot's admin user marked `botAdmin`.
   * When present it replaces `admins` for the unexpected-admin rule.
   */
  readonly privilegedRoles?: readonly PrivilegedRole[];
  /** Self-hosted clusters: HBA rules the bot cannot judge; each may admit any address. */
  readonly opaqueRules?: readonly OpaqueRule[];
  /** Self-hosted clusters: privileged roles that can log in and that the HBA guard in force does not reject. */
  readonly unguardedRoles?: readonly PrivilegedRole[];
  readonly managedUsers: readonly ManagedUser[];
  /** Secrets under `crdb-chatops/<cluster>/`, including those scheduled for deletion. */
  readonly secrets: readonly SecretSummary[];
  /** This cluster's pending requests. */
  readonly pending: readonly ChatRequest[];
  /** This cluster's open requests (approved, applying, or ended but not told); absent = none looked at. */
  readonly open?: readonly ChatRequest[];
  /** This cluster's password DMs whose TTL has passed. */
  readonly dueDms: readonly DmReceipt[];
  readonly now: Date;
}

/** Every finding for one cluster, in no particular order, one per fingerprint. */
export function evaluate(inputs: ClusterInputs): Finding[] {
  const entries = parseEntries(inputs);
  const all = [
    ...entryFindings(inputs, entries),
    ...staleRecordFindings(inputs),
    ...overlapFindings(inputs, entries),
    ...capFindings(inputs),
    ...unionFindings(inputs),
    ...userFindings(inputs),
    ...requestFindings(inputs),
    ...dmFindings(inputs),
    ...privilegeFindings(inputs),
  ];
  // A fingerprint names one finding (a report's block ids and a Remove click rely on it).
  return [...new Map(all.map((f) => [f.fingerprint, f])).values()];
}

interface Parsed {
  readonly entry: AllowlistEntry;
  readonly network: ParsedNetwork;
  /** First and last address as unsigned 32-bit numbers. */
  readonly start: number;
  readonly end: number;
  /** A rule the bot does not edit (its Remove is not offered). */
  readonly external: boolean;
}

function parseEntries({ entries, operatorCidrs }: Pick<ClusterInputs, 'entries' | 'operatorCidrs'>): Parsed[] {
  const out: Parsed[] = [];
  for (const entry of entries) {
    let network: ParsedNetwork;
    try {
      network = parseCidr(entry.cidr);
    } catch {
      // Backends hand out normalised IPv4 networks; anything else is not an entry the rules can judge.
      continue;
    }
    const start = ipv4ToNumber(network.address);
    const external = requestIdFromEntryName(entry.name) === undefined && operatorCidrs.has(entry.cidr);
    out.push({ entry, network, start, end: start + network.size - 1, external });
  }
  return out;
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

const ACCESS = (entry: Pick<AllowlistEntry, 'sql' | 'ui'>): string => (entry.sql && entry.ui ? 'SQL + DB Console' : entry.ui ? 'DB Console' : 'SQL');

/** The state of an entry a finding about it describes: a change to any of these re-raises a kept finding. */
function entryState(entry: AllowlistEntry, managed: ManagedEntry | undefined): unknown[] {
  return [entry.cidr, entry.sql, entry.ui, entry.name ?? '', managed?.requestId ?? '', managed?.expiresAt ?? ''];
}

function finding(
  inputs: Pick<ClusterInputs, 'cluster'>,
  rule: FindingRule,
  severity: Severity,
  subject: string,
  state: readonly unknown[],
  text: Prose,
  extra: { fix?: FindingFix | undefined; person?: string | undefined; facts?: Record<string, string | number | boolean | undefined> } = {},
): Finding {
  const facts: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(extra.facts ?? {})) if (value !== undefined) facts[key] = value;
  return {
    cluster: inputs.cluster,
    rule,
    severity,
    subject,
    text,
    fingerprint: fingerprintOf(inputs.cluster, rule, subject, state),
    ...(extra.fix !== undefined ? { fix: extra.fix } : {}),
    ...(extra.person !== undefined ? { person: extra.person } : {}),
    facts,
  };
}

function quoted(name: string | undefined): Prose {
  // Entry names come from the cluster or the Cloud API: a label, which every renderer quotes, unformats and caps.
  return name === undefined || name === '' ? ['no name'] : [label(name)];
}

function entryFindings(inputs: ClusterInputs, parsed: Parsed[]): Finding[] {
  const out: Finding[] = [];
  const managedByCidr = new Map(inputs.managedEntries.map((m) => [m.cidr, m]));
  const now = inputs.now.getTime();
  for (const item of parsed) {
    const { entry, network } = item;
    const managed = managedByCidr.get(entry.cidr);
    const { external } = item;
    const namedFor = requestIdFromEntryName(entry.name);
    const removable: FindingFix | undefined = external ? undefined : { kind: 'remove-entry', cidr: entry.cidr };
    const proven = managed !== undefined && namedFor === managed.requestId;
    const state = entryState(entry, managed);
    const facts = {
      cidr: entry.cidr,
      sql: entry.sql,
      ui: entry.ui,
      name: entry.name,
      addresses: network.size,
      requestId: managed?.requestId,
      requester: managed?.requester,
      expiresAt: managed?.expiresAt,
    };
    const common = { fix: removable, person: managed?.requester, facts };

    if (network.flags.includes('open')) {
      out.push(finding(inputs, 'open', 'high', entry.cidr, state, prose`${code(entry.cidr)} admits the whole internet (${ACCESS(entry)}).`, common));
    } else if (network.prefixLength < inputs.policy.minPrefix) {
      out.push(
        finding(
          inputs,
          'broad',
          'medium',
          entry.cidr,
          [...state, inputs.policy.minPrefix],
          prose`${code(entry.cidr)} admits ${network.size.toLocaleString('en-US')} addresses, broader than the policy's /${inputs.policy.minPrefix} (${ACCESS(entry)}).`,
          common,
        ),
      );
    }

    // A Cloud cluster only ever sees public source addresses; a self-hosted one may well sit on a private network.
    if (inputs.backend === 'cloud' && !network.flags.includes('open')) {
      if (network.flags.includes('private')) {
        out.push(finding(inputs, 'private', 'low', entry.cidr, state, prose`${code(entry.cidr)} is a private range: the cluster sees clients' public addresses, so it admits nobody.`, common));
      }
      if (network.flags.includes('reserved')) {
        out.push(finding(inputs, 'reserved', 'low', entry.cidr, state, prose`${code(entry.cidr)} overlaps a reserved range (loopback, documentation, multicast, ...): no client connects from there.`, common));
      }
    }

    if (!proven) {
      const why = external
        ? prose`a ${code('pg_hba.conf')} line the bot does not manage (${quoted(entry.name)}); change it on the server`
        : namedFor !== undefined && managed === undefined
          ? prose`named for request ${code(namedFor)}, but the bot has no record of applying it`
          : namedFor !== undefined && managed !== undefined
            ? prose`named for request ${code(namedFor)}, but the bot applied it for request ${code(managed.requestId)}`
            : managed !== undefined
              ? prose`the bot applied it for request ${code(managed.requestId)}, but its name was changed to ${quoted(entry.name)}`
              : prose`added outside the bot (${quoted(entry.name)})`;
      out.push(finding(inputs, 'drift', 'medium', entry.cidr, state, prose`${code(entry.cidr)} (${ACCESS(entry)}) was not created by the bot: ${why}.`, { ...common, facts: { ...facts, external } }));
    }

    if (managed?.expiresAt !== undefined && Date.parse(managed.expiresAt) <= now) {
      const text = proven
        ? prose`${code(entry.cidr)} expired at ${shortTime(managed.expiresAt)} and is still on the allowlist; the expiry sweep removes it.`
        : prose`${code(entry.cidr)} expired at ${shortTime(managed.expiresAt)}, but the bot cannot prove it created the entry on the allowlist, so the sweep leaves it.`;
      out.push(finding(inputs, 'expired', 'high', entry.cidr, state, text, { ...common, facts: { ...facts, proven } }));
    }
  }
  return out;
}

/** Records of entries the bot applied that are no longer on the allowlist: drift the other way. */
function staleRecordFindings(inputs: ClusterInputs): Finding[] {
  const present = new Set(inputs.entries.map((e) => e.cidr));
  return inputs.managedEntries
    .filter((m) => !present.has(m.cidr))
    .map((m) =>
      finding(
        inputs,
        'drift',
        'low',
        m.cidr,
        ['record', m.requestId, m.expiresAt ?? ''],
        prose`The bot's record says it applied ${code(m.cidr)} (request ${code(m.requestId)}), but it is not on the allowlist: someone removed it outside the bot.`,
        { fix: { kind: 'forget-entry', cidr: m.cidr }, person: m.requester, facts: { cidr: m.cidr, requestId: m.requestId, requester: m.requester, recordOnly: true } },
      ),
    );
}

function overlapFindings(inputs: ClusterInputs, parsed: readonly Parsed[]): Finding[] {
  // Wider first on the same start; on the same CIDR the operator's line first, so the bot's is the duplicate.
  const sorted = [...parsed].sort((a, b) => a.start - b.start || a.network.prefixLength - b.network.prefixLength || Number(b.external) - Number(a.external));
  const out: Finding[] = [];
  const enclosing: Parsed[] = [];
  for (const inner of sorted) {
    while (enclosing.length > 0 && (enclosing[enclosing.length - 1]?.end ?? -1) < inner.start) enclosing.pop();
    const outer = enclosing[enclosing.length - 1];
    if (outer !== undefined) {
      const duplicate = outer.entry.cidr === inner.entry.cidr;
      // The inner entry admits nothing the outer does not when the outer grants at least its access.
      const redundant = (outer.entry.sql || !inner.entry.sql) && (outer.entry.ui || !inner.entry.ui);
      const text = prose`${duplicate ? prose`${code(inner.entry.cidr)} appears twice` : prose`${code(inner.entry.cidr)} lies inside ${code(outer.entry.cidr)}`} (${quoted(inner.entry.name)} in ${quoted(outer.entry.name)})${
        redundant ? `; it admits nothing the ${duplicate ? 'other' : 'wider'} entry does not.` : `; it grants ${ACCESS(inner.entry)} where the ${duplicate ? 'other' : 'wider'} entry grants ${ACCESS(outer.entry)}.`
      }`;
      out.push(
        finding(
          inputs,
          'overlap',
          'low',
          `${inner.entry.cidr} in ${outer.entry.cidr}`,
          [inner.entry.cidr, inner.entry.sql, inner.entry.ui, inner.entry.name ?? '', outer.entry.cidr, outer.entry.sql, outer.entry.ui, outer.entry.name ?? ''],
          text,
          {
            fix: redundant && !inner.external ? { kind: 'remove-entry', cidr: inner.entry.cidr } : undefined,
            facts: { cidr: inner.entry.cidr, within: outer.entry.cidr, duplicate, redundant },
          },
        ),
      );
    }
    enclosing.push(inner);
  }
  return out;
}

/** At 90 % of the cap the report warns; at the cap the next request will fail. */
const NEAR_CAP = 0.9;

function capFindings(inputs: ClusterInputs): Finding[] {
  const { cap } = inputs;
  if (cap === undefined) return [];
  const count = inputs.entries.length;
  const level = count > cap ? 'over' : count === cap ? 'at' : count >= Math.ceil(cap * NEAR_CAP) ? 'near' : undefined;
  if (level === undefined) return [];
  const text =
    level === 'near'
      ? prose`${count} of ${cap} allowlist entries are in use; the cap is near.`
      : prose`${count} of ${cap} allowlist entries are in use: new entries will be refused until some are removed.`;
  // The level, not the count, is the state: a kept "near" stays quiet until the cap is reached.
  return [finding(inputs, 'cap', level === 'near' ? 'medium' : 'high', 'allowlist', [level, cap], text, { facts: { entries: count, cap, level } })];
}

/**
 * What every entry admits together: two `/1` entries open the cluster as `0.0.0.0/0` does. High
 * when the union is the whole internet where policy forbids it, or broader than `maxBreadth`.
 * No Remove: which entries should go is a person's call.
 */
function unionFindings(inputs: ClusterInputs): Finding[] {
  const { allowOpen = false, maxBreadth } = inputs.policy;
  const union = unionOf(inputs.entries.map((e) => e.cidr));
  const violation = unionViolation(union, { allowOpen, ...(maxBreadth !== undefined ? { maxBreadth } : {}) }, inputs.cluster);
  if (violation === undefined) return [];
  const text = union.open && !allowOpen
    ? prose`All ${inputs.entries.length} entries together admit every IPv4 address; the policy of ${inputs.cluster} never allows that.`
    : prose`All ${inputs.entries.length} entries together admit ${union.addresses.toLocaleString('en-US')} addresses, more than the ceiling of /${maxBreadth ?? 0}.`;
  return [finding(inputs, 'union', 'high', 'allowlist', [union.addresses, maxBreadth ?? 'none', allowOpen], text, { facts: { entries: inputs.entries.length, addresses: union.addresses, open: union.open, ...(maxBreadth !== undefined ? { maxBreadth } : {}) } })];
}

function userFindings(inputs: ClusterInputs): Finding[] {
  const out: Finding[] = [];
  const users = new Set(inputs.users);
  const managed = new Map(inputs.managedUsers.map((u) => [u.user, u]));
  const live = new Map<string, SecretSummary>();
  for (const secret of inputs.secrets) {
    const parsed = parseSecretName(secret.name);
    if (parsed?.cluster === inputs.cluster && secret.deletedAt === undefined) live.set(parsed.user, secret);
  }
  for (const user of inputs.users) {
    if (live.has(user)) continue;
    const record = managed.get(user);
    const text = record
      ? prose`SQL user ${code(user)} was created by the bot (request ${code(record.requestId)}), but its secret is gone: its password exists nowhere.`
      : prose`SQL user ${code(user)} has no secret under ${code(`crdb-chatops/${inputs.cluster}/`)}: it was not created by the bot.`;
    out.push(
      finding(inputs, 'user-without-secret', 'medium', user, [user, record?.requestId ?? ''], text, {
        fix: { kind: 'drop-user', user },
        person: record?.owner,
        facts: { user, requestId: record?.requestId, owner: record?.owner },
      }),
    );
  }
  for (const [user, secret] of live) {
    if (users.has(user)) continue;
    out.push(
      finding(inputs, 'secret-without-user', 'low', secret.name, [secret.name, secret.createdAt?.toISOString() ?? ''], prose`Secret ${code(secret.name)} holds a password for ${code(user)}, which does not exist on the cluster.`, {
        fix: { kind: 'delete-secret', name: secret.name },
        person: secret.tags['crdb-chatops:owner'],
        facts: { secretName: secret.name, user, owner: secret.tags['crdb-chatops:owner'] },
      }),
    );
  }
  const now = inputs.now.getTime();
  for (const record of inputs.managedUsers) {
    if (record.expiresAt === undefined || Date.parse(record.expiresAt) > now || !users.has(record.user)) continue;
    out.push(
      finding(inputs, 'expired-user', 'high', record.user, [record.user, record.requestId, record.expiresAt], prose`Temporary SQL user ${code(record.user)} expired at ${shortTime(record.expiresAt)} and still exists; the expiry sweep drops it.`, {
        fix: { kind: 'drop-user', user: record.user },
        person: record.owner,
        facts: { user: record.user, requestId: record.requestId, owner: record.owner, expiresAt: record.expiresAt },
      }),
    );
  }
  if (inputs.admins !== undefined && inputs.privilegedRoles === undefined) {
    const expected = new Set(inputs.policy.expectedAdmins);
    for (const admin of inputs.admins) {
      if (expected.has(admin)) continue;
      out.push(
        finding(inputs, 'unexpected-admin', 'high', admin, [admin], prose`${code(admin)} is a member of ${code('admin')} (or a superuser), and the policy's ${code('expectedAdmins')} does not list it; revoke it on the cluster, or add it to the policy.`, {
          facts: { user: admin },
        }),
      );
    }
  }
  return out;
}

/** `member of admin` -> member of `admin`: role names come from the cluster. */
function whyText(why: readonly string[]): Prose {
  return joinProse(why.map((w) => (w.startsWith('member of ') ? prose`member of ${code(w.slice('member of '.length))}` : w)), ', ');
}

/**
 * What a self-hosted cluster's HBA rules and roles say that the allowlist cannot: privileged roles
 * the policy does not expect (every one, `postgres` included; the bot's admin user is expected),
 * privileged roles the HBA guard does not keep off allowlisted networks, and rules the bot cannot
 * reduce to an IPv4 network. All high, Keep only: the fix is on the server.
 */
function privilegeFindings(inputs: ClusterInputs): Finding[] {
  const out: Finding[] = [];
  const expected = new Set(inputs.policy.expectedAdmins);
  for (const role of inputs.privilegedRoles ?? []) {
    if (role.botAdmin || expected.has(role.name)) continue;
    const why = [...role.why].sort();
    out.push(
      finding(
        inputs,
        'unexpected-admin',
        'high',
        role.name,
        [role.name, ...why],
        prose`${code(role.name)} is privileged (${whyText(role.why)})${role.canLogin ? '' : ' though it cannot log in'}, and the policy's ${code('expectedAdmins')} does not list it; revoke it on the cluster, or add it to the policy.`,
        { facts: { user: role.name, why: why.join(', '), canLogin: role.canLogin } },
      ),
    );
  }
  for (const role of inputs.unguardedRoles ?? []) {
    out.push(
      finding(
        inputs,
        'privileged-unguarded',
        'high',
        role.name,
        [role.name],
        prose`${code(role.name)} is privileged (${whyText(role.why)}) and can log in from every network the bot allowlists: the HBA rules were written before it became privileged. The next allowlist change keeps it off them.`,
        { facts: { user: role.name, why: role.why.join(', ') } },
      ),
    );
  }
  for (const rule of inputs.opaqueRules ?? []) {
    const subject = rule.rule.trim().split(/\s+/).join(' ');
    out.push(
      finding(inputs, 'hba-unchecked', 'high', subject, [subject, plainText(rule.reason)], prose`${rule.where} may admit any address: it ${rule.reason}. The rule: ${code(subject)}`, {
        facts: { where: rule.where, rule: subject, reason: plainText(rule.reason) },
      }),
    );
  }
  return out;
}

/** An open request this long after it was made has not finished though the reconciler kept driving it. */
export const STUCK_AFTER_MS = 30 * 60_000;

function requestFindings(inputs: ClusterInputs): Finding[] {
  const now = inputs.now.getTime();
  const stuck = (inputs.open ?? [])
    .filter((r) => Date.parse(r.createdAt) + STUCK_AFTER_MS <= now)
    .map((r) =>
      finding(
        inputs,
        'stuck-request',
        'high',
        r.id,
        [r.id, r.status, r.step ?? ''],
        prose`Request ${code(r.id)} (${r.params.kind}) made at ${shortTime(r.createdAt)} has not finished: it is ${r.status}${r.step ? ` (${r.step})` : ''}. The bot drives it on every minute; Cancel undoes what it did and tells its requester.`,
        { fix: { kind: 'cancel-request', requestId: r.id }, person: r.requester, facts: { requestId: r.id, kind: r.params.kind, status: r.status, step: r.step, createdAt: r.createdAt } },
      ),
    );
  return [...stuck, ...requestFindingsPending(inputs, now)];
}

function requestFindingsPending(inputs: ClusterInputs, now: number): Finding[] {
  return inputs.pending
    .filter((r) => r.status === 'pending' && Date.parse(r.expiresAt) <= now)
    .map((r) =>
      finding(inputs, 'stale-pending', 'low', r.id, [r.id], prose`Request ${code(r.id)} (${r.params.kind}) expired at ${shortTime(r.expiresAt)} and is still pending; the expiry sweep expires it.`, {
        fix: { kind: 'expire-request', requestId: r.id },
        person: r.requester,
        facts: { requestId: r.id, kind: r.params.kind, requester: r.requester, expiresAt: r.expiresAt },
      }),
    );
}

function dmFindings(inputs: ClusterInputs): Finding[] {
  return inputs.dueDms.map((dm) =>
    finding(inputs, 'dm-past-ttl', 'medium', `${dm.channel}/${dm.ts}`, [dm.channel, dm.ts], prose`A DM carrying a password was due for deletion at ${shortTime(dm.deleteAfter)} and is still there.`, {
      fix: { kind: 'delete-dm', channel: dm.channel, ts: dm.ts },
      person: dm.user,
      facts: { channel: dm.channel, ts: dm.ts, recipient: dm.user, deleteAfter: dm.deleteAfter },
    }),
  );
}

/** `2025-01-31 14:05 UTC`. */
export function shortTime(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Counts by severity, for summaries. */
export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { high: 0, medium: 0, low: 0 };
  for (const f of findings) counts[f.severity] += 1;
  return counts;
}
