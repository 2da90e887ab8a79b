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
import { AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError } from '../errors';
import { isReservedRoleName, MANAGED_ROLE, quoteIdent, SYSTEM_ROLES, validateObjectName, validateUserName } from '../sql-names';
import {
  DATABASE_PRIVILEGES,
  SCHEMA_PRIVILEGES,
  type CreateUserOptions,
  type Grant,
  type SqlPrivilegeManager,
  type UserInspection,
} from '../types';
import { inTransaction } from './pool';
import { translatePgError } from './pg-errors';
import { canPreHash, scramSha256Verifier } from './scram';
import { SQL_CONFLICT } from '../../retry-policies';
import { code, prose } from '../../prose';

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
  { maxAttempts: SQL_CONFLICT.maxAttempts, backoff: new ExponentialBackoff({ initialDelay: SQL_CONFLICT.initialDelayMs, maxDelay: SQL_CONFLICT.maxDelayMs }) },
);


/** Membership in these hands out what the bot never grants (CockroachDB's admin; PostgreSQL's server-side file and program access). */
const PRIVILEGED_ROLES = new Set(['admin', 'pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files', 'pg_database_owner']);

export class SqlUsers implements SqlPrivilegeManager {
  private readonly cluster: string;
  private readonly pool: Pool;
  private readonly adminUser: string;
  private readonly ownsPool: boolean;
  private managedRoleReady = false;

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
   * Creates a new user and applies its grants in one transaction, so a user never exists without
   * its grants, and marks it as the bot's (membership in `MANAGED_ROLE`) in the same transaction.
   * A role of that name that exists already, login or not, is never altered: `AlreadyExistsError`.
   * Only a resumed request (`resume`) accepts an existing role, and only one the bot made that
   * holds no privileged attribute; its password is then set again (`created: false`).
   */
  async createUser(name: string, password: string, { validUntil, grants = [], resume = false }: CreateUserOptions = {}): Promise<{ created: boolean }> {
    const user = this.managedName(name);
    const statements = grants.flatMap((g) => this.grantStatements(user, g, 'GRANT'));
    await this.ensureManagedRole();
    return this.run(`create user ${user}`, (client) =>
      inTransaction(client, async () => {
        const found = await this.inspectOn(client, user);
        const validity = validUntil ? ` VALID UNTIL ${escapeLiteral(validUntil.toISOString())}` : '';
        if (found.exists) {
          if (!resume || found.madeByBot !== true || found.privileges.length > 0) {
            throw new AlreadyExistsError(prose`A role named ${code(user)} already exists on ${this.cluster}; the bot only creates new users and never takes one over.`);
          }
          await client.query(`ALTER USER ${quoteIdent(user)} WITH LOGIN PASSWORD ${passwordLiteral(password)}${validity}`);
        } else {
          await client.query(`CREATE USER ${quoteIdent(user)} WITH LOGIN PASSWORD ${passwordLiteral(password)}${validity}`);
          await client.query(`GRANT ${quoteIdent(MANAGED_ROLE)} TO ${quoteIdent(user)}`);
        }
        for (const sql of statements) await client.query(sql);
        return { created: !found.exists };
      }),
    );
  }

  /** Sets the password of a user the bot made; a privileged role, or one the bot did not make, is refused. */
  async setPassword(name: string, password: string): Promise<void> {
    const user = this.managedName(name);
    await this.run(`set the password of ${user}`, async (c) => {
      const found = await this.inspectOn(c, user);
      if (!found.exists) throw new NotFoundError(`SQL user ${user} does not exist on ${this.cluster}.`);
      refuseUnmanaged(this.cluster, user, found);
      await c.query(`ALTER USER ${quoteIdent(user)} WITH PASSWORD ${passwordLiteral(password)}`);
    });
  }

  /** Moves the `VALID UNTIL` of a user the bot made (an extension); a privileged role, or one the bot did not make, is refused. */
  async setValidUntil(name: string, until: Date): Promise<void> {
    const user = this.managedName(name);
    await this.run(`extend ${user}`, async (c) => {
      const found = await this.inspectOn(c, user);
      if (!found.exists) throw new NotFoundError(`SQL user ${user} does not exist on ${this.cluster}.`);
      refuseUnmanaged(this.cluster, user, found);
      await c.query(`ALTER USER ${quoteIdent(user)} WITH VALID UNTIL ${escapeLiteral(until.toISOString())}`);
    });
  }

  /**
   * Drops the user. Objects it owns are reassigned to the bot's admin user first, so tables a
   * user created survive the user (nothing is lost); its privileges go with it. A privileged role
   * (superuser, `admin` member, CREATEROLE, BYPASSRLS, ...) is never dropped.
   */
  async deleteUser(name: string): Promise<boolean> {
    const user = this.managedName(name);
    return this.run(`drop user ${user}`, (client) =>
      inTransaction(client, async () => {
        const found = await this.inspectOn(client, user);
        if (!found.exists) return false;
        if (found.privileges.length > 0) {
          throw new PermissionDeniedError(prose`${code(user)} on ${this.cluster} is a privileged role; the bot never drops one.`);
        }
        await client.query(`REASSIGN OWNED BY ${quoteIdent(user)} TO ${quoteIdent(this.adminUser)}`);
        await client.query(`DROP OWNED BY ${quoteIdent(user)}`);
        await client.query(`DROP USER ${quoteIdent(user)}`);
        return true;
      }),
    );
  }

  /** What the cluster says about a role: exists (login or not), made by the bot, privileged and why. */
  async inspectUser(name: string): Promise<UserInspection> {
    const user = validateUserName(name);
    return this.run(`look up ${user}`, (c) => this.inspectOn(c, user));
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
          throw new InvalidInputError(prose`The bot never grants the ${code('admin')} role; grant specific privileges instead.`, 'CONNECT on the database');
        }
        return [`${verb} ${quoteIdent(role)} ${to} ${quoteIdent(user)}`];
      }
    }
  }

  /** Validates and refuses names the bot must never touch. */
  private managedName(name: string): string {
    const user = validateUserName(name);
    if (user === this.adminUser) {
      throw new InvalidInputError(prose`${code(user)} is the bot's own admin user and cannot be managed from chat.`, 'maxroach');
    }
    if (isReservedRoleName(user)) throw new InvalidInputError(prose`${code(user)} is a reserved role name and cannot be managed from chat.`, 'maxroach');
    return user;
  }

  private async existsOn(client: PoolClient, user: string): Promise<boolean> {
    const { rowCount } = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [user]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * The role's own attributes and those of every role it is a member of, directly or through
   * other roles (a member of a superuser role may `SET ROLE` to it). One statement in the common
   * dialect of PostgreSQL and CockroachDB.
   */
  private async inspectOn(client: PoolClient, user: string): Promise<UserInspection> {
    const { rows } = await client.query<{ name: string; self: boolean; rolsuper: boolean | null; rolcreaterole: boolean | null; rolbypassrls: boolean | null }>(
      `WITH RECURSIVE target AS (
         SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1
       ), ancestors(oid) AS (
         SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN target t ON m.member = t.oid
         UNION
         SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN ancestors a ON m.member = a.oid
       )
       SELECT r.rolname AS name, true AS self, r.rolsuper, r.rolcreaterole, r.rolbypassrls
         FROM pg_catalog.pg_roles r JOIN target t ON r.oid = t.oid
       UNION ALL
       SELECT r.rolname AS name, false AS self, r.rolsuper, r.rolcreaterole, r.rolbypassrls
         FROM pg_catalog.pg_roles r JOIN ancestors a ON r.oid = a.oid`,
      [user],
    );
    const self = rows.find((r) => r.self);
    if (self === undefined) return { exists: false, privileges: [] };
    const privileges: string[] = [];
    if (self.rolsuper === true || SYSTEM_ROLES.has(user) || user === this.adminUser) privileges.push(self.rolsuper === true ? 'superuser' : 'reserved');
    if (self.rolcreaterole === true) privileges.push('createrole');
    if (self.rolbypassrls === true) privileges.push('bypassrls');
    for (const role of rows.filter((r) => !r.self)) {
      if (role.rolsuper === true || role.rolcreaterole === true || role.rolbypassrls === true || PRIVILEGED_ROLES.has(role.name) || role.name === this.adminUser) {
        privileges.push(`member of ${role.name}`);
      }
    }
    return { exists: true, madeByBot: rows.some((r) => !r.self && r.name === MANAGED_ROLE), privileges };
  }

  /** Creates the marker role on first use; a concurrent creator winning the race is success. */
  private async ensureManagedRole(): Promise<void> {
    if (this.managedRoleReady) return;
    await this.run('create the marker role', async (c) => {
      const { rowCount } = await c.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [MANAGED_ROLE]);
      if ((rowCount ?? 0) > 0) return;
      try {
        await c.query(`CREATE ROLE ${quoteIdent(MANAGED_ROLE)} WITH NOLOGIN`);
      } catch (error) {
        // 42710 duplicate_object: another process created it between the check and here.
        if ((error as { code?: unknown }).code !== '42710') throw error;
      }
    });
    this.managedRoleReady = true;
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

/** Refuses a role the bot did not make, or one holding a privilege the bot never grants. */
function refuseUnmanaged(cluster: string, user: string, found: UserInspection): void {
  if (found.privileges.length > 0) {
    throw new PermissionDeniedError(prose`${code(user)} on ${cluster} is a privileged role; the bot never hands it out.`);
  }
  if (found.madeByBot === false) throw new PermissionDeniedError(prose`${code(user)} on ${cluster} was not created by the bot; it will not touch it.`);
}

function passwordLiteral(password: string): string {
  if (password.length === 0) throw new InvalidInputError('A password must not be empty.');
  return escapeLiteral(canPreHash(password) ? scramSha256Verifier(password) : password);
}

function privilegeList<P extends string>(privileges: readonly string[], allowed: readonly P[]): string {
  if (privileges.length === 0) throw new InvalidInputError('A grant needs at least one privilege.', allowed[0]);
  for (const p of privileges) {
    if (!(allowed as readonly string[]).includes(p)) {
      throw new InvalidInputError(prose`${code(p)} is not a privilege the bot grants; use one of ${allowed.join(', ')}.`, allowed[0]);
    }
  }
  return privileges.join(', ');
}

