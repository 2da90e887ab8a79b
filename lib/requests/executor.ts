/**
 * The worker side of a request: applies it through the cluster-admin library, step by step, so
 * that a crash at any point leaves a state the next delivery resumes or rolls back.
 *
 * - Retryable failures (throttling, timeouts, a cluster briefly unreachable) are rethrown: the
 *   queue delivers the job again and the executor resumes from the recorded step.
 * - Permanent failures, or any failure on the final delivery, roll back what this request did and
 *   end it as `failed`, and the requester is told.
 * - User passwords exist first in the secret store, then on the cluster: never a user whose
 *   password exists nowhere. A resumed job recognises its own secret by `requestId` and reuses it.
 */
import { coveringEntries, entryName } from '../cluster-admin/allowlist';
import { passwordRenderings } from '../cluster-admin/connection-formats';
import { ClusterAdminError, PropagationTimeoutError } from '../cluster-admin/errors';
import { type AllowlistEntry, type ClusterAdmin, type ConnectionDetails } from '../cluster-admin/types';
import { type ClusterConfig } from '../config';
import { type Logger, type SecretRedactor } from '../log';
import { SecretStoreError } from '../secrets/errors';
import { generatePassword } from '../secrets/password';
import { type DatabaseSecret, type SecretStore, secretName } from '../secrets/types';
import { type Job } from './jobs';
import { type AllowlistRow, type Notifier } from './notifier';
import { StateStoreError } from './errors';
import { type RequestStore } from './store';
import { type ChatRequest, FINAL_STATUSES, type RequestEvent } from './types';

/** Runs the audit's jobs; lib/audit's `Auditor` implements it. */
export interface AuditJobs {
  /** `/crdb audit`: report, and answer the requester. */
  runCommand(job: Extract<Job, { type: 'audit' }>): Promise<void>;
  /** A Remove click on a finding. Rethrows retryable failures unless `finalAttempt`. */
  fix(job: Extract<Job, { type: 'audit-fix' }>, options: { finalAttempt: boolean }): Promise<void>;
}

/** What the executor needs to know about clusters: build admins, read their config. */
export interface ClusterDirectory {
  get(alias: string): Promise<ClusterAdmin>;
  config(alias: string): ClusterConfig | undefined;
}

export interface RequestExecutorOptions {
  readonly store: RequestStore;
  readonly secrets: SecretStore;
  readonly clusters: ClusterDirectory;
  readonly notifier: Notifier;
  readonly passwordDelivery: 'dm' | 'secret-reference';
  readonly propagationTimeoutMs: number;
  readonly recoveryWindowDays: number;
  readonly logger: Logger;
  readonly redactor?: SecretRedactor;
  /** The audit, built on first use (it needs this executor: a thunk breaks the cycle). */
  readonly audit?: () => Promise<AuditJobs>;
  readonly now?: () => Date;
}

/** A failure no retry will fix; the message is user-safe. */
export class PermanentFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentFailure';
  }
}

interface Applied {
  readonly text: string;
  readonly notes?: readonly string[];
}

/** True when a later delivery of the same job may succeed. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof PermanentFailure) return false;
  if (error instanceof ClusterAdminError || error instanceof SecretStoreError || error instanceof StateStoreError) return error.retryable;
  // Unknown errors (a bug, an SDK surprise) get the queue's retries, then the final-attempt rollback.
  return true;
}

/** The one-line, user-safe text of a failure. */
export function failureText(error: unknown): string {
  if (error instanceof PermanentFailure || error instanceof ClusterAdminError || error instanceof SecretStoreError || error instanceof StateStoreError) return error.message;
  return 'Something went wrong on our side; the change was not applied. The bot team has the details in the logs.';
}

export class RequestExecutor {
  private readonly o: RequestExecutorOptions;
  private readonly now: () => Date;

  constructor(options: RequestExecutorOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  /** Runs one job. `finalAttempt`: the queue will not deliver it again, so do not rethrow. */
  async run(job: Job, { finalAttempt = false } = {}): Promise<void> {
    switch (job.type) {
      case 'submit':
        return this.submit(job.requestId, finalAttempt);
      case 'decided':
        return this.decided(job.requestId, finalAttempt);
      case 'connect':
        return this.answering(job, finalAttempt, () => this.connect(job));
      case 'read':
        return this.answering(job, finalAttempt, () => this.read(job));
      case 'audit': {
        const audit = this.o.audit;
        if (audit === undefined) {
          await this.o.notifier.reply(this.target(job), { kind: 'text', text: 'The audit is not wired up in this deployment.', tone: 'warning' });
          return;
        }
        return this.answering(job, finalAttempt, async () => (await audit()).runCommand(job));
      }
      case 'audit-fix': {
        if (this.o.audit === undefined) return this.o.logger.error({ event: 'audit-fix.unwired', cluster: job.cluster }, 'audit-fix job without an audit');
        return (await this.o.audit()).fix(job, { finalAttempt });
      }
    }
  }

  private async submit(requestId: string, finalAttempt: boolean): Promise<void> {
    const request = await this.o.store.getRequest(requestId);
    if (request === undefined) return this.o.logger.warn({ requestId }, 'submit: request not found');
    if (request.status === 'pending') {
      if (this.isPastExpiry(request)) return this.expire(request);
      if (request.card === undefined) await this.postCard(request);
      return;
    }
    if (request.breakGlass) await this.o.notifier.notifyApprovers(request, `Break-glass change by <@${request.requester}>: applied without approval. Reason: ${request.reason ?? '(none)'}`);
    return this.apply(request, finalAttempt);
  }

  private async decided(requestId: string, finalAttempt: boolean): Promise<void> {
    const request = await this.o.store.getRequest(requestId);
    if (request === undefined) return;
    if (request.card) await this.o.notifier.showApprovalCard(request);
    switch (request.status) {
      case 'approved':
        await this.o.notifier.tellRequester(request, { kind: 'approved', by: request.decidedBy ?? 'an approver' });
        return this.apply(request, finalAttempt);
      case 'applying':
        return this.apply(request, finalAttempt);
      case 'denied':
        return this.o.notifier.tellRequester(request, { kind: 'denied', by: request.decidedBy ?? 'an approver', ...(request.denyReason ? { reason: request.denyReason } : {}) });
      case 'expired':
        return this.o.notifier.tellRequester(request, { kind: 'expired' });
      default:
        return;
    }
  }

  /** Moves a pending request past its expiry to `expired`, updates its card and tells the requester. */
  async expire(request: ChatRequest): Promise<void> {
    const result = await this.o.store.transition(request.id, {
      from: ['pending'],
      changes: { status: 'expired' },
      event: this.event(request.id, 'bot', 'expired'),
    });
    if (!result.ok) return;
    if (result.request.card) await this.o.notifier.showApprovalCard(result.request);
    await this.o.notifier.tellRequester(result.request, { kind: 'expired' });
  }

  private isPastExpiry(request: ChatRequest): boolean {
    return Date.parse(request.expiresAt) <= this.now().getTime();
  }

  private async postCard(request: ChatRequest): Promise<void> {
    const card = await this.o.notifier.showApprovalCard(request);
    if (card === undefined) return;
    // Another delivery may have posted too; the first card recorded wins and the other is removed.
    const saved = await this.o.store.transition(request.id, { from: ['pending'], changes: { card } });
    if (!saved.ok && saved.current?.card && (saved.current.card.ts !== card.ts || saved.current.card.channel !== card.channel)) {
      await this.o.notifier.deleteMessage(card.channel, card.ts);
    }
  }

  private async apply(initial: ChatRequest, finalAttempt: boolean): Promise<void> {
    let request = initial;
    if (FINAL_STATUSES.has(request.status) || request.status === 'pending') return;
    if (request.status === 'approved') {
      const started = await this.o.store.transition(request.id, {
        from: ['approved'],
        changes: { status: 'applying' },
        event: this.event(request.id, 'bot', 'applying'),
      });
      if (!started.ok) {
        if (started.current?.status !== 'applying') return;
        request = started.current;
      } else {
        request = started.request;
      }
    }
    const log = this.o.logger.child({ requestId: request.id, cluster: request.cluster, kind: request.params.kind });
    try {
      const applied = await this.applyKind(request);
      const done = await this.o.store.transition(request.id, {
        from: ['applying'],
        changes: { status: 'applied', outcome: applied.text, appliedAt: this.now().toISOString(), step: 'done' },
        event: this.event(request.id, 'bot', 'applied', applied.text),
      });
      log.info({ event: 'request.applied' }, 'request applied');
      if (done.ok) {
        if (done.request.card) await this.o.notifier.showApprovalCard(done.request);
        await this.o.notifier.tellRequester(done.request, { kind: 'applied', text: applied.text, ...(applied.notes ? { notes: applied.notes } : {}) });
      }
    } catch (error) {
      if (isRetryable(error) && !finalAttempt) {
        log.warn({ event: 'request.retry', err: error }, 'request will be retried');
        throw error;
      }
      log.error({ event: 'request.failed', err: error }, 'request failed');
      const text = failureText(error);
      const failed = await this.o.store.transition(request.id, {
        from: ['applying'],
        changes: { status: 'failed', outcome: text },
        event: this.event(request.id, 'bot', 'failed', text),
      });
      if (failed.ok) {
        if (failed.request.card) await this.o.notifier.showApprovalCard(failed.request);
        await this.o.notifier.tellRequester(failed.request, { kind: 'failed', text });
      }
    }
  }

  private applyKind(request: ChatRequest): Promise<Applied> {
    switch (request.params.kind) {
      case 'allow':
        return this.applyAllow(request, request.params.allow);
      case 'revoke':
        return this.applyRevoke(request, request.params.revoke.cidr);
      case 'user-create':
        return this.applyUserCreate(request, request.params.userCreate);
      case 'user-rotate':
        return this.applyUserRotate(request, request.params.user.user);
      case 'user-delete':
        return this.applyUserDelete(request, request.params.user.user);
    }
  }

  private async applyAllow(request: ChatRequest, allow: Extract<ChatRequest['params'], { kind: 'allow' }>['allow']): Promise<Applied> {
    const admin = await this.o.clusters.get(request.cluster);
    await admin.upsertAllowlistEntry({ cidr: allow.cidr, sql: allow.sql, ui: allow.ui, name: entryName(request.id, allow.label) });
    const expiresAt = allow.forMs === undefined ? undefined : new Date(this.now().getTime() + allow.forMs).toISOString();
    await this.o.store.putManagedEntry({
      cluster: request.cluster,
      cidr: allow.cidr,
      requestId: request.id,
      requester: request.requester,
      sql: allow.sql,
      ui: allow.ui,
      createdAt: this.now().toISOString(),
      ...(allow.label !== undefined ? { label: allow.label } : {}),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    });
    await this.o.notifier.tellRequester(request, { kind: 'progress', text: `\`${allow.cidr}\` is on the allowlist of \`${request.cluster}\`; waiting for it to propagate…` });
    const what = allow.sql && allow.ui ? 'SQL and the DB Console' : allow.ui ? 'the DB Console' : 'SQL';
    const until = expiresAt === undefined ? '' : ` until ${expiresAt.replace('T', ' ').slice(0, 16)} UTC`;
    try {
      await admin.waitForPropagation({ timeoutMs: this.o.propagationTimeoutMs });
    } catch (error) {
      if (!(error instanceof PropagationTimeoutError)) throw error;
      return { text: `\`${allow.cidr}\` is on the allowlist of \`${request.cluster}\` for ${what}${until}, but it is still propagating; try to connect in a few minutes.` };
    }
    return { text: `\`${allow.cidr}\` is on the allowlist of \`${request.cluster}\` for ${what}${until}. You can connect now.` };
  }

  private async applyRevoke(request: ChatRequest, cidr: string): Promise<Applied> {
    const admin = await this.o.clusters.get(request.cluster);
    const removed = await admin.removeAllowlistEntry(cidr);
    await this.o.store.deleteManagedEntry(request.cluster, cidr);
    return {
      text: removed ? `\`${cidr}\` was removed from the allowlist of \`${request.cluster}\`.` : `\`${cidr}\` was not on the allowlist of \`${request.cluster}\`; nothing to remove.`,
    };
  }

  private async applyUserCreate(request: ChatRequest, params: Extract<ChatRequest['params'], { kind: 'user-create' }>['userCreate']): Promise<Applied> {
    const { user, database } = params;
    const admin = await this.o.clusters.get(request.cluster);
    const name = secretName(request.cluster, user);
    const existing = await this.o.secrets.get(name);
    const resuming = existing?.requestId === request.id;
    const details = await admin.connectionDetails({ user, database });
    let password: string;
    let createdSecret = false;
    if (resuming) {
      password = existing.password;
    } else {
      if ((await admin.listUsers()).includes(user)) {
        const managed = await this.o.store.getManagedUser(request.cluster, user);
        throw new PermanentFailure(
          managed
            ? `SQL user \`${user}\` already exists on \`${request.cluster}\` (owner <@${managed.owner}>); use \`user rotate\` for a new password.`
            : `SQL user \`${user}\` already exists on \`${request.cluster}\` and was not created by the bot; it will not take it over.`,
        );
      }
      password = generatePassword();
      this.o.redactor?.addAll(passwordRenderings(password));
      const value = this.secretValue(request, details, password);
      if (existing) {
        // A secret left by an earlier, failed request for the same name: the user does not exist, so reuse the name.
        await this.o.secrets.put(name, value, { idempotencyKey: request.id });
      } else {
        await this.o.secrets.create(name, value, {
          tags: { owner: request.requester, cluster: request.cluster },
          idempotencyKey: request.id,
          description: `SQL user ${user} on ${request.cluster}, created by crdb-chatops request ${request.id}`,
        });
      }
      createdSecret = true;
      await this.o.store.transition(request.id, { from: ['applying'], changes: { step: 'secret-written' } });
    }
    this.o.redactor?.addAll(passwordRenderings(password));

    const validUntil = params.forMs === undefined ? undefined : new Date(this.now().getTime() + params.forMs);
    let result;
    try {
      result = await admin.createUser(user, password, { ...(validUntil ? { validUntil } : {}) });
    } catch (error) {
      if (!isRetryable(error) && (createdSecret || resuming)) await this.rollBackUserCreate(request, admin, user, name);
      throw error;
    }
    await this.o.store.putManagedUser({
      cluster: request.cluster,
      user,
      owner: request.requester,
      secretName: name,
      database,
      requestId: request.id,
      createdAt: this.now().toISOString(),
      ...(validUntil ? { expiresAt: validUntil.toISOString() } : {}),
    });
    await this.deliver(request.requester, request.cluster, details, name, password, 'created', result.notes);
    return {
      text: `SQL user \`${user}\` is ready on \`${request.cluster}\`; the connection details are in your DMs.`,
      notes: result.notes,
    };
  }

  private async rollBackUserCreate(request: ChatRequest, admin: ClusterAdmin, user: string, name: string): Promise<void> {
    try {
      await admin.deleteUser(user).catch((error: unknown) => {
        // The user was never created: nothing to drop.
        if (!(error instanceof ClusterAdminError)) throw error;
      });
      await this.o.secrets.delete(name, { recoveryWindowDays: this.o.recoveryWindowDays });
      await this.o.store.appendEvent(this.event(request.id, 'bot', 'rolled-back', 'secret scheduled for deletion'));
    } catch (error) {
      // The audit reports a secret without a user; do not hide the original failure.
      this.o.logger.error({ requestId: request.id, event: 'request.rollback-failed', err: error }, 'rollback failed');
    }
  }

  private async applyUserRotate(request: ChatRequest, user: string): Promise<Applied> {
    const admin = await this.o.clusters.get(request.cluster);
    const managed = await this.o.store.getManagedUser(request.cluster, user);
    if (managed === undefined) throw new PermanentFailure(`SQL user \`${user}\` on \`${request.cluster}\` is not managed by the bot.`);
    const current = await this.o.secrets.get(managed.secretName);
    if (current === undefined) throw new PermanentFailure(`The secret of \`${user}\` is missing; ask an admin to run \`audit\`.`);
    let password: string;
    let previous: DatabaseSecret | undefined;
    if (current.requestId === request.id) {
      password = current.password;
    } else {
      previous = current;
      password = generatePassword();
      this.o.redactor?.addAll(passwordRenderings(password));
      await this.o.secrets.put(managed.secretName, { ...current, password, requestId: request.id }, { idempotencyKey: request.id });
      await this.o.store.transition(request.id, { from: ['applying'], changes: { step: 'secret-written' } });
    }
    this.o.redactor?.addAll(passwordRenderings(password));
    try {
      await admin.setPassword(user, password);
    } catch (error) {
      if (!isRetryable(error) && previous) {
        // The cluster still has the old password: put it back where the owner will look for it.
        await this.o.secrets.put(managed.secretName, previous, { idempotencyKey: `${request.id}:rollback` });
        await this.o.store.appendEvent(this.event(request.id, 'bot', 'rolled-back', 'previous password restored'));
      }
      throw error;
    }
    const details = await admin.connectionDetails({ user, database: managed.database });
    await this.deliver(request.requester, request.cluster, details, managed.secretName, password, 'rotated', []);
    return { text: `The password of \`${user}\` on \`${request.cluster}\` was rotated; the new connection details are in your DMs. The old password no longer works.` };
  }

  private async applyUserDelete(request: ChatRequest, user: string): Promise<Applied> {
    const admin = await this.o.clusters.get(request.cluster);
    const name = (await this.o.store.getManagedUser(request.cluster, user))?.secretName ?? secretName(request.cluster, user);
    const dropped = await admin.deleteUser(user);
    await this.o.secrets.delete(name, { recoveryWindowDays: this.o.recoveryWindowDays });
    await this.o.store.deleteManagedUser(request.cluster, user);
    return {
      text: `${dropped ? `SQL user \`${user}\` was dropped from \`${request.cluster}\`; objects it owned now belong to the admin user.` : `SQL user \`${user}\` was already gone from \`${request.cluster}\`.`} Its secret is scheduled for deletion in ${this.o.recoveryWindowDays} days.`,
    };
  }

  private secretValue(request: ChatRequest, details: ConnectionDetails, password: string): DatabaseSecret {
    const config = this.o.clusters.config(request.cluster);
    const engine = config?.backend === 'sql' && config.dialect === 'postgres' ? 'postgres' : 'cockroachdb';
    return {
      engine,
      host: details.host,
      port: details.port,
      username: details.user,
      password,
      dbname: details.database,
      cluster: request.cluster,
      requestId: request.id,
    };
  }

  private async deliver(
    recipient: string,
    cluster: string,
    details: ConnectionDetails,
    name: string,
    password: string,
    why: 'created' | 'rotated' | 'requested',
    notes: readonly string[],
    format?: string,
  ): Promise<void> {
    const receipt = await this.o.notifier.deliverConnection({
      recipient,
      cluster,
      details,
      secretName: name,
      why,
      notes,
      ...(this.o.passwordDelivery === 'dm' ? { password } : {}),
      ...(format !== undefined ? { format } : {}),
    });
    // The cluster lets the audit report a DM that outlived its TTL to that cluster's channel.
    if (receipt) await this.o.store.putDmReceipt({ ...receipt, cluster });
  }

  /** Runs a job that answers a command; failures are answered too, retried while they may pass. */
  private async answering(job: Extract<Job, { type: 'connect' | 'read' | 'audit' }>, finalAttempt: boolean, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (isRetryable(error) && !finalAttempt) throw error;
      this.o.logger.warn({ event: `${job.type}.failed`, cluster: job.cluster, err: error }, 'command failed');
      await this.o.notifier.reply(this.target(job), { kind: 'text', text: failureText(error), tone: 'error' });
    }
  }

  private target(job: { requester: string; responseUrl?: string }): { user: string; responseUrl?: string } {
    return { user: job.requester, ...(job.responseUrl ? { responseUrl: job.responseUrl } : {}) };
  }

  private async connect(job: Extract<Job, { type: 'connect' }>): Promise<void> {
    const managed = await this.o.store.getManagedUser(job.cluster, job.user);
    if (managed === undefined) throw new PermanentFailure(`SQL user \`${job.user}\` on \`${job.cluster}\` is not managed by the bot.`);
    const secret = await this.o.secrets.get(managed.secretName);
    if (secret === undefined) throw new PermanentFailure(`The secret of \`${job.user}\` is missing; ask an admin to run \`audit\`.`);
    this.o.redactor?.addAll(passwordRenderings(secret.password));
    const admin = await this.o.clusters.get(job.cluster);
    const details = await admin.connectionDetails({
      user: job.user,
      database: job.database ?? managed.database,
      ...(job.region !== undefined ? { region: job.region } : {}),
    });
    await this.deliver(job.requester, job.cluster, details, managed.secretName, secret.password, 'requested', [], job.format);
    await this.o.notifier.reply(this.target(job), { kind: 'text', text: `The connection details of \`${job.user}\` on \`${job.cluster}\` are in your DMs.`, tone: 'success' });
  }

  private async read(job: Extract<Job, { type: 'read' }>): Promise<void> {
    const target = this.target(job);
    const admin = await this.o.clusters.get(job.cluster);
    if (job.command === 'users') {
      const [users, managed] = await Promise.all([admin.listUsers(), this.o.store.listManagedUsers(job.cluster)]);
      const byName = new Map(managed.map((m) => [m.user, m]));
      await this.o.notifier.reply(target, {
        kind: 'users',
        cluster: job.cluster,
        users: users.map((name) => {
          const m = byName.get(name);
          return m ? { name, managed: m } : { name };
        }),
      });
      return;
    }
    const [snapshot, managed, description] = await Promise.all([admin.listAllowlist(), this.o.store.listManagedEntries(job.cluster), admin.describe()]);
    const byCidr = new Map(managed.map((m) => [m.cidr, m]));
    const toRow = (e: AllowlistEntry): AllowlistRow => {
      const m = byCidr.get(e.cidr);
      return m ? { ...e, managed: m } : { ...e };
    };
    if (job.command === 'check') {
      const ip = job.ip ?? '';
      await this.o.notifier.reply(target, { kind: 'check', cluster: job.cluster, ip, covering: coveringEntries(snapshot.entries, ip).map(toRow) });
      return;
    }
    // Configured, else the plan's documented cap; self-hosted clusters have none, 50 is only a yardstick there.
    const cap = this.o.clusters.config(job.cluster)?.policy.allowlistCap ?? description.allowlistCap ?? 50;
    await this.o.notifier.reply(target, { kind: 'allowlist', cluster: job.cluster, rows: snapshot.entries.map(toRow), propagating: snapshot.propagating, cap });
  }

  private event(requestId: string, actor: string, type: RequestEvent['type'], detail?: string): RequestEvent {
    return { requestId, actor, type, at: this.now().toISOString(), ...(detail !== undefined ? { detail } : {}) };
  }
}
