/** `revoke`: the entry the bot made for that record comes off the allowlist; its record goes with the final commit. */
import { requestIdFromEntryName } from '../../cluster-admin/allowlist';
import { type ChatRequest } from '../types';
import { type Applied, type KindContext, PermanentFailure } from './context';
import { code, prose } from '../../prose';

/**
 * The entry goes first, its record with the final commit: until then the audit sees a record
 * without its entry (low, "record only"), never an entry the bot made that it does not know.
 */
export async function applyRevoke(ctx: KindContext, request: ChatRequest, cidr: string): Promise<Applied> {
  const admin = await ctx.clusters.get(request.cluster);
  // A resumed revoke finds the entry gone; its record, still there, says the bot had applied it.
  const recorded = await ctx.store.getManagedEntry(request.cluster, cidr);
  if (recorded !== undefined && admin.backend === 'cloud') {
    // Only the entry the bot made for that record: one someone else has put in its place stays.
    const entry = (await admin.listAllowlist()).entries.find((e) => e.cidr === cidr);
    const by = requestIdFromEntryName(entry?.name);
    if (entry !== undefined && by !== recorded.requestId && by !== request.id) {
      throw new PermanentFailure(prose`${code(cidr)} on the allowlist of ${code(request.cluster)} is no longer the entry the bot made; it was left in place. Ask an admin.`);
    }
  }
  const removed = await admin.removeAllowlistEntry(cidr);
  await ctx.checkpoint('revoke:entry-removed', request);
  return {
    text: removed || recorded !== undefined ? prose`${code(cidr)} was removed from the allowlist of ${code(request.cluster)}.` : prose`${code(cidr)} was not on the allowlist of ${code(request.cluster)}; nothing to remove.`,
    forget: { managedEntry: { cluster: request.cluster, cidr } },
  };
}
