/**
 * The audit rules as pure functions: every rule, its fix, its fingerprint (what Keep acknowledges),
 * and the overlap sweep against a brute-force check on generated allowlists.
 */
import fc from 'fast-check';
import { decodeFindingRef, encodeFindingRef, type Finding, fingerprintOf } from '../../lib/audit/findings';
import { type ClusterInputs, evaluate } from '../../lib/audit/rules';
import { cidrsOverlap } from '../../lib/cluster-admin/network';
import { type AllowlistEntry } from '../../lib/cluster-admin/types';
import { type ChatRequest, type ManagedEntry, type ManagedUser } from '../../lib/requests/types';
import { clusterInputs } from '../support/audit-inputs';
import { mrkdwn } from '../../lib/slack/text';

/** A finding's text as the Slack report shows it. */
function shown(finding: Finding | undefined): string {
  return finding === undefined ? '' : mrkdwn(finding.text);
}

const NOW = new Date('2030-01-02T12:00:00.000Z');
const EARLIER = '2030-01-02T11:00:00.000Z';
const LATER = '2030-01-02T13:00:00.000Z';
const ID = '01JAUDIT000000000000000001';
const OTHER_ID = '01JAUDIT000000000000000002';

function inputs(overrides: Partial<ClusterInputs> = {}): ClusterInputs {
  return clusterInputs({ now: NOW, ...overrides });
}

function entry(cidr: string, name?: string, access: Partial<Pick<AllowlistEntry, 'sql' | 'ui'>> = {}): AllowlistEntry {
  return { cidr, sql: true, ui: false, ...access, ...(name !== undefined ? { name } : {}) };
}

function record(cidr: string, requestId = ID, expiresAt?: string): ManagedEntry {
  return { cluster: 'prod', cidr, requestId, requester: 'U0ALICE', sql: true, ui: false, createdAt: EARLIER, ...(expiresAt ? { expiresAt } : {}) };
}

function managedUser(user: string, expiresAt?: string): ManagedUser {
  return { cluster: 'prod', user, owner: 'U0ALICE', secretName: `crdb-chatops/prod/${user}`, database: 'defaultdb', requestId: ID, createdAt: EARLIER, ...(expiresAt ? { expiresAt } : {}) };
}

function byRule(findings: readonly Finding[], rule: Finding['rule']): Finding[] {
  return findings.filter((f) => f.rule === rule);
}

describe('audit rules: allowlist entries', () => {
  it('finds nothing wrong with an entry the bot made, named and recorded', () => {
    expect(evaluate(inputs({ entries: [entry('198.51.99.7/32', `chatops:${ID}`)], managedEntries: [record('198.51.99.7/32')] }))).toEqual([]);
  });

  it('reports 0.0.0.0/0 as open (high) with a Remove that removes it', () => {
    const [open] = byRule(evaluate(inputs({ entries: [entry('0.0.0.0/0', `chatops:${ID}`)], managedEntries: [record('0.0.0.0/0')] })), 'open');
    expect(open).toMatchObject({ severity: 'high', subject: '0.0.0.0/0', fix: { kind: 'remove-entry', cidr: '0.0.0.0/0' }, person: 'U0ALICE' });
    expect(shown(open)).toMatch(/whole internet/);
  });

  it('reports prefixes broader than the policy minimum, not those at it', () => {
    const findings = evaluate(inputs({ entries: [entry('8.8.0.0/16', `chatops:${ID}`), entry('9.9.9.0/24', `chatops:${OTHER_ID}`)], managedEntries: [record('8.8.0.0/16'), record('9.9.9.0/24', OTHER_ID)] }));
    expect(byRule(findings, 'broad').map((f) => f.subject)).toEqual(['8.8.0.0/16']);
    expect(shown(byRule(findings, 'broad')[0])).toMatch(/65,536 addresses, broader than the policy's \/24/);
  });

  it('reports private and reserved ranges on a Cloud cluster only', () => {
    const entries = [entry('10.1.0.0/24', `chatops:${ID}`), entry('127.0.0.1/32', `chatops:${OTHER_ID}`)];
    const managedEntries = [record('10.1.0.0/24'), record('127.0.0.1/32', OTHER_ID)];
    const cloud = evaluate(inputs({ entries, managedEntries }));
    expect(byRule(cloud, 'private').map((f) => f.subject)).toEqual(['10.1.0.0/24']);
    expect(byRule(cloud, 'reserved').map((f) => f.subject)).toEqual(['127.0.0.1/32']);
    // A self-hosted cluster may well sit on a private network, and local mode on loopback.
    expect(evaluate(inputs({ backend: 'sql', entries, managedEntries }))).toEqual([]);
  });

  it.each([
    ['added outside the bot', entry('1.2.3.4/32', 'office'), undefined, /added outside the bot \(“office”\)/],
    ['named by the bot, no record', entry('1.2.3.4/32', `chatops:${ID}`), undefined, /named for request `01JAUDIT000000000000000001`, but the bot has no record/],
    ['name and record disagree', entry('1.2.3.4/32', `chatops:${OTHER_ID}`), record('1.2.3.4/32'), /named for request `01JAUDIT000000000000000002`, but the bot applied it for request `01JAUDIT000000000000000001`/],
    ['renamed in the console', entry('1.2.3.4/32', 'renamed'), record('1.2.3.4/32'), /applied it for request `01JAUDIT000000000000000001`, but its name was changed to “renamed”/],
  ])('reports drift: %s', (_case, allowlistEntry, managed, text) => {
    const [drift] = byRule(evaluate(inputs({ entries: [allowlistEntry], managedEntries: managed ? [managed] : [] })), 'drift');
    expect(drift).toMatchObject({ severity: 'medium', subject: '1.2.3.4/32', fix: { kind: 'remove-entry', cidr: '1.2.3.4/32' } });
    expect(shown(drift)).toMatch(text);
  });

  it("offers no Remove for a self-hosted operator's pg_hba.conf line, which the bot never edits", () => {
    const [drift] = byRule(evaluate(inputs({ backend: 'sql', entries: [entry('10.9.0.0/16', 'pg_hba line 3 (not managed by the bot)')], operatorCidrs: new Set(['10.9.0.0/16']) })), 'drift');
    expect(drift?.fix).toBeUndefined();
    expect(shown(drift)).toMatch(/pg_hba\.conf` line the bot does not manage/);
  });

  it('reports the bot\'s record of an entry that is gone from the allowlist, with a Remove that forgets it', () => {
    const [stale] = byRule(evaluate(inputs({ managedEntries: [record('5.6.7.8/32')] })), 'drift');
    expect(stale).toMatchObject({ severity: 'low', subject: '5.6.7.8/32', fix: { kind: 'forget-entry', cidr: '5.6.7.8/32' } });
  });

  it('reports expired temporary entries, saying whether the bot can prove it made them', () => {
    const proven = byRule(evaluate(inputs({ entries: [entry('1.2.3.4/32', `chatops:${ID}`)], managedEntries: [record('1.2.3.4/32', ID, EARLIER)] })), 'expired');
    expect(proven).toHaveLength(1);
    expect(proven[0]?.facts.proven).toBe(true);
    const unproven = byRule(evaluate(inputs({ entries: [entry('1.2.3.4/32', 'someone else')], managedEntries: [record('1.2.3.4/32', ID, EARLIER)] })), 'expired');
    expect(shown(unproven[0])).toMatch(/cannot prove it created the entry/);
    expect(byRule(evaluate(inputs({ entries: [entry('1.2.3.4/32', `chatops:${ID}`)], managedEntries: [record('1.2.3.4/32', ID, LATER)] })), 'expired')).toEqual([]);
  });

  it('quotes names typed elsewhere and keeps them short (the renderers escape them)', () => {
    const [drift] = byRule(evaluate(inputs({ entries: [entry('1.2.3.4/32', `<!channel> ${'x'.repeat(200)}`)] })), 'drift');
    // A name is a label, never the bot's own words: Slack's renderer quotes, escapes and caps it.
    expect(drift?.text).toContainEqual({ label: `<!channel> ${'x'.repeat(200)}` });
    expect(shown(drift)).toContain('“&lt;!channel&gt; ');
    expect(shown(drift)).not.toContain('<!channel>');
    expect(shown(drift).length).toBeLessThan(250);
  });
});

describe('audit rules: overlapping entries', () => {
  it('reports an entry inside a wider one, with a Remove only when it is redundant', () => {
    const findings = byRule(
      evaluate(inputs({ entries: [entry('8.8.0.0/16', 'wide'), entry('8.8.8.0/24', 'narrow'), entry('8.8.9.0/24', 'console', { ui: true })] })),
      'overlap',
    );
    expect(findings.map((f) => f.subject).sort()).toEqual(['8.8.8.0/24 in 8.8.0.0/16', '8.8.9.0/24 in 8.8.0.0/16']);
    expect(findings.find((f) => f.subject.startsWith('8.8.8.0'))?.fix).toEqual({ kind: 'remove-entry', cidr: '8.8.8.0/24' });
    // The narrow entry grants the DB Console, which the wide one does not: removing it would take access away.
    expect(findings.find((f) => f.subject.startsWith('8.8.9.0'))?.fix).toBeUndefined();
  });

  it('reports a duplicate CIDR (an operator line and the bot\'s), removing the bot\'s copy', () => {
    const findings = byRule(
      evaluate(inputs({ backend: 'sql', entries: [entry('9.9.9.9/32', `chatops:${ID}`), entry('9.9.9.9/32', 'pg_hba line 7 (not managed by the bot)')], operatorCidrs: new Set(['9.9.9.9/32']), managedEntries: [record('9.9.9.9/32')] })),
      'overlap',
    );
    expect(findings).toHaveLength(1);
    expect(shown(findings[0])).toMatch(/appears twice/);
    expect(findings[0]?.fix).toEqual({ kind: 'remove-entry', cidr: '9.9.9.9/32' });
  });

  it('agrees with a brute-force check on generated allowlists (every contained entry reported once, against a container)', () => {
    const cidr = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 8, max: 32 })).map(([a, b, c, bits]) => {
      const n = ((a * 2 ** 24 + b * 2 ** 16 + c * 2 ** 8) >>> 0) & (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
      return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${bits}`;
    });
    fc.assert(
      fc.property(fc.uniqueArray(cidr, { maxLength: 40 }), (cidrs) => {
        const entries = cidrs.map((c) => entry(c, `chatops:${ID}`));
        const reported = byRule(evaluate(inputs({ backend: 'sql', entries })), 'overlap');
        const contained = cidrs.filter((c) => cidrs.some((o) => o !== c && Number(o.split('/')[1]) < Number(c.split('/')[1]) && cidrsOverlap(o, c)));
        expect(reported.map((f) => f.facts.cidr).sort()).toEqual([...contained].sort());
        for (const f of reported) expect(cidrsOverlap(String(f.facts.cidr), String(f.facts.within))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('handles 10,000 entries with one finding per contained entry', () => {
    const entries = Array.from({ length: 10_000 }, (_, i) => entry(`11.${(i >> 8) & 255}.${i & 255}.0/24`, `chatops:${ID}`));
    entries.push(entry('11.0.0.0/16', `chatops:${ID}`));
    const findings = byRule(evaluate(inputs({ entries })), 'overlap');
    expect(findings).toHaveLength(256);
  });
});

describe('audit rules: cap, users, requests, DMs', () => {
  it('warns near the cap, and again (a new fingerprint) at it', () => {
    const entries = (n: number) => Array.from({ length: n }, (_, i) => entry(`8.8.${i}.0/24`, `chatops:${ID}`));
    expect(byRule(evaluate(inputs({ cap: 20, entries: entries(17) })), 'cap')).toEqual([]);
    const [near] = byRule(evaluate(inputs({ cap: 20, entries: entries(18) })), 'cap');
    const [near19] = byRule(evaluate(inputs({ cap: 20, entries: entries(19) })), 'cap');
    const [at] = byRule(evaluate(inputs({ cap: 20, entries: entries(20) })), 'cap');
    expect(near).toMatchObject({ severity: 'medium', facts: { level: 'near', entries: 18, cap: 20 } });
    expect(near?.fix).toBeUndefined();
    expect(near19?.fingerprint).toBe(near?.fingerprint);
    expect(at).toMatchObject({ severity: 'high', facts: { level: 'at' } });
    expect(at?.fingerprint).not.toBe(near?.fingerprint);
    expect(byRule(evaluate(inputs({ entries: entries(100) })), 'cap')).toEqual([]);
  });

  it('reports users without a live managed secret, and live secrets without a user', () => {
    const findings = evaluate(
      inputs({
        users: ['managed_ok', 'stray', 'lost_secret'],
        managedUsers: [managedUser('managed_ok'), managedUser('lost_secret')],
        secrets: [
          { name: 'crdb-chatops/prod/managed_ok', tags: {} },
          { name: 'crdb-chatops/prod/lost_secret', tags: {}, deletedAt: new Date(EARLIER) },
          { name: 'crdb-chatops/prod/ghost', tags: { 'crdb-chatops:owner': 'U0BOB' }, createdAt: new Date(EARLIER) },
          { name: 'crdb-chatops/prod/gone', tags: {}, deletedAt: new Date(EARLIER) },
        ],
      }),
    );
    expect(byRule(findings, 'user-without-secret').map((f) => [f.subject, f.fix])).toEqual([
      ['stray', { kind: 'drop-user', user: 'stray' }],
      ['lost_secret', { kind: 'drop-user', user: 'lost_secret' }],
    ]);
    expect(shown(byRule(findings, 'user-without-secret')[1])).toMatch(/its password exists nowhere/);
    expect(byRule(findings, 'secret-without-user')).toMatchObject([{ subject: 'crdb-chatops/prod/ghost', fix: { kind: 'delete-secret', name: 'crdb-chatops/prod/ghost' }, person: 'U0BOB' }]);
  });

  it('reports expired temporary users that still exist', () => {
    const findings = evaluate(inputs({ users: ['tmp', 'tmp2'], managedUsers: [managedUser('tmp', EARLIER), managedUser('tmp2', LATER), managedUser('gone', EARLIER)], secrets: ['tmp', 'tmp2', 'gone'].map((u) => ({ name: `crdb-chatops/prod/${u}`, tags: {} })) }));
    expect(byRule(findings, 'expired-user')).toMatchObject([{ subject: 'tmp', severity: 'high', fix: { kind: 'drop-user', user: 'tmp' } }]);
  });

  it('reports admins the policy does not expect, when the backend can list them, with Keep only', () => {
    expect(byRule(evaluate(inputs({ admins: ['root', 'ops'], policy: { minPrefix: 24, expectedAdmins: ['root'] } })), 'unexpected-admin')).toMatchObject([{ subject: 'ops', severity: 'high' }]);
    expect(byRule(evaluate(inputs({ admins: ['ops'] })), 'unexpected-admin')[0]?.fix).toBeUndefined();
    expect(byRule(evaluate(inputs({})), 'unexpected-admin')).toEqual([]);
  });

  it('reports pending requests past their expiry and password DMs past their TTL', () => {
    const request = { id: ID, cluster: 'prod', requester: 'U0ALICE', status: 'pending', expiresAt: EARLIER, params: { kind: 'allow', allow: { cidr: '1.2.3.4/32', sql: true, ui: false } } } as unknown as ChatRequest;
    const findings = evaluate(inputs({ pending: [request, { ...request, id: OTHER_ID, expiresAt: LATER }], dueDms: [{ channel: 'D0ALICE', ts: '1.000100', user: 'U0ALICE', deleteAfter: EARLIER }] }));
    expect(byRule(findings, 'stale-pending')).toMatchObject([{ subject: ID, fix: { kind: 'expire-request', requestId: ID } }]);
    expect(byRule(findings, 'dm-past-ttl')).toMatchObject([{ fix: { kind: 'delete-dm', channel: 'D0ALICE', ts: '1.000100' }, person: 'U0ALICE' }]);
  });
});

describe('finding fingerprints and button values', () => {
  it('changes the fingerprint when the state a finding describes changes, and only then', () => {
    const first = evaluate(inputs({ entries: [entry('1.2.3.4/32', 'office')] }))[0];
    const again = evaluate(inputs({ entries: [entry('1.2.3.4/32', 'office')] }))[0];
    const renamed = evaluate(inputs({ entries: [entry('1.2.3.4/32', 'office 2')] }))[0];
    const withUi = evaluate(inputs({ entries: [entry('1.2.3.4/32', 'office', { ui: true })] }))[0];
    expect(again?.fingerprint).toBe(first?.fingerprint);
    expect(renamed?.fingerprint).not.toBe(first?.fingerprint);
    expect(withUi?.fingerprint).not.toBe(first?.fingerprint);
    expect(fingerprintOf('prod', 'drift', '1.2.3.4/32', [1])).not.toBe(fingerprintOf('staging', 'drift', '1.2.3.4/32', [1]));
  });

  it('round-trips a finding through a button value and refuses forged ones', () => {
    const finding = evaluate(inputs({ entries: [entry('1.2.3.4/32', 'office')] }))[0];
    if (finding === undefined) throw new Error('no finding');
    const value = encodeFindingRef(finding);
    expect(value.length).toBeLessThan(2000);
    expect(decodeFindingRef(value)).toEqual({ cluster: 'prod', fingerprint: finding.fingerprint, rule: 'drift', subject: '1.2.3.4/32' });
    for (const forged of ['', 'x', '{}', JSON.stringify({ c: 'Prod!', f: finding.fingerprint, r: 'drift', s: '' }), JSON.stringify({ c: 'prod', f: 'short', r: 'drift', s: '' }), JSON.stringify({ c: 'prod', f: finding.fingerprint, r: 'rm -rf', s: '' })]) {
      expect(decodeFindingRef(forged)).toBeUndefined();
    }
  });
});
