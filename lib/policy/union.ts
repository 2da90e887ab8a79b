/**
 * What an allowlist admits as a whole. "Not open to the internet" and "no broader than /N" are
 * properties of the union of its entries, not of any one entry: two `/1` entries admit exactly
 * what `0.0.0.0/0` admits. Pure; IPv4 addresses are numbers below 2^32, so plain interval
 * arithmetic on them is exact.
 */
import ipaddr from 'ipaddr.js';
import { parseIpv4Network } from '../cluster-admin/network';

const ALL_ADDRESSES = 2 ** 32;

export interface AllowlistUnion {
  /** Addresses the entries admit together, each counted once. */
  readonly addresses: number;
  /** The union admits every IPv4 address. */
  readonly open: boolean;
}

/** The union of IPv4 networks; entries that are not IPv4 networks are skipped (the caller reports them). */
export function unionOf(cidrs: Iterable<string>): AllowlistUnion {
  const ranges: Array<[number, number]> = [];
  for (const cidr of cidrs) {
    let parsed;
    try {
      parsed = parseIpv4Network(cidr);
    } catch {
      continue;
    }
    const start = ipaddr.IPv4.parse(parsed.address).toByteArray().reduce((acc, octet) => acc * 256 + octet, 0);
    ranges.push([start, start + parsed.size]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  let addresses = 0;
  let end = -1;
  for (const [start, stop] of ranges) {
    if (stop <= end) continue;
    addresses += stop - Math.max(start, end);
    end = stop;
  }
  return { addresses, open: addresses >= ALL_ADDRESSES };
}

export interface UnionPolicy {
  readonly allowOpen: boolean;
  /** The broadest the whole allowlist may be, as a prefix length (16: at most 65,536 addresses). */
  readonly maxBreadth?: number;
}

/** Why `union` breaks the policy (one user-safe line), or undefined when it does not. */
export function unionViolation(union: AllowlistUnion, { allowOpen, maxBreadth }: UnionPolicy, cluster: string): string | undefined {
  if (union.open && !allowOpen) {
    return `together with the entries already there, this would admit every IPv4 address to ${cluster}; its policy never allows that.`;
  }
  if (maxBreadth !== undefined && union.addresses > 2 ** (32 - maxBreadth)) {
    return `together with the entries already there, ${cluster}'s allowlist would admit ${union.addresses.toLocaleString('en-US')} addresses, more than its ceiling of /${maxBreadth} (${(2 ** (32 - maxBreadth)).toLocaleString('en-US')}).`;
  }
  return undefined;
}
