/**
 * The request lifecycle's rules, on their own: the quorum rule, expiry, and which status may
 * follow which.
 */
import { countApproval, isPastExpiry, mayMove, TRANSITIONS } from '../../lib/requests/lifecycle';
import { type ChatRequest, FINAL_STATUSES } from '../../lib/requests/types';

const NOW = new Date('2026-12-04T12:00:00.000Z');

function pending(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    id: '01JF3K6Z9Q8V7W6X5Y4Z3A2B1C',
    cluster: 'prod',
    requester: 'U0ALICE',
    params: { kind: 'revoke', revoke: { cidr: '203.0.113.7/32' } },
    status: 'pending',
    risk: 'high',
    flags: [],
    quorum: 2,
    approvals: [],
    createdAt: '2026-12-04T11:00:00.000Z',
    expiresAt: '2026-12-05T11:00:00.000Z',
    version: 3,
    ...overrides,
  };
}

describe('countApproval (the quorum rule)', () => {
  it('counts an approval below the quorum as an approval event, and the one that completes it as the decision', () => {
    const first = countApproval(pending(), { by: 'U0BOB', at: NOW.toISOString() }, NOW);
    expect(first).toMatchObject({ outcome: 'counted', reachedQuorum: false, changes: { approvals: [{ by: 'U0BOB' }] }, event: { type: 'approval', actor: 'U0BOB' } });
    expect(first.outcome === 'counted' && 'status' in first.changes).toBe(false);
    const second = countApproval(pending({ approvals: [{ by: 'U0BOB', at: NOW.toISOString() }] }), { by: 'U0CAROL', at: NOW.toISOString() }, NOW);
    expect(second).toMatchObject({ outcome: 'counted', reachedQuorum: true, changes: { status: 'approved', decidedBy: 'U0CAROL' }, event: { type: 'approved', detail: '2 of 2 approvals: U0BOB, U0CAROL' } });
  });

  it('counts nobody twice, and nothing once the request is not pending or has expired', () => {
    expect(countApproval(pending({ approvals: [{ by: 'U0BOB', at: NOW.toISOString() }] }), { by: 'U0BOB', at: NOW.toISOString() }, NOW)).toEqual({ outcome: 'duplicate' });
    expect(countApproval(pending({ status: 'denied' }), { by: 'U0BOB', at: NOW.toISOString() }, NOW)).toEqual({ outcome: 'not-pending' });
    expect(countApproval(pending({ expiresAt: NOW.toISOString() }), { by: 'U0BOB', at: NOW.toISOString() }, NOW)).toEqual({ outcome: 'not-pending' });
  });
});

describe('isPastExpiry', () => {
  it('is true at and after expiresAt, false before, and false for a time it cannot read', () => {
    expect(isPastExpiry({ expiresAt: '2026-12-04T12:00:00.000Z' }, NOW)).toBe(true);
    expect(isPastExpiry({ expiresAt: '2026-12-04T12:00:00.001Z' }, NOW)).toBe(false);
    expect(isPastExpiry({ expiresAt: 'soon' }, NOW)).toBe(false);
  });
});

describe('TRANSITIONS', () => {
  it('lets a final status go nowhere, and nothing go back to received', () => {
    for (const status of FINAL_STATUSES) expect(TRANSITIONS[status]).toEqual([]);
    for (const from of Object.keys(TRANSITIONS) as Array<keyof typeof TRANSITIONS>) expect(mayMove(from, 'received')).toBe(false);
    expect(mayMove('pending', 'applying')).toBe(false);
    expect(mayMove('applying', 'applied')).toBe(true);
  });
});
