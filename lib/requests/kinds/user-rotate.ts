/** `user rotate`: a new password in the secret first, then on the cluster; the old one is put back where the cluster refused the new one. */
import { passwordRenderings } from '../../cluster-admin/connection-formats';
import { isRetryable } from '../../errors';
import { generatePassword } from '../../secrets/password';
import { type DatabaseSecret } from '../../secrets/types';
import { type ChatRequest } from '../types';
import { type Applied, type KindContext, PermanentFailure } from './context';
import { code, prose } from '../../prose';

export async function applyUserRotate(ctx: KindContext, request: ChatRequest, user: string): Promise<Applied> {
  const admin = await ctx.clusters.get(request.cluster);
  const managed = await ctx.store.getManagedUser(request.cluster, user);
  if (managed === undefined) throw new PermanentFailure(prose`SQL user ${code(user)} on ${code(request.cluster)} is not managed by the bot.`);
  await ctx.requireHandOut(admin, request.cluster, user);
  const current = await ctx.secrets.get(managed.secretName);
  if (current === undefined) throw new PermanentFailure(prose`The secret of ${code(user)} is missing; ask an admin to run ${code('audit')}.`);
  let password: string;
  let previous: DatabaseSecret | undefined;
  if (current.requestId === request.id) {
    // Resumed: the secret holds this request's password already.
    password = current.password;
  } else {
    previous = current;
    password = generatePassword();
    ctx.redactor?.addAll(passwordRenderings(password));
    await ctx.secrets.put(managed.secretName, { ...current, password, requestId: request.id }, { idempotencyKey: request.id });
    await ctx.checkpoint('user-rotate:secret-written', request);
  }
  ctx.redactor?.addAll(passwordRenderings(password));
  try {
    await admin.setPassword(user, password);
  } catch (error) {
    if (!isRetryable(error) && previous) {
      // The cluster still has the old password: put it back where the owner will look for it.
      await ctx.secrets.put(managed.secretName, previous, { idempotencyKey: `${request.id}:rollback` });
      await ctx.store.appendEvent(ctx.event(request.id, 'bot', 'rolled-back', 'previous password restored'));
    }
    throw error;
  }
  await ctx.checkpoint('user-rotate:password-set', request);
  const details = await admin.connectionDetails({ user, database: managed.database });
  return {
    text: prose`The password of ${code(user)} on ${code(request.cluster)} was rotated; the new connection details are in your DMs. The old password no longer works.`,
    deliver: () => ctx.connectionDm(request.requester, request.cluster, details, managed.secretName, password, 'rotated', []),
  };
}
