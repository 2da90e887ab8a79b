/**
 * HBA integrity: the networks the bot allowlists for people never admit the bot's admin user or
 * any privileged role, and whatever the parser cannot judge is reported, never hidden.
 *
 * - On the real PostgreSQL (its shared pg_hba.conf): after the bot allowlists 127.0.0.61, an
 *   ordinary user logs in from there; `postgres` (the admin user), a superuser, a CREATEROLE role
 *   and members of a superuser role cannot, even one granted membership after the write; the
 *   admin user still logs in from `adminSourceCidrs` (127.0.0.1).
 * - The parser, the renderer and the audit rules as pure functions: `all`, `samenet`, host names,
 *   IPv6, `trust`, includes, unparseable lines and look-alikes of the bot's own lines; the guard
 *   as the backend writes it for CockroachDB (no `+role`) and with a name it cannot write safely.
 * - Through the app (signed Slack commands, on a copy of the HBA file so the server's rules do not
 *   change): `check` and `allowlist` show such lines as "may admit", the audit reports them, every
 *   unexpected privileged role (`postgres` too when it is not the admin user), and a role made
 *   superuser after the last write until the next write keeps it off.
 *
 * Network plays: this file's rules name only 127.0.0.61–127.0.0.65 (and documentation ranges).
 */
import { copyFile, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { type Pool } from 'pg';
import { evaluate, type ClusterInputs } from '../../lib/audit/rules';
import { InvalidInputError, PermissionDeniedError } from '../../lib/cluster-admin/errors';
import { BLOCK_BEGIN, BLOCK_END, type AdminRule, guardLine, type HbaRuleStyle, parseHba, renderHba } from '../../lib/cluster-admin/sql/hba';
import { PgHbaFileStore } from '../../lib/cluster-admin/sql/hba-store';
import { SqlClusterAdmin } from '../../lib/cluster-admin/sql/backend';
import { createAdminPool } from '../../lib/cluster-admin/sql/pool';
import { type PrivilegedRole } from '../../lib/cluster-admin/types';
import { generatePassword } from '../../lib/secrets/password';
import { type Harness, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { clusterInputs } from '../support/audit-inputs';
import { tryConnect } from '../support/pg-client';
import { code, prose } from '../../lib/prose';
import { slackText } from '../support/prose';

const HERE = '127.0.0.61';
const REJECTED = /pg_hba\.conf rejects connection/;
const STYLE: HbaRuleStyle = { connectionType: 'hostssl', method: 'scram-sha-256' };
const ADMIN: AdminRule = { user: 'postgres', cidrs: ['127.0.0.1/32'], method: 'scram-sha-256', connectionType: 'hostssl' };
const ADMIN_LINE = 'hostssl all postgres 127.0.0.1/32 scram-sha-256 # crdb-chatops: admin';

describe('parseHba: what it cannot judge is reported, not hidden', () => {
  const lines = [
    '# an operator comment', //                                                                     1
    'local all all peer', //                                                                         2 inert
    'local all all trust', //                                                                        3 trust
    ADMIN_LINE, //                                                                                   4 the bot's
    'host all all 0.0.0.0/0 scram-sha-256 # crdb-chatops: admin', //                                 5 tampered admin tag
    'host all all all scram-sha-256', //                                                             6 all
    'host all all samenet md5', //                                                                   7 samenet
    'host all all samehost md5', //                                                                  8 samehost
    'host all all .example.com scram-sha-256', //                                                    9 host name
    'host all all db.example.com scram-sha-256', //                                                 10 host name
    'host all all ::1/128 scram-sha-256', //                                                        11 IPv6
    'host all all ::1 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff scram-sha-256', //                   12 IPv6, mask field
    'host all all 10.0.0.0/8 trust', //                                                             13 trust on a network
    'host all all 10.1.0.0 255.255.0.0 md5', //                                                     14 a network: fine
    'host all all all reject', //                                                                   15 admits nobody
    'hostssl all all 192.0.2.0/24 scram-sha-256', //                                                16 a network: fine
    'include_dir conf.d', //                                                                        17 include
    'hostssl all all 0177.0.0.1/32 md5', //                                                         18 unparseable address
    'hostsl all all 1.2.3.4/32 md5', //                                                             19 unknown type
    'hostssl all "bad 1.2.3.4/32 md5', //                                                           20 unterminated quote
    'hostssl all all 1.2.3.4/32', //                                                                21 no method
    BLOCK_BEGIN, //                                                                                 22
    'host all postgres,"Ops Team",+postgres all reject # crdb-chatops: guard', //                   23 the guard
    'hostssl all all 198.51.100.7/32 scram-sha-256 # crdb-chatops {"name":"chatops:a"}', //         24 the bot's entry
    'hostssl all all 198.51.100.8/32 trust # crdb-chatops {"name":"chatops:b"}', //                 25 tampered entry
    'hostssl all all all scram-sha-256 # crdb-chatops {}', //                                       26 not an entry
    BLOCK_END, //                                                                                   27
    'hostssl all all 203.0.113.0/24 scram-sha-256 # crdb-chatops: guard', //                        28 tampered guard tag
    'hostssl all all 198.51.100.9/32 scram-sha-256 \\', //                                          29 continuation
  ];
  const parsed = parseHba(`${lines.join('\n')}\n`, { style: STYLE, admin: ADMIN });
  const reasonAt = (line: number) => parsed.opaque.find((o) => o.lineNumber === line)?.reason;

  it('reports exactly the lines that may admit an address it cannot see', () => {
    expect(parsed.opaque.map((o) => o.lineNumber)).toEqual([3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 18, 19, 20, 21, 25, 26, 28, 29]);
    expect(parsed.opaque.find((o) => o.lineNumber === 6)?.line).toBe('host all all all scram-sha-256');
  });

  it.each([
    [3, /local \(socket\) rule that uses `trust`/],
    [5, /carries the bot's admin tag, but is not a rule the bot writes; it admits a network/],
    [6, /admits every address \(`all`\)/],
    [7, /`samenet`/],
    [8, /`samehost`/],
    [9, /names a host/],
    [10, /names a host/],
    [11, /IPv6/],
    [12, /IPv6/],
    [13, /uses `trust`/],
    [17, /includes rules from another file/],
    [18, /address the bot cannot parse/],
    [19, /connection type the bot does not know/],
    [20, /unterminated quote/],
    [21, /cannot be parsed/],
    [25, /managed block, but is not a rule the bot writes; uses `trust`/],
    [26, /managed block, but is not a rule the bot writes; it admits every address/],
    [28, /guard tag, but is not a `reject` rule/],
    [29, /continues on the next line/],
  ])('line %i: %s', (line, reason) => {
    expect(slackText(reasonAt(line))).toMatch(reason);
  });

  it('still lists what reduces to an IPv4 network, so `check` finds it as an entry too', () => {
    expect(parsed.managed.map((e) => e.cidr)).toEqual(['198.51.100.7/32', '198.51.100.8/32']);
    expect(parsed.unmanaged.map((u) => [u.lineNumber, u.cidr])).toEqual([
      [5, '0.0.0.0/0'],
      [13, '10.0.0.0/8'],
      [14, '10.1.0.0/16'],
      [16, '192.0.2.0/24'],
      [28, '203.0.113.0/24'],
    ]);
    expect(parsed.guard).toEqual({ users: new Set(['postgres', 'Ops Team']), groups: new Set(['postgres']) });
  });

  it("flags the bot's admin tag on a line not written for the current admin user and adminSourceCidrs", () => {
    const moved = parseHba(`${ADMIN_LINE}\n`, { style: STYLE, admin: { ...ADMIN, cidrs: ['10.9.9.9/32'] } });
    expect(moved.opaque.map((o) => [o.lineNumber, o.line])).toEqual([[1, ADMIN_LINE]]);
    expect(slackText(moved.opaque[0]?.reason)).toMatch(/not one of the rules it writes for its admin user and `adminSourceCidrs`/);
    // Without knowing the configuration, the bot's own shape is accepted and a look-alike is not.
    expect(parseHba(`${ADMIN_LINE}\n`).opaque).toEqual([]);
    expect(parseHba('hostssl all postgres 127.0.0.1/32 trust # crdb-chatops: admin\n').opaque).toHaveLength(1);
    expect(parseHba('hostssl all all 127.0.0.1/32 scram-sha-256 # crdb-chatops: admin\n').opaque).toHaveLength(1);
  });

  it('hides nothing a former parser hid: any line ending in the admin tag used to be skipped', () => {
    const hostile = 'host all all all trust # crdb-chatops: admin';
    expect(slackText(parseHba(`${hostile}\n`, { style: STYLE, admin: ADMIN }).opaque[0]?.reason)).toMatch(/admin tag.*admits every address \(`all`\); uses `trust`/);
  });
});

describe('renderHba: the guard', () => {
  const entry = { cidr: '198.51.100.7/32', sql: true, ui: false, name: 'chatops:a' };

  it('migrates a file in the layout from before the guard: admin lines, then the guard, then the entries', () => {
    const old = [ADMIN_LINE, BLOCK_BEGIN, 'hostssl all all 198.51.100.7/32 scram-sha-256 # crdb-chatops {"name":"chatops:a"}', BLOCK_END, 'host all all all reject', ''].join('\n');
    expect(parseHba(old).guard).toBeUndefined();
    const next = renderHba(old, [entry], STYLE, ADMIN, { users: ['postgres', 'ops', 'Ops Team'], groups: ['postgres', 'ops'] });
    expect(next.split('\n')).toEqual([
      ADMIN_LINE,
      BLOCK_BEGIN,
      'host all "Ops Team",ops,postgres,+ops,+postgres all reject # crdb-chatops: guard',
      'hostssl all all 198.51.100.7/32 scram-sha-256 # crdb-chatops {"name":"chatops:a"}',
      BLOCK_END,
      'host all all all reject',
      '',
    ]);
    const parsed = parseHba(next, { style: STYLE, admin: ADMIN });
    expect(parsed.opaque).toEqual([]);
    expect(parsed.guard?.users).toEqual(new Set(['postgres', 'ops', 'Ops Team']));
  });

  it('puts the admin lines before the guard when they are missing or only below the block', () => {
    const moved = [BLOCK_BEGIN, BLOCK_END, ADMIN_LINE, ''].join('\n');
    const next = renderHba(moved, [entry], STYLE, ADMIN).split('\n');
    expect(next.indexOf(ADMIN_LINE)).toBe(0);
    expect(next.indexOf(ADMIN_LINE)).toBeLessThan(next.findIndex((l) => l.endsWith('# crdb-chatops: guard')));
    // A changed adminSourceCidrs adds its line next to the existing admin lines.
    const wider = renderHba(`${ADMIN_LINE}\n`, [], STYLE, { ...ADMIN, cidrs: ['127.0.0.1/32', '10.0.0.5/32'] }).split('\n');
    expect(wider.slice(0, 2)).toEqual([ADMIN_LINE, 'hostssl all postgres 10.0.0.5/32 scram-sha-256 # crdb-chatops: admin']);
  });

  it('quotes names, keeps `+group` for plain names only, and refuses a name it cannot write safely', () => {
    expect(guardLine({ users: ['all', 'a,b', 'x#y'], groups: ['Has Space', 'ok'] })).toBe('host all "a,b","all","x#y",+ok all reject # crdb-chatops: guard');
    expect(parseHba(`${BLOCK_BEGIN}\n${guardLine({ users: ['all', 'a,b', 'x#y'] })}\n${BLOCK_END}\n`).guard?.users).toEqual(new Set(['all', 'a,b', 'x#y']));
    for (const bad of ['a"b', 'a\nb', 'a\rb']) expect(() => guardLine({ users: [bad] })).toThrow(InvalidInputError);
  });
});

describe('audit rules: privileged roles and rules the bot cannot check', () => {
  const role = (name: string, why: string[], extra: Partial<PrivilegedRole> = {}): PrivilegedRole => ({ name, why, canLogin: true, botAdmin: false, ...extra });
  const base: ClusterInputs = clusterInputs({ cluster: 'self', backend: 'sql', policy: { minPrefix: 24, expectedAdmins: ['dba'] }, now: new Date('2030-01-01T00:00:00Z') });

  it('reports every privileged role the policy does not expect, postgres included, but not the bot’s admin user', () => {
    const findings = evaluate({
      ...base,
      // The old member list is ignored once the backend lists privileged roles.
      admins: ['ignored'],
      privilegedRoles: [
        role('bot', ["the bot's admin user", 'superuser'], { botAdmin: true }),
        role('postgres', ['superuser']),
        role('dba', ['superuser']),
        role('creator', ['createrole']),
        role('rls', ['bypassrls'], { canLogin: false }),
        role('via_group', ['member of ops_root']),
      ],
    }).filter((f) => f.rule === 'unexpected-admin');
    expect(findings.map((f) => [f.subject, f.severity, f.fix])).toEqual([
      ['postgres', 'high', undefined],
      ['creator', 'high', undefined],
      ['rls', 'high', undefined],
      ['via_group', 'high', undefined],
    ]);
    expect(slackText(findings[1]?.text)).toMatch(/`creator` is privileged \(createrole\)/);
    expect(slackText(findings[2]?.text)).toMatch(/though it cannot log in/);
    expect(slackText(findings[3]?.text)).toMatch(/member of `ops_root`/);
  });

  it('reports each rule the bot cannot check, and each privileged role the guard does not reject, as high with Keep only', () => {
    const findings = evaluate({
      ...base,
      opaqueRules: [{ where: 'pg_hba line 6', rule: 'host  all all all   scram-sha-256', reason: prose`admits every address (${code('all')})` }],
      unguardedRoles: [role('late', ['superuser'])],
    });
    expect(findings.map((f) => [f.rule, f.severity, f.subject, f.fix])).toEqual([
      ['privileged-unguarded', 'high', 'late', undefined],
      ['hba-unchecked', 'high', 'host all all all scram-sha-256', undefined],
    ]);
    expect(slackText(findings[1]?.text)).toBe('pg_hba line 6 may admit any address: it admits every address (`all`). The rule: `host all all all scram-sha-256`');
  });
});

describe('the guard as the backend writes it (stand-in catalog and HBA text)', () => {
  function standIn(roles: { name: string; rolsuper?: boolean; rolcanlogin?: boolean }[], text: string) {
    const store = {
      text,
      read: () => Promise.resolve(store.text),
      modify: (change: (current: string) => string | undefined) => {
        const next = change(store.text);
        if (next === undefined || next === store.text) return Promise.resolve(false);
        store.text = next;
        return Promise.resolve(true);
      },
      propagating: () => Promise.resolve(false),
    };
    const pool = {
      query: (sql: string) =>
        Promise.resolve({
          rows: sql.includes('pg_auth_members')
            ? []
            : roles.map((r) => ({ name: r.name, rolsuper: r.rolsuper ?? false, rolcreaterole: false, rolbypassrls: false, rolcanlogin: r.rolcanlogin ?? true })),
        }),
    } as unknown as Pool;
    const admin = new SqlClusterAdmin({
      cluster: 'standin',
      pool,
      adminUser: 'bot',
      hba: store,
      ruleStyle: { connectionType: 'host', method: 'password' },
      adminRule: { user: 'bot', cidrs: ['10.0.0.1/32'], method: 'password', connectionType: 'host' },
      endpoints: [{ region: 'r', host: 'db.example' }],
      port: 26257,
      ca: { kind: 'system' },
    });
    return { admin, store };
  }
  const start = ['host all bot 10.0.0.1/32 password # crdb-chatops: admin', BLOCK_BEGIN, 'host all all 198.51.100.7/32 password # crdb-chatops {}', BLOCK_END, ''].join('\n');

  it('on CockroachDB (no `+role`): names root, postgres, the admin user and every privileged role', async () => {
    const { admin, store } = standIn([{ name: 'bot', rolsuper: true }, { name: 'ops', rolsuper: true, rolcanlogin: false }], start);
    expect(await admin.upsertAllowlistEntry({ cidr: '198.51.100.8/32', sql: true, ui: false })).toBe('created');
    expect(store.text.split('\n')[2]).toBe('host all bot,ops,postgres,root all reject # crdb-chatops: guard');
  });

  it('refuses to allowlist while a privileged name cannot be written safely, but still removes entries', async () => {
    const { admin, store } = standIn([{ name: 'ok_su', rolsuper: true }, { name: 'evil"su', rolsuper: true }], start);
    await expect(admin.upsertAllowlistEntry({ cidr: '198.51.100.8/32', sql: true, ui: false })).rejects.toBeInstanceOf(PermissionDeniedError);
    expect(store.text).toBe(start);
    expect((await admin.inspectHba()).unguarded.map((r) => r.name)).toEqual(['evil"su', 'ok_su']);
    expect(await admin.removeAllowlistEntry('198.51.100.7/32')).toBe(true);
    expect(store.text.split('\n')[2]).toBe('host all bot,ok_su,postgres,root all reject # crdb-chatops: guard');
  });
});

describe('on the real PostgreSQL', () => {
  const pg = testPostgres();
  const passwords = { super: `hbai-${randomBytes(8).toString('hex')}`, creator: `hbai-${randomBytes(8).toString('hex')}`, member: `hbai-${randomBytes(8).toString('hex')}`, late: `hbai-${randomBytes(8).toString('hex')}` };
  const ROLES = ['hbai_member', 'hbai_late', 'hbai_super', 'hbai_creator', 'hbai_user', 'hbai_botadmin'];
  const userPassword = generatePassword();
  let pool: Pool;
  let admin: SqlClusterAdmin;

  function options(extra: Partial<ConstructorParameters<typeof SqlClusterAdmin>[0]> = {}): ConstructorParameters<typeof SqlClusterAdmin>[0] {
    return {
      cluster: 'hba-integrity',
      pool,
      adminUser: pg.adminUser,
      hba: new PgHbaFileStore({ cluster: 'hba-integrity', pool, file: pg.hbaFile }),
      ruleStyle: STYLE,
      adminRule: { ...ADMIN, user: pg.adminUser },
      endpoints: [{ region: 'local', host: 'localhost' }],
      port: pg.port,
      ca: { kind: 'cluster-ca', sslrootcert: pg.caFile, pem: pg.caPem },
      ...extra,
    };
  }

  beforeAll(async () => {
    pool = createAdminPool({ host: pg.host, port: pg.port, database: pg.database, user: pg.adminUser, password: pg.adminPassword, caPem: pg.caPem });
    for (const name of ROLES) await pool.query(`DROP ROLE IF EXISTS ${name}`);
    await pool.query(`CREATE ROLE hbai_super SUPERUSER LOGIN PASSWORD '${passwords.super}'`);
    await pool.query(`CREATE ROLE hbai_creator CREATEROLE LOGIN PASSWORD '${passwords.creator}'`);
    await pool.query(`CREATE ROLE hbai_member LOGIN PASSWORD '${passwords.member}'`);
    await pool.query('GRANT hbai_super TO hbai_member');
    admin = new SqlClusterAdmin(options());
    await admin.createUser('hbai_user', userPassword);
    await admin.upsertAllowlistEntry({ cidr: `${HERE}/32`, sql: true, ui: false, name: 'chatops:hbai' });
    await admin.waitForPropagation({ timeoutMs: 5_000 });
  });

  afterAll(async () => {
    await admin.removeAllowlistEntry(`${HERE}/32`);
    for (const name of ROLES) await pool.query(`DROP ROLE IF EXISTS ${name}`);
    await pool.end();
  });

  it('admits an ordinary user from the allowlisted address', async () => {
    expect(await tryConnect({ user: 'hbai_user', password: userPassword, sourceAddress: HERE })).toBe('ok');
  });

  it('rejects a superuser, a CREATEROLE role and a member of a superuser role from it', async () => {
    expect(await tryConnect({ user: 'hbai_super', password: passwords.super, sourceAddress: HERE })).toMatch(REJECTED);
    expect(await tryConnect({ user: 'hbai_creator', password: passwords.creator, sourceAddress: HERE })).toMatch(REJECTED);
    expect(await tryConnect({ user: 'hbai_member', password: passwords.member, sourceAddress: HERE })).toMatch(REJECTED);
  });

  it("rejects the bot's admin user there, while it still logs in from adminSourceCidrs", async () => {
    expect(await tryConnect({ user: pg.adminUser, password: pg.adminPassword, sourceAddress: HERE })).toMatch(REJECTED);
    expect(await tryConnect({ user: pg.adminUser, password: pg.adminPassword, sourceAddress: '127.0.0.1' })).toBe('ok');
    expect((await pool.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
  });

  it('rejects a role granted a superuser role after the rules were written, without a rewrite (PostgreSQL `+role`)', async () => {
    await pool.query(`CREATE ROLE hbai_late LOGIN PASSWORD '${passwords.late}'`);
    expect(await tryConnect({ user: 'hbai_late', password: passwords.late, sourceAddress: HERE })).toBe('ok');
    await pool.query('GRANT hbai_super TO hbai_late');
    expect(await tryConnect({ user: 'hbai_late', password: passwords.late, sourceAddress: HERE })).toMatch(REJECTED);
  });

  it('lists every privileged role with why, the admin user marked, and the audit reports postgres when it is not the admin user', async () => {
    const roles = await admin.listPrivilegedRoles();
    const byName = new Map(roles.map((r) => [r.name, r]));
    expect(byName.get(pg.adminUser)?.botAdmin).toBe(true);
    expect(byName.get(pg.adminUser)?.why).toEqual(expect.arrayContaining(["the bot's admin user", 'superuser']));
    expect(byName.get('hbai_super')?.why).toEqual(['superuser']);
    expect(byName.get('hbai_creator')?.why).toEqual(['createrole']);
    expect(byName.get('hbai_member')?.why).toEqual(['member of hbai_super']);
    expect(byName.has('hbai_user')).toBe(false);

    // A deployment whose admin user is another role: postgres is then an unexpected superuser.
    await pool.query('CREATE ROLE hbai_botadmin CREATEROLE LOGIN');
    const other = new SqlClusterAdmin(options({ adminUser: 'hbai_botadmin' }));
    const hba = await other.inspectHba();
    const findings = evaluate(
      clusterInputs({ cluster: 'hba-integrity', backend: 'sql', policy: { minPrefix: 24, expectedAdmins: ['hbai_creator'] }, now: new Date(), privilegedRoles: hba.privileged }),
    ).filter((f) => f.rule === 'unexpected-admin');
    const subjects = findings.map((f) => f.subject);
    expect(subjects).toEqual(expect.arrayContaining([pg.adminUser, 'hbai_super', 'hbai_member']));
    expect(subjects).not.toContain('hbai_botadmin');
    expect(subjects).not.toContain('hbai_creator');
    expect(subjects).not.toContain('hbai_user');
  });
});

describe('through the app, on a copy of the HBA file', () => {
  const pg = testPostgres();
  const copy = path.join(process.env.CRDB_TEST_ROOT ?? '/tmp', `pg_hba.hbai-${randomBytes(4).toString('hex')}.conf`);
  const OPAQUE = [
    'host all all all scram-sha-256',
    'host all all samenet scram-sha-256',
    'host all all ::1/128 trust',
    'host all all db.example.com scram-sha-256',
    'hostssl all all 198.51.100.250/32 scram-sha-256 # crdb-chatops: admin',
  ];
  let h: Harness;
  let pool: Pool;

  beforeAll(async () => {
    await copyFile(pg.hbaFile, copy);
    h = await startHarness({
      config: (doc) => {
        for (const cluster of doc.clusters as Array<Record<string, unknown>>) {
          if (cluster.alias === 'local') cluster.hba = { kind: 'pg-hba-file', path: copy };
        }
      },
    });
    pool = createAdminPool({ host: pg.host, port: pg.port, database: pg.database, user: pg.adminUser, password: pg.adminPassword, caPem: pg.caPem });
    await pool.query('DROP ROLE IF EXISTS hbai_c_late');
    await pool.query('CREATE ROLE hbai_c_late LOGIN');
    const local = await h.runtime.clusters.get('local');
    await local.upsertAllowlistEntry({ cidr: '127.0.0.64/32', sql: true, ui: false, name: 'chatops:hbai-c' });
    await new PgHbaFileStore({ cluster: 'local', pool, file: copy }).modify((text) => `${text}${OPAQUE.join('\n')}\n`);
  });

  afterAll(async () => {
    await pool.query('DROP ROLE IF EXISTS hbai_c_late');
    await pool.end();
    await h.stop();
    await rm(copy, { force: true });
  });

  it('`check` shows every rule it cannot judge as "may admit this address"', async () => {
    const check = await h.command(USERS.alice, 'check 127.0.0.65 --cluster local');
    await h.settle();
    const answer = h.responses(check).at(-1) ?? '';
    expect(answer).toMatch(/No allowlist entry covers `127\.0\.0\.65` on `local`, but:/);
    for (const rule of OPAQUE) expect(answer).toContain(`\`${rule}\``);
    expect(answer.match(/may admit this address/g)).toHaveLength(OPAQUE.length);
    expect(answer).toMatch(/may admit this address: it is an IPv6 rule; the bot judges IPv4 networks only; uses `trust`/);
  });

  it('`allowlist` shows them too', async () => {
    const list = await h.command(USERS.alice, 'allowlist --cluster local');
    await h.settle();
    const answer = h.responses(list).at(-1) ?? '';
    expect(answer.match(/may admit any address/g)).toHaveLength(OPAQUE.length);
    expect(answer).toMatch(/carries the bot's admin tag/);
  });

  it('the audit reports each as high, and a role made superuser after the last write until the next write', async () => {
    const auditor = await h.runtime.audit();
    let findings = (await auditor.inspector.inspect('local')).findings;
    expect(findings.filter((f) => f.rule === 'hba-unchecked').map((f) => [f.subject, f.severity])).toEqual(expect.arrayContaining(OPAQUE.map((rule) => [rule, 'high'])));
    expect(findings.some((f) => f.rule === 'privileged-unguarded' && f.subject === 'hbai_c_late')).toBe(false);

    await pool.query('ALTER ROLE hbai_c_late SUPERUSER');
    findings = (await auditor.inspector.inspect('local')).findings;
    expect(findings.find((f) => f.rule === 'privileged-unguarded' && f.subject === 'hbai_c_late')).toMatchObject({ severity: 'high' });
    expect(slackText(findings.find((f) => f.rule === 'unexpected-admin' && f.subject === 'hbai_c_late')?.text)).toMatch(/is privileged \(superuser\)/);

    const local = await h.runtime.clusters.get('local');
    await local.removeAllowlistEntry('127.0.0.64/32');
    await local.upsertAllowlistEntry({ cidr: '127.0.0.64/32', sql: true, ui: false, name: 'chatops:hbai-c' });
    const guard = (await readFile(copy, 'utf8')).split('\n').find((l) => l.endsWith('# crdb-chatops: guard'));
    expect(guard?.split(' ')[2]?.split(',')).toContain('hbai_c_late');
    findings = (await auditor.inspector.inspect('local')).findings;
    expect(findings.some((f) => f.rule === 'privileged-unguarded')).toBe(false);
  });
});
