/**
 * What a request risks, and therefore whether it applies at once, waits for approvals (and how
 * many), or is refused outright. Pure: the same request under the same policy always gets the
 * same answer, which is what approvers and the audit trail rely on.
 */
import { parseCidr } from '../cluster-admin/network';
import { type ClusterPolicy, formatDuration } from '../config';
import { type ExtendParams, type RequestParams, type Risk, type RiskFlag } from '../requests/types';

export type Assessment =
  | {
      readonly decision: 'apply' | 'approval';
      readonly risk: Risk;
      /** Approvals needed (0 when `apply`). */
      readonly quorum: number;
      readonly flags: readonly RiskFlag[];
      /** `--for` after policy defaults, when the change is temporary. */
      readonly forMs?: number;
    }
  | {
      readonly decision: 'refused';
      /** One line, user-safe. */
      readonly reason: string;
      /** Arguments of a command that would be accepted, without the command name. */
      readonly example: string;
    };

export interface AssessOptions {
  readonly cluster: string;
  readonly policy: ClusterPolicy;
  /** The requester is in the break-glass group and gave `--break-glass --reason`. */
  readonly breakGlass?: boolean;
  /** Private and reserved ranges are flagged only for Cloud clusters, which see public addresses. */
  readonly backend?: 'cloud' | 'sql';
  /** The requester's `--reason`, for `policy.requireReason`. */
  readonly reason?: string;
}

const RISK_ORDER: readonly Risk[] = ['low', 'elevated', 'high'];

function atLeast(risk: Risk, floor: Risk): Risk {
  return RISK_ORDER.indexOf(risk) >= RISK_ORDER.indexOf(floor) ? risk : floor;
}


export function assessRequest(params: RequestParams, options: AssessOptions): Assessment {
  if (params.kind === 'extend') return assessExtend(params.extend, options);
  const { cluster, policy, breakGlass = false, backend = 'cloud', reason } = options;
  const flags: RiskFlag[] = [];
  let risk: Risk = 'low';
  const requestedFor = params.kind === 'allow' ? params.allow.forMs : params.kind === 'user-create' ? params.userCreate.forMs : undefined;
  // Only additions can be temporary; policy's default applies when --for is omitted.
  const forMs = params.kind === 'allow' || params.kind === 'user-create' ? (requestedFor ?? policy.defaultFor) : undefined;
  const what = exampleOf(params);
  if (forMs !== undefined && forMs > policy.maxFor) {
    return { decision: 'refused', reason: `--for is at most ${formatDuration(policy.maxFor)} on ${cluster}.`, example: `${what} --for ${formatDuration(policy.maxFor)}` };
  }
  // A permanent change is longer than any maxFor: where policy requires --for, it is refused.
  if ((params.kind === 'allow' || params.kind === 'user-create') && forMs === undefined && policy.requireFor) {
    return { decision: 'refused', reason: `${cluster} only takes temporary changes: add --for (at most ${formatDuration(policy.maxFor)}).`, example: `${what} --for ${formatDuration(Math.min(policy.maxFor, 8 * 3_600_000))} --cluster ${cluster}` };
  }

  switch (params.kind) {
    case 'allow': {
      const network = parseCidr(params.allow.cidr);
      if (network.flags.includes('open')) {
        if (!policy.allowOpen) {
          return {
            decision: 'refused',
            reason: `0.0.0.0/0 would open ${cluster} to the whole internet; this cluster's policy does not allow it.`,
            example: 'allow 203.0.113.7 --for 8h',
          };
        }
        risk = 'high';
        flags.push({ code: 'open', text: 'Open to the whole internet (0.0.0.0/0).' });
      } else if (network.prefixLength < policy.minPrefix) {
        risk = 'high';
        flags.push({
          code: 'below-min-prefix',
          text: `Broader than ${cluster}'s minimum /${policy.minPrefix}: admits ${network.size.toLocaleString('en-US')} addresses.`,
        });
      } else if (network.prefixLength < 32) {
        risk = 'elevated';
        flags.push({ code: 'broad', text: `Admits ${network.size.toLocaleString('en-US')} addresses (/${network.prefixLength}).` });
      } else if (!policy.autoApproveSingleHost) {
        risk = 'elevated';
      }
      if (backend === 'cloud' && network.flags.includes('private')) flags.push({ code: 'private', text: 'Private range: the cluster sees public addresses, so this entry may never match.' });
      if (backend === 'cloud' && network.flags.includes('reserved')) flags.push({ code: 'reserved', text: 'Reserved or special-purpose range.' });
      if (forMs === undefined) flags.push({ code: 'long-duration', text: 'Permanent: no --for given.' });
      break;
    }
    case 'revoke':
      // Removing access is never riskier than having it.
      break;
    case 'user-create': {
      if (policy.userCreateNeedsApproval) {
        risk = 'elevated';
        flags.push({ code: 'user-create', text: 'Creates a SQL user with a password.' });
      }
      break;
    }
    case 'user-rotate':
      break;
    case 'user-delete':
      flags.push({ code: 'user-delete', text: 'Drops a SQL user; objects it owns are reassigned to the admin user.' });
      break;
  }

  if (policy.approveAll) {
    risk = atLeast(risk, 'elevated');
    flags.push({ code: 'approve-all', text: `Every change on ${cluster} needs approval.` });
  }
  if (policy.requireReason.includes(risk) && (reason === undefined || reason.trim() === '')) {
    const withFor = requestedFor === undefined ? what : `${what} --for ${formatDuration(requestedFor)}`;
    return { decision: 'refused', reason: `${cluster} needs a reason for ${risk}-risk changes: add --reason "…".`, example: `${withFor} --cluster ${cluster} --reason "why you need it"` };
  }
  const quorum = risk === 'low' ? 0 : risk === 'elevated' ? policy.quorum.elevated : policy.quorum.high;
  if (breakGlass && quorum > 0) {
    flags.push({ code: 'break-glass', text: 'Break-glass: applied without approval.' });
    return { decision: 'apply', risk, quorum: 0, flags, ...(forMs !== undefined ? { forMs } : {}) };
  }
  return { decision: quorum === 0 ? 'apply' : 'approval', risk, quorum, flags, ...(forMs !== undefined ? { forMs } : {}) };
}

/** How long an extension keeps its subject when `--for` is not given: the cluster's default, else 8 hours, never past `maxFor`. */
export function defaultExtension(policy: Pick<ClusterPolicy, 'defaultFor' | 'maxFor'>): number {
  return Math.min(policy.defaultFor ?? 8 * 3_600_000, policy.maxFor);
}

/**
 * An extension is judged as the change that made its subject, for the new duration: keeping an
 * entry longer needs what allowing it for that long needs (its breadth, `approveAll`, `maxFor`),
 * keeping a temporary user longer what creating it for that long needs. Never riskier than that.
 */
function assessExtend(extend: ExtendParams, options: AssessOptions): Assessment {
  const { subject, forMs } = extend;
  const equivalent: RequestParams =
    subject.type === 'entry' ? { kind: 'allow', allow: { cidr: subject.cidr, sql: true, ui: false, forMs } } : { kind: 'user-create', userCreate: { user: subject.user, database: '', forMs } };
  const assessed = assessRequest(equivalent, options);
  if (assessed.decision === 'refused') {
    const what = exampleOf({ kind: 'extend', extend });
    const withFor = forMs > options.policy.maxFor ? `${what} --for ${formatDuration(options.policy.maxFor)}` : `${what} --for ${formatDuration(forMs)}`;
    return { ...assessed, example: `${withFor} --cluster ${options.cluster}${assessed.reason.includes('--reason') ? ' --reason "why you need it"' : ''}` };
  }
  const flags = assessed.flags.map((f) => (f.code === 'user-create' ? { code: f.code, text: 'Keeps a temporary SQL user longer.' } : f));
  return { ...assessed, flags, forMs };
}

/** The command's arguments, for a corrected example (without the command name or --cluster). */
function exampleOf(params: RequestParams): string {
  switch (params.kind) {
    case 'allow':
      return `allow ${params.allow.cidr}${params.allow.ui ? (params.allow.sql ? ' --both' : ' --ui') : ''}`;
    case 'revoke':
      return `revoke ${params.revoke.cidr}`;
    case 'user-create':
      return `user create ${params.userCreate.user}`;
    case 'user-rotate':
      return `user rotate ${params.user.user}`;
    case 'user-delete':
      return `user delete ${params.user.user}`;
    case 'extend':
      return params.extend.subject.type === 'entry' ? `extend ${params.extend.subject.cidr}` : `user extend ${params.extend.subject.user}`;
  }
}
