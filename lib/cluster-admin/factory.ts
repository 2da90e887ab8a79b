/**
 * Builds a `ClusterAdmin` from a cluster's configuration, and keeps one per cluster alive for the
 * life of the process (a warm Lambda reuses pools, caches and the Cloud API pacer).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type ClusterConfig, type CloudClusterConfig, type SqlClusterConfig } from '../config';
import { type Logger, silentLogger } from '../log';
import { type Metrics } from '../metrics';
import { type SecretResolver } from '../secrets/references';
import { CloudClusterAdmin } from './cloud/backend';
import { CloudApiClient } from './cloud/client';
import { CloudApiPacers } from './cloud/pacer';
import { InvalidInputError } from './errors';
import { SqlClusterAdmin } from './sql/backend';
import { CockroachHbaSettingStore, PgHbaFileStore } from './sql/hba-store';
import { createAdminPool } from './sql/pool';
import { SqlUsers } from './sql/users';
import { type ClusterAdmin } from './types';
import { code, prose } from '../prose';

export interface ClusterAdminFactoryOptions {
  readonly secrets: SecretResolver;
  /** One registry per process, shared by every Cloud client, so pacing is per API key. */
  readonly pacers?: CloudApiPacers;
  /** Relative file paths in the config resolve against it. */
  readonly baseDir?: string;
  readonly logger?: Logger;
  /** Application metrics (Cloud API 429s); default none. */
  readonly metrics?: Metrics;
}

type SqlConnectionConfig = SqlClusterConfig['connection'];

async function adminPoolFor(cluster: string, connection: SqlConnectionConfig, { secrets, baseDir = process.cwd() }: ClusterAdminFactoryOptions) {
  const password = await secrets.resolve(connection.password, `clusters.${cluster}.connection.password`);
  const caPem = connection.caFile === undefined ? undefined : await readFile(path.resolve(baseDir, connection.caFile), 'utf8');
  return createAdminPool({
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.user,
    password,
    ...(caPem !== undefined ? { caPem } : {}),
    ...(connection.tlsServerName !== undefined ? { tlsServerName: connection.tlsServerName } : {}),
  });
}

async function createSqlAdmin(config: SqlClusterConfig, options: ClusterAdminFactoryOptions): Promise<ClusterAdmin> {
  const { baseDir = process.cwd() } = options;
  const pool = await adminPoolFor(config.alias, config.connection, options);
  const postgres = config.dialect === 'postgres';
  const ruleStyle = { connectionType: 'hostssl', method: config.authMethod ?? (postgres ? 'scram-sha-256' : 'password') } as const;
  const hba =
    config.hba.kind === 'pg-hba-file'
      ? new PgHbaFileStore({ cluster: config.alias, pool, file: path.resolve(baseDir, config.hba.path) })
      : new CockroachHbaSettingStore({ cluster: config.alias, pool });
  const caFile = config.caFile === undefined ? undefined : path.resolve(baseDir, config.caFile);
  const endpoints = config.endpoints ?? [{ region: 'default', host: config.connection.host }];
  const [first, ...rest] = endpoints;
  if (first === undefined) throw new InvalidInputError(`clusters.${config.alias}.endpoints must not be empty.`);
  return new SqlClusterAdmin({
    cluster: config.alias,
    pool,
    adminUser: config.connection.user,
    hba,
    ruleStyle,
    adminRule: { user: config.connection.user, cidrs: config.adminSourceCidrs, ...ruleStyle },
    endpoints: [first, ...rest],
    port: config.port ?? config.connection.port,
    defaultDatabase: config.defaultDatabase,
    ca: caFile === undefined ? { kind: 'system' } : { kind: 'cluster-ca', sslrootcert: caFile, pem: await readFile(caFile, 'utf8') },
    defaultGrants: config.grants,
  });
}

async function createCloudAdmin(config: CloudClusterConfig, options: ClusterAdminFactoryOptions): Promise<ClusterAdmin> {
  const { secrets, pacers, logger = silentLogger(), metrics } = options;
  const apiKey = await secrets.resolve(config.apiKey, `clusters.${config.alias}.apiKey`);
  const client = new CloudApiClient({ apiKey, baseUrl: config.apiBaseUrl, logger, ...(pacers ? { pacers } : {}), ...(metrics ? { metrics } : {}) });
  const privileges =
    config.adminSql === undefined
      ? undefined
      : new SqlUsers({ cluster: config.alias, pool: await adminPoolFor(config.alias, config.adminSql, options), adminUser: config.adminSql.user });
  return new CloudClusterAdmin({
    cluster: config.alias,
    clusterId: config.clusterId,
    client,
    grants: config.grants,
    logger,
    ...(privileges ? { privileges } : {}),
  });
}

/** One `ClusterAdmin` for a configured cluster. */
export function createClusterAdmin(config: ClusterConfig, options: ClusterAdminFactoryOptions): Promise<ClusterAdmin> {
  return config.backend === 'cloud' ? createCloudAdmin(config, options) : createSqlAdmin(config, options);
}

/** Lazily built, cached `ClusterAdmin`s by alias. A failed build is retried on the next call. */
export class ClusterAdmins {
  private readonly admins = new Map<string, Promise<ClusterAdmin>>();
  private readonly byAlias: ReadonlyMap<string, ClusterConfig>;
  private readonly options: ClusterAdminFactoryOptions;

  constructor(clusters: readonly ClusterConfig[], options: ClusterAdminFactoryOptions) {
    this.byAlias = new Map(clusters.map((c) => [c.alias, c]));
    this.options = { ...options, pacers: options.pacers ?? new CloudApiPacers() };
  }

  get aliases(): string[] {
    return [...this.byAlias.keys()];
  }

  config(alias: string): ClusterConfig | undefined {
    return this.byAlias.get(alias);
  }

  /** @throws InvalidInputError for an unknown alias. */
  get(alias: string): Promise<ClusterAdmin> {
    const cached = this.admins.get(alias);
    if (cached) return cached;
    const config = this.byAlias.get(alias);
    if (config === undefined) {
      return Promise.reject(new InvalidInputError(prose`There is no cluster ${code(alias)}; configured: ${this.aliases.join(', ')}.`, this.aliases[0]));
    }
    const admin = createClusterAdmin(config, this.options);
    this.admins.set(alias, admin);
    admin.catch(() => this.admins.delete(alias));
    return admin;
  }

  async closeAll(): Promise<void> {
    const admins = [...this.admins.values()];
    this.admins.clear();
    await Promise.all(admins.map(async (a) => (await a.catch(() => undefined))?.close()));
  }
}
