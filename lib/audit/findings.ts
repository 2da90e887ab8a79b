/**
 * Audit findings: what the audit says about a cluster, how a finding is identified from one run to
 * the next, and what its Remove button does.
 *
 * A finding's `fingerprint` hashes the cluster, the rule, the subject and the state the finding
 * describes (an entry's flags and name, a user's expiry, the cap level, ...). Keep records the
 * fingerprint, so a kept finding stays quiet exactly until that state changes, and a Remove click
 * names the finding it means: the worker re-audits the cluster and acts only if a finding with
 * that fingerprint still exists.
 */
import { createHash } from 'node:crypto';
import { type Cidr } from '../cluster-admin/types';
import { code, prose, type Prose } from '../prose';

export const FINDING_RULES = [
  'open',
  'broad',
  'drift',
  'expired',
  'private',
  'reserved',
  'overlap',
  'cap',
  'user-without-secret',
  'secret-without-user',
  'unexpected-admin',
  'expired-user',
  'stale-pending',
  'dm-past-ttl',
  'union',
  'hba-unchecked',
  'privileged-unguarded',
  'stuck-request',
] as const;
export type FindingRule = (typeof FINDING_RULES)[number];

export type Severity = 'high' | 'medium' | 'low';

/** What Remove does for a finding. Findings without one (the cap, an unexpected admin) offer Keep only. */
export type FindingFix =
  /** Remove the entry from the allowlist (and the bot's record of it, if any). */
  | { readonly kind: 'remove-entry'; readonly cidr: Cidr }
  /** Drop the bot's record of an entry that is no longer on the allowlist. */
  | { readonly kind: 'forget-entry'; readonly cidr: Cidr }
  /** Drop the SQL user, schedule its secret's deletion, drop the bot's record. */
  | { readonly kind: 'drop-user'; readonly user: string }
  /** Schedule the secret's deletion (recoverable for the configured window). */
  | { readonly kind: 'delete-secret'; readonly name: string }
  /** Expire a pending request (its card and requester are told). */
  | { readonly kind: 'expire-request'; readonly requestId: string }
  /** Cancel an open request that does not finish: undo what it did, end it failed, tell its requester. */
  | { readonly kind: 'cancel-request'; readonly requestId: string }
  /** Delete a DM that carries a password. */
  | { readonly kind: 'delete-dm'; readonly channel: string; readonly ts: string };

/** Facts for the structured log record: plain values, never a secret. */
export type FindingFacts = Readonly<Record<string, string | number | boolean>>;

export interface Finding {
  readonly cluster: string;
  readonly rule: FindingRule;
  readonly severity: Severity;
  /** What it is about: a CIDR, a user, a secret name, a request id. */
  readonly subject: string;
  /** One line for people, as prose the edges render. */
  readonly text: Prose;
  readonly fingerprint: string;
  readonly fix?: FindingFix;
  /** Who asked for or owns the subject, when the bot knows (a Slack user id). */
  readonly person?: string;
  readonly facts: FindingFacts;
}

/** 22 base64url characters: 132 bits of SHA-256. */
const FINGERPRINT = /^[A-Za-z0-9_-]{22}$/;

/** The identity of a finding and of the state it describes. */
export function fingerprintOf(cluster: string, rule: FindingRule, subject: string, state: readonly unknown[]): string {
  return createHash('sha256')
    .update(JSON.stringify([cluster, rule, subject, ...state]))
    .digest('base64url')
    .slice(0, 22);
}

export function isFingerprint(text: string): boolean {
  return FINGERPRINT.test(text);
}

/** What a Remove or Keep button carries. Only a pointer: nothing in it is trusted beyond naming a finding. */
export interface FindingRef {
  readonly cluster: string;
  readonly fingerprint: string;
  readonly rule: FindingRule;
  readonly subject: string;
}

/** Slack caps a button value at 2,000 characters; subjects are short, but a secret name may not be. */
const MAX_SUBJECT_IN_VALUE = 300;

export function encodeFindingRef(finding: Pick<Finding, 'cluster' | 'fingerprint' | 'rule' | 'subject'>): string {
  return JSON.stringify({ c: finding.cluster, f: finding.fingerprint, r: finding.rule, s: finding.subject.slice(0, MAX_SUBJECT_IN_VALUE) });
}

/** The finding a button names, or undefined for anything malformed (a forged click). */
export function decodeFindingRef(value: string): FindingRef | undefined {
  if (value.length > 2_000) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { c, f, r, s } = parsed as Record<string, unknown>;
  if (typeof c !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(c)) return undefined;
  if (typeof f !== 'string' || !isFingerprint(f)) return undefined;
  if (typeof r !== 'string' || !(FINDING_RULES as readonly string[]).includes(r)) return undefined;
  if (typeof s !== 'string' || s.length > MAX_SUBJECT_IN_VALUE) return undefined;
  return { cluster: c, fingerprint: f, rule: r as FindingRule, subject: s };
}

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { high: 0, medium: 1, low: 2 };

/** Most severe first, then by rule (in `FINDING_RULES` order) and subject: a stable report order. */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
    FINDING_RULES.indexOf(a.rule) - FINDING_RULES.indexOf(b.rule) ||
    (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0)
  );
}

/** Headline of each rule, for reports. */
export const RULE_TITLES: Readonly<Record<FindingRule, string>> = {
  open: 'Open to the internet',
  broad: 'Broader than policy',
  drift: 'Not created by the bot',
  expired: 'Expired temporary entry',
  private: 'Private range',
  reserved: 'Reserved range',
  overlap: 'Overlapping entries',
  cap: 'Allowlist cap',
  'user-without-secret': 'User without a managed secret',
  'secret-without-user': 'Secret without a user',
  'unexpected-admin': 'Unexpected admin',
  'expired-user': 'Expired temporary user',
  'stale-pending': 'Stale pending request',
  'dm-past-ttl': 'Password DM past its TTL',
  union: 'The allowlist as a whole',
  'stuck-request': 'Request not finishing',
  'hba-unchecked': 'HBA rule the bot cannot check',
  'privileged-unguarded': 'Privileged role can log in from allowlisted networks',
};

/** What Remove will do, for the button's confirmation dialog. */
export function describeFix(fix: FindingFix, cluster: string): Prose {
  switch (fix.kind) {
    case 'remove-entry':
      return prose`Remove ${code(fix.cidr)} from the allowlist of ${code(cluster)}.`;
    case 'forget-entry':
      return prose`Drop the bot's record of ${code(fix.cidr)} on ${code(cluster)} (the entry itself is already gone).`;
    case 'drop-user':
      return prose`Drop SQL user ${code(fix.user)} from ${code(cluster)} and schedule its secret for deletion.`;
    case 'delete-secret':
      return prose`Schedule secret ${code(fix.name)} for deletion (restorable during the recovery window).`;
    case 'expire-request':
      return prose`Expire pending request ${code(fix.requestId)}.`;
    case 'cancel-request':
      return prose`Cancel request ${code(fix.requestId)}: undo what it did where that can be, end it as failed and tell its requester.`;
    case 'delete-dm':
      return prose`Delete the DM that carries the password.`;
  }
}
