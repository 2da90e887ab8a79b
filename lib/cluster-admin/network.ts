/**
 * IPv4 network parsing, normalisation and classification for allowlist entries.
 *
 * CIDR math is ipaddr.js's; this module only decides what the bot accepts and how it explains
 * a refusal: one line of reason plus a corrected example, never a half-parsed value.
 */
import ipaddr from 'ipaddr.js';
import { shownInput } from './display';
import { InvalidInputError } from './errors';
import { type Cidr } from './types';
import { code, prose } from '../prose';

/** Why a network deserves attention. Policy decides what each flag means for approval. */
export type NetworkFlag =
  /** `0.0.0.0/0`: the whole internet. */
  | 'open'
  /** Overlaps RFC 1918 private space or carrier-grade NAT: the cluster sees your public address. */
  | 'private'
  /** Overlaps loopback, link-local, multicast, documentation, benchmarking or other reserved space. */
  | 'reserved';

export interface ParsedNetwork {
  /** Normalised `a.b.c.d/n`. */
  readonly cidr: Cidr;
  /** Network address, e.g. `203.0.113.0`. */
  readonly address: string;
  readonly prefixLength: number;
  /** Number of addresses the entry admits. */
  readonly size: number;
  /** Set when the input had host bits set: what the user typed. */
  readonly normalisedFrom?: string;
  readonly flags: readonly NetworkFlag[];
}

const EXAMPLE_HOST = '203.0.113.7';
const EXAMPLE_NETWORK = '203.0.113.0/24';

/**
 * ipaddr.js names ranges; these are the ones an allowlist entry should not point at.
 * `unicast` is the ordinary public internet.
 */
const PRIVATE_RANGES = new Set(['private', 'carrierGradeNat']);

/**
 * Special-purpose IPv4 blocks (RFC 6890 and friends) used to detect overlap, not just containment.
 * Every non-unicast range ipaddr.js names is here, so a network that merely contains one of them
 * (`192.88.0.0/16`) is flagged like one whose network address lies inside it.
 */
const SPECIAL_BLOCKS: ReadonlyArray<{ cidr: string; flag: Exclude<NetworkFlag, 'open'> }> = [
  { cidr: '10.0.0.0/8', flag: 'private' },
  { cidr: '172.16.0.0/12', flag: 'private' },
  { cidr: '192.168.0.0/16', flag: 'private' },
  { cidr: '100.64.0.0/10', flag: 'private' },
  { cidr: '0.0.0.0/8', flag: 'reserved' },
  { cidr: '127.0.0.0/8', flag: 'reserved' },
  { cidr: '169.254.0.0/16', flag: 'reserved' },
  { cidr: '192.0.0.0/24', flag: 'reserved' },
  { cidr: '192.0.2.0/24', flag: 'reserved' },
  { cidr: '192.31.196.0/24', flag: 'reserved' },
  { cidr: '192.52.193.0/24', flag: 'reserved' },
  { cidr: '192.88.99.0/24', flag: 'reserved' },
  { cidr: '192.175.48.0/24', flag: 'reserved' },
  { cidr: '198.18.0.0/15', flag: 'reserved' },
  { cidr: '198.51.100.0/24', flag: 'reserved' },
  { cidr: '203.0.113.0/24', flag: 'reserved' },
  { cidr: '224.0.0.0/4', flag: 'reserved' },
  { cidr: '240.0.0.0/4', flag: 'reserved' },
  { cidr: '255.255.255.255/32', flag: 'reserved' },
];

/** Parsed once: classify runs on every request and audit pass, and parsing dominated its cost. */
const PARSED_SPECIAL_BLOCKS = SPECIAL_BLOCKS.map((block) => {
  const [address, bits] = ipaddr.IPv4.parseCIDR(block.cidr);
  return { address, bits, flag: block.flag };
});

function looksLikeIpv6(text: string): boolean {
  return text.includes(':') && ipaddr.IPv6.isValid(text.split('/')[0] ?? '');
}

/**
 * Parses a dotted-quad IPv4 address, strictly: four decimal parts, no octal or hex forms.
 * @throws InvalidInputError with a one-line reason and an example.
 */
export function parseIpv4Address(input: string): string {
  const text = input.trim();
  if (looksLikeIpv6(text)) {
    throw new InvalidInputError(
      prose`${code(shown(text))} is an IPv6 address; CockroachDB Cloud allowlists accept IPv4 only.`,
      EXAMPLE_HOST,
    );
  }
  // Built only when needed: constructing an error captures a stack, and most inputs are valid.
  const notAnAddress = (): InvalidInputError =>
    new InvalidInputError(prose`${code(shown(text))} is not an IPv4 address (four numbers 0-255 separated by dots).`, EXAMPLE_HOST);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) throw notAnAddress();
  // Leading zeros are ambiguous (octal in some tools); refuse rather than guess.
  if (text.split('.').some((part) => part.length > 1 && part.startsWith('0'))) {
    const plain = stripLeadingZeros(text);
    throw new InvalidInputError(
      prose`${code(text)} has a leading zero in an octet; write each number plainly.`,
      ipaddr.IPv4.isValidFourPartDecimal(plain) ? plain : EXAMPLE_HOST,
    );
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(text)) throw notAnAddress();
  return ipaddr.IPv4.parse(text).toString();
}

/**
 * Parses `a.b.c.d` (a single host, /32) or `a.b.c.d/n`, normalising host bits away.
 * @throws InvalidInputError with a one-line reason and an example.
 */
export function parseIpv4Network(input: string): ParsedNetwork {
  const text = input.trim();
  if (text === '') {
    throw new InvalidInputError('An IPv4 address or CIDR is required.', EXAMPLE_HOST);
  }
  if (looksLikeIpv6(text)) {
    throw new InvalidInputError(
      prose`${code(shown(text))} is IPv6; CockroachDB Cloud allowlists accept IPv4 only.`,
      EXAMPLE_HOST,
    );
  }
  const { address, prefixLength } = parseAddressAndPrefix(text);
  const network = ipaddr.IPv4.networkAddressFromCIDR(`${address}/${prefixLength}`).toString();
  const cidr = `${network}/${prefixLength}`;
  const typed = `${address}/${prefixLength}`;
  return {
    cidr,
    address: network,
    prefixLength,
    size: 2 ** (32 - prefixLength),
    // A bare address is /32 and never has host bits, so `typed` always carries the prefix the user wrote.
    ...(network !== address ? { normalisedFrom: typed } : {}),
    flags: classify(network, prefixLength),
  };
}

/** Parses an already-normalised CIDR (from a backend or the state table), refusing anything else. */
export function parseCidr(cidr: string): ParsedNetwork {
  const parsed = parseIpv4Network(cidr);
  if (parsed.normalisedFrom !== undefined) {
    throw new InvalidInputError(prose`${code(parsed.normalisedFrom)} has host bits set.`, parsed.cidr);
  }
  return parsed;
}

/**
 * `a.b.c.d[/n]`, strictly, host bits allowed: the shape check every entry point shares.
 * @throws InvalidInputError with a one-line reason and an example.
 */
function parseAddressAndPrefix(text: string): { address: string; prefixLength: number } {
  const slash = text.indexOf('/');
  const address = parseIpv4Address(slash === -1 ? text : text.slice(0, slash));
  const prefixText = slash === -1 ? '32' : text.slice(slash + 1);
  if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) {
    throw new InvalidInputError(
      prose`${code(shown(text))} has an invalid prefix length; it must be a number from 0 to 32.`,
      `${address}/32`,
    );
  }
  return { address, prefixLength: Number(prefixText) };
}

function classify(network: string, prefixLength: number): NetworkFlag[] {
  if (prefixLength === 0) return ['open'];
  const flags = new Set<NetworkFlag>();
  const addr = ipaddr.IPv4.parse(network);
  for (const block of PARSED_SPECIAL_BLOCKS) {
    // Two CIDRs overlap exactly when the shorter prefix contains the other's network address.
    const overlaps = prefixLength <= block.bits ? block.address.match(addr, prefixLength) : addr.match(block.address, block.bits);
    if (overlaps) flags.add(block.flag);
  }
  // Belt and braces: ipaddr.js' own range names for the network address.
  const range = addr.range();
  if (PRIVATE_RANGES.has(range)) flags.add('private');
  else if (range !== 'unicast') flags.add('reserved');
  return [...flags];
}

/**
 * True when `ip` (dotted quad) lies inside `cidr`. Both are parsed strictly: ipaddr.js alone would
 * read `0177.0.0.1` as octal and `0x7f.1` as 127.0.0.1.
 * @throws InvalidInputError when either is malformed.
 */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const network = parseAddressAndPrefix(cidr.trim());
  return ipaddr.IPv4.parse(parseIpv4Address(ip)).match(ipaddr.IPv4.parse(network.address), network.prefixLength);
}

/**
 * True when the two networks share at least one address.
 * @throws InvalidInputError when either is malformed.
 */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const first = parseAddressAndPrefix(a.trim());
  const second = parseAddressAndPrefix(b.trim());
  const [aAddr, bAddr] = [ipaddr.IPv4.parse(first.address), ipaddr.IPv4.parse(second.address)];
  return first.prefixLength <= second.prefixLength
    ? bAddr.match(aAddr, first.prefixLength)
    : aAddr.match(bAddr, second.prefixLength);
}

/**
 * `cidr_ip` / `cidr_mask` as the Cloud API wants them. Host bits are kept as given, so an entry
 * someone else wrote can still be addressed exactly.
 * @throws InvalidInputError when `cidr` is malformed (a bare address used to yield `mask: NaN`).
 */
export function splitCidr(cidr: Cidr): { ip: string; mask: number } {
  const text = cidr.trim();
  if (!text.includes('/')) {
    const address = parseIpv4Address(text);
    throw new InvalidInputError(prose`${code(address)} has no prefix length.`, `${address}/32`);
  }
  const { address, prefixLength } = parseAddressAndPrefix(text);
  return { ip: address, mask: prefixLength };
}

export const NETWORK_EXAMPLES = { host: EXAMPLE_HOST, network: EXAMPLE_NETWORK } as const;

function stripLeadingZeros(text: string): string {
  return text
    .split('.')
    .map((part) => String(Number(part)))
    .join('.');
}

function shown(text: string): string {
  return shownInput(text, 60);
}
