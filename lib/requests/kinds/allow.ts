/** `allow`: an allowlist entry, recorded before it is added, checked against the cluster and the policy as a whole; rolled back to what was there before. */
import { entryName, requestIdFromEntryName } from '../../cluster-admin/allowlist';
import { unionOf, unionViolation } from '../../policy/union';
import { type ChatRequest, type ManagedEntry } from '../types';
import { type Applied, type KindContext, PermanentFailure, type Plan, propagationPollDelay, STEP_PROPAGATING, WaitingForPropagation, withoutPrevious } from './context';
import { code, person, prose } from '../../prose';

/**
 * Undoes what this request did to the allowlist, and only that: the entry it put there (named
 * for it) and its record. When it had replaced the same requester's earlier entry (an allow
 * again), that entry and record are put back as they were: a failed repeat never removes an
 * entry an earlier, applied request made.
 */
export async function rollBackAllow(ctx: KindContext, request: ChatRequest, cidr: string): Promise<void> {
  const admin = await ctx.clusters.get(request.cluster);
  const entry = (await admin.listAllowlist()).entries.find((e) => e.cidr === cidr);
  const managed = await ctx.store.getManagedEntry(request.cluster, cidr);
  const ours = managed?.requestId === request.id ? managed : undefined;
  const previous = ours?.previous;
  const entryIsOurs = entry !== undefined && requestIdFromEntryName(entry.name) === request.id;
  if (previous !== undefined) {
    if (entryIsOurs) await admin.upsertAllowlistEntry({ cidr, sql: previous.sql, ui: previous.ui, name: entryName(previous.requestId, previous.label) });
    await ctx.store.putManagedEntry(previous);
    await ctx.store.appendEvent(ctx.event(request.id, 'bot', 'rolled-back', `${cidr} put back as request ${previous.requestId} had it`));
    return;
  }
  if (entryIsOurs) await admin.removeAllowlistEntry(cidr);
  if (ours !== undefined) await ctx.store.deleteManagedEntry(request.cluster, cidr);
  if (entryIsOurs || ours !== undefined) {
    await ctx.store.appendEvent(ctx.event(request.id, 'bot', 'rolled-back', `${cidr} removed from the allowlist`));
  }
}

/**
 * The entry's record is written with approved → applying, before the entry goes on the allowlist:
 * an entry the bot made is never unknown to its table (a record whose entry is not there yet is
 * the audit's low "record only" finding).
 *
 * Checked against the cluster before anything is written: a CIDR held by another requester, or
 * on the allowlist without being the bot's, is refused (never renamed, re-timed or taken over);
 * and the allowlist as a whole, with this entry, must stay within the cluster's policy
 * (`allowOpen`, `maxBreadth`), break-glass included. The same requester may allow a CIDR again
 * (to extend it): its earlier record is kept inside the new one, and a failure puts it back.
 */
export async function planAllow(ctx: KindContext, request: ChatRequest, allow: Extract<ChatRequest['params'], { kind: 'allow' }>['allow']): Promise<Plan> {
  const stored = await ctx.store.getManagedEntry(request.cluster, allow.cidr);
  const mine = stored?.requestId === request.id;
  if (stored !== undefined && !mine && stored.requester !== request.requester) {
    throw new PermanentFailure(prose`${code(allow.cidr)} is already on the allowlist of ${code(request.cluster)}, held by ${person(stored.requester)}; nothing was changed. Ask them or an admin.`);
  }
  const admin = await ctx.clusters.get(request.cluster);
  const { entries } = await admin.listAllowlist();
  const onCluster = entries.find((e) => e.cidr === allow.cidr);
  const onClusterBy = requestIdFromEntryName(onCluster?.name);
  if (onCluster !== undefined && onClusterBy !== request.id && (stored === undefined || onClusterBy !== stored.requestId) && admin.backend === 'cloud') {
    throw new PermanentFailure(prose`${code(allow.cidr)} is already on the allowlist of ${code(request.cluster)} as an entry the bot did not make; nothing was changed.`);
  }
  const config = ctx.clusters.config(request.cluster);
  if (config !== undefined) {
    const violation = unionViolation(unionOf([...entries.map((e) => e.cidr), allow.cidr]), config.policy, request.cluster);
    if (violation !== undefined) throw new PermanentFailure(prose`${code(allow.cidr)} was refused: ${violation}`);
  }
  const expiresAt = allow.forMs === undefined ? undefined : new Date(ctx.now().getTime() + allow.forMs).toISOString();
  const previous = stored !== undefined && !mine ? withoutPrevious(stored) : stored?.previous;
  const record: ManagedEntry = {
    cluster: request.cluster,
    cidr: allow.cidr,
    requestId: request.id,
    requester: request.requester,
    sql: allow.sql,
    ui: allow.ui,
    createdAt: ctx.now().toISOString(),
    ...(allow.label !== undefined ? { label: allow.label } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    ...(previous !== undefined ? { previous } : {}),
  };
  return {
    records: { managedEntry: record },
    run: (current, recorded) => applyAllow(ctx, current, allow, record, recorded),
  };
}

/** `recorded`: `record` is written already; else it is written once the entry is on, unless this request's is there. */
export async function applyAllow(ctx: KindContext, request: ChatRequest, allow: Extract<ChatRequest['params'], { kind: 'allow' }>['allow'], record: ManagedEntry, recorded: boolean): Promise<Applied> {
  const admin = await ctx.clusters.get(request.cluster);
  await admin.upsertAllowlistEntry({ cidr: allow.cidr, sql: allow.sql, ui: allow.ui, name: entryName(request.id, allow.label) });
  await ctx.checkpoint('allow:entry-upserted', request);
  const managed = await ctx.ensureRecord(request, 'allow:recorded', {
    recorded,
    record,
    read: () => ctx.store.getManagedEntry(request.cluster, allow.cidr),
    write: () => ctx.store.putManagedEntry(record),
  });
  // Said once: a request looking again after a wait is `propagating` already.
  if (request.step !== STEP_PROPAGATING) {
    await ctx.notifier.tellRequester(request, { kind: 'progress', text: prose`${code(allow.cidr)} is on the allowlist of ${code(request.cluster)}; waiting for it to propagate…` });
    await ctx.checkpoint('allow:progress-told', request);
  }
  const what = allow.sql && allow.ui ? 'SQL and the DB Console' : allow.ui ? 'the DB Console' : 'SQL';
  const until = managed.expiresAt === undefined ? '' : ` until ${managed.expiresAt.replace('T', ' ').slice(0, 16)} UTC`;
  // The worker never sleeps: one look, and while the cluster is still applying the change the
  // request waits in the table (due again in a few seconds) and the job ends.
  if ((await admin.listAllowlist()).propagating) {
    const since = request.waitingSince ?? ctx.now().toISOString();
    const waited = ctx.now().getTime() - Date.parse(since);
    if (waited < ctx.propagationTimeoutMs) throw new WaitingForPropagation(since, propagationPollDelay(waited));
    return { text: prose`${code(allow.cidr)} is on the allowlist of ${code(request.cluster)} for ${what}${until}, but it is still propagating; try to connect in a few minutes.` };
  }
  await ctx.checkpoint('allow:propagated', request);
  return { text: prose`${code(allow.cidr)} is on the allowlist of ${code(request.cluster)} for ${what}${until}. You can connect now.` };
}
