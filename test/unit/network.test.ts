import { InvalidInputError } from '../../lib/cluster-admin/errors';
import {
  NETWORK_EXAMPLES,
  type NetworkFlag,
  cidrContains,
  cidrsOverlap,
  parseCidr,
  parseIpv4Address,
  parseIpv4Network,
  splitCidr,
} from '../../lib/cluster-admin/network';

/** Any character a chat client could render as a line break. */
const LINE_BREAK = /[\n\r\v\f\u0085\u2028\u2029]/;

/** Runs `fn`, expecting the standard refusal: InvalidInputError, one line, an example that parses. */
function expectRefused(fn: () => unknown): InvalidInputError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidInputError);
  const error = caught as InvalidInputError;
  expect(error.message).not.toMatch(LINE_BREAK);
  expect(error.message.length).toBeLessThanOrEqual(200);
  expect(error.example).toEqual(expect.any(String));
  expect(() => parseIpv4Network(error.example ?? '')).not.toThrow();
  return error;
}

function sortedFlags(input: string): NetworkFlag[] {
  return [...parseIpv4Network(input).flags].sort();
}

describe('parseIpv4Network', () => {
  it('reads a single host as a /32', () => {
    expect(parseIpv4Network('34.1.2.3')).toEqual({ cidr: '34.1.2.3/32', address: '34.1.2.3', prefixLength: 32, size: 1, flags: [] });
  });

  it('normalises a CIDR with host bits set and says what the user typed', () => {
    const parsed = parseIpv4Network('203.0.113.7/24');
    expect(parsed.cidr).toBe('203.0.113.0/24');
    expect(parsed.address).toBe('203.0.113.0');
    expect(parsed.normalisedFrom).toBe('203.0.113.7/24');
    expect(parsed.size).toBe(256);
  });

  it('leaves normalisedFrom unset when no host bits are set', () => {
    const parsed = parseIpv4Network('203.0.113.0/24');
    expect(parsed.cidr).toBe('203.0.113.0/24');
    expect(parsed).not.toHaveProperty('normalisedFrom');
  });

  it('ignores surrounding whitespace', () => {
    expect(parseIpv4Network('  \t198.51.100.0/24\n').cidr).toBe('198.51.100.0/24');
  });

  it('counts the addresses of the whole internet', () => {
    expect(parseIpv4Network('0.0.0.0/0').size).toBe(2 ** 32);
  });

  it.each(['2001:db8::1', '::1/128', '::ffff:1.2.3.4', 'fe80::1%eth0'])('refuses IPv6 %s with a one-line reason naming IPv4', (input) => {
    const error = expectRefused(() => parseIpv4Network(input));
    expect(error.message).toContain('IPv6');
    expect(error.message).toContain('IPv4');
    expect(error.example).toBe(NETWORK_EXAMPLES.host);
  });

  it.each([
    ['three parts', '1.2.3'],
    ['five parts', '1.2.3.4.5'],
    ['an octet over 255', '256.1.1.1'],
    ['a prefix over 32', '1.2.3.4/33'],
    ['an empty prefix', '1.2.3.4/'],
    ['a negative prefix', '1.2.3.4/-1'],
    ['a leading zero', '01.2.3.4'],
    ['a hex octet', '0x7f.0.0.1'],
    ['nothing', ''],
    ['only whitespace', ' \t\n '],
    ['two prefixes', '1.2.3.4/24/8'],
    ['a very long string', '1'.repeat(100_000)],
    ['a very long dotted string', '1.'.repeat(50_000)],
    ['a very long IPv6-looking string', `fe80::1%${'a'.repeat(100_000)}`],
    ['a very long string of colons', `${':'.repeat(100_000)}1`],
    ['Arabic-Indic digits', '١٢٣.١.١.١'],
    ['fullwidth digits', '１.２.３.４'],
    ['superscript digits', '¹.2.3.4'],
    ['a space inside the prefix', '1.2.3.4/ 24'],
    ['a decimal integer', '3232235777'],
    ['a URL', 'http://1.2.3.4/'],
  ])('refuses %s with a one-line reason and an example that parses', (_what, input) => {
    expectRefused(() => parseIpv4Network(input));
  });

  it('suggests the plain form of an address with leading zeros', () => {
    expect(expectRefused(() => parseIpv4Network('010.001.002.003')).example).toBe('10.1.2.3');
  });

  it('suggests the address as a /32 when only the prefix is wrong', () => {
    expect(expectRefused(() => parseIpv4Network('1.2.3.4/33')).example).toBe('1.2.3.4/32');
  });

  // Regression: an internal line break was echoed into the message, making it two lines.
  it.each(['1.2.3.4\n5', '1.2.3.4/2\n4', '1.2.3.4\u2028x', 'a\r\nb'])('keeps the refusal of %j on one line', (input) => {
    expectRefused(() => parseIpv4Network(input));
  });

  // Regression: parseIpv4Address echoed an IPv6 zone id in full (hundreds of characters).
  it('keeps the IPv6 refusal short however long the zone id', () => {
    expectRefused(() => parseIpv4Address(`fe80::1%${'a'.repeat(500)}`));
  });
});

describe('network flags', () => {
  it.each<[string, NetworkFlag[]]>([
    ['0.0.0.0/0', ['open']],
    ['10.1.2.3', ['private']],
    ['100.64.0.1', ['private']],
    ['127.0.0.1', ['reserved']],
    ['192.168.0.0/16', ['private']],
    ['172.0.0.0/11', ['private']],
    ['169.254.10.1', ['reserved']],
    ['224.0.0.1', ['reserved']],
    ['255.255.255.255', ['reserved']],
    ['203.0.113.7', ['reserved']],
    ['8.0.0.0/7', []],
    ['34.1.2.3', []],
    ['172.15.255.0/24', []],
    ['0.0.0.0/1', ['private', 'reserved']],
    ['128.0.0.0/1', ['private', 'reserved']],
  ])('flags %s as %j', (input, flags) => {
    expect(sortedFlags(input)).toEqual([...flags].sort());
  });

  // Regression: some ranges ipaddr.js knows (6to4 relay, AS112, AMT) were flagged only when the
  // network address fell inside them, not when the network merely contained them.
  it.each(['192.88.0.0/16', '192.175.0.0/16', '192.31.0.0/16', '192.52.0.0/16'])('flags %s, which contains a special-purpose block', (input) => {
    expect(sortedFlags(input)).toEqual(['reserved']);
  });
});

describe('parseIpv4Address', () => {
  it('returns a strict dotted quad', () => {
    expect(parseIpv4Address(' 34.1.2.3 ')).toBe('34.1.2.3');
  });

  it.each(['0177.0.0.1', '0x7f.0.0.1', '127.1', '1.2.3.4/32', '2001:db8::1'])('refuses %s', (input) => {
    expectRefused(() => parseIpv4Address(input));
  });
});

describe('parseCidr', () => {
  it('accepts a normalised CIDR', () => {
    expect(parseCidr('10.0.0.0/8').cidr).toBe('10.0.0.0/8');
  });

  it('refuses host bits with the normalised CIDR as the example', () => {
    expect(expectRefused(() => parseCidr('10.1.2.3/8\n')).example).toBe('10.0.0.0/8');
  });
});

describe('cidrContains', () => {
  it.each<[string, string, boolean]>([
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['0.0.0.0/0', '198.51.100.9', true],
    ['1.2.3.4/32', '1.2.3.4', true],
    ['1.2.3.4/32', '1.2.3.5', false],
  ])('%s contains %s: %s', (cidr, ip, expected) => {
    expect(cidrContains(cidr, ip)).toBe(expected);
  });

  // Regression: ipaddr.js' lenient parser read `0177.0.0.1` as octal 127.0.0.1 and `10.1` as 10.0.0.1.
  it.each([
    ['127.0.0.0/8', '0177.0.0.1'],
    ['127.0.0.0/8', '0x7f.0.0.1'],
    ['10.0.0.0/8', '10.1'],
    ['0x0a.0.0.0/8', '10.0.0.1'],
    ['10.0.0.0/40', '10.0.0.1'],
  ])('refuses a malformed argument (%s, %s) instead of guessing', (cidr, ip) => {
    expectRefused(() => cidrContains(cidr, ip));
  });
});

describe('cidrsOverlap', () => {
  it.each<[string, string, boolean]>([
    ['10.0.0.0/8', '10.1.0.0/16', true],
    ['10.1.0.0/16', '10.0.0.0/8', true],
    ['10.0.0.0/8', '11.0.0.0/8', false],
    ['10.0.0.0/25', '10.0.0.128/25', false],
    ['203.0.113.0/24', '203.0.113.0/24', true],
    ['0.0.0.0/0', '198.51.100.7/32', true],
  ])('%s and %s overlap: %s', (a, b, expected) => {
    expect(cidrsOverlap(a, b)).toBe(expected);
  });

  it('refuses a malformed network instead of guessing', () => {
    expectRefused(() => cidrsOverlap('012.0.0.0/8', '10.0.0.0/8'));
  });
});

describe('splitCidr', () => {
  it.each<[string, { ip: string; mask: number }]>([
    ['203.0.113.0/24', { ip: '203.0.113.0', mask: 24 }],
    ['0.0.0.0/0', { ip: '0.0.0.0', mask: 0 }],
    ['198.51.100.7/32', { ip: '198.51.100.7', mask: 32 }],
    // Host bits are kept: removing an entry someone else wrote must name it exactly.
    ['10.1.2.3/8', { ip: '10.1.2.3', mask: 8 }],
  ])('splits %s into the Cloud API fields', (cidr, expected) => {
    expect(splitCidr(cidr)).toEqual(expected);
  });

  // Regression: a bare address came back as `{ mask: NaN }`.
  it('refuses a bare address, suggesting the /32', () => {
    expect(expectRefused(() => splitCidr('1.2.3.4')).example).toBe('1.2.3.4/32');
  });

  it.each(['', 'garbage', '1.2.3.4/33', '1.2.3/24'])('refuses %j', (input) => {
    expectRefused(() => splitCidr(input));
  });
});
