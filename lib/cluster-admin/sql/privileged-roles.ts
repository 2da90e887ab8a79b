/**
 * Which roles on a PostgreSQL or CockroachDB cluster are privileged: read-only, two catalog
 * queries in the common dialect (pg_roles, pg_auth_members), the membership closure computed here
 * (no recursive SQL, so both dialects and any depth of nesting behave the same).
 *
 * A role is privileged when it is a superuser, has CREATEROLE or BYPASSRLS, is the bot's admin
 * user, or is a member (directly or through other roles) of a role that is one of these, of
 * CockroachDB's `admin`, or of PostgreSQL's server file/program roles. Built-in group roles
 * themselves (`admin`, `pg_*`, `crdb_internal*`) are not listed: they cannot log in.
 */
import { type Pool } from 'pg';
import { type PrivilegedRole } from '../types';
import { translatePgError } from './pg-errors';

/** Membership in these hands out what the bot never grants (CockroachDB's admin; PostgreSQL's server-side file and program access). */
export const PRIVILEGED_GROUP_ROLES: ReadonlySet<string> = new Set(['admin', 'pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files']);

export interface PrivilegedRoleScan {
  /** Every privileged role that is not a built-in group, by name. */
  readonly roles: PrivilegedRole[];
  /**
   * The roles privilege comes from (by attribute, the bot's admin user, the groups above) that
   * exist: a member of any of them is privileged. PostgreSQL's HBA `+role` matches their members.
   */
  readonly roots: string[];
}

function builtIn(name: string): boolean {
  return name === 'admin' || name.startsWith('pg_') || name.startsWith('crdb_internal');
}

/** @throws the translated driver error (e.g. `UnavailableError`) when the catalog cannot be read. */
export async function scanPrivilegedRoles(pool: Pool, { cluster, adminUser }: { cluster: string; adminUser: string }): Promise<PrivilegedRoleScan> {
  let roles: { name: string; rolsuper: boolean | null; rolcreaterole: boolean | null; rolbypassrls: boolean | null; rolcanlogin: boolean | null }[];
  let edges: { role: string; member: string }[];
  try {
    const [r, m] = await Promise.all([
      pool.query<(typeof roles)[number]>('SELECT rolname AS name, rolsuper, rolcreaterole, rolbypassrls, rolcanlogin FROM pg_catalog.pg_roles'),
      pool.query<(typeof edges)[number]>(
        `SELECT r.rolname AS role, u.rolname AS member FROM pg_catalog.pg_auth_members m
           JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
           JOIN pg_catalog.pg_roles u ON u.oid = m.member`,
      ),
    ]);
    roles = r.rows;
    edges = m.rows;
  } catch (error) {
    throw translatePgError(error, cluster, 'list privileged roles');
  }
  const why = new Map<string, string[]>();
  const add = (name: string, reason: string) => {
    const list = why.get(name) ?? [];
    if (!list.includes(reason)) list.push(reason);
    why.set(name, list);
  };
  const roots: string[] = [];
  for (const role of roles) {
    if (role.rolsuper === true) add(role.name, 'superuser');
    if (role.rolcreaterole === true) add(role.name, 'createrole');
    if (role.rolbypassrls === true) add(role.name, 'bypassrls');
    if (role.name === adminUser) add(role.name, "the bot's admin user");
    if (why.has(role.name) || PRIVILEGED_GROUP_ROLES.has(role.name)) roots.push(role.name);
  }
  const members = new Map<string, string[]>();
  for (const { role, member } of edges) members.set(role, [...(members.get(role) ?? []), member]);
  // Every root's members, through any depth of nesting (visited set: memberships may form cycles on CockroachDB).
  for (const root of roots) {
    const seen = new Set<string>([root]);
    const queue = [...(members.get(root) ?? [])];
    while (queue.length > 0) {
      const member = queue.shift() as string;
      if (seen.has(member)) continue;
      seen.add(member);
      add(member, `member of ${root}`);
      queue.push(...(members.get(member) ?? []));
    }
  }
  const login = new Map(roles.map((r) => [r.name, r.rolcanlogin === true]));
  const listed = [...why.entries()]
    .filter(([name]) => !builtIn(name))
    .map(([name, reasons]) => ({ name, why: reasons, canLogin: login.get(name) ?? false, botAdmin: name === adminUser }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { roles: listed, roots: roots.sort() };
}
