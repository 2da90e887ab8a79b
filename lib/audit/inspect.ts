/**
 * Reads what the audit rules need about a cluster, once per run: the allowlist (one paged list),
 * the users (one paged list), `admin` members (when the backend can see them), the secrets under
 * the cluster's prefix (one paged list) and the state table's records. No call per entry or per
 * user, so a 10,000-entry allowlist costs its pages and nothing more; Cloud API calls go through
 * the per-key pacer every client of the process shares.
 */
import { type ClusterAdmin } from '../cluster-admin/types';
import { type ClusterConfig } from '../config';
import { type RequestStore } from '../requests/store';
import { type ChatRequest, type DmReceipt } from '../requests/types';
import { SECRET_NAME_PREFIX, type SecretStore } from '../secrets/types';
import { type Finding } from './findings';
import { type ClusterInputs, evaluate } from './rules';

/** The clusters the audit covers: `ClusterAdmins` implements it. */
export interface AuditClusters {
  get(alias: string): Promise<ClusterAdmin>;
  config(alias: string): ClusterConfig | undefined;
  readonly aliases: readonly string[];
}

export interface ClusterInspectorOptions {
  readonly clusters: AuditClusters;
  readonly store: RequestStore;
  readonly secrets: SecretStore;
  readonly now?: () => Date;
}

/** State-table lookups every cluster of one run shares: read once per run, not per cluster. */
export interface SharedInputs {
  readonly pending: readonly ChatRequest[];
  /** Open requests (approved, applying, or ended but not told), due or not. */
  readonly open: readonly ChatRequest[];
  readonly dueDms: readonly DmReceipt[];
  readonly now: Date;
}

export interface Inspection {
  readonly cluster: string;
  readonly findings: readonly Finding[];
  readonly entries: number;
  readonly users: number;
  /** The cap the audit applied (configured, or the plan's). */
  readonly cap?: number;
  readonly at: string;
}

export class ClusterInspector {
  private readonly o: ClusterInspectorOptions;
  private readonly now: () => Date;

  constructor(options: ClusterInspectorOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  async shared(): Promise<SharedInputs> {
    const now = this.now();
    const [pending, dueDms, open] = await Promise.all([
      this.o.store.listPending(),
      this.o.store.listDueDmReceipts(now),
      this.o.store.listDue(new Date(now.getTime() + 365 * 86_400_000), 1_000),
    ]);
    return { pending, open, dueDms, now };
  }

  /** Every finding for `alias` (acknowledged or not). @throws what the backend, store or secret store throws. */
  async inspect(alias: string, shared?: SharedInputs): Promise<Inspection> {
    const config = this.o.clusters.config(alias);
    if (config === undefined) throw new Error(`unknown cluster ${alias}`);
    const common = shared ?? (await this.shared());
    const admin = await this.o.clusters.get(alias);
    // Concurrent, but each Cloud API request still waits for its slot in the key's pacer.
    const [snapshot, description, managedEntries, users, admins, managedUsers, secrets, hba] = await allOrFirstError([
      admin.listAllowlist(),
      admin.describe(),
      this.o.store.listManagedEntries(alias),
      admin.listUsers(),
      admin.listAdmins ? admin.listAdmins() : Promise.resolve(undefined),
      this.o.store.listManagedUsers(alias),
      this.o.secrets.list(`${SECRET_NAME_PREFIX}${alias}/`),
      selfHostedFacts(admin),
    ]);
    const cap = config.policy.allowlistCap ?? description.allowlistCap;
    // Receipts from before DMs recorded their cluster are reported with the first cluster.
    const dmCluster = (dm: DmReceipt) => dm.cluster ?? this.o.clusters.aliases[0];
    const findings = evaluate({
      cluster: alias,
      backend: admin.backend,
      policy: config.policy,
      ...(cap !== undefined ? { cap } : {}),
      entries: snapshot.entries,
      ...hba,
      managedEntries,
      users,
      ...(admins !== undefined ? { admins } : {}),
      managedUsers,
      secrets,
      pending: common.pending.filter((r) => r.cluster === alias),
      open: common.open.filter((r) => r.cluster === alias),
      dueDms: common.dueDms.filter((dm) => dmCluster(dm) === alias),
      now: common.now,
    });
    return { cluster: alias, findings, entries: snapshot.entries.length, users: users.length, ...(cap !== undefined ? { cap } : {}), at: common.now.toISOString() };
  }
}

/**
 * `Promise.all` that settles every promise before it rejects: when one read fails, the others are
 * not left running (paging, retrying) after the audit has moved on or the function has returned.
 */
async function allOrFirstError<T extends readonly unknown[]>(promises: { readonly [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  // Every result is fulfilled here, in the order given.
  return settled.map((result) => (result as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/**
 * A self-hosted cluster's HBA rules and roles: the operator's lines outside the bot's block (never
 * edited), lines the bot cannot judge, every privileged role (none hidden, `postgres` included)
 * and those the HBA guard does not reject. One read of the rules, one of the roles.
 */
async function selfHostedFacts(admin: ClusterAdmin): Promise<Pick<ClusterInputs, 'operatorCidrs' | 'opaqueRules' | 'privilegedRoles' | 'unguardedRoles'>> {
  if (admin.inspectHba === undefined) return { operatorCidrs: new Set() };
  const hba = await admin.inspectHba();
  return {
    operatorCidrs: new Set(hba.unmanaged.map((rule) => rule.cidr)),
    opaqueRules: hba.opaque,
    privilegedRoles: hba.privileged,
    unguardedRoles: hba.unguarded,
  };
}
