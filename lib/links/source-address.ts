/**
 * The address a page request came from: the connection's own (`requestContext.http.sourceIp`
 * on a Function URL), or, only when that connection is a configured trusted proxy, the last
 * address in `X-Forwarded-For` that no trusted proxy added. A forwarded address from anyone else
 * is a string the client chose, and is ignored.
 */
import ipaddr from 'ipaddr.js';

export type SourceAddress = { readonly ok: true; readonly address: string; readonly family: 'ipv4' | 'ipv6' } | { readonly ok: false };

/** `::ffff:203.0.113.7` (an IPv4 client of a dual-stack socket) is `203.0.113.7`. */
function parse(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const trimmed = text.trim();
  if (!ipaddr.isValid(trimmed)) return undefined;
  const parsed = ipaddr.parse(trimmed);
  return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed;
}

function trusted(address: ipaddr.IPv4 | ipaddr.IPv6, proxies: readonly (readonly [ipaddr.IPv4 | ipaddr.IPv6, number])[]): boolean {
  return proxies.some(([network, bits]) => network.kind() === address.kind() && address.match([network, bits] as [typeof network, number]));
}

export function sourceAddress(sourceIp: string, forwardedFor: string | undefined, trustedProxies: readonly string[]): SourceAddress {
  const proxies = trustedProxies.map((cidr) => ipaddr.parseCIDR(cidr));
  let address = parse(sourceIp);
  if (address === undefined) return { ok: false };
  if (trusted(address, proxies)) {
    const hops = (forwardedFor ?? '').split(',').map((h) => h.trim()).filter((h) => h !== '');
    for (let i = hops.length - 1; i >= 0 && trusted(address, proxies); i--) {
      const hop = parse(hops[i] ?? '');
      // A hop that is not an address: nothing before it can be believed.
      if (hop === undefined) return { ok: false };
      address = hop;
    }
    if (trusted(address, proxies)) return { ok: false };
  }
  return { ok: true, address: address.toString(), family: address.kind() };
}
