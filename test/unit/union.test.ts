import fc from 'fast-check';
import { unionOf, unionViolation } from '../../lib/policy/union';
import { evaluate } from '../../lib/audit/rules';
import { clusterInputs } from '../support/audit-inputs';

describe('allowlist union', () => {
  it('counts overlapping and nested networks once', () => {
    expect(unionOf(['10.0.0.0/24', '10.0.0.0/25', '10.0.0.128/26', '10.0.1.0/24']).addresses).toBe(512);
    expect(unionOf([]).addresses).toBe(0);
  });

  it('sees two /1 halves as the whole internet, as 0.0.0.0/0 is', () => {
    expect(unionOf(['0.0.0.0/1', '128.0.0.0/1'])).toEqual({ addresses: 2 ** 32, open: true });
    expect(unionOf(['0.0.0.0/0'])).toEqual({ addresses: 2 ** 32, open: true });
    expect(unionOf(['0.0.0.0/1', '128.0.0.0/2', '192.0.0.0/2']).open).toBe(true);
    expect(unionOf(['0.0.0.0/1', '128.0.0.0/2']).open).toBe(false);
  });

  it('skips what is not an IPv4 network', () => {
    expect(unionOf(['samenet', '::1/128', '10.0.0.1/32']).addresses).toBe(1);
  });

  it('agrees with counting addresses one by one (networks inside one /20)', () => {
    const network = fc.tuple(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 22, max: 32 })).map(([offset, bits]) => {
      const size = 2 ** (32 - bits);
      const start = Math.floor(offset / size) * size;
      return { cidr: `10.16.${Math.floor(start / 256)}.${start % 256}/${bits}`, start, size };
    });
    fc.assert(
      fc.property(fc.array(network, { maxLength: 12 }), (networks) => {
        const seen = new Set<number>();
        for (const n of networks) for (let a = n.start; a < n.start + n.size; a++) seen.add(a);
        expect(unionOf(networks.map((n) => n.cidr)).addresses).toBe(seen.size);
      }),
      { seed: 1181, numRuns: 300 },
    );
  });

  it('states the policy it breaks in one line', () => {
    expect(unionViolation(unionOf(['0.0.0.0/1', '128.0.0.0/1']), { allowOpen: false }, 'prod')).toBe(
      'together with the entries already there, this would admit every IPv4 address to prod; its policy never allows that.',
    );
    expect(unionViolation(unionOf(['0.0.0.0/1', '128.0.0.0/1']), { allowOpen: true }, 'prod')).toBeUndefined();
    expect(unionViolation(unionOf(['10.0.0.0/16']), { allowOpen: false, maxBreadth: 16 }, 'lab')).toBeUndefined();
    expect(unionViolation(unionOf(['10.0.0.0/16', '10.1.0.0/32']), { allowOpen: false, maxBreadth: 16 }, 'lab')).toMatch(/65,537 addresses, more than its ceiling of \/16/);
  });
});

describe('audit: the union rule', () => {
  it('reports two /1 entries as the whole internet, though neither is 0.0.0.0/0', () => {
    const findings = evaluate(
      clusterInputs({
        policy: { minPrefix: 24, expectedAdmins: [], allowOpen: false },
        entries: [
          { cidr: '0.0.0.0/1', sql: true, ui: false, name: 'a' },
          { cidr: '128.0.0.0/1', sql: true, ui: false, name: 'b' },
        ],
      }),
    );
    const union = findings.find((f) => f.rule === 'union');
    expect(union?.severity).toBe('high');
    expect(union?.text).toEqual(['All 2 entries together admit every IPv4 address; the policy of prod never allows that.']);
    expect(findings.some((f) => f.rule === 'open')).toBe(false);
  });
});
