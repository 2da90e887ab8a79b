/**
 * Value validation: one function per kind of value (a network, a duration, a user name, ...), each
 * returning the normalised value or a one-line reason with a corrected example.
 */
import { CONNECTION_FORMAT_IDS, type ConnectionFormatId } from '../../cluster-admin/connection-formats';
import { InvalidInputError } from '../../cluster-admin/errors';
import { parseIpv4Address, parseIpv4Network, type ParsedNetwork } from '../../cluster-admin/network';
import { validateObjectName, validateUserName } from '../../cluster-admin/sql-names';
import { type Cidr } from '../../cluster-admin/types';
import { parseDuration } from '../../config';
import { type KindValues, type ValueKind } from './definitions';
import { cut, keyword, nearest, shown } from './helpers';
import { mrkdwn } from '../text';

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
    // Escaped as a whole where the reason is shown (commands.ts), like every other grammar reason.
    return refused(mrkdwn(error.prose, { escaped: false }), fix ? fix(error.example) : error.example);
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

export const UNIT_WORDS: Readonly<Record<string, number>> = {
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
export function canonicalDuration(text: string): string | undefined {
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

export const KIND_CHECKS: { readonly [K in ValueKind]: (raw: string, subject: string) => Checked<KindValues[K]> } = {
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
export const FREE_TEXT_KINDS: ReadonlySet<ValueKind> = new Set(['label', 'reason']);
