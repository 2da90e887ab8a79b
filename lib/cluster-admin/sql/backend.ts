/**
 * The `sql` backend: a self-hosted CockroachDB or PostgreSQL managed over an admin connection.
 * Users via SQL; the allowlist via host-based authentication (see `hba.ts`, `hba-store.ts`).
 */
import { type Pool } from 'pg';
import { coveringEntries, pollUntilPropagated, sameEntry } from '../allowlist';
import { InvalidInputError } from '../errors';
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
  type UpsertOutcome,
  type UserInspection,
  type WaitForPropagationOptions,
} from '../types';
import { parseHba, renderHba, type AdminRule, type HbaRuleStyle, type UnmanagedRule } from './hba';
import { type HbaStore } from './hba-store';
import { SqlUsers } from './users';

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
    const [parsed, propagating] = await Promise.all([this.options.hba.read().then(parseHba), this.options.hba.propagating()]);
    return { entries: [...parsed.managed, ...parsed.unmanaged.map(unmanagedEntry)], propagating };
  }

  /** Operator rules the bot did not write (for the audit's drift report). */
  async listUnmanagedRules(): Promise<UnmanagedRule[]> {
    return parseHba(await this.options.hba.read()).unmanaged;
  }

  async upsertAllowlistEntry(entry: AllowlistEntry): Promise<UpsertOutcome> {
    const wanted: AllowlistEntry = { ...entry, cidr: parseCidr(entry.cidr).cidr };
    if (!wanted.sql) {
      throw new InvalidInputError(`${this.cluster} is self-hosted: its allowlist controls SQL access only, there is no DB Console entry.`, '--sql');
    }
    let outcome: UpsertOutcome = 'unchanged';
    await this.options.hba.modify((current) => {
      const { managed } = parseHba(current);
      const existing = managed.find((e) => e.cidr === wanted.cidr);
      if (existing && sameEntry(existing, wanted)) return undefined;
      outcome = existing ? 'updated' : 'created';
      const others = managed.filter((e) => e.cidr !== wanted.cidr);
      return renderHba(current, [...others, wanted], this.options.ruleStyle, this.options.adminRule);
    });
    return outcome;
  }

  async removeAllowlistEntry(cidr: Cidr): Promise<boolean> {
    const target = parseCidr(cidr).cidr;
    let removed = false;
    await this.options.hba.modify((current) => {
      const { managed } = parseHba(current);
      if (!managed.some((e) => e.cidr === target)) return undefined;
      removed = true;
      return renderHba(
        current,
        managed.filter((e) => e.cidr !== target),
        this.options.ruleStyle,
        this.options.adminRule,
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
      notes: grants.length === 0 ? ['No privileges were granted beyond logging in; ask an admin for grants.'] : [],
    };
  }

  setPassword(name: string, password: string): Promise<void> {
    return this.users.setPassword(name, password);
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
        `${this.cluster} has no region \`${region}\`; its regions are ${endpoints.map((e) => e.region).join(', ')}.`,
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
}

function unmanagedEntry(rule: UnmanagedRule): AllowlistEntry {
  return { cidr: rule.cidr, sql: true, ui: false, name: `pg_hba line ${rule.lineNumber} (not managed by the bot)` };
}
