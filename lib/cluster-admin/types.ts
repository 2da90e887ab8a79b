/**
 * The one interface every handler goes through to manage a CockroachDB cluster.
 *
 * Two backends implement it: `cloud` (CockroachDB Cloud API) and `sql` (a self-hosted
 * CockroachDB or PostgreSQL over `pg`, allowlist via host-based authentication).
 * Nothing here knows about Slack, AWS Lambda or where passwords are stored.
 */
import { type HbaInspection } from './sql/backend';
import { type Prose } from '../prose';

/** A normalised IPv4 network, always `a.b.c.d/n` with no host bits set. */
export type Cidr = string;

export interface AllowlistEntry {
  /** Normalised network, e.g. `203.0.113.0/24`. */
  readonly cidr: Cidr;
  /** Allows the SQL port (26257). */
  readonly sql: boolean;
  /** Allows the DB Console. Backends without a console (sql) always report `false`. */
  readonly ui: boolean;
  /** Free-form label. Entries the bot creates carry a recognisable name (see `entryName`). */
  readonly name?: string;
}

export interface AllowlistSnapshot {
  readonly entries: readonly AllowlistEntry[];
  /** True while the cluster is still applying a recent allowlist change. */
  readonly propagating: boolean;
}

export type UpsertOutcome = 'created' | 'updated' | 'unchanged';

export interface PropagationProgress {
  readonly attempt: number;
  readonly elapsedMs: number;
  readonly propagating: boolean;
}

export interface WaitForPropagationOptions {
  /** Give up (with `PropagationTimeoutError`) after this long. */
  readonly timeoutMs: number;
  /** Delay between polls; default 2 s. */
  readonly pollIntervalMs?: number;
  readonly onProgress?: (progress: PropagationProgress) => void | Promise<void>;
  readonly signal?: AbortSignal;
}

/** A privilege grant applied to a SQL user. Keywords are validated; names are quoted. */
export type Grant =
  | { readonly kind: 'database'; readonly database: string; readonly privileges: readonly DatabasePrivilege[] }
  /** A schema in the admin connection's database, e.g. `public`. */
  | { readonly kind: 'schema'; readonly schema: string; readonly privileges: readonly SchemaPrivilege[] }
  | { readonly kind: 'role'; readonly role: string };

export const DATABASE_PRIVILEGES = ['CONNECT', 'CREATE', 'TEMPORARY', 'ALL'] as const;
export type DatabasePrivilege = (typeof DATABASE_PRIVILEGES)[number];
export const SCHEMA_PRIVILEGES = ['USAGE', 'CREATE', 'ALL'] as const;
export type SchemaPrivilege = (typeof SCHEMA_PRIVILEGES)[number];

export interface CreateUserOptions {
  /** `VALID UNTIL` for temporary users (sql backend; the Cloud API has no equivalent). */
  readonly validUntil?: Date;
  /** Grants to apply after creation (least privilege). */
  readonly grants?: readonly Grant[];
  /**
   * The caller created this user on an earlier try (a resumed request). Without it an existing
   * user is refused with `AlreadyExistsError`; with it an existing user is accepted only when the
   * backend can show the bot made it and it holds no privileged attribute, and its password is
   * set again (`created: false`).
   */
  readonly resume?: boolean;
}

/** What a cluster says about one role, whatever its attributes: the facts the bot acts on. */
export interface UserInspection {
  readonly exists: boolean;
  /**
   * The cluster shows that the bot created this role (sql: a member of the bot's marker role).
   * Undefined when the backend cannot tell (the Cloud API has no such mark).
   */
  readonly madeByBot?: boolean;
  /**
   * Why the role is privileged beyond what the bot grants: `superuser`, `createrole`, `bypassrls`,
   * `member of admin`, ... (directly or through role membership). Empty for an ordinary user.
   */
  readonly privileges: readonly string[];
}

/** A role holding more than the bot ever grants: the facts the audit and the HBA guard act on. */
export interface PrivilegedRole {
  readonly name: string;
  /** `superuser`, `createrole`, `bypassrls`, `the bot's admin user`, `member of <role>`, ... */
  readonly why: readonly string[];
  readonly canLogin: boolean;
  /** The bot's own admin user: expected, since it is configured. */
  readonly botAdmin: boolean;
}

/**
 * A rule the backend reports but cannot reduce to an IPv4 network it can judge (sql: an HBA line
 * using `all`, a host name, IPv6, `trust`, or a look-alike of the bot's own lines). It may admit
 * any address, so `check` shows it as "may admit this address" and the audit reports it.
 */
export interface OpaqueRule {
  /** Where it is, e.g. `pg_hba line 12`. */
  readonly where: string;
  /** The rule as written: from the cluster, untrusted text. */
  readonly rule: string;
  /** Why the bot cannot judge it; the bot's own words. */
  readonly reason: Prose;
}

export interface CreateUserResult {
  /** False when a resumed request found the user it had created (its password was then set again). */
  readonly created: boolean;
  /**
   * `least-privilege`: the user holds only the configured grants.
   * `admin`: the user is a member of `admin` (Cloud API users without an admin SQL connection).
   */
  readonly privileges: 'least-privilege' | 'admin';
  /** Human-readable remarks for the requester, e.g. "this user is an admin". */
  readonly notes: readonly Prose[];
}

/** How a client must verify the server certificate. `sslmode=verify-full` always. */
export type CertificateAuthority =
  /** Basic/Standard Cloud clusters: publicly trusted certificate, system roots. */
  | { readonly kind: 'system' }
  /** Advanced Cloud clusters and self-hosted clusters: a cluster CA. */
  | {
      readonly kind: 'cluster-ca';
      /** Where the client should store the CA, used as `sslrootcert`. */
      readonly sslrootcert: string;
      /** Where to download it (Cloud: `https://cockroachlabs.cloud/clusters/<id>/cert`). */
      readonly downloadUrl?: string;
      /** The PEM itself, when the backend has it (self-hosted / local mode). */
      readonly pem?: string;
    };

export interface RegionEndpoint {
  readonly region: string;
  readonly host: string;
  readonly primary: boolean;
}

export interface ConnectionDetails {
  readonly cluster: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** The region `host` belongs to, when the cluster has regions. */
  readonly region?: string;
  /** Every region's SQL endpoint, primary first. */
  readonly regions: readonly RegionEndpoint[];
  readonly ca: CertificateAuthority;
}

export interface ConnectionRequest {
  readonly user: string;
  readonly database?: string;
  /** Region name; default: the primary (or only) region. */
  readonly region?: string;
}

export type BackendKind = 'cloud' | 'sql';

/** Facts about a cluster that policy and the audit depend on. */
export interface ClusterDescription {
  /** CockroachDB Cloud plan; absent for self-hosted clusters. */
  readonly plan?: 'BASIC' | 'STANDARD' | 'ADVANCED';
  /** Where a Cloud cluster runs; absent for self-hosted clusters. */
  readonly cloudProvider?: 'AWS' | 'GCP' | 'AZURE';
  /** The documented cap on allowlist entries for the plan; absent when the backend has none. */
  readonly allowlistCap?: number;
}

export interface ClusterAdmin {
  /** The configured alias, e.g. `prod-eu`. */
  readonly cluster: string;
  readonly backend: BackendKind;

  /** Every entry, all pages. */
  listAllowlist(): Promise<AllowlistSnapshot>;
  /** Idempotent: an identical entry is a no-op, an entry with the same CIDR but other fields is updated. */
  upsertAllowlistEntry(entry: AllowlistEntry): Promise<UpsertOutcome>;
  /** Removing an entry that is already gone succeeds with `false`. */
  removeAllowlistEntry(cidr: Cidr): Promise<boolean>;
  /** Entries whose network contains `ip` (IPv4 dotted quad). */
  entriesCovering(ip: string): Promise<AllowlistEntry[]>;
  /** Resolves when the allowlist is no longer propagating; rejects with `PropagationTimeoutError`. */
  waitForPropagation(options: WaitForPropagationOptions): Promise<void>;

  listUsers(): Promise<string[]>;
  /** What the cluster says about `name`: whether it exists (login or not), who made it, its privileges. */
  inspectUser(name: string): Promise<UserInspection>;
  /**
   * Creates a new user, never takes over one: an existing role of that name, whatever its
   * attributes, is `AlreadyExistsError` (see `CreateUserOptions.resume` for a resumed request).
   */
  createUser(name: string, password: string, options?: CreateUserOptions): Promise<CreateUserResult>;
  setPassword(name: string, password: string): Promise<void>;
  /**
   * Moves a temporary user's expiry on the cluster (sql: `VALID UNTIL`). Absent where the cluster
   * keeps no expiry (the Cloud API): the bot's own record and sweep are the expiry there.
   */
  setValidUntil?(name: string, until: Date): Promise<void>;
  /** Dropping a user that is already gone succeeds with `false`. */
  deleteUser(name: string): Promise<boolean>;
  grant(name: string, grants: readonly Grant[]): Promise<void>;
  revoke(name: string, grants: readonly Grant[]): Promise<void>;
  /** Members of the `admin` role, when the backend can see them (sql, or cloud with an admin SQL connection). */
  listAdmins?(): Promise<string[]>;
  /**
   * A self-hosted cluster's HBA rules and privileged roles, for the audit (sql); absent where the
   * cluster has no such rules (Cloud).
   */
  inspectHba?(): Promise<HbaInspection>;
  /** Rules that may admit any address because the backend cannot judge them (sql: HBA lines); absent = none can exist. */
  listOpaqueRules?(): Promise<OpaqueRule[]>;

  connectionDetails(request: ConnectionRequest): Promise<ConnectionDetails>;

  /** Plan, provider and plan limits (cloud: `GET /clusters/{id}`, cached; sql: nothing to ask). */
  describe(): Promise<ClusterDescription>;

  /** Release pools and timers. */
  close(): Promise<void>;
}

/**
 * Privilege management over an admin SQL connection. The sql backend implements it; the cloud
 * backend uses one (when the cluster is configured with an admin SQL connection) to take away the
 * `admin` role the Cloud API gives every user it creates, and to apply the configured grants.
 */
export interface SqlPrivilegeManager {
  grant(name: string, grants: readonly Grant[]): Promise<void>;
  revoke(name: string, grants: readonly Grant[]): Promise<void>;
  /** `REVOKE admin FROM <name>`; a user who is not a member is left as is. */
  revokeAdmin(name: string): Promise<void>;
  /** Members of the `admin` role. */
  listAdmins(): Promise<string[]>;
  close(): Promise<void>;
}
