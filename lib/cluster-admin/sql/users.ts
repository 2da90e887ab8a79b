/**
 * SQL users and privileges over an admin connection. The statements are the common dialect of
 * CockroachDB and PostgreSQL (pg_catalog, REASSIGN/DROP OWNED, role membership).
 *
 * Injection is impossible by construction: names are validated against CockroachDB's rules and
 * then quoted with `escapeIdentifier`; privilege keywords come from a fixed list; passwords are
 * sent as client-computed SCRAM verifiers (base64 and `$:` only), or, for passwords SCRAM
 * pre-hashing cannot cover, as literals escaped by `pg`'s `escapeLiteral`.
 */
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { escapeLiteral, type Pool, type PoolClient } from 'pg';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors';
import { quoteIdent, validateObjectName, validateUserName } from '../sql-names';
import {
  DATABASE_PRIVILEGES,
  SCHEMA_PRIVILEGES,
  type CreateUserOptions,
  type Grant,
  type SqlPrivilegeManager,
} from '../types';
import { inTransaction } from './pool';
import { translatePgError } from './pg-errors';
import { canPreHash, scramSha256Verifier } from './scram';

export interface SqlUsersOptions {
  readonly cluster: string;
  readonly pool: Pool;
  /** The bot's own admin user: never listed as a managed user, never dropped, receives reassigned objects. */
  readonly adminUser: string;
  /** Close the pool on `close()`; false when the pool is shared. */
  readonly ownsPool?: boolean;
}

/**
 * Catalog races resolved here rather than by the caller: PostgreSQL's "tuple concurrently updated"
 * (two sessions granting on one database or schema at once) and CockroachDB's serialization
 * retries (40001). Every operation `run` performs re-reads what it needs inside its transaction,
 * so running it again is safe.
 */
const conflictRetry = retry(
  handleWhen((error) => error instanceof ConflictError && error.retryable),
  { maxAttempts: 5, backoff: new ExponentialBackoff({ initialDelay: 20, maxDelay: 500 }) },
);

/** Roles that exist on every cluster and are never the bot's to manage. */
const SYSTEM_ROLES = new Set(['root', 'admin', 'node', 'public', 'none', 'postgres']);

export class SqlUsers implements SqlPrivilegeManager {
  private readonly cluster: string;
  private readonly pool: Pool;
  private readonly adminUser: string;
  private readonly ownsPool: boolean;

  constructor({ cluster, pool, adminUser, ownsPool = true }: SqlUsersOptions) {
    this.cluster = cluster;
    this.pool = pool;
    this.adminUser = adminUser;
    this.ownsPool = ownsPool;
  }

  /** Login roles, excluding system roles and the bot's admin user. */
  async listUsers(): Promise<string[]> {
    const { rows } = await this.run('list users', (c) =>
      c.query<{ name: string }>('SELECT rolname AS name FROM pg_catalog.pg_roles WHERE rolcanlogin ORDER BY rolname'),
    );
    return rows
      .map((r) => r.name)
      .filter((n) => !SYSTEM_ROLES.has(n) && n !== this.adminUser && !n.startsWith('pg_') && !n.startsWith('crdb_internal'));
  }

  async userExists(name: string): Promise<boolean> {
    const { rowCount } = await this.run('look up a user', (c) => c.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [name]));
    return (rowCount ?? 0) > 0;
  }

  /**
   * Creates the user and applies grants in one transaction, so a user never exists without its
   * grants. An existing user gets the new password instead (`created: false`).
   */
  async createUser(name: string, password: string, { validUntil, grants = [] }: CreateUserOptions = {}): Promise<{ created: boolean }> {
    const user = this.managedName(name);
    const statements = grants.flatMap((g) => this.grantStatements(user, g, 'GRANT'));
    return this.run(`create user ${user}`, (client) =>
      inTransaction(client, async () => {
        const exists = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [user]);
        const validity = validUntil ? ` VALID UNTIL ${escapeLiteral(validUntil.toISOString())}` : '';
        const verb = (exists.rowCount ?? 0) > 0 ? 'ALTER' : 'CREATE';
        await client.query(`${verb} USER ${quoteIdent(user)} WITH LOGIN PASSWORD ${passwordLiteral(password)}${validity}`);
        for (const sql of statements) await client.query(sql);
        return { created: verb === 'CREATE' };
      }),
    );
  }

  async setPassword(name: string, password: string): Promise<void> {
    const user = this.managedName(name);
    await this.run(`set the password of ${user}`, async (c) => {
      if (!(await this.existsOn(c, user))) throw new NotFoundError(`SQL user ${user} does not exist on ${this.cluster}.`);
      await c.query(`ALTER USER ${quoteIdent(user)} WITH PASSWORD ${passwordLiteral(password)}`);
    });
  }

  /**
   * Drops the user. Objects it owns are reassigned to the bot's admin user first, so tables a
   * user created survive the user (nothing is lost); its privileges go with it.
   */
  async deleteUser(name: string): Promise<boolean> {
    const user = this.managedName(name);
    return this.run(`drop user ${user}`, (client) =>
      inTransaction(client, async () => {
        if (!(await this.existsOn(client, user))) return false;
        await client.query(`REASSIGN OWNED BY ${quoteIdent(user)} TO ${quoteIdent(this.adminUser)}`);
        await client.query(`DROP OWNED BY ${quoteIdent(user)}`);
        await client.query(`DROP USER ${quoteIdent(user)}`);
        return true;
      }),
    );
  }

  async grant(name: string, grants: readonly Grant[]): Promise<void> {
    await this.applyGrants(name, grants, 'GRANT');
  }

  async revoke(name: string, grants: readonly Grant[]): Promise<void> {
    await this.applyGrants(name, grants, 'REVOKE');
  }

  async revokeAdmin(name: string): Promise<void> {
    const user = this.managedName(name);
    await this.run(`revoke admin from ${user}`, async (c) => {
      const member = await c.query(
        `SELECT 1 FROM pg_catalog.pg_auth_members m
           JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
           JOIN pg_catalog.pg_roles u ON u.oid = m.member
          WHERE r.rolname = 'admin' AND u.rolname = $1`,
        [user],
      );
      if ((member.rowCount ?? 0) > 0) await c.query(`REVOKE admin FROM ${quoteIdent(user)}`);
    });
  }

  /** Members of `admin` (CockroachDB) and superusers (PostgreSQL), the bot's own user excluded. */
  async listAdmins(): Promise<string[]> {
    const { rows } = await this.run('list admins', (c) =>
      c.query<{ name: string }>(
        `SELECT u.rolname AS name FROM pg_catalog.pg_auth_members m
           JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
           JOIN pg_catalog.pg_roles u ON u.oid = m.member
          WHERE r.rolname = 'admin'
         UNION
         SELECT rolname AS name FROM pg_catalog.pg_roles WHERE rolsuper
         ORDER BY name`,
      ),
    );
    return rows.map((r) => r.name).filter((n) => !SYSTEM_ROLES.has(n) && n !== this.adminUser);
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }

  private async applyGrants(name: string, grants: readonly Grant[], verb: 'GRANT' | 'REVOKE'): Promise<void> {
    const user = this.managedName(name);
    const statements = grants.flatMap((g) => this.grantStatements(user, g, verb));
    if (statements.length === 0) return;
    await this.run(`${verb.toLowerCase()} privileges for ${user}`, (client) =>
      inTransaction(client, async () => {
        if (!(await this.existsOn(client, user))) throw new NotFoundError(`SQL user ${user} does not exist on ${this.cluster}.`);
        for (const sql of statements) await client.query(sql);
      }),
    );
  }

  private grantStatements(user: string, grant: Grant, verb: 'GRANT' | 'REVOKE'): string[] {
    const to = verb === 'GRANT' ? 'TO' : 'FROM';
    switch (grant.kind) {
      case 'database':
        return [`${verb} ${privilegeList(grant.privileges, DATABASE_PRIVILEGES)} ON DATABASE ${quoteIdent(validateObjectName(grant.database, 'database'))} ${to} ${quoteIdent(user)}`];
      case 'schema':
        return [`${verb} ${privilegeList(grant.privileges, SCHEMA_PRIVILEGES)} ON SCHEMA ${quoteIdent(validateObjectName(grant.schema, 'schema'))} ${to} ${quoteIdent(user)}`];
      case 'role': {
        const role = validateObjectName(grant.role, 'role');
        if (role === 'admin' && verb === 'GRANT') {
          throw new InvalidInputError('The bot never grants the `admin` role; grant specific privileges instead.', 'CONNECT on the database');
        }
        return [`${verb} ${quoteIdent(role)} ${to} ${quoteIdent(user)}`];
      }
    }
  }

  /** Validates and refuses names the bot must never touch. */
  private managedName(name: string): string {
    const user = validateUserName(name);
    if (user === this.adminUser) {
      throw new InvalidInputError(`\`${user}\` is the bot's own admin user and cannot be managed from chat.`, 'maxroach');
    }
    return user;
  }

  private async existsOn(client: PoolClient, user: string): Promise<boolean> {
    const { rowCount } = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [user]);
    return (rowCount ?? 0) > 0;
  }

  private run<T>(what: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return conflictRetry.execute(() => this.runOnce(what, fn));
  }

  private async runOnce<T>(what: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw translatePgError(error, this.cluster, what);
    }
    try {
      return await fn(client);
    } catch (error) {
      throw translatePgError(error, this.cluster, what);
    } finally {
      client.release();
    }
  }
}

function passwordLiteral(password: string): string {
  if (password.length === 0) throw new InvalidInputError('A password must not be empty.');
  return escapeLiteral(canPreHash(password) ? scramSha256Verifier(password) : password);
}

function privilegeList<P extends string>(privileges: readonly string[], allowed: readonly P[]): string {
  if (privileges.length === 0) throw new InvalidInputError('A grant needs at least one privilege.', allowed[0]);
  for (const p of privileges) {
    if (!(allowed as readonly string[]).includes(p)) {
      throw new InvalidInputError(`\`${p}\` is not a privilege the bot grants; use one of ${allowed.join(', ')}.`, allowed[0]);
    }
  }
  return privileges.join(', ');
}

