/**
 * Access integrity: a request only ever creates what it asks for, and only removes what the bot
 * made for its requester. Each attack below is replayed through the signed Slack endpoint as an
 * ordinary workspace member (mallory, or alice against bob's things), against the real PostgreSQL
 * and the Cloud API stand-in, and each asserts the refusal *and* that nothing changed: the roles'
 * attributes and password verifiers, the allowlists, the secrets and the bot's records.
 *
 * Network plays: this file's rules name only 127.0.0.81–127.0.0.89 and 10.81.0.0/16.
 */
import { readFile } from 'node:fs/promises';
import { type Pool } from 'pg';
import { PermanentFailure } from '../../lib/requests/executor';
import { type ChatRequest } from '../../lib/requests/types';
import { createAdminPool } from '../../lib/cluster-admin/sql/pool';
import { type Harness, PROD_CLUSTER_ID, requestIdIn, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { printFigures } from './support';
import { slackText } from '../support/prose';

const { alice, bob, carol, admin, dave, mallory } = USERS;
const figures: Record<string, number | string> = {};
let attacks = 0;

/**
 * pg_authid: attributes, memberships and password verifiers of this file's roles and the reserved
 * ones, so "nothing changed" is exact (other test files create roles on the same server meanwhile).
 */
async function roles(pool: Pool): Promise<string> {
  const { rows } = await pool.query(
    `SELECT rolname, rolsuper, rolcreaterole, rolbypassrls, rolcanlogin, rolpassword,
            (SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = a.oid) AS member_of
       FROM pg_authid a WHERE rolname LIKE 'ai\\_%' OR rolname IN ('postgres', 'root', 'admin') ORDER BY rolname`,
  );
  return JSON.stringify(rows);
}

async function requestsOf(h: Harness, user: string): Promise<ChatRequest[]> {
  return h.runtime.store.listByRequester(user, 100);
}

/** A request's outcome once every job has run. */
async function outcomeOf(h: Harness, ack: string): Promise<ChatRequest> {
  await h.settle();
  const request = await h.runtime.store.getRequest(requestIdIn(ack));
  if (request === undefined) throw new Error(`no request in ${ack}`);
  return request;
}

describe('access integrity (hardening)', () => {
  const pg = testPostgres();
  let h: Harness;
  let pool: Pool;

  beforeAll(async () => {
    pool = createAdminPool({ host: pg.host, port: pg.port, database: pg.database, user: pg.adminUser, password: pg.adminPassword, caPem: pg.caPem });
    // What an operator has on the cluster that the bot must never hand out or take over.
    await pool.query(`DROP ROLE IF EXISTS ai_ops_root, ai_app_owner, ai_role_admin, ai_rls, ai_via_group, ai_group`);
    await pool.query(`CREATE ROLE ai_ops_root SUPERUSER LOGIN PASSWORD 'operator-secret-81'`);
    await pool.query(`CREATE ROLE ai_app_owner NOLOGIN`);
    await pool.query(`CREATE ROLE ai_role_admin CREATEROLE LOGIN PASSWORD 'operator-secret-82'`);
    await pool.query(`CREATE ROLE ai_rls BYPASSRLS NOLOGIN`);
    await pool.query(`CREATE ROLE ai_group SUPERUSER NOLOGIN`);
    await pool.query(`CREATE ROLE ai_via_group LOGIN PASSWORD 'operator-secret-83' IN ROLE ai_group`);
    h = await startHarness({
      config: (doc) => {
        for (const cluster of doc.clusters as Array<Record<string, unknown>>) {
          if (cluster.alias === 'local') cluster.policy = { userCreateNeedsApproval: false, maxBreadth: 16, quorum: { elevated: 1, high: 1 } };
          if (cluster.alias === 'prod') cluster.policy = { allowOpen: false, minPrefix: 16, autoApproveSingleHost: true, quorum: { elevated: 1, high: 1 } };
        }
      },
    });
  });

  afterAll(async () => {
    await h.stop();
    await pool.query(`DROP ROLE IF EXISTS ai_ops_root, ai_app_owner, ai_role_admin, ai_rls, ai_via_group, ai_group`);
    for (const { rolname } of (await pool.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE 'ai\\_%'`)).rows) {
      await pool.query(`DROP OWNED BY "${rolname}"`).catch(() => undefined);
      await pool.query(`DROP ROLE IF EXISTS "${rolname}"`);
    }
    await pool.end();
    printFigures('access integrity', { ...figures, 'attacks refused, nothing changed': attacks });
  });

  describe('roles the bot did not create are never handed out', () => {
    it('refuses `user create` of postgres, the admin user and reserved names at the ack, writing nothing', async () => {
      const before = await roles(pool);
      for (const name of ['postgres', 'root', 'admin', 'crdb_chatops_managed', 'pg_monitor']) {
        const ack = h.ackText(await h.command(mallory, `user create ${name} --cluster local`));
        expect(ack).toMatch(/reserved or administrative role|is a reserved name|are reserved/);
        expect(ack).not.toMatch(/Request `/);
        attacks++;
      }
      await h.settle();
      expect(await roles(pool)).toBe(before);
      expect(await h.runtime.store.listManagedUsers('local')).toEqual([]);
      expect(await requestsOf(h, mallory)).toEqual([]);
      expect(h.dms(mallory)).toEqual([]);
    });

    it('refuses every existing role, whatever its attributes: nothing written, no secret, the role untouched', async () => {
      const before = await roles(pool);
      for (const name of ['ai_ops_root', 'ai_app_owner', 'ai_role_admin', 'ai_rls', 'ai_via_group']) {
        const request = await outcomeOf(h, h.ackText(await h.command(mallory, `user create ${name} --cluster local`)));
        expect(request.status).toBe('failed');
        expect(slackText(request.outcome)).toMatch(/already exists .* not created by the bot; it will not take it over/);
        expect(await h.runtime.store.getManagedUser('local', name)).toBeUndefined();
        expect(await h.runtime.secretStore.get(`crdb-chatops/local/${name}`)).toBeUndefined();
        attacks++;
      }
      expect(await roles(pool)).toBe(before);
      // The password verifiers above are unchanged, and no DM carried a password.
      expect(h.dms(mallory).map((m) => m.text ?? '').join('\n')).not.toMatch(/password/i);
    });

    it('rotate, delete and connect act only on a role the cluster shows the bot made and left unprivileged', async () => {
      const made = await outcomeOf(h, h.ackText(await h.command(alice, 'user create ai_alice --cluster local')));
      expect(made.status).toBe('applied');
      // An operator (or anyone with the rights) later makes alice's user a superuser.
      await pool.query('ALTER ROLE ai_alice SUPERUSER');
      const before = await roles(pool);
      const secretBefore = await h.runtime.secretStore.get('crdb-chatops/local/ai_alice');
      const dmsBefore = h.dms(alice).length;
      for (const text of ['user rotate ai_alice --cluster local', 'user delete ai_alice --cluster local']) {
        const request = await outcomeOf(h, h.ackText(await h.command(alice, text)));
        expect(request.status).toBe('failed');
        expect(slackText(request.outcome)).toMatch(/holds privileges the bot never grants; the bot will not touch it/);
        attacks++;
      }
      await h.command(alice, 'connect ai_alice --cluster local');
      await h.settle();
      attacks++;
      expect(await roles(pool)).toBe(before);
      expect(await h.runtime.secretStore.get('crdb-chatops/local/ai_alice')).toEqual(secretBefore);
      // The refusals are told; no new DM carries connection details.
      expect(h.dms(alice).slice(dmsBefore).map((m) => m.text ?? '').join('\n')).not.toMatch(/postgresql:\/\//);

      // Dropped by an operator and re-created by hand under the same name: the record no longer
      // matches the cluster, so the owner's rotate finds a role the bot did not make.
      await pool.query('DROP OWNED BY ai_alice');
      await pool.query('DROP ROLE ai_alice');
      await pool.query(`CREATE ROLE ai_alice NOLOGIN`);
      const recreated = await roles(pool);
      const rotate = await outcomeOf(h, h.ackText(await h.command(alice, 'user rotate ai_alice --cluster local')));
      expect(rotate.status).toBe('failed');
      expect(slackText(rotate.outcome)).toMatch(/was not created by the bot/);
      expect(await roles(pool)).toBe(recreated);
      attacks++;
    });

    it('a failed `user create` leaves no owner record and no secret, even when a rollback step throws', async () => {
      // The request fails right after the user is created; by then the user also holds a privilege
      // in another database, so the rollback's DROP USER fails (PostgreSQL: objects depend on it).
      await pool.query('DROP DATABASE IF EXISTS ai_other');
      await pool.query('CREATE DATABASE ai_other');
      const other = createAdminPool({ host: pg.host, port: pg.port, database: 'ai_other', user: pg.adminUser, password: pg.adminPassword, caPem: pg.caPem });
      await other.query('CREATE TABLE kept (id int)');
      const failing = await startHarness({
        checkpoint: async (step, request) => {
          if (step !== 'user-create:user-created' || request.params.kind !== 'user-create' || request.params.userCreate.user !== 'ai_rollback') return;
          await other.query('GRANT SELECT ON kept TO ai_rollback');
          throw new PermanentFailure('simulated permanent failure after the user was created');
        },
        config: (doc) => {
          for (const cluster of doc.clusters as Array<Record<string, unknown>>) if (cluster.alias === 'local') cluster.policy = { userCreateNeedsApproval: false };
        },
      });
      try {
        const request = await outcomeOf(failing, failing.ackText(await failing.command(mallory, 'user create ai_rollback --cluster local')));
        expect(request.status).toBe('failed');
        // The drop failed, and was said to have failed; the record and the secret went all the same.
        expect((await pool.query(`SELECT 1 FROM pg_roles WHERE rolname = 'ai_rollback'`)).rowCount).toBe(1);
        const events = await failing.runtime.store.listEvents(request.id);
        expect(events.find((e) => e.type === 'rolled-back')?.detail).toMatch(/except where drop user failed/);
        expect(await failing.runtime.store.getManagedUser('local', 'ai_rollback')).toBeUndefined();
        expect(await failing.runtime.secretStore.get('crdb-chatops/local/ai_rollback')).toBeUndefined();
        // What is left is the audit's: a login role with no secret. The requester can take nothing.
        const rotate = await failing.answer(await failing.command(mallory, 'user rotate ai_rollback --cluster local'));
        expect(rotate).toMatch(/is not a user the bot manages/);
        const connect = await failing.answer(await failing.command(mallory, 'connect ai_rollback --cluster local'));
        expect(connect).toMatch(/is not a user the bot manages/);
        attacks += 2;
        figures['failed user create with a failing rollback step: records / secrets left'] = '0 / 0';
      } finally {
        await failing.stop();
        await other.end();
        await pool.query('DROP DATABASE IF EXISTS ai_other');
      }
    });
  });

  describe('allowlist entries belong to whoever asked first', () => {
    it("refuses a re-allow of someone else's CIDR, on both backends, and leaves their entry as it was", async () => {
      const mine = await outcomeOf(h, h.ackText(await h.command(alice, 'allow 198.51.100.81 --cluster prod')));
      expect(mine.status).toBe('applied');
      const local = await outcomeOf(h, h.ackText(await h.command(alice, 'allow 127.0.0.81 --cluster local')));
      expect(local.status).toBe('applied');
      const cloudBefore = JSON.stringify([...h.cloud.state(PROD_CLUSTER_ID).allowlist.values()]);
      const records = JSON.stringify([await h.runtime.store.listManagedEntries('prod'), await h.runtime.store.listManagedEntries('local')]);
      for (const text of ['allow 198.51.100.81 --cluster prod --for 1h', 'allow 198.51.100.81/32 --both --cluster prod', 'allow 127.0.0.81 --cluster local --for 1m']) {
        const ack = await h.answer(await h.command(mallory, text));
        expect(ack).toMatch(/already on the allowlist of `(prod|local)`, held by <@U0ALICE>/);
        attacks++;
      }
      const revoke = await h.answer(await h.command(mallory, 'revoke 198.51.100.81/32 --cluster prod'));
      expect(revoke).toMatch(/Only <@U0ALICE>/);
      attacks++;
      await h.settle();
      expect(JSON.stringify([...h.cloud.state(PROD_CLUSTER_ID).allowlist.values()])).toBe(cloudBefore);
      expect(JSON.stringify([await h.runtime.store.listManagedEntries('prod'), await h.runtime.store.listManagedEntries('local')])).toBe(records);
    });

    it('never takes over an entry the bot did not make (Cloud), and the owner may not revoke one put in its place', async () => {
      h.cloud.state(PROD_CLUSTER_ID).allowlist.set('100.81.0.0/24', { cidr_ip: '100.81.0.0', cidr_mask: 24, name: 'office-vpn', sql: true, ui: true });
      const request = await outcomeOf(h, h.ackText(await h.command(mallory, 'allow 100.81.0.0/24 --cluster prod')));
      // Needs approval (a /24): approve it, and the worker refuses what the ack could not see.
      if (request.status === 'pending') {
        await h.clickCard(bob, request.id, 'approve');
        await h.settle();
      }
      const ended = await h.runtime.store.getRequest(request.id);
      expect(ended?.status).toBe('failed');
      expect(slackText(ended?.outcome)).toMatch(/as an entry the bot did not make; nothing was changed/);
      expect(h.cloud.state(PROD_CLUSTER_ID).allowlist.get('100.81.0.0/24')).toEqual({ cidr_ip: '100.81.0.0', cidr_mask: 24, name: 'office-vpn', sql: true, ui: true });
      attacks++;

      // Alice's entry is replaced by an operator's under the same CIDR: her revoke leaves it.
      h.cloud.state(PROD_CLUSTER_ID).allowlist.set('198.51.100.81/32', { cidr_ip: '198.51.100.81', cidr_mask: 32, name: 'ops-bastion', sql: true, ui: false });
      const revoke = await outcomeOf(h, h.ackText(await h.command(alice, 'revoke 198.51.100.81/32 --cluster prod')));
      expect(revoke.status).toBe('failed');
      expect(slackText(revoke.outcome)).toMatch(/no longer the entry the bot made; it was left in place/);
      expect(h.cloud.state(PROD_CLUSTER_ID).allowlist.get('198.51.100.81/32')?.name).toBe('ops-bastion');
    });

    it('a failed repeat `allow` by the owner puts the earlier, applied entry back instead of removing it', async () => {
      const failing = await startHarness({
        checkpoint: (step, request) => {
          if (step === 'allow:entry-upserted' && request.params.kind === 'allow' && request.params.allow.forMs !== undefined) {
            throw new PermanentFailure('simulated permanent failure after the entry was written');
          }
        },
      });
      try {
        const first = await outcomeOf(failing, failing.ackText(await failing.command(carol, 'allow 203.0.113.81 --cluster prod')));
        expect(first.status).toBe('applied');
        const entryBefore = failing.cloud.state(PROD_CLUSTER_ID).allowlist.get('203.0.113.81/32');
        const recordBefore = await failing.runtime.store.getManagedEntry('prod', '203.0.113.81/32');
        const again = await outcomeOf(failing, failing.ackText(await failing.command(carol, 'allow 203.0.113.81 --cluster prod --for 2h')));
        expect(again.status).toBe('failed');
        expect(failing.cloud.state(PROD_CLUSTER_ID).allowlist.get('203.0.113.81/32')).toEqual(entryBefore);
        expect(await failing.runtime.store.getManagedEntry('prod', '203.0.113.81/32')).toEqual(recordBefore);
      } finally {
        await failing.stop();
      }
    });

    it("`allowOpen: false` holds for the union: two /1 halves are refused, break-glass included", async () => {
      const half = await outcomeOf(h, h.ackText(await h.command(alice, 'allow 0.0.0.0/1 --cluster prod --reason "first half"')));
      if (half.status === 'pending') {
        await h.clickCard(bob, half.id, 'approve');
        await h.settle();
      }
      expect((await h.runtime.store.getRequest(half.id))?.status).toBe('applied');
      const cloudBefore = JSON.stringify([...h.cloud.state(PROD_CLUSTER_ID).allowlist.values()]);
      const other = await h.answer(await h.command(dave, 'allow 128.0.0.0/1 --cluster prod --break-glass --reason "need it now"'));
      expect(other).toMatch(/would admit every IPv4 address to prod; its policy never allows that/);
      attacks++;
      // The same union made of entries the table does not know (an operator's): the worker refuses.
      h.cloud.state(PROD_CLUSTER_ID).allowlist.set('128.0.0.0/2', { cidr_ip: '128.0.0.0', cidr_mask: 2, name: 'ops-a', sql: true, ui: false });
      const third = await outcomeOf(h, h.ackText(await h.command(dave, 'allow 192.0.0.0/2 --cluster prod --break-glass --reason "need it now"')));
      expect(third.status).toBe('failed');
      expect(slackText(third.outcome)).toMatch(/would admit every IPv4 address/);
      expect(h.cloud.state(PROD_CLUSTER_ID).allowlist.has('192.0.0.0/2')).toBe(false);
      attacks++;
      h.cloud.state(PROD_CLUSTER_ID).allowlist.delete('128.0.0.0/2');
      expect(JSON.stringify([...h.cloud.state(PROD_CLUSTER_ID).allowlist.values()])).toBe(cloudBefore);
      await h.command(admin, 'revoke 0.0.0.0/1 --cluster prod');
      await h.settle();
    });

    it('`policy.maxBreadth` caps what the allowlist admits as a whole', async () => {
      // local holds 127.0.0.81/32 (alice's) already: 1 + 32,768 + 16,384 addresses fit under /16.
      const a = await outcomeOf(h, h.ackText(await h.command(alice, 'allow 10.81.0.0/17 --cluster local --reason "lab a"')));
      if (a.status === 'pending') await h.clickCard(bob, a.id, 'approve');
      const b = await outcomeOf(h, h.ackText(await h.command(bob, 'allow 10.81.128.0/18 --cluster local --reason "lab b"')));
      if (b.status === 'pending') await h.clickCard(carol, b.id, 'approve');
      await h.settle();
      expect((await h.runtime.store.getRequest(b.id))?.status).toBe('applied');
      const hba = await readFile(pg.hbaFile, 'utf8');
      const over = await h.answer(await h.command(carol, 'allow 10.81.192.0/18 --cluster local --reason "lab c"'));
      expect(over).toMatch(/would admit 65,537 addresses, more than its ceiling of \/16 \(65,536\)/);
      await h.settle();
      expect(await readFile(pg.hbaFile, 'utf8')).toBe(hba);
      attacks++;
      for (const cidr of ['10.81.0.0/17', '10.81.128.0/18']) await h.command(admin, `revoke ${cidr} --cluster local`);
      await h.settle();
    });
  });

  describe('limits', () => {
    it('refuses the request past the per-requester limits with one line, posting no card', async () => {
      const limited = await startHarness({
        config: (doc) => {
          doc.requests = { pendingTtl: '24h', propagationTimeout: '30m', rateLimit: { max: 4, window: '10m', maxPending: 2 } };
          for (const cluster of doc.clusters as Array<Record<string, unknown>>) if (cluster.alias === 'local') cluster.policy = { userCreateNeedsApproval: false, autoApproveSingleHost: false };
        },
      });
      try {
        const acks: string[] = [];
        for (const n of [83, 84, 85]) acks.push(await limited.answer(await limited.command(mallory, `allow 127.0.0.${n} --cluster local`)));
        expect(acks.slice(0, 2).every((a) => /Request `/.test(a) && !/the most allowed/.test(a))).toBe(true);
        expect(acks[2]).toMatch(/You have 2 requests waiting for approval, the most allowed at once/);
        await limited.settle();
        const cards = limited.slack.messages('C0APPROVE').filter((m) => !m.thread_ts).length;
        expect(cards).toBe(2);
        // Ten at once from one person: exactly the window's remaining two get through.
        const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => limited.command(mallory, `user create ai_burst_${i} --cluster local`)));
        // Every command is durable at once; admission, in the worker, takes the tokens.
        expect(burst.every((r) => /Request `/.test(limited.ackText(r)))).toBe(true);
        const answers = await Promise.all(burst.map((r) => limited.answer(r)));
        const refused = answers.filter((a) => /change requests in the last 10m, the most allowed/.test(a));
        const accepted = answers.filter((a) => !/the most allowed/.test(a));
        expect([accepted.length, refused.length]).toEqual([2, 8]);
        await limited.settle();
        figures['burst of 10 with 2 tokens left (accepted / refused)'] = `${accepted.length} / ${refused.length}`;
        attacks += 9;
      } finally {
        await limited.stop();
      }
    });

    it("spends no token on Slack's retries of a command it already took", async () => {
      const limited = await startHarness({
        config: (doc) => {
          doc.requests = { pendingTtl: '24h', propagationTimeout: '30m', rateLimit: { max: 2, window: '10m', maxPending: 10 } };
          for (const cluster of doc.clusters as Array<Record<string, unknown>>) if (cluster.alias === 'local') cluster.policy = { userCreateNeedsApproval: false };
        },
      });
      try {
        const built = limited.driver.buildSlashCommand({ user: mallory, text: 'user create ai_retry_a --cluster local' });
        const retry = (n: number) => limited.driver.send({ ...built.request, headers: { ...built.request.headers, 'X-Slack-Retry-Num': String(n), 'X-Slack-Retry-Reason': 'http_timeout' } });
        // A retry racing the first delivery's admission makes a second request, which admission
        // ends quietly as a repeat: one effect, one token.
        await Promise.all([limited.driver.send(built.request), retry(1)]);
        await limited.settle();
        for (const n of [2, 3]) expect((await retry(n)).body).toMatch(/Already received/);
        const made = (await limited.runtime.store.listByRequester(mallory)).filter((r) => r.params.kind === 'user-create' && r.params.userCreate.user === 'ai_retry_a');
        expect(made.map((r) => r.status).sort()).toEqual(made.length === 1 ? ['applied'] : ['applied', 'refused']);
        expect(await limited.answer(await limited.command(mallory, 'user create ai_retry_b --cluster local'))).not.toMatch(/the most allowed/);
        expect(await limited.answer(await limited.command(mallory, 'user create ai_retry_c --cluster local'))).toMatch(/the most allowed/);
      } finally {
        await limited.stop();
      }
    });

    it('`requireReason` and `requireFor` refuse with a corrected example that is accepted as typed', async () => {
      const strict = await startHarness({
        config: (doc) => {
          for (const cluster of doc.clusters as Array<Record<string, unknown>>) {
            if (cluster.alias === 'local') cluster.policy = { userCreateNeedsApproval: false, autoApproveSingleHost: false, requireReason: ['elevated', 'high'], requireFor: true, maxFor: '1d' };
          }
        },
      });
      try {
        const noFor = strict.ackText(await strict.command(alice, 'allow 127.0.0.86 --cluster local --reason "debugging"'));
        expect(noFor).toMatch(/local only takes temporary changes: add --for \(at most 1d\)/);
        const example = /Try: `\/crdb ([^`]+)`/.exec(noFor)?.[1];
        expect(example).toBe('allow 127.0.0.86/32 --for 8h --cluster local');
        const noReason = strict.ackText(await strict.command(alice, `${example ?? ''}`));
        expect(noReason).toMatch(/local needs a reason for elevated-risk changes: add --reason/);
        const fixed = /Try: `\/crdb ([^`]+)`/.exec(noReason)?.[1] ?? '';
        expect(strict.ackText(await strict.command(alice, fixed))).toMatch(/Request `/);
        expect(await strict.runtime.store.listByRequester(alice, 10)).toHaveLength(1);
      } finally {
        await strict.stop();
      }
    });
  });
});
