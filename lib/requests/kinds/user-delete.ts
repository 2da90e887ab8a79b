/** `user delete`: the user, its record, its secret, each on its own. */
import { secretName } from '../../secrets/types';
import { type ChatRequest } from '../types';
import { type Applied, type KindContext } from './context';
import { code, prose } from '../../prose';

/**
 * The user, then its record, then its secret, each on its own: until the secret goes, the audit
 * sees what is left (a secret without a user, whose Remove also drops the record); a record left
 * alone would block the name unseen. So the record is not deleted with the final commit, which
 * comes after the secret.
 */
export async function applyUserDelete(ctx: KindContext, request: ChatRequest, user: string): Promise<Applied> {
  const admin = await ctx.clusters.get(request.cluster);
  const name = (await ctx.store.getManagedUser(request.cluster, user))?.secretName ?? secretName(request.cluster, user);
  await ctx.requireHandOut(admin, request.cluster, user, { missingIsFine: true });
  const dropped = await admin.deleteUser(user);
  await ctx.checkpoint('user-delete:user-dropped', request);
  await ctx.store.deleteManagedUser(request.cluster, user);
  await ctx.checkpoint('user-delete:record-deleted', request);
  await ctx.secrets.delete(name, { recoveryWindowDays: ctx.recoveryWindowDays });
  await ctx.checkpoint('user-delete:secret-deleted', request);
  return {
    text: prose`${dropped ? prose`SQL user ${code(user)} was dropped from ${code(request.cluster)}; objects it owned now belong to the admin user.` : prose`SQL user ${code(user)} was already gone from ${code(request.cluster)}.`} Its secret is scheduled for deletion in ${ctx.recoveryWindowDays} days.`,
  };
}
