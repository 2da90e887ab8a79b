/**
 * The `sql` backend: a self-hosted CockroachDB or PostgreSQL managed over an admin connection.
 * Users via SQL; the allowlist via host-based authentication (see `hba.ts`, `hba-store.ts`).
 */
import { type Pool } from 'pg';
import { coveringEntries, pollUntilPropagated, sameEntry } from '../allowlist';
import { InvalidInputError, PermissionDeniedError } from '../errors';
import { parseCidr } from '../network';
import { validateObjectName } from '../sql-names';
import {
  type AllowlistEntry,
  type AllowlistSnapshot,
  type CertificateAuthority,
  type Cidr,
  type ClusterAdmin,
  type ClusterDescription,
  type ConnectionDetails,
  type ConnectionRequest,
  type CreateUserOptions,
  type CreateUserResult,
  type Grant,
  type OpaqueRule,
  type PrivilegedRole,
  type UpsertOutcome,
  type UserInspection,
  type WaitForPropagationOptions,
} from '../types';
import { type HbaExpectation, type HbaGuard, isHbaSafeName, type OpaqueHbaRule, parseHba, renderHba, type AdminRule, type HbaRuleStyle, type UnmanagedRule } from './hba';
import { type HbaStore, PgHbaFileStore } from './hba-store';
import { scanPrivilegedRoles } from './privileged-roles';
import { SqlUsers } from './users';
import { code, prose } from '../../prose';

export interface SqlEndpoint {
  /** Region label shown to users (self-hosted clusters may still span regions). */
  readonly region: string;
  /** Host users connect to (may differ from the admin connection's host). */
  readonly host: string;
}

export interface SqlClusterAdminOptions {
  readonly cluster: string;
  readonly pool: Pool;
  readonly adminUser: string;
  readonly hba: HbaStore;
  readonly ruleStyle: HbaRuleStyle;
  readonly adminRule: AdminRule;
  /** What clients connect to; the first is the default. */
  readonly endpoints: readonly [SqlEndpoint, ...SqlEndpoint[]];
  readonly port: number;
  readonly defaultDatabase?: string;
  readonly ca: CertificateAuthority;
  /** Grants every user the bot creates receives (least privilege). */
  readonly defaultGrants?: readonly Grant[];
  /**
   * Whose HBA syntax the rules use: PostgreSQL's has `+role` group matching, CockroachDB's does
   * not. Default: `postgres` for a `pg_hba.conf` file, `cockroach` for the cluster setting.
   */
  readonly dialect?: 'postgres' | 'cockroach';
}

/** What the audit reads about a self-hosted cluster's HBA rules and privileged roles, in one pass. */
export interface HbaInspection {
  /** Operator lines the bot does not manage that admit an IPv4 network. */
  readonly unmanaged: UnmanagedRule[];
  /** Lines that may admit any address (see `parseHba`). */
  readonly opaque: OpaqueRule[];
  /** Every privileged role, the bot's admin user included (`botAdmin`). */
  readonly privileged: PrivilegedRole[];
  /**
   * Privileged roles that can log in and that the guard in force does not reject, while the
   * managed block admits networks: they became privileged after the bot last wrote the rules
   * (or the rules predate the guard). The next allowlist change rejects them.
   */
  readonly unguarded: PrivilegedRole[];
}

export class SqlClusterAdmin implements ClusterAdmin {
  readonly backend = 'sql' as const;
  readonly cluster: string;
  private readonly users: SqlUsers;

  constructor(private readonly options: SqlClusterAdminOptions) {
    this.cluster = options.cluster;
    this.users = new SqlUsers({ cluster: options.cluster, pool: options.pool, adminUser: options.adminUser });
  }

  async listAllowlist(): Promise<AllowlistSnapshot> {
    const [parsed, propagating] = await Promise.all([this.options.hba.read().then((text) => parseHba(text, this.expectation)), this.options.hba.propagating()]);
    return { entries: [...parsed.managed, ...parsed.unmanaged.map(unmanagedEntry)], propagating };
  }

  /** Operator rules the bot did not write (for the audit's drift report). */
  async listUnmanagedRules(): Promise<UnmanagedRule[]> {
    return parseHba(await this.options.hba.read(), this.expectation).unmanaged;
  }

  /** HBA lines that may admit any address: `all`, `samenet`, host names, IPv6, `trust`, tampered copies of the bot's lines. */
  async listOpaqueRules(): Promise<OpaqueRule[]> {
    return parseHba(await this.options.hba.read(), this.expectation).opaque.map(opaqueRule);
  }

  /** Superusers, CREATEROLE/BYPASSRLS roles, members of `admin` or of any of those, and the bot's admin user; never filtered. Read-only. */
  async listPrivilegedRoles(): Promise<PrivilegedRole[]> {
    return (await scanPrivilegedRoles(this.options.pool, { cluster: this.cluster, adminUser: this.options.adminUser })).roles;
  }

  /** The audit's view: one read of the rules, one of the roles. */
  async inspectHba(): Promise<HbaInspection> {
    const [text, scan] = await Promise.all([this.options.hba.read(), scanPrivilegedRoles(this.options.pool, { cluster: this.cluster, adminUser: this.options.adminUser })]);
    const parsed = parseHba(text, this.expectation);
    const rejected = (role: PrivilegedRole): boolean => {
      const { guard } = parsed;
      if (guard === undefined) return false;
      if (guard.users.has(role.name)) return true;
      // PostgreSQL's `+group` matches members of the group (and the group itself), at any depth.
      return this.dialect === 'postgres' && (guard.groups.has(role.name) || role.why.some((w) => w.startsWith('member of ') && guard.groups.has(w.slice('member of '.length))));
    };
    const unguarded = parsed.managed.length === 0 ? [] : scan.roles.filter((role) => role.canLogin && !rejected(role));
    return { unmanaged: parsed.unmanaged, opaque: parsed.opaque.map(opaqueRule), privileged: scan.roles, unguarded };
  }

  async upsertAllowlistEntry(entry: AllowlistEntry): Promise<UpsertOutcome> {
    const wanted: AllowlistEntry = { ...entry, cidr: parseCidr(entry.cidr).cidr };
    if (!wanted.sql) {
      throw new InvalidInputError(`${this.cluster} is self-hosted: its allowlist controls SQL access only, there is no DB Console entry.`, '--sql');
    }
    let outcome: UpsertOutcome = 'unchanged';
    // Read before the edit (the store's change function is synchronous); a role made privileged
    // between this read and the write is reported by the audit until the next write.
    const guard = await this.guard('refuse');
    await this.options.hba.modify((current) => {
      const { managed } = parseHba(current);
      const existing = managed.find((e) => e.cidr === wanted.cidr);
      if (existing && sameEntry(existing, wanted)) return undefined;
      outcome = existing ? 'updated' : 'created';
      const others = managed.filter((e) => e.cidr !== wanted.cidr);
      return renderHba(current, [...others, wanted], this.options.ruleStyle, this.options.adminRule, guard);
    });
    return outcome;
  }

  async removeAllowlistEntry(cidr: Cidr): Promise<boolean> {
    const target = parseCidr(cidr).cidr;
    let removed = false;
    // Removing narrows access, so an unwritable name never blocks it (the audit reports that role).
    const guard = await this.guard('skip');
    await this.options.hba.modify((current) => {
      const { managed } = parseHba(current);
      if (!managed.some((e) => e.cidr === target)) return undefined;
      removed = true;
      return renderHba(
        current,
        managed.filter((e) => e.cidr !== target),
        this.options.ruleStyle,
        this.options.adminRule,
        guard,
      );
    });
    return removed;
  }

  async entriesCovering(ip: string): Promise<AllowlistEntry[]> {
    return coveringEntries((await this.listAllowlist()).entries, ip);
  }

  async waitForPropagation(options: WaitForPropagationOptions): Promise<void> {
    await pollUntilPropagated(this.cluster, async () => ({ propagating: await this.options.hba.propagating() }), {
      pollIntervalMs: 200,
      ...options,
    });
  }

  listUsers(): Promise<string[]> {
    return this.users.listUsers();
  }

  inspectUser(name: string): Promise<UserInspection> {
    return this.users.inspectUser(name);
  }

  async createUser(name: string, password: string, options: CreateUserOptions = {}): Promise<CreateUserResult> {
    const grants = options.grants ?? this.options.defaultGrants ?? [];
    const { created } = await this.users.createUser(name, password, { ...options, grants });
    return {
      created,
      privileges: 'least-privilege',
      notes: grants.length === 0 ? [prose`No privileges were granted beyond logging in; ask an admin for grants.`] : [],
    };
  }

  setPassword(name: string, password: string): Promise<void> {
    return this.users.setPassword(name, password);
  }

  setValidUntil(name: string, until: Date): Promise<void> {
    return this.users.setValidUntil(name, until);
  }

  deleteUser(name: string): Promise<boolean> {
    return this.users.deleteUser(name);
  }

  grant(name: string, grants: readonly Grant[]): Promise<void> {
    return this.users.grant(name, grants);
  }

  revoke(name: string, grants: readonly Grant[]): Promise<void> {
    return this.users.revoke(name, grants);
  }

  listAdmins(): Promise<string[]> {
    return this.users.listAdmins();
  }

  async connectionDetails({ user, database, region }: ConnectionRequest): Promise<ConnectionDetails> {
    const { endpoints, port, ca, defaultDatabase = 'defaultdb' } = this.options;
    const endpoint = region === undefined ? endpoints[0] : endpoints.find((e) => e.region === region);
    if (endpoint === undefined) {
      throw new InvalidInputError(
        prose`${this.cluster} has no region ${code(region ?? '')}; its regions are ${endpoints.map((e) => e.region).join(', ')}.`,
        endpoints[0].region,
      );
    }
    return Promise.resolve({
      cluster: this.cluster,
      host: endpoint.host,
      port,
      database: validateObjectName(database ?? defaultDatabase, 'database'),
      user,
      region: endpoint.region,
      regions: endpoints.map((e, i) => ({ region: e.region, host: e.host, primary: i === 0 })),
      ca,
    });
  }

  /** A self-hosted cluster has no plan and no cap on HBA rules. */
  describe(): Promise<ClusterDescription> {
    return Promise.resolve({});
  }

  async close(): Promise<void> {
    await this.users.close();
  }

  private get dialect(): 'postgres' | 'cockroach' {
    return this.options.dialect ?? (this.options.hba instanceof PgHbaFileStore ? 'postgres' : 'cockroach');
  }

  private get expectation(): HbaExpectation {
    return { style: this.options.ruleStyle, admin: this.options.adminRule };
  }

  /**
   * Who the guard heading the managed block rejects: the admin user, `postgres` (and CockroachDB's
   * `root`) whether they exist or not, and every privileged role read now; on PostgreSQL also
   * members of the roles privilege comes from (`+role`). A privileged name that cannot be written
   * safely refuses the change (`refuse`), or is left out (`skip`, for removals).
   */
  private async guard(unsafe: 'refuse' | 'skip'): Promise<HbaGuard> {
    const { adminUser } = this.options;
    const scan = await scanPrivilegedRoles(this.options.pool, { cluster: this.cluster, adminUser });
    const names = [adminUser, 'postgres', ...(this.dialect === 'cockroach' ? ['root'] : []), ...scan.roles.map((r) => r.name)];
    const unwritable = names.filter((n) => !isHbaSafeName(n));
    if (unwritable.length > 0 && unsafe === 'refuse') {
      throw new PermissionDeniedError(
        `${this.cluster} has a privileged role whose name cannot be written into an HBA rule (${unwritable.length === 1 ? 'a name' : `${unwritable.length} names`} with a double quote or a control character), so the bot cannot keep it off the networks it allowlists; rename it, then try again.`,
      );
    }
    return { users: names.filter(isHbaSafeName), groups: this.dialect === 'postgres' ? scan.roots : [] };
  }
}

function opaqueRule(rule: OpaqueHbaRule): OpaqueRule {
  return { where: `pg_hba line ${rule.lineNumber}`, rule: rule.line, reason: rule.reason };
}

function unmanagedEntry(rule: UnmanagedRule): AllowlistEntry {
  return { cidr: rule.cidr, sql: true, ui: false, name: `pg_hba line ${rule.lineNumber} (not managed by the bot)` };
}
