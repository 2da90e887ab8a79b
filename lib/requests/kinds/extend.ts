/** `extend` / `user extend`: a temporary entry or user of the requester's kept longer. */
import { type ChatRequest, type ExtendParams } from '../types';
import { type Applied, type KindContext, PermanentFailure } from './context';
import { code, prose } from '../../prose';

/**
 * Keeps a temporary entry or user the requester holds for `forMs` from now. The cluster is
 * changed only where it keeps an expiry itself (a self-hosted user's `VALID UNTIL`), then the
 * record the expiry sweep reads. Either order of a crash leaves the earlier of the two in force,
 * never more access than recorded; the next delivery sets both again.
 */
export async function applyExtend(ctx: KindContext, request: ChatRequest, { subject, forMs }: ExtendParams): Promise<Applied> {
  const until = new Date(ctx.now().getTime() + forMs);
  const shown = `${until.toISOString().replace('T', ' ').slice(0, 16)} UTC`;
  if (subject.type === 'entry') {
    const entry = await ctx.store.getManagedEntry(request.cluster, subject.cidr);
    if (entry?.requester !== request.requester || entry.expiresAt === undefined) {
      throw new PermanentFailure(prose`${code(subject.cidr)} is no longer a temporary entry of yours on ${code(request.cluster)}; nothing was changed.`);
    }
    await ctx.store.putManagedEntry({ ...entry, expiresAt: until.toISOString() });
    await ctx.checkpoint('extend:recorded', request);
    return { text: prose`${code(subject.cidr)} stays on the allowlist of ${code(request.cluster)} until ${shown}.` };
  }
  const managed = await ctx.store.getManagedUser(request.cluster, subject.user);
  if (managed?.owner !== request.requester || managed.expiresAt === undefined) {
    throw new PermanentFailure(prose`SQL user ${code(subject.user)} is no longer a temporary user of yours on ${code(request.cluster)}; nothing was changed.`);
  }
  const admin = await ctx.clusters.get(request.cluster);
  await ctx.requireHandOut(admin, request.cluster, subject.user);
  if (admin.setValidUntil) {
    await admin.setValidUntil(subject.user, until);
    await ctx.checkpoint('extend:cluster-updated', request);
  }
  await ctx.store.putManagedUser({ ...managed, expiresAt: until.toISOString() });
  await ctx.checkpoint('extend:recorded', request);
  return { text: prose`SQL user ${code(subject.user)} on ${code(request.cluster)} stays until ${shown}.` };
}
