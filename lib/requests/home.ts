/**
 * "My access": what one person holds (allowlist entries, SQL users) and what waits on them
 * (their requests, requests for their approval), for the Slack Home tab. It is read from the state
 * table alone: what the bot made and recorded, never the cluster.
 *
 * The Home tab is published when its person opens it (Slack's `app_home_opened`), after a click on
 * one of its buttons, and when a request of theirs ends, but only for people who opened it this
 * month or last (a marker in the table): nobody else pays a Slack call for a tab they never look at.
 */
import { type Logger } from '../log';
import { type AccessControl } from '../policy/access';
import { type Notifier } from './notifier';
import { type RequestStore } from './store';
import { type ChatRequest, isOpen, type ManagedEntry, type ManagedUser } from './types';

/** One cluster's records held by the person. */
export interface ClusterHoldings {
  readonly cluster: string;
  readonly entries: readonly ManagedEntry[];
  readonly users: readonly ManagedUser[];
}

export interface AccessOverview {
  readonly user: string;
  /** When it was read. */
  readonly at: string;
  /** Clusters where the person holds something, in configuration order. */
  readonly holdings: readonly ClusterHoldings[];
  /** Their requests waiting for approval, or not finished yet. */
  readonly mine: readonly ChatRequest[];
  /** Pending requests of others on clusters they approve, not yet approved by them. */
  readonly toDecide: readonly ChatRequest[];
}

/** What a Home tab says on top: the answer to a click, or a request of theirs that moved. */
export type HomeNotice = string | { readonly request: ChatRequest };

export interface HomeOptions {
  readonly store: RequestStore;
  readonly access: Pick<AccessControl, 'approverClusters'>;
  /** Configured cluster aliases, in configuration order. */
  readonly clusters: () => readonly string[];
  readonly notifier: Pick<Notifier, 'publishHome'>;
  readonly logger: Logger;
  readonly now?: () => Date;
}

/** How many of their own requests are looked at (newest first). */
const OWN_REQUESTS = 20;
/** The marker of an opened Home tab lives about two months (this month's and last month's are read). */
const MARKER_TTL_SECONDS = 62 * 24 * 60 * 60;

export class Home {
  private readonly o: HomeOptions;
  private readonly now: () => Date;

  constructor(options: HomeOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  /** What `user` holds and what waits on them. */
  async overview(user: string): Promise<AccessOverview> {
    const { store, access } = this.o;
    const aliases = this.o.clusters();
    const [perCluster, own, approverOf, pending] = await Promise.all([
      Promise.all(aliases.map(async (cluster) => ({ cluster, entries: await store.listManagedEntries(cluster), users: await store.listManagedUsers(cluster) }))),
      store.listByRequester(user, OWN_REQUESTS),
      access.approverClusters(user),
      store.listPending(),
    ]);
    const holdings = perCluster
      .map(({ cluster, entries, users }) => ({ cluster, entries: entries.filter((e) => e.requester === user), users: users.filter((u) => u.owner === user) }))
      .filter((h) => h.entries.length > 0 || h.users.length > 0);
    const mine = own.filter((r) => r.status === 'pending' || isOpen(r));
    const toDecide = pending.filter((r) => approverOf.includes(r.cluster) && r.requester !== user && !r.approvals.some((a) => a.by === user));
    return { user, at: this.now().toISOString(), holdings, mine, toDecide };
  }

  /** Publishes `user`'s Home tab, with `notice` (the answer to what they just clicked, or a request of theirs that moved) on top. */
  async publish(user: string, notice?: HomeNotice): Promise<void> {
    await this.o.notifier.publishHome(await this.overview(user), notice);
  }

  /** `user` opened the Home tab: remembered (so later changes refresh it), and published. */
  async opened(user: string): Promise<void> {
    await this.o.store.claimIdempotencyKey(this.markerKey(user, 0), 'home', MARKER_TTL_SECONDS);
    await this.publish(user);
  }

  /**
   * A request of its requester's moved (it waits for approval, or it ended): their Home tab is
   * published again, saying so on top, if they opened it lately. Best effort: a failure is logged, never retried (the next open shows the truth).
   */
  async changed(request: ChatRequest): Promise<void> {
    const user = request.requester;
    try {
      const holders = await Promise.all([0, 1].map((monthsAgo) => this.o.store.idempotencyKeyHolder(this.markerKey(user, monthsAgo))));
      if (holders.every((h) => h === undefined)) return;
      await this.publish(user, { request });
    } catch (error) {
      this.o.logger.warn({ event: 'home.refresh-failed', user, err: error }, 'could not refresh a Home tab');
    }
  }

  private markerKey(user: string, monthsAgo: number): string {
    const now = this.now();
    const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - monthsAgo, 1)).toISOString().slice(0, 7);
    return `home-opened:${user}:${month}`;
  }
}
