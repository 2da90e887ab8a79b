/* eslint-disable jest/no-export -- a shared suite, not a test file: test/integration/cluster-admin-contract.test.ts runs it once per backend */
/**
 * The ClusterAdmin contract: what the code above the library may rely on, whichever backend a
 * cluster has. Both backends (`cloud` on the Cloud API stand-in, `sql` on the real PostgreSQL) run
 * the same suite; a new backend passes it before anything uses it.
 */
import { randomBytes } from 'node:crypto';
import { AlreadyExistsError, InvalidInputError } from '../../lib/cluster-admin/errors';
import { type ClusterAdmin } from '../../lib/cluster-admin/types';
import { generatePassword } from '../../lib/secrets/password';

export interface ClusterAdminContractOptions {
  /** A backend over a cluster this suite may change freely (its allowlist and its users). */
  readonly setup: () => Promise<ClusterAdmin>;
  readonly teardown?: (admin: ClusterAdmin) => Promise<void>;
  /** A /32 the suite may add and remove, different per backend when they share a cluster. */
  readonly host: string;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

export function describeClusterAdminContract(name: string, options: ClusterAdminContractOptions): void {
  describe(`ClusterAdmin contract: ${name}`, () => {
    let admin: ClusterAdmin;
    const users: string[] = [];
    const cidr = `${options.host}/32`;

    beforeAll(async () => {
      admin = await options.setup();
    });

    afterAll(async () => {
      for (const user of users) await admin.deleteUser(user).catch(() => undefined);
      await admin.removeAllowlistEntry(cidr).catch(() => undefined);
      await options.teardown?.(admin);
    });

    const userName = (base: string): string => {
      const user = `ct_${base}_${randomBytes(3).toString('hex')}`;
      users.push(user);
      return user;
    };

    it('adds, updates, finds and removes an allowlist entry, and says whether there was one to remove', async () => {
      await admin.upsertAllowlistEntry({ cidr, sql: true, ui: false, name: 'crdb-chatops contract' });
      const listed = (await admin.listAllowlist()).entries.find((e) => e.cidr === cidr);
      expect(listed).toMatchObject({ cidr, sql: true });
      await admin.upsertAllowlistEntry({ cidr, sql: true, ui: true, name: 'crdb-chatops contract' });
      expect((await admin.listAllowlist()).entries.filter((e) => e.cidr === cidr)).toHaveLength(1);
      expect((await admin.entriesCovering(options.host)).map((e) => e.cidr)).toContain(cidr);
      expect(await admin.removeAllowlistEntry(cidr)).toBe(true);
      expect(await admin.removeAllowlistEntry(cidr)).toBe(false);
      expect((await admin.listAllowlist()).entries.map((e) => e.cidr)).not.toContain(cidr);
      expect(await admin.entriesCovering(options.host)).toEqual([]);
    });

    it('refuses a network with host bits with InvalidInputError, and changes nothing', async () => {
      const before = (await admin.listAllowlist()).entries.map((e) => e.cidr).sort();
      const error = await rejection(admin.upsertAllowlistEntry({ cidr: '10.1.2.3/8', sql: true, ui: false, name: 'x' }));
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((await admin.listAllowlist()).entries.map((e) => e.cidr).sort()).toEqual(before);
    });

    it('creates a user it marks as its own, never takes over an existing one, and drops it once', async () => {
      const user = userName('life');
      expect(await admin.inspectUser(user)).toMatchObject({ exists: false });
      await admin.createUser(user, generatePassword());
      expect(await admin.listUsers()).toContain(user);
      const inspected = await admin.inspectUser(user);
      expect(inspected.exists).toBe(true);
      expect(inspected.privileges).toEqual([]);
      // Cloud says nothing about who made a user without an admin SQL connection (undefined); never "someone else".
      expect(inspected.madeByBot).not.toBe(false);
      expect(await rejection(admin.createUser(user, generatePassword()))).toBeInstanceOf(AlreadyExistsError);
      await admin.setPassword(user, generatePassword());
      expect(await admin.deleteUser(user)).toBe(true);
      expect(await admin.deleteUser(user)).toBe(false);
      expect(await admin.inspectUser(user)).toMatchObject({ exists: false });
    });

    it('refuses an invalid user name with InvalidInputError, and creates nothing', async () => {
      const before = await admin.listUsers();
      for (const bad of ['Robert"; DROP ROLE admin; --', 'root', '']) {
        const error = await rejection(admin.createUser(bad, generatePassword()));
        expect(error).toBeInstanceOf(InvalidInputError);
      }
      expect((await admin.listUsers()).sort()).toEqual(before.sort());
    });

    it('gives connection details for a user and database: host, port, user, database', async () => {
      const details = await admin.connectionDetails({ user: 'maxroach', database: 'defaultdb' });
      expect(details.user).toBe('maxroach');
      expect(details.database).toBe('defaultdb');
      expect(details.port).toBeGreaterThan(0);
      expect(details.host.length).toBeGreaterThan(0);
    });

    it('never puts a password in an error it throws', async () => {
      const user = userName('secret');
      const password = generatePassword();
      await admin.createUser(user, password);
      const error = await rejection(admin.createUser(user, password));
      expect(JSON.stringify(error, Object.getOwnPropertyNames(error as object))).not.toContain(password);
      expect(String(error)).not.toContain(password);
    });
  });
}
