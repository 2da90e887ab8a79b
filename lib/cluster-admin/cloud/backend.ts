/**
 * The `cloud` backend: a CockroachDB Cloud cluster managed through the Cloud API.
 *
 * The API manages the IP allowlist and SQL users but knows nothing about SQL privileges: every user
 * it creates is a member of `admin`. When the cluster is configured with an admin SQL connection
 * (a `SqlPrivilegeManager`), new users are demoted to the configured grants; otherwise they stay
 * admins and the result says so plainly.
 */
import { coveringEntries, pollUntilPropagated, sameEntry } from '../allowlist';
import { AlreadyExistsError, BackendError, ClusterAdminError, InvalidInputError, NotFoundError } from '../errors';
import { parseCidr, parseIpv4Address, parseIpv4Network, splitCidr } from '../network';
import { isReservedRoleName, validateObjectName, validateUserName } from '../sql-names';
import {
  type AllowlistEntry,
  type AllowlistSnapshot,
  type BackendKind,
  type CertificateAuthority,
  type Cidr,
  type ClusterAdmin,
  type ClusterDescription,
  type ConnectionDetails,
  type ConnectionRequest,
  type CreateUserOptions,
  type CreateUserResult,
  type Grant,
  type RegionEndpoint,
  type SqlPrivilegeManager,
  type UpsertOutcome,
  type UserInspection,
  type WaitForPropagationOptions,
} from '../types';
import { silentLogger, type Logger } from '../../log';
import { type CloudAllowlistEntry, type CloudApiClient, type CloudClientOs, type CloudCluster, type CloudClusterRef } from './client';
import { code, prose, type Prose } from '../../prose';

/** Where the Cloud console serves an Advanced cluster's CA certificate. */
const CLOUD_CONSOLE_URL = 'https://cockroachlabs.cloud';
const DEFAULT_SQL_PORT = 26257;

export interface CloudClusterAdminOptions {
  /** The configured alias, e.g. `prod-eu`. */
  readonly cluster: string;
  /** The Cloud cluster id (a UUID). */
  readonly clusterId: string;
  readonly client: CloudApiClient;
  /** Admin SQL connection used to take `admin` away from new users and apply grants. */
  readonly privileges?: SqlPrivilegeManager;
  /** Whether `close()` closes `privileges`; default true (the backend owns it). */
  readonly ownsPrivileges?: boolean;
  /** Grants for new users when `createUser` is not given any. */
  readonly grants?: readonly Grant[];
  /** Default poll interval for `waitForPropagation`; default 2 s. */
  readonly propagationPollMs?: number;
  /**
   * Client OS used to format CA paths for Advanced clusters (the API requires `os` there);
   * default `LINUX`.
   */
  readonly osForConnectionString?: CloudClientOs;
  /** How long cluster facts (plan, regions) are reused; default 60 s. */
  readonly clusterInfoTtlMs?: number;
  /** Page size asked for in list calls; default 500 (the server may return fewer). */
  readonly pageSize?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

export class CloudClusterAdmin implements ClusterAdmin {
  readonly cluster: string;
  readonly backend: BackendKind = 'cloud';
  /** Present only with an admin SQL connection: the Cloud API cannot see role memberships. */
  readonly listAdmins?: () => Promise<string[]>;

  private readonly ref: CloudClusterRef;
  private readonly client: CloudApiClient;
  private readonly privileges: SqlPrivilegeManager | undefined;
  private readonly ownsPrivileges: boolean;
  private readonly grants: readonly Grant[];
  private readonly propagationPollMs: number;
  private readonly os: CloudClientOs;
  private readonly clusterInfoTtlMs: number;
  private readonly pageSize: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  private clusterInfo: { readonly value: Promise<CloudCluster>; readonly expiresAt: number } | undefined;
  private closed = false;

  constructor({
    cluster,
    clusterId,
    client,
    privileges,
    ownsPrivileges = true,
    grants = [],
    propagationPollMs = 2_000,
    osForConnectionString = 'LINUX',
    clusterInfoTtlMs = 60_000,
    pageSize = 500,
    logger = silentLogger(),
    now = Date.now,
  }: CloudClusterAdminOptions) {
    if (clusterId.trim() === '') throw new InvalidInputError(`The Cloud cluster id of ${cluster} is empty.`);
    this.cluster = cluster;
    this.ref = { cluster, clusterId };
    this.client = client;
    this.privileges = privileges;
    this.ownsPrivileges = ownsPrivileges;
    this.grants = grants;
    this.propagationPollMs = propagationPollMs;
    this.os = osForConnectionString;
    this.clusterInfoTtlMs = clusterInfoTtlMs;
    this.pageSize = pageSize;
    this.logger = logger;
    this.now = now;
    if (privileges !== undefined) this.listAdmins = () => privileges.listAdmins();
  }

  // ---- Allowlist ------------------------------------------------------------------------------

  async listAllowlist(): Promise<AllowlistSnapshot> {
    const { entries, propagating } = await this.client.listAllowlist(this.ref, { limit: this.pageSize });
    return { entries: entries.flatMap((entry) => this.toEntry(entry)), propagating };
  }

  /**
   * Lists, compares and writes only when needed. A new CIDR is added with PUT (path-addressed, so
   * retry-safe); an existing one is changed with PATCH, the spec's documented update. The spec
   * does not say whether PUT overwrites an existing entry, so we do not rely on it. Each falls
   * back to the other when the list turns out stale (someone added or removed the entry since).
   */
  async upsertAllowlistEntry(entry: AllowlistEntry): Promise<UpsertOutcome> {
    const wanted = normaliseEntry(entry);
    const { entries } = await this.listAllowlist();
    const existing = entries.find((candidate) => candidate.cidr === wanted.cidr);
    if (existing !== undefined && sameEntry(existing, wanted)) return 'unchanged';
    const { ip, mask } = splitCidr(wanted.cidr);
    const write = { cidrIp: ip, cidrMask: mask, sql: wanted.sql, ui: wanted.ui, ...(wanted.name !== undefined ? { name: wanted.name } : {}) };
    if (existing !== undefined) {
      try {
        await this.client.updateAllowlistEntry(this.ref, write);
        return 'updated';
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        await this.client.addAllowlistEntry(this.ref, write);
        return 'created';
      }
    }
    try {
      await this.client.addAllowlistEntry(this.ref, write);
      return 'created';
    } catch (error) {
      if (!(error instanceof AlreadyExistsError)) throw error;
      await this.client.updateAllowlistEntry(this.ref, write);
      return 'updated';
    }
  }

  async removeAllowlistEntry(cidr: Cidr): Promise<boolean> {
    const { ip, mask } = splitCidr(parseCidr(cidr).cidr);
    return this.client.deleteAllowlistEntry(this.ref, ip, mask);
  }

  async entriesCovering(ip: string): Promise<AllowlistEntry[]> {
    // Validate before calling the API: a typo should cost nothing.
    const address = parseIpv4Address(ip);
    const { entries } = await this.listAllowlist();
    return coveringEntries(entries, address);
  }

  async waitForPropagation(options: WaitForPropagationOptions): Promise<void> {
    // `propagating` is a cluster-wide flag on every page, so the smallest page answers it.
    await pollUntilPropagated(this.cluster, () => this.client.listAllowlistPage(this.ref, { limit: 1 }), {
      ...options,
      pollIntervalMs: options.pollIntervalMs ?? this.propagationPollMs,
    });
  }

  // ---- Users ----------------------------------------------------------------------------------

  async listUsers(): Promise<string[]> {
    return this.client.listSqlUsers(this.ref, { limit: this.pageSize });
  }

  /**
   * The Cloud API lists every SQL user; it cannot tell who made one. Admin membership is seen
   * through the admin SQL connection when there is one; without it every user the Cloud API
   * creates is an admin by design, which is what this cluster hands out, so it is not flagged.
   */
  async inspectUser(name: string): Promise<UserInspection> {
    const user = validateUserName(name);
    const [users, admins] = await Promise.all([this.listUsers(), this.privileges ? this.privileges.listAdmins() : Promise.resolve([])]);
    if (!users.includes(user)) return { exists: false, privileges: [] };
    const privileges = [...(isReservedRoleName(user) ? ['reserved'] : []), ...(admins.includes(user) ? ['member of admin'] : [])];
    return { exists: true, privileges };
  }

  async createUser(name: string, password: string, options: CreateUserOptions = {}): Promise<CreateUserResult> {
    const user = validateUserName(name);
    if (isReservedRoleName(user)) throw new InvalidInputError(prose`${code(user)} is a reserved role name and cannot be managed from chat.`, 'maxroach');
    requirePassword(password);
    const grants = options.grants ?? this.grants;
    const notes: Prose[] = [];
    let created = true;
    try {
      await this.client.createSqlUser(this.ref, user, password);
    } catch (error) {
      if (!(error instanceof AlreadyExistsError)) throw error;
      // Only a resumed request sets the password of the user it created on an earlier try.
      if (options.resume !== true) {
        throw new AlreadyExistsError(prose`A SQL user named ${code(user)} already exists on ${this.cluster}; the bot only creates new users and never takes one over.`, { cause: error });
      }
      await this.client.setSqlUserPassword(this.ref, user, password);
      created = false;
    }
    if (options.validUntil !== undefined) {
      notes.push(
        prose`The Cloud API cannot set an expiry on a SQL user, so ${code(user)} has none on the cluster; the bot's expiry sweep deletes it when it is due (${options.validUntil.toISOString()}).`,
      );
    }
    if (this.privileges === undefined) {
      notes.push(
        prose`${code(user)} is an admin of ${this.cluster}: it can read and change every database and manage other users. The Cloud API makes every user it creates an admin; configure an admin SQL connection for ${this.cluster} to create least-privilege users.`,
      );
      if (grants.length > 0) notes.push(prose`The configured grants were not applied separately: as an admin the user already holds every privilege.`);
      return { created, privileges: 'admin', notes };
    }
    await this.demote(user, grants, created);
    return { created, privileges: 'least-privilege', notes };
  }

  async setPassword(name: string, password: string): Promise<void> {
    requirePassword(password);
    await this.client.setSqlUserPassword(this.ref, unreserved(name), password);
  }

  async deleteUser(name: string): Promise<boolean> {
    return this.client.deleteSqlUser(this.ref, unreserved(name));
  }

  async grant(name: string, grants: readonly Grant[]): Promise<void> {
    await this.requirePrivileges('grant privileges').grant(validateUserName(name), grants);
  }

  async revoke(name: string, grants: readonly Grant[]): Promise<void> {
    await this.requirePrivileges('revoke privileges').revoke(validateUserName(name), grants);
  }

  // ---- Connection -----------------------------------------------------------------------------

  async connectionDetails({ user, database = 'defaultdb', region }: ConnectionRequest): Promise<ConnectionDetails> {
    const sqlUser = validateUserName(user);
    const db = validateObjectName(database, 'database');
    const info = await this.getClusterInfo();
    const regions = regionEndpoints(info);
    let chosen = regions[0];
    if (region !== undefined) {
      chosen = regions.find((candidate) => candidate.region === region);
      if (chosen === undefined) {
        const known = regions.map((candidate) => candidate.region);
        throw new InvalidInputError(
          known.length === 0
            ? prose`${this.cluster} reports no regions, so ${code(region)} cannot be chosen; leave the region out.`
            : prose`${this.cluster} has no region ${code(region)}; its regions are ${known.join(', ')}.`,
          known[0],
        );
      }
    }
    const advanced = info.plan === 'ADVANCED';
    const { params } = await this.client.getConnectionString(this.ref, {
      database: db,
      sqlUser,
      ...(advanced ? { os: this.os } : {}),
    });
    return {
      cluster: this.cluster,
      host: chosen?.host ?? params.Host,
      port: parsePort(params.Port),
      database: params.Database || db,
      user: params.Username || sqlUser,
      ...(chosen !== undefined ? { region: chosen.region } : {}),
      regions,
      ca: advanced ? this.clusterCa(info) : { kind: 'system' },
    };
  }

  async describe(): Promise<ClusterDescription> {
    const info = await this.getClusterInfo();
    return { plan: info.plan, cloudProvider: info.cloud_provider, allowlistCap: cloudAllowlistCap(info.plan, info.cloud_provider) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.privileges !== undefined && this.ownsPrivileges) await this.privileges.close();
  }

  // ---- Helpers --------------------------------------------------------------------------------

  /**
   * Takes away the `admin` membership the Cloud API gave the user and applies the grants. If that
   * fails for a user this call created, the user is deleted again: an admin nobody asked for is
   * worse than a failed request, which the worker can simply retry.
   */
  private async demote(user: string, grants: readonly Grant[], created: boolean): Promise<void> {
    const privileges = this.requirePrivileges('apply grants');
    try {
      await privileges.revokeAdmin(user);
      if (grants.length > 0) await privileges.grant(user, grants);
    } catch (error) {
      const reason = error instanceof ClusterAdminError ? ` (${error.message.replace(/\.$/, '')})` : '';
      if (!created) {
        throw new BackendError(prose`Could not restrict the privileges of ${code(user)} on ${this.cluster}${reason}; it may still be an admin.`, { cause: error });
      }
      try {
        await this.client.deleteSqlUser(this.ref, user);
      } catch (deleteError) {
        this.logger.error({ cluster: this.cluster, user, err: deleteError }, 'could not delete a user left as admin');
        throw new BackendError(
          prose`Created ${code(user)} on ${this.cluster} but could not restrict its privileges${reason}, nor delete it: it is an admin; delete it by hand.`,
          { cause: error },
        );
      }
      throw new BackendError(
        prose`Created ${code(user)} on ${this.cluster} but could not restrict its privileges${reason}, so it was deleted again.`,
        { cause: error },
      );
    }
  }

  private requirePrivileges(what: string): SqlPrivilegeManager {
    if (this.privileges === undefined) {
      throw new InvalidInputError(
        `Cannot ${what} on ${this.cluster}: the Cloud API has no privilege management, and no admin SQL connection is configured for this cluster.`,
      );
    }
    return this.privileges;
  }

  private async getClusterInfo(): Promise<CloudCluster> {
    const now = this.now();
    if (this.clusterInfo !== undefined && this.clusterInfo.expiresAt > now) return this.clusterInfo.value;
    const value = this.client.getCluster(this.ref);
    const cached = { value, expiresAt: now + this.clusterInfoTtlMs };
    this.clusterInfo = cached;
    // A failure must not be served from the cache until it expires.
    value.catch(() => {
      if (this.clusterInfo === cached) this.clusterInfo = undefined;
    });
    return value;
  }

  private clusterCa(info: CloudCluster): CertificateAuthority {
    return {
      kind: 'cluster-ca',
      sslrootcert: caCertPath(info.name || this.cluster, this.os),
      downloadUrl: `${CLOUD_CONSOLE_URL}/clusters/${encodeURIComponent(this.ref.clusterId)}/cert`,
    };
  }

  private toEntry(entry: CloudAllowlistEntry): AllowlistEntry[] {
    const wire = `${entry.cidr_ip}/${entry.cidr_mask}`;
    let cidr: string;
    try {
      const parsed = parseIpv4Network(wire);
      cidr = parsed.cidr;
      if (parsed.normalisedFrom !== undefined) {
        this.logger.warn({ cluster: this.cluster, cidr: wire, normalised: cidr }, 'allowlist entry has host bits set');
      }
    } catch {
      // One odd entry (e.g. written by another tool) must not hide the rest from the audit.
      this.logger.warn({ cluster: this.cluster, cidr: wire }, 'skipping an allowlist entry that is not an IPv4 network');
      return [];
    }
    return [{ cidr, sql: entry.sql, ui: entry.ui, ...(entry.name ? { name: entry.name } : {}) }];
  }
}

/**
 * The allowlist cap CockroachDB Cloud documents per plan: 50 entries on Basic and Standard; on
 * Advanced, 20 on AWS and 200 on GCP and Azure.
 */
export function cloudAllowlistCap(plan: CloudCluster['plan'], provider: CloudCluster['cloud_provider']): number {
  if (plan !== 'ADVANCED') return 50;
  return provider === 'AWS' ? 20 : 200;
}

function normaliseEntry(entry: AllowlistEntry): AllowlistEntry {
  const { cidr } = parseCidr(entry.cidr);
  if (!entry.sql && !entry.ui) {
    throw new InvalidInputError('An allowlist entry must allow SQL, the DB Console, or both.', `${cidr} --sql`);
  }
  return { cidr, sql: entry.sql, ui: entry.ui, ...(entry.name ? { name: entry.name } : {}) };
}

/** A valid user name that is not reserved (`root`, `admin`, the bot's marker, ...). */
function unreserved(name: string): string {
  const user = validateUserName(name);
  if (isReservedRoleName(user)) throw new InvalidInputError(prose`${code(user)} is a reserved role name and cannot be managed from chat.`, 'maxroach');
  return user;
}

function requirePassword(password: string): void {
  if (password === '') throw new InvalidInputError('A password is required.');
}

/**
 * SQL endpoints, primary first (the API order otherwise). A single region is the primary by
 * definition; in a multi-region cluster only the region the API flags is.
 */
function regionEndpoints(info: CloudCluster): RegionEndpoint[] {
  const regions = info.regions.filter((region) => (region.sql_dns || info.sql_dns || '') !== '');
  const endpoints = regions.map((region) => ({
    region: region.name,
    host: region.sql_dns || (info.sql_dns ?? ''),
    primary: region.primary === true || regions.length === 1,
  }));
  return [...endpoints.filter((e) => e.primary), ...endpoints.filter((e) => !e.primary)];
}

function parsePort(port: string): number {
  const value = Number(port);
  return Number.isInteger(value) && value > 0 && value < 65536 ? value : DEFAULT_SQL_PORT;
}

/**
 * Where a client keeps an Advanced cluster's CA: one file per cluster, named after it, so two
 * clusters never overwrite each other's CA (as a shared `~/.postgresql/root.crt` would). The macOS
 * path is the one the Cloud console uses.
 */
export function caCertPath(clusterName: string, os: CloudClientOs): string {
  const file = `${clusterName.replace(/[^A-Za-z0-9._-]+/g, '-')}-ca.crt`;
  switch (os) {
    case 'MAC':
      return `$HOME/Library/CockroachCloud/certs/${file}`;
    case 'WINDOWS':
      return `%APPDATA%\\CockroachCloud\\certs\\${file}`;
    case 'LINUX':
      return `$HOME/.postgresql/${file}`;
  }
}
