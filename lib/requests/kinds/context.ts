/**
 * What a change kind (./allow.ts, ./revoke.ts, ./user-create.ts, ./user-rotate.ts,
 * ./user-delete.ts, ./extend.ts) is given to plan, apply and roll back one request, and what it
 * hands back. Each kind is one file: "add a change kind" is one new file here, its case in
 * ./index.ts, a grammar entry and a view. The executor (../executor.ts) owns the lifecycle around
 * them: admission, approval, the apply saga's writes, telling the requester, the final commit.
 */
import { type ClusterAdmin, type ConnectionDetails } from '../../cluster-admin/types';
import { type ClusterConfig } from '../../config';
import { ChatopsError } from '../../errors';
import { type Logger, type SecretRedactor } from '../../log';
import { type SecretStore } from '../../secrets/types';
import { type Prose } from '../../prose';
import { type Notifier } from '../notifier';
import { type RequestStore, type TransitionDeletes, type TransitionPuts } from '../store';
import { type ChatRequest, type DmReceipt, type ManagedEntry, type RequestEvent } from '../types';

/** What the kinds need to know about clusters: build admins, read their config. */
export interface ClusterDirectory {
  get(alias: string): Promise<ClusterAdmin>;
  config(alias: string): ClusterConfig | undefined;
}

export interface KindContext {
  readonly store: RequestStore;
  readonly secrets: SecretStore;
  readonly clusters: ClusterDirectory;
  readonly notifier: Notifier;
  readonly logger: Logger;
  readonly redactor?: SecretRedactor;
  readonly propagationTimeoutMs: number;
  readonly recoveryWindowDays: number;
  now(): Date;
  /** The fault-injection seam between steps (`RequestExecutorOptions.checkpoint`). */
  checkpoint(step: string, request: ChatRequest): Promise<void>;
  event(requestId: string, actor: string, type: RequestEvent['type'], detail?: string): RequestEvent;
  /** This request's record, stored: written now unless `recorded` or it is there already (see the executor). */
  ensureRecord<R extends { readonly requestId: string }>(
    request: ChatRequest,
    step: string,
    record: { recorded: boolean; record: R; read: () => Promise<R | undefined>; write: () => Promise<void> },
  ): Promise<R>;
  /** Refuses (permanently) a user the bot may not hand out: missing, privileged, or not the bot's. */
  requireHandOut(admin: ClusterAdmin, cluster: string, user: string, options?: { missingIsFine?: boolean }): Promise<void>;
  /** DMs connection details, recorded for deletion before the password is in the DM. */
  connectionDm(recipient: string, cluster: string, details: ConnectionDetails, name: string, password: string, why: 'created' | 'rotated' | 'requested', notes: readonly Prose[], format?: string): Promise<DmReceipt | undefined>;
}

/** The `step` of an `allow` waiting in the table for its entry to propagate. */
export const STEP_PROPAGATING = 'propagating';

/** Thrown by `allow` while the cluster still applies the change: the request waits, due in `delayMs`. */
export class WaitingForPropagation extends Error {
  constructor(
    readonly since: string,
    readonly delayMs: number,
  ) {
    super('waiting for the allowlist to propagate');
    this.name = 'WaitingForPropagation';
  }
}

/** How long to wait before looking again: 5 s at first, then longer, at most a minute. */
export function propagationPollDelay(waitedMs: number): number {
  return Math.min(60_000, Math.max(5_000, Math.round(waitedMs / 4)));
}

/** A failure no retry will fix; the message is user-safe. */
export class PermanentFailure extends ChatopsError {
  readonly code = 'permanent';
}

/** What applying a request did: the requester's outcome, and what the final commit writes with it. */
export interface Applied {
  readonly text: Prose;
  readonly notes?: readonly Prose[];
  /**
   * Sends the connection DM. It runs last, after the requester was told and right before the final
   * commit. Its receipt is written before the password is in the DM (`connectionDm`), so a crash
   * at any point leaves no password DM that the sweep will not delete.
   */
  readonly deliver?: () => Promise<DmReceipt | undefined>;
  /** Records the change made obsolete, deleted by the final commit. */
  readonly forget?: TransitionDeletes;
}

/** How a request of one kind is applied, once what needs no change is checked. */
export interface Plan {
  /** Written with approved → applying: what the bot records before it changes the cluster. */
  readonly records?: TransitionPuts;
  /** The work. `recorded`: this delivery's approved → applying wrote `records` (else they may be missing). */
  run(request: ChatRequest, recorded: boolean): Promise<Applied>;
}

/** A record as kept inside the one that replaced it (one level deep: older history is the audit trail's). */
export function withoutPrevious(entry: ManagedEntry): Omit<ManagedEntry, 'previous'> {
  const { previous: _older, ...rest } = entry;
  return rest;
}
