/** The approvers' card and the connection DM, as people read them at a glance. */
import { passwordRenderings } from '../../lib/cluster-admin/connection-formats';
import { type ConnectionDelivery } from '../../lib/requests/notifier';
import { type ChatRequest } from '../../lib/requests/types';
import { acceptedMessage, approvalCard, connectionFormatsThread, connectionMessage } from '../../lib/slack/blocks';

const base: ChatRequest = {
  id: '01JD0000000000000000000000',
  cluster: 'prod',
  requester: 'U0ALICE',
  params: { kind: 'user-create', userCreate: { user: 'maxroach', database: 'defaultdb' } },
  reason: 'new service',
  status: 'pending',
  risk: 'elevated',
  flags: [],
  quorum: 1,
  approvals: [],
  createdAt: '2026-12-04T10:00:00.000Z',
  expiresAt: '2026-12-05T10:00:00.000Z',
  version: 1,
};

interface Block {
  type: string;
  text?: { text: string };
  elements?: { action_id?: string; confirm?: { title: { text: string }; text: { text: string }; confirm: { text: string } } }[];
}

const header = (card: { blocks: readonly unknown[] }): string => (card.blocks as Block[]).find((b) => b.type === 'header')?.text?.text ?? '';
const approve = (card: { blocks: readonly unknown[] }) => (card.blocks as Block[]).flatMap((b) => b.elements ?? []).find((e) => e.action_id === 'crdb_approve');

describe('the approval card', () => {
  it('names the change in words and says in its header and notification text how it was decided', () => {
    const cases: [ChatRequest['status'], string][] = [
      ['pending', 'Approval needed'],
      ['applying', 'Approved, applying'],
      ['applied', 'Approved and applied'],
      ['denied', 'Denied'],
      ['expired', 'Expired'],
      ['failed', 'Failed'],
    ];
    for (const [status, state] of cases) {
      const card = approvalCard({ ...base, status });
      expect([status, header(card)]).toEqual([status, `${state}: create SQL user on prod`]);
      expect([status, card.text]).toEqual([status, `${state}: create SQL user \`maxroach\` (database \`defaultdb\`) on prod`]);
    }
    expect(header(approvalCard({ ...base, params: { kind: 'allow', allow: { cidr: '203.0.113.0/24', sql: true, ui: false } } }))).toBe('Approval needed: allow a network on prod');
    expect(JSON.stringify(approvalCard(base))).not.toContain('user-create');
  });

  it('asks for confirmation before a high-risk approval, and not otherwise', () => {
    expect(approve(approvalCard(base))?.confirm).toBeUndefined();
    const request: ChatRequest = {
      ...base,
      risk: 'high',
      quorum: 2,
      params: { kind: 'allow', allow: { cidr: '0.0.0.0/0', sql: true, ui: false } },
      flags: [{ code: 'open', text: 'Opens prod to the whole internet' }],
    };
    const confirm = approve(approvalCard(request))?.confirm;
    expect(confirm?.title.text).toBe('Approve a high-risk change?');
    expect(confirm?.text.text).toMatch(/^allow `0\.0\.0\.0\/0` \(SQL\) on `prod`, for <@U0ALICE>\.\n• Opens prod to the whole internet$/);
    expect(confirm?.confirm.text).toBe('Approve');
    // Decided cards have no buttons at all.
    expect(approve(approvalCard({ ...request, status: 'denied' }))).toBeUndefined();
  });
});

describe('the answer to a request', () => {
  it('says where the outcome will come: here for a command, by DM for a Home tab button', () => {
    const working = { ...base, status: 'received' as const, quorum: 0 };
    expect(acceptedMessage(working, []).text).toContain("I'll report back here.");
    expect(acceptedMessage(working, [], undefined, { byDm: true }).text).toContain("I'll DM you how it ends.");
  });

  it('says withdrawn, not denied, on the card of a request its requester cancelled', () => {
    const card = approvalCard({ ...base, status: 'denied', decidedBy: base.requester, denyReason: 'withdrawn by its requester' }, []);
    expect(header(card)).toMatch(/^Cancelled by its requester: /);
    expect(approve(card)).toBeUndefined();
    const denied = approvalCard({ ...base, status: 'denied', decidedBy: 'U0BOB', denyReason: 'withdrawn by its requester' }, []);
    expect(header(denied)).toMatch(/^Denied: /);
  });
});

describe('the connection DM', () => {
  const password = 'pa$$ w0rd/with?odd&chars';
  const delivery: ConnectionDelivery = {
    recipient: 'U0ALICE',
    cluster: 'local',
    details: {
      cluster: 'local',
      host: 'localhost',
      port: 26257,
      database: 'defaultdb',
      user: 'maxroach',
      regions: [{ region: 'local', host: 'localhost', primary: true }],
      ca: { kind: 'cluster-ca', sslrootcert: '/home/me/.postgresql/root.crt' },
    },
    secretName: 'crdb-chatops/local/maxroach',
    password,
    why: 'created',
    notes: [],
  };
  const count = (text: string): number => passwordRenderings(password).reduce((n, form) => n + text.split(form).length - 1, 0);

  it('leads with the URL (with sslrootcert) and shows the password once beside it', () => {
    const message = connectionMessage(delivery, { dmTtlMs: 3_600_000, command: '/crdb' });
    const blocks = message.blocks as Block[];
    const texts = blocks.map((b) => b.text?.text ?? JSON.stringify(b));
    expect(texts[1]).toMatch(/^\*Connection URL\*\n```postgresql:\/\/maxroach:.*sslmode=verify-full.*sslrootcert=\/home\/me\/\.postgresql\/root\.crt```$/s);
    // In the URL and in the Password field: nowhere else.
    expect(count(JSON.stringify(blocks))).toBe(2);
    expect(message.text).not.toContain(password);
    expect(JSON.stringify(blocks)).toMatch(/Other formats \(cockroach sql, psql, Python, Java, Go, Node\.js\) are in this message's thread/);
    expect(blocks.length).toBeLessThan(10);
  });

  it('keeps every other format in a thread reply without the password', () => {
    const thread = connectionFormatsThread(delivery);
    const text = JSON.stringify(thread);
    expect(count(text)).toBe(0);
    for (const label of ['CockroachDB SQL shell', 'psql', 'Python (psycopg2)', 'Python (SQLAlchemy)', 'Java (JDBC)', 'Go (pgx)', 'Node.js (node-postgres)']) expect(text).toContain(label);
    expect(text).not.toContain('*Connection URL*');
    expect(text).toContain('PASSWORD');
  });

  it('leads with the format asked for (connect --format), and then has no thread to point to', () => {
    const message = connectionMessage({ ...delivery, format: 'jdbc' }, { dmTtlMs: 3_600_000, command: '/crdb' });
    const texts = (message.blocks as Block[]).map((b) => b.text?.text ?? '');
    expect(texts[1]).toMatch(/^\*Java \(JDBC\)\*/);
    expect(texts.join('\n')).not.toMatch(/Other formats/);
  });
});
