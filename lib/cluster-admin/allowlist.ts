/**
 * Allowlist logic shared by both backends: which entries cover an address, the bot's entry names,
 * and waiting for propagation. Backends only list, upsert and remove.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PropagationTimeoutError } from './errors';
import { cidrContains, parseIpv4Address } from './network';
import { type AllowlistEntry, type AllowlistSnapshot, type WaitForPropagationOptions } from './types';

/** Prefix of every entry name the bot writes; the audit uses it to tell its entries from drift. */
export const ENTRY_NAME_PREFIX = 'chatops';

/**
 * The name the bot gives an entry: `chatops:<requestId>` plus an optional sanitised label.
 * Cloud entry names are free text but short in the console; keep it under 64 characters.
 */
export function entryName(requestId: string, label?: string): string {
  const base = `${ENTRY_NAME_PREFIX}:${requestId}`;
  const clean = (label ?? '').replace(/[^A-Za-z0-9 ._-]+/g, '').trim();
  const full = clean === '' ? base : `${base}:${clean}`;
  return full.slice(0, 64);
}

/** The request id an entry name carries, when the bot wrote it. */
export function requestIdFromEntryName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const match = /^chatops:([A-Za-z0-9_-]+)(?::|$)/.exec(name);
  return match?.[1];
}

/** Entries whose network contains `ip`, narrowest first. */
export function coveringEntries(entries: readonly AllowlistEntry[], ip: string): AllowlistEntry[] {
  const address = parseIpv4Address(ip);
  return entries
    .filter((entry) => cidrContains(entry.cidr, address))
    .sort((a, b) => prefixOf(b.cidr) - prefixOf(a.cidr));
}

function prefixOf(cidr: string): number {
  return Number(cidr.split('/')[1]);
}

/** True when two entries would be written identically. */
export function sameEntry(a: AllowlistEntry, b: AllowlistEntry): boolean {
  return a.cidr === b.cidr && a.sql === b.sql && a.ui === b.ui && (a.name ?? '') === (b.name ?? '');
}

/**
 * Polls `list` until it reports `propagating: false`, calling `onProgress` after every poll.
 * @throws PropagationTimeoutError when `timeoutMs` passes first.
 */
export async function pollUntilPropagated(
  cluster: string,
  list: () => Promise<Pick<AllowlistSnapshot, 'propagating'>>,
  { timeoutMs, pollIntervalMs = 2_000, onProgress, signal }: WaitForPropagationOptions,
  now: () => number = Date.now,
): Promise<void> {
  const started = now();
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    const { propagating } = await list();
    const elapsedMs = now() - started;
    await onProgress?.({ attempt, elapsedMs, propagating });
    if (!propagating) return;
    if (elapsedMs + pollIntervalMs > timeoutMs) {
      throw new PropagationTimeoutError(
        `The allowlist of ${cluster} is still propagating after ${Math.round(elapsedMs / 1000)} s; it usually completes within a few minutes.`,
      );
    }
    await sleep(pollIntervalMs, undefined, signal ? { signal } : undefined);
  }
}
