/**
 * The request lifecycle, as rules: which status may follow which, when a pending request has
 * expired, what an approval does to a request (the quorum rule), and how an event of its audit
 * trail is written. Pure: no store, no clock of its own, no I/O. The store stores what these
 * rules decide (and refuses a transition `TRANSITIONS` does not list); the executor and the
 * decisions apply them.
 *
 *   received → pending → approved → applying → applied
 *            ↘ approved (no approval needed)   ↘ failed (told, and rolled back where needed)
 *            ↘ refused             ↘ denied | expired
 */
import { type Approval, type ChatRequest, type RequestEvent, type RequestStatus } from './types';

/** Where each status may go next (a final status goes nowhere). */
export const TRANSITIONS: Readonly<Record<RequestStatus, readonly RequestStatus[]>> = {
  // `failed`: an admin's Cancel of a request admission never reached.
  received: ['pending', 'approved', 'refused', 'failed'],
  pending: ['approved', 'denied', 'expired'],
  approved: ['applying', 'failed'],
  applying: ['applied', 'failed'],
  applied: [],
  denied: [],
  expired: [],
  failed: [],
  refused: [],
};

/** Whether a request in `from` may move to `to`. */
export function mayMove(from: RequestStatus, to: RequestStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** A pending request at or past its `expiresAt` can no longer be decided: it only waits for the sweep. */
export function isPastExpiry(request: Pick<ChatRequest, 'expiresAt'>, now: Date): boolean {
  return Date.parse(request.expiresAt) <= now.getTime();
}

/** An event of a request's audit trail. */
export function requestEvent(requestId: string, actor: string, type: RequestEvent['type'], at: Date, detail?: string): RequestEvent {
  return { requestId, actor, type, at: at.toISOString(), ...(detail !== undefined && detail !== '' ? { detail } : {}) };
}

export type ApprovalCount =
  /** Not pending (or past its expiry): nothing to count. */
  | { readonly outcome: 'not-pending' }
  /** This approver approved it already. */
  | { readonly outcome: 'duplicate' }
  /**
   * Counted: the approvals as they now are, and `approved` (decided by this approver) once
   * `quorum` approvals are in, with the event to write: every approval is one, and the one that
   * completes the quorum is the `approved` decision.
   */
  | {
      readonly outcome: 'counted';
      readonly reachedQuorum: boolean;
      readonly changes: Pick<ChatRequest, 'approvals'> & Partial<Pick<ChatRequest, 'status' | 'decidedBy'>>;
      readonly event: RequestEvent;
    };

/** The quorum rule: what `approval` does to `request` at `now`. */
export function countApproval(request: ChatRequest, approval: Approval, now: Date): ApprovalCount {
  // Past its expiry a pending request only waits for the sweep: approving it now would apply
  // something nobody may approve any more.
  if (request.status !== 'pending' || isPastExpiry(request, now)) return { outcome: 'not-pending' };
  if (request.approvals.some((a) => a.by === approval.by)) return { outcome: 'duplicate' };
  const approvals = [...request.approvals, { by: approval.by, at: approval.at }];
  const reachedQuorum = approvals.length >= request.quorum;
  return {
    outcome: 'counted',
    reachedQuorum,
    changes: reachedQuorum ? { approvals, status: 'approved', decidedBy: approval.by } : { approvals },
    event: {
      requestId: request.id,
      at: approval.at,
      actor: approval.by,
      type: reachedQuorum ? 'approved' : 'approval',
      detail: `${approvals.length} of ${request.quorum} approvals: ${approvals.map((a) => a.by).join(', ')}`,
    },
  };
}
