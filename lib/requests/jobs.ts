/**
 * Work the Slack handler hands to the worker (through SQS on Lambda, in process locally).
 * A job carries ids and parameters only: never a secret.
 */
import { JOB_REDELIVERY } from '../retry-policies';

/**
 * Deliveries of a job before SQS moves it to the dead-letter queue (the queue's redrive policy,
 * infra): the worker's last delivery rolls back instead of retrying.
 */
export const MAX_RECEIVE_COUNT = JOB_REDELIVERY.maxReceiveCount;

export type ReadCommand = 'allowlist' | 'check' | 'users';

/**
 * A job that answers someone (a command, a Remove click) carries an `id`, the same on every
 * delivery of it: SQS delivers at least once, and the worker answers each id once.
 */
interface Answered {
  readonly id?: string;
}

export type Job =
  /** A request was just created: post its approval card, or apply it when no approval is needed. */
  | { readonly type: 'submit'; readonly requestId: string }
  /** An approver decided: refresh the card, tell the requester, apply when approved. */
  | { readonly type: 'decided'; readonly requestId: string }
  /**
   * Take an open request on from wherever it stands (the reconciler's job, and a Slack retry's or a
   * repeated click's, after a crash or a lost job): post its card, apply or resume it, or tell its
   * requester how it ended.
   */
  | { readonly type: 'drive'; readonly requestId: string }
  /** An admin cancelled a request that does not finish (an audit finding's button). */
  | { readonly type: 'cancel'; readonly requestId: string; readonly actor: string }
  /** DM the connection details of an existing user again. */
  | (Answered & {
      readonly type: 'connect';
      readonly requester: string;
      readonly cluster: string;
      readonly user: string;
      readonly database?: string;
      readonly region?: string;
      readonly format?: string;
      readonly responseUrl?: string;
    })
  /** Answer a read-only command that needs the cluster (slow: Cloud API or SQL). */
  | (Answered & {
      readonly type: 'read';
      readonly command: ReadCommand;
      readonly cluster: string;
      readonly requester: string;
      readonly ip?: string;
      readonly responseUrl?: string;
    })
  /**
   * Publish a person's Home tab: they opened it (`opened`: remember that they look at it), or
   * clicked one of its buttons (`notice`: the answer, shown on top).
   */
  | (Answered & { readonly type: 'home'; readonly user: string; readonly opened?: boolean; readonly notice?: string })
  /** Run the audit now (the scheduled audit enqueues nothing: it runs in its own function). */
  | (Answered & { readonly type: 'audit'; readonly requester: string; readonly cluster?: string; readonly responseUrl?: string })
  /**
   * An approver clicked Remove on an audit finding: check that the finding still holds, then apply
   * its fix. `report` is the report message, whose thread hears the outcome.
   */
  | (Answered & {
      readonly type: 'audit-fix';
      readonly cluster: string;
      readonly fingerprint: string;
      readonly actor: string;
      readonly report?: { readonly channel: string; readonly ts: string };
    });

/** The jobs about one request, which the executor runs. */
export type RequestJob = Extract<Job, { type: 'submit' | 'decided' | 'drive' | 'cancel' }>;

export interface EnqueueOptions {
  /** Duplicate enqueues with the same id within five minutes are dropped (SQS FIFO deduplication). */
  readonly deduplicationId: string;
  /** Jobs in one group run one at a time, in order. */
  readonly groupId: string;
}

/** The queue port: `SqsJobQueue` on AWS, `InProcessJobQueue` locally and in tests. */
export interface JobQueue {
  enqueue(job: Job, options: EnqueueOptions): Promise<void>;
  /**
   * Delivers a message that failed again after `delayMs` rather than after the queue's visibility
   * timeout (SQS: `ChangeMessageVisibility` on its receipt handle).
   */
  retryIn?(receiptHandle: string, delayMs: number): Promise<void>;
}

/** Jobs about one request share a group, so two deliveries never run it concurrently. */
export function jobGroup(job: Job): string {
  switch (job.type) {
    case 'submit':
    case 'decided':
    case 'drive':
    case 'cancel':
      return `request-${job.requestId}`;
    case 'connect':
      return `connect-${job.cluster}-${job.user}`;
    case 'read':
    case 'audit':
      return `${job.type}-${job.requester}`;
    case 'home':
      return `home-${job.user}`;
    case 'audit-fix':
      // Fixes on one cluster run one at a time (each re-reads the cluster before it changes it).
      return `audit-fix-${job.cluster}`;
  }
}

/** A drive job for a request, deduplicated per version: one re-drive per state it is stuck in (SQS FIFO keeps ids five minutes). */
export function driveJob(request: { readonly id: string; readonly version: number }): { job: Job; options: EnqueueOptions } {
  const job: Job = { type: 'drive', requestId: request.id };
  return { job, options: { deduplicationId: `drive-${request.id}-v${request.version}`, groupId: jobGroup(job) } };
}

/** The job that takes a new request from `received` on: sent by local mode's nudge and by the table's stream relay (handlers/outbox.ts). */
export function submitJob(requestId: string): { job: Job; options: EnqueueOptions } {
  const job: Job = { type: 'submit', requestId };
  return { job, options: { deduplicationId: `submit-${requestId}`, groupId: jobGroup(job) } };
}
