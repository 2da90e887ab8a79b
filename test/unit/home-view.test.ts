/**
 * The Home tab's and the reminder's buttons: a value is parsed as strictly as a typed command
 * (a configured cluster, a canonical CIDR, a valid user name, a request id, nothing else), and the
 * Home tab stays within Slack's 100 blocks however much a person holds, with what they named
 * escaped.
 */
import { type AccessOverview } from '../../lib/requests/home';
import { type ChatRequest, type ManagedEntry, type ManagedUser } from '../../lib/requests/types';
import {
  ACTION_HOME_CANCEL,
  ACTION_HOME_EXTEND,
  ACTION_HOME_RESEND,
  ACTION_HOME_REVOKE,
  ACTION_HOME_ROTATE,
  ACTION_REMINDER_EXTEND,
  ACTION_REMINDER_LET_EXPIRE,
  decodeShortcut,
  homeView,
  reminderMessage,
} from '../../lib/slack/home';

const CLUSTERS = ['prod', 'local'];
const ID = '01JF3K6Z9Q8V7W6X5Y4Z3A2B1C';

describe('decodeShortcut', () => {
  it('reads the values the bot writes', () => {
    expect(decodeShortcut(ACTION_HOME_REVOKE, '{"c":"prod","e":"203.0.113.7/32"}', CLUSTERS)).toEqual({ kind: 'revoke', cluster: 'prod', cidr: '203.0.113.7/32' });
    expect(decodeShortcut(ACTION_HOME_EXTEND, '{"c":"prod","u":"maxroach"}', CLUSTERS)).toEqual({ kind: 'extend', cluster: 'prod', subject: { type: 'user', user: 'maxroach' } });
    expect(decodeShortcut(ACTION_REMINDER_EXTEND, '{"c":"local","e":"10.0.0.0/8"}', CLUSTERS)).toEqual({ kind: 'extend', cluster: 'local', subject: { type: 'entry', cidr: '10.0.0.0/8' } });
    expect(decodeShortcut(ACTION_HOME_ROTATE, '{"c":"prod","u":"maxroach"}', CLUSTERS)).toEqual({ kind: 'rotate', cluster: 'prod', user: 'maxroach' });
    expect(decodeShortcut(ACTION_HOME_RESEND, '{"c":"prod","u":"maxroach"}', CLUSTERS)).toEqual({ kind: 'resend', cluster: 'prod', user: 'maxroach' });
    expect(decodeShortcut(ACTION_HOME_CANCEL, `{"r":"${ID}"}`, CLUSTERS)).toEqual({ kind: 'cancel', requestId: ID });
    expect(decodeShortcut(ACTION_REMINDER_LET_EXPIRE, '{"c":"prod","u":"maxroach","x":"2026-12-05T10:00:00.000Z"}', CLUSTERS)).toEqual({
      kind: 'let-expire',
      cluster: 'prod',
      subject: { type: 'user', user: 'maxroach' },
      expiresAt: '2026-12-05T10:00:00.000Z',
    });
  });

  it.each([
    ['not JSON', ACTION_HOME_REVOKE, 'revoke 1.2.3.4'],
    ['an array', ACTION_HOME_REVOKE, '["prod"]'],
    ['an unknown cluster', ACTION_HOME_REVOKE, '{"c":"staging","e":"203.0.113.7/32"}'],
    ['a network with host bits', ACTION_HOME_REVOKE, '{"c":"prod","e":"203.0.113.7/24"}'],
    ['a second spelling of a network', ACTION_HOME_REVOKE, '{"c":"prod","e":"203.0.113.7"}'],
    ['an IPv6 network', ACTION_HOME_REVOKE, '{"c":"prod","e":"2001:db8::/32"}'],
    ['a user where an entry belongs', ACTION_HOME_REVOKE, '{"c":"prod","u":"maxroach"}'],
    ['an entry where a user belongs', ACTION_HOME_ROTATE, '{"c":"prod","e":"203.0.113.7/32"}'],
    ['both an entry and a user', ACTION_HOME_EXTEND, '{"c":"prod","e":"203.0.113.7/32","u":"maxroach"}'],
    ['a reserved role', ACTION_HOME_EXTEND, '{"c":"prod","u":"root"}'],
    ['an uppercase name', ACTION_HOME_ROTATE, '{"c":"prod","u":"Admin"}'],
    ['a name with SQL in it', ACTION_HOME_ROTATE, '{"c":"prod","u":"x; DROP ROLE admin"}'],
    ['an extra key', ACTION_HOME_REVOKE, '{"c":"prod","e":"203.0.113.7/32","breakGlass":"1"}'],
    ['a number', ACTION_HOME_REVOKE, '{"c":"prod","e":3405803783}'],
    ['a malformed request id', ACTION_HOME_CANCEL, '{"r":"../../etc"}'],
    ['a request id with a cluster', ACTION_HOME_CANCEL, `{"r":"${ID}","c":"prod"}`],
    ['Let it expire without its expiry', ACTION_REMINDER_LET_EXPIRE, '{"c":"prod","u":"maxroach"}'],
    ['Let it expire with a forged expiry', ACTION_REMINDER_LET_EXPIRE, '{"c":"prod","u":"maxroach","x":"<!channel>"}'],
    ['an action id the bot does not have', 'home-drop-table', '{"c":"prod","u":"maxroach"}'],
  ])('refuses %s in one line', (_what, actionId, value) => {
    expect(decodeShortcut(actionId, value, CLUSTERS)).toEqual({ refused: 'That button is not one the bot made; nothing was changed.' });
  });
});

function entry(i: number, label?: string): ManagedEntry {
  return { cluster: 'prod', cidr: `203.0.113.${i}/32`, requestId: `R${i}`, requester: 'U0ALICE', sql: true, ui: false, createdAt: '2026-12-04T10:00:00.000Z', expiresAt: '2026-12-04T18:00:00.000Z', ...(label ? { label } : {}) };
}

function user(i: number): ManagedUser {
  return { cluster: 'prod', user: `u${i}`, owner: 'U0ALICE', secretName: `crdb-chatops/prod/u${i}`, database: 'defaultdb', requestId: `R${i}`, createdAt: '2026-12-04T10:00:00.000Z' };
}

function pending(i: number): ChatRequest {
  return {
    id: `01JF3K6Z9Q8V7W6X5Y4Z3A2B${String(i).padStart(2, '0')}`,
    cluster: 'prod',
    requester: 'U0ALICE',
    params: { kind: 'allow', allow: { cidr: `198.51.100.0/${24 + (i % 4)}` as ChatRequest['params'] extends { allow: { cidr: infer C } } ? C : never, sql: true, ui: false } },
    status: 'pending',
    risk: 'elevated',
    flags: [],
    quorum: 1,
    approvals: [],
    createdAt: '2026-12-04T10:00:00.000Z',
    expiresAt: '2026-12-05T10:00:00.000Z',
    version: 1,
  };
}

const OPTIONS = { command: '/crdb', extendBy: () => 8 * 3_600_000, approversChannel: () => 'C0APPROVE' };

describe('homeView', () => {
  it('stays within 100 blocks however much a person holds, and says where the rest is', () => {
    const overview: AccessOverview = {
      user: 'U0ALICE',
      at: '2026-12-04T12:00:00.000Z',
      holdings: [{ cluster: 'prod', entries: Array.from({ length: 40 }, (_, i) => entry(i)), users: Array.from({ length: 30 }, (_, i) => user(i)) }],
      mine: Array.from({ length: 25 }, (_, i) => pending(i)),
      toDecide: Array.from({ length: 25 }, (_, i) => ({ ...pending(i), requester: 'U0BOB' })),
    };
    const view = homeView(overview, 'done', OPTIONS);
    expect(view.blocks.length).toBeLessThanOrEqual(100);
    const text = JSON.stringify(view.blocks);
    expect(text).toContain('and 28 more entries: `/crdb allowlist --cluster prod`');
    expect(text).toContain('and 18 more users');
  });

  it('cuts a Home tab of many clusters at 100 blocks, and says where everything is', () => {
    const holdings = ['prod', 'local', 'a', 'b', 'c'].map((cluster) => ({
      cluster,
      entries: Array.from({ length: 15 }, (_, i) => ({ ...entry(i), cluster })),
      users: Array.from({ length: 15 }, (_, i) => ({ ...user(i), cluster })),
    }));
    const view = homeView({ user: 'U0ALICE', at: '2026-12-04T12:00:00.000Z', holdings, mine: [], toDecide: [] }, undefined, OPTIONS);
    expect(view.blocks).toHaveLength(100);
    const tail = JSON.stringify(view.blocks.slice(-2));
    expect(tail).toContain('`/crdb allowlist`, `/crdb users` and `/crdb requests` list everything');
    expect(tail).toContain('Updated');
  });

  it('escapes what people named, and offers Extend only on what expires', () => {
    const overview: AccessOverview = {
      user: 'U0ALICE',
      at: '2026-12-04T12:00:00.000Z',
      holdings: [{ cluster: 'prod', entries: [entry(1, '<!channel> *x*'), { ...entry(2), expiresAt: undefined }], users: [user(1)] }],
      mine: [],
      toDecide: [],
    };
    const view = homeView(overview, undefined, OPTIONS);
    const text = JSON.stringify(view.blocks);
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt;');
    const actions = view.blocks.filter((b) => b.type === 'actions') as Array<{ elements: Array<{ action_id: string; value: string }> }>;
    const of = (subject: string) => actions.find((a) => a.elements.some((e) => e.value.includes(subject)))?.elements.map((e) => e.action_id);
    expect(of('203.0.113.1/32')).toEqual([ACTION_HOME_EXTEND, ACTION_HOME_REVOKE]);
    expect(of('203.0.113.2/32')).toEqual([ACTION_HOME_REVOKE]);
    expect(of('"u1"')).toEqual([ACTION_HOME_RESEND, ACTION_HOME_ROTATE]);
    // Every value the view writes reads back as what it shows.
    for (const a of actions) for (const e of a.elements) expect(decodeShortcut(e.action_id, e.value, CLUSTERS)).not.toHaveProperty('refused');
  });

  it('a reminder names what expires and when, and its buttons read back', () => {
    const message = reminderMessage({ holder: 'U0ALICE', cluster: 'prod', subject: { type: 'entry', cidr: '203.0.113.7/32' }, expiresAt: '2026-12-04T18:00:00.000Z', extendByMs: 4 * 3_600_000 });
    expect(message.text).toContain('203.0.113.7/32');
    const actions = message.blocks.find((b) => b.type === 'actions') as { elements: Array<{ action_id: string; value: string; text: { text: string } }> };
    expect(actions.elements.map((e) => e.text.text)).toEqual(['Extend by 4h', 'Let it expire']);
    for (const e of actions.elements) expect(decodeShortcut(e.action_id, e.value, CLUSTERS)).not.toHaveProperty('refused');
  });
});
