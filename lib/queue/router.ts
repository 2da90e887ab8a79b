/**
 * Job dispatch: each job to the use case that owns it (requests and lookups to the executor, Home
 * tabs to the Home, the audit's jobs to the auditor), under the rules every job that answers
 * someone follows: answered once per id (SQS delivers at least once), and a failure answered too,
 * retried while it may pass. The worker's batch loop (./batch.ts) runs jobs through it.
 */
import { isRetryable } from '../errors';
import { failureReference, type Logger } from '../log';
import { failureText, type RequestExecutor } from '../requests/executor';
import { type Home } from '../requests/home';
import { type Job } from '../requests/jobs';
import { type Notifier } from '../requests/notifier';
import { type RequestStore } from '../requests/store';
import { type JobRunner } from './batch';
import { prose } from '../prose';

/** Runs the audit's jobs; lib/audit's `Auditor` implements it. */
export interface AuditJobs {
  /** `/crdb audit`: report, and answer the requester. */
  runCommand(job: Extract<Job, { type: 'audit' }>): Promise<void>;
  /** A Remove click on a finding. Rethrows retryable failures unless `finalAttempt`. */
  fix(job: Extract<Job, { type: 'audit-fix' }>, options: { finalAttempt: boolean }): Promise<void>;
}

export interface JobRouterOptions {
  readonly executor: Pick<RequestExecutor, 'run' | 'connectJob' | 'readJob'>;
  readonly home?: Pick<Home, 'opened' | 'publish'>;
  /** The audit, built on first use (it is the heaviest part of the worker). */
  readonly audit?: () => Promise<AuditJobs>;
  readonly store: Pick<RequestStore, 'idempotencyKeyHolder' | 'claimIdempotencyKey'>;
  readonly notifier: Pick<Notifier, 'reply'>;
  readonly logger: Logger;
}

/** How long a command-answering job is remembered as answered (SQS keeps a message at most 14 days; redeliveries come within hours). */
const ANSWERED_JOB_TTL_SECONDS = 24 * 60 * 60;

export class JobRouter implements JobRunner {
  constructor(private readonly o: JobRouterOptions) {}

  /** Runs one job. `finalAttempt`: the queue will not deliver it again, so do not rethrow. */
  async run(job: Job, { finalAttempt = false }: { finalAttempt?: boolean } = {}): Promise<void> {
    switch (job.type) {
      case 'submit':
      case 'decided':
      case 'drive':
      case 'cancel':
        return this.o.executor.run(job, { finalAttempt });
      case 'connect':
        return this.answering(job, finalAttempt, () => this.o.executor.connectJob(job));
      case 'read':
        return this.answering(job, finalAttempt, () => this.o.executor.readJob(job));
      case 'home':
        return this.home(job, finalAttempt);
      case 'audit': {
        const audit = this.o.audit;
        if (audit === undefined) {
          await this.o.notifier.reply(target(job), { kind: 'text', text: prose`The audit is not wired up in this deployment.`, tone: 'warning' });
          return;
        }
        return this.answering(job, finalAttempt, async () => (await audit()).runCommand(job));
      }
      case 'audit-fix': {
        const audit = this.o.audit;
        if (audit === undefined) return this.o.logger.error({ event: 'audit-fix.unwired', cluster: job.cluster }, 'audit-fix job without an audit');
        // `fix` answers its own failures (in the report's thread) and rethrows only retryable ones.
        return this.once(job, async () => (await audit()).fix(job, { finalAttempt }));
      }
    }
  }

  /** Publishes a Home tab; a Slack failure is retried by the queue, and dropped on the last delivery (the next open shows it). */
  private async home(job: Extract<Job, { type: 'home' }>, finalAttempt: boolean): Promise<void> {
    const home = this.o.home;
    if (home === undefined) return;
    try {
      await (job.opened === true ? home.opened(job.user) : home.publish(job.user, job.notice));
    } catch (error) {
      if (isRetryable(error) && !finalAttempt) throw error;
      this.o.logger.warn({ event: 'home.publish-failed', user: job.user, err: error }, 'could not publish a Home tab');
    }
  }

  /**
   * Runs a job that answers a command; failures are answered too, retried while they may pass.
   * A job with an `id` is answered once (`once`).
   */
  private async answering(job: Extract<Job, { type: 'connect' | 'read' | 'audit' }>, finalAttempt: boolean, work: () => Promise<void>): Promise<void> {
    return this.once(job, async () => {
      try {
        await work();
      } catch (error) {
        if (isRetryable(error) && !finalAttempt) throw error;
        const ref = failureReference();
        this.o.logger.warn({ event: `${job.type}.failed`, ref, cluster: job.cluster, err: error }, 'command failed');
        await this.o.notifier.reply(target(job), { kind: 'text', text: failureText(error, ref), tone: 'error' });
      }
    });
  }

  /**
   * Runs a job that answers someone at most once per `id` (SQS delivers at least once): the id is
   * recorded after the work, and a redelivered job whose id is recorded does nothing. A job that
   * fails is not recorded, so its redelivery runs it again.
   */
  private async once(job: Extract<Job, { type: 'connect' | 'read' | 'audit' | 'audit-fix' }>, work: () => Promise<void>): Promise<void> {
    const key = job.id === undefined ? undefined : `job:${job.id}`;
    if (key !== undefined && (await this.o.store.idempotencyKeyHolder(key)) !== undefined) {
      this.o.logger.info({ event: 'job.duplicate', type: job.type, jobId: job.id }, 'job done already; delivered again');
      return;
    }
    await work();
    if (key === undefined || job.id === undefined) return;
    try {
      await this.o.store.claimIdempotencyKey(key, job.id, ANSWERED_JOB_TTL_SECONDS);
    } catch (error) {
      // Done already: failing the job now would only do it twice.
      this.o.logger.warn({ event: 'job.mark-failed', type: job.type, jobId: job.id, err: error }, 'could not record that a job was done');
    }
  }
}

function target(job: { requester: string; responseUrl?: string }): { user: string; responseUrl?: string } {
  return { user: job.requester, ...(job.responseUrl ? { responseUrl: job.responseUrl } : {}) };
}
