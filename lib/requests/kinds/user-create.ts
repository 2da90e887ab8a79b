/** `user create`: the record (the name's lock), the secret, the user, the DM, each recorded before it is made; rolled back by what this request made only. */
import { passwordRenderings } from '../../cluster-admin/connection-formats';
import { AlreadyExistsError } from '../../cluster-admin/errors';
import { type ConnectionDetails } from '../../cluster-admin/types';
import { SecretExistsError } from '../../secrets/errors';
import { generatePassword } from '../../secrets/password';
import { type DatabaseSecret, secretName } from '../../secrets/types';
import { type ChatRequest, FINAL_STATUSES, type ManagedUser } from '../types';
import { type KindContext, PermanentFailure, type Plan } from './context';
import { code, person, prose } from '../../prose';

/**
 * Undoes a `user create`: drops the user when this request made it, then deletes this request's
 * record and secret. Each step runs whatever the others did, so a step that throws leaves no
 * owner record or secret behind on its account (a requester could otherwise later rotate a
 * password onto a role that was never theirs); what a failed step leaves is an audit finding
 * (a user without a secret, a record or a secret without a user) and is logged here.
 *
 * The user is dropped only when the secret is this request's (the name's lock) and the cluster
 * does not contradict that this request made it: a role that existed before, which `createUser`
 * refused to take over, is never dropped.
 */
export async function rollBackUserCreate(ctx: KindContext, request: ChatRequest, user: string, cause: unknown): Promise<void> {
  const name = secretName(request.cluster, user);
  const failures: { step: string; error: unknown }[] = [];
  const step = async (what: string, work: () => Promise<void>): Promise<void> => {
    try {
      await work();
    } catch (error) {
      failures.push({ step: what, error });
    }
  };
  let secret: DatabaseSecret | undefined;
  await step('read secret', async () => {
    secret = await ctx.secrets.get(name);
  });
  const ours = secret?.requestId === request.id;
  let dropped = false;
  if (ours && !(cause instanceof AlreadyExistsError)) {
    await step('drop user', async () => {
      const admin = await ctx.clusters.get(request.cluster);
      const found = await admin.inspectUser(user);
      if (!found.exists || found.madeByBot === false || found.privileges.length > 0) return;
      dropped = await admin.deleteUser(user);
    });
  }
  await step('delete record', async () => {
    if ((await ctx.store.getManagedUser(request.cluster, user))?.requestId === request.id) await ctx.store.deleteManagedUser(request.cluster, user);
  });
  if (ours) await step('delete secret', () => ctx.secrets.delete(name, { recoveryWindowDays: ctx.recoveryWindowDays }).then(() => undefined));
  await ctx.store
    .appendEvent(ctx.event(request.id, 'bot', 'rolled-back', `${dropped ? 'user dropped; ' : ''}record and secret of this request removed${failures.length > 0 ? ` except where ${failures.map((f) => f.step).join(', ')} failed` : ''}`))
    .catch((error: unknown) => failures.push({ step: 'record the rollback', error }));
  const [first] = failures;
  if (first !== undefined) {
    for (const failure of failures.slice(1)) ctx.logger.error({ event: 'request.rollback-step-failed', requestId: request.id, step: failure.step, err: failure.error }, 'rollback step failed; the audit reports what is left');
    throw first.error;
  }
}

/**
 * Checks the name, and writes nothing: the user's record, written with approved → applying, is
 * the name's lock (a conditional write; another open request holding it makes this one fail
 * "being created by another request"). Then, each recorded before it is made: the secret (its
 * name is in the record), the user (its password is in the secret), the DM (see
 * `connectionDm`). A crash anywhere leaves an open request the reconciler finishes or rolls
 * back, never a name blocked by a secret nobody will use.
 */
export async function planUserCreate(ctx: KindContext, request: ChatRequest, params: Extract<ChatRequest['params'], { kind: 'user-create' }>['userCreate']): Promise<Plan> {
  const { user, database } = params;
  const admin = await ctx.clusters.get(request.cluster);
  const name = secretName(request.cluster, user);
  const held = await ctx.store.getManagedUser(request.cluster, user);
  if (held !== undefined && held.requestId !== request.id) throw await nameTaken(ctx, request, user, held);
  // Any role of that name, login or not, privileged or not: the bot only ever creates new ones.
  // A request that began already may have created its own user: `createUser` checks that one.
  if (held === undefined && (await admin.inspectUser(user)).exists) {
    throw new PermanentFailure(prose`SQL user ${code(user)} already exists on ${code(request.cluster)} and was not created by the bot; it will not take it over.`);
  }
  const details = await admin.connectionDetails({ user, database });
  const expiresAt = params.forMs === undefined ? undefined : new Date(ctx.now().getTime() + params.forMs).toISOString();
  const record: ManagedUser = {
    cluster: request.cluster,
    user,
    owner: request.requester,
    secretName: name,
    database,
    requestId: request.id,
    createdAt: ctx.now().toISOString(),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
  return {
    records: { managedUser: record },
    run: async (current, recorded) => {
      const managed = await ctx.ensureRecord(current, 'user-create:recorded', {
        recorded,
        record,
        read: () => ctx.store.getManagedUser(request.cluster, user),
        write: () => ctx.store.putManagedUser(record),
      });
      const { password, resumed } = await writeUserSecret(ctx, current, name, details);
      ctx.redactor?.addAll(passwordRenderings(password));
      // A failure from here on is rolled back by `apply` when it ends the request (the secret is ours).
      const validUntil = managed.expiresAt === undefined ? undefined : new Date(managed.expiresAt);
      // `resume`: an earlier delivery of this request wrote the secret, and may have created the user.
      const result = await admin.createUser(user, password, { ...(validUntil ? { validUntil } : {}), resume: resumed });
      await ctx.checkpoint('user-create:user-created', current);
      return {
        text: prose`SQL user ${code(user)} is ready on ${code(request.cluster)}; the connection details are in your DMs.`,
        notes: result.notes,
        deliver: () => ctx.connectionDm(request.requester, request.cluster, details, name, password, 'created', result.notes),
      };
    },
  };
}

/** Why a user's name is not free: its record is another request's (still at work, or done). */
export async function nameTaken(ctx: KindContext, request: ChatRequest, user: string, held: ManagedUser): Promise<PermanentFailure> {
  const holder = await ctx.store.getRequest(held.requestId);
  return new PermanentFailure(
    holder !== undefined && !FINAL_STATUSES.has(holder.status)
      ? prose`SQL user ${code(user)} on ${code(request.cluster)} is being created by another request right now; nothing was changed.`
      : prose`SQL user ${code(user)} already exists on ${code(request.cluster)} (owner ${person(held.owner)}); use ${code('user rotate')} for a new password.`,
  );
}

/**
 * The new user's secret, written under the name the request holds (its record): this request's
 * own from an earlier delivery is reused (`resumed`); one left by an older request for the same
 * name (its user long gone, or deleted and waiting out its recovery window) is taken over.
 */
export async function writeUserSecret(ctx: KindContext, request: ChatRequest, name: string, details: ConnectionDetails): Promise<{ password: string; resumed: boolean }> {
  const existing = await ctx.secrets.get(name);
  if (existing?.requestId === request.id) return { password: existing.password, resumed: true };
  const password = generatePassword();
  ctx.redactor?.addAll(passwordRenderings(password));
  const value = secretValue(ctx, request, details, password);
  if (existing !== undefined) {
    await ctx.secrets.put(name, value, { idempotencyKey: request.id });
  } else {
    try {
      await ctx.secrets.create(name, value, {
        tags: { owner: request.requester, cluster: request.cluster },
        idempotencyKey: request.id,
        description: `SQL user ${details.user} on ${request.cluster}, created by crdb-chatops request ${request.id}`,
      });
    } catch (error) {
      if (!(error instanceof SecretExistsError)) throw error;
      // Deleted with an older user and still in its recovery window: the name is ours now.
      if (error.scheduledForDeletion) await ctx.secrets.restore?.(name);
      await ctx.secrets.put(name, value, { idempotencyKey: request.id });
    }
  }
  await ctx.checkpoint('user-create:secret-written', request);
  return { password, resumed: false };
}

export function secretValue(ctx: KindContext, request: ChatRequest, details: ConnectionDetails, password: string): DatabaseSecret {
  const config = ctx.clusters.config(request.cluster);
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
