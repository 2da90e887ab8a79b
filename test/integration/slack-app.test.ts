/**
 * The Slack app end to end: signed commands and clicks as Function URL events into
 * handlers/slack.ts, jobs through handlers/worker.ts, state in dynalite, secrets in the Secrets
 * Manager stand-in, clusters on the real PostgreSQL (`local`) and the Cloud API stand-in (`prod`).
 *
 * Network plays: this file's clients connect from 127.0.0.21 (allowed by the tests) and
 * 127.0.0.22 (never allowed).
 */
import { readFile } from 'node:fs/promises';
import { passwordRenderings } from '../../lib/cluster-admin/connection-formats';
import { APPROVERS_CHANNEL, type Harness, messageText, requestIdIn, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { tryConnect } from '../support/pg-client';
import { captureLogs } from '../hardening/support';
import { slackText } from '../support/prose';

const { alice, bob, carol, admin, dave, mallory } = USERS;
const HERE = '127.0.0.21';
const ELSEWHERE = '127.0.0.22';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h.stop();
});

afterEach(() => {
  expect(h.cloud.takeViolations()).toEqual([]);
});

/** The `url` connection format from a connection DM. */
function dmUrl(text: string): string {
  const match = /(postgresql:\/\/[^\s`']+)/.exec(text);
  if (!match?.[1]) throw new Error(`no URL in DM: ${text.slice(0, 200)}`);
  return match[1].replace(/&amp;/g, '&');
}

async function hba(): Promise<string> {
  return readFile(testPostgres().hbaFile, 'utf8');
}

describe('allow', () => {
  it('applies a single host at once, waits for propagation and says "you can connect now"', async () => {
    const result = await h.command(alice, `allow ${HERE} --cluster local --reason "laptop"`);
    expect(result.response.statusCode).toBe(200);
    expect(result.acknowledged).toBe(true);
    expect(h.ackText(result)).toMatch(/Working on it: allow `127\.0\.0\.21\/32` \(SQL\) on `local`/);
    await h.settle();
    expect(h.responses(result).at(-1)).toMatch(/`127\.0\.0\.21\/32` is on the allowlist of `local` for SQL\. You can connect now\./);
    expect(await hba()).toMatch(/hostssl all all 127\.0\.0\.21\/32 scram-sha-256 # crdb-chatops \{"name":"chatops:[0-9A-Z]{26}"\}/);
  });

  it('posts a card for a broad entry, applies it on approval, updates the card and DMs the requester', async () => {
    const result = await h.command(alice, 'allow 198.51.100.0/24 --cluster prod --for 8h --reason "office"');
    expect(h.ackText(result)).toMatch(/This needs 1 approval in <#C0APPROVE>/);
    const id = requestIdIn(h.ackText(result));
    await h.settle();
    const card = h.card(id);
    expect(messageText(card)).toMatch(/Admits 256 addresses/);
    expect(h.cloud.state(h.config.clusters[1]?.backend === 'cloud' ? h.config.clusters[1].clusterId : '').allowlist.has('198.51.100.0/24')).toBe(false);

    const click = await h.clickCard(bob, id, 'approve');
    expect(click.response.statusCode).toBe(200);
    await h.settle();

    const updated = h.card(id);
    expect(messageText(updated)).toMatch(/Applied/);
    expect(messageText(updated)).toMatch(/approved by <@U0BOB>/);
    expect(updated.edited).toBeDefined();
    expect(h.dms(alice).map(messageText).some((t) => /<@U0BOB> approved your request/.test(t))).toBe(true);
    expect(h.responses(result).at(-1)).toMatch(/198\.51\.100\.0\/24.*on the allowlist of `prod` for SQL until/);
    const entry = [...h.cloud.state('7a1c1f0e-0000-4000-8000-00000000c0de').allowlist.values()].find((e) => e.cidr_ip === '198.51.100.0');
    expect(entry).toMatchObject({ cidr_mask: 24, sql: true, ui: false });
    expect(entry?.name).toBe(`chatops:${id}`);
  });

  it('refuses 0.0.0.0/0 on a cluster whose policy forbids it, and changes nothing', async () => {
    const before = await hba();
    const result = await h.command(alice, 'allow 0.0.0.0/0 --cluster local');
    expect(h.ackText(result)).toMatch(/0\.0\.0\.0\/0 would open local to the whole internet/);
    expect(h.ackText(result)).toMatch(/Try: `\/crdb allow 203\.0\.113\.7 --for 8h`/);
    await h.settle();
    expect(await hba()).toBe(before);
  });
});

describe('users', () => {
  it('creates a user whose DM\'d URL connects to the real PostgreSQL with verify-full, and only from an allowed network', async () => {
    await h.command(alice, `allow ${HERE} --cluster local`);
    const result = await h.command(alice, 'user create maxroach_e2e --cluster local');
    expect(h.ackText(result)).toMatch(/Working on it: create SQL user `maxroach_e2e`/);
    await h.settle();
    expect(h.responses(result).at(-1)).toMatch(/SQL user `maxroach_e2e` is ready on `local`; the connection details are in your DMs/);

    const dm = h.dms(alice).map(messageText).find((t) => t.includes('maxroach_e2e') && t.includes('postgresql://'));
    if (dm === undefined) throw new Error('no connection DM');
    expect(dm).toMatch(/sslmode=verify-full/);
    expect(dm).toMatch(/This message is deleted in 1h/);
    const url = dmUrl(dm);
    expect(url).toContain(`sslrootcert=${testPostgres().caFile}`);
    expect(await tryConnect({ user: '', password: '', connectionString: url, sourceAddress: HERE })).toBe('ok');
    expect(await tryConnect({ user: '', password: '', connectionString: url, sourceAddress: ELSEWHERE })).toMatch(/no pg_hba\.conf entry/);

    const secret = await h.runtime.secretStore.get('crdb-chatops/local/maxroach_e2e');
    expect(secret).toMatchObject({ engine: 'postgres', username: 'maxroach_e2e', dbname: 'defaultdb', cluster: 'local' });
    expect(url).toContain(encodeURIComponent(secret?.password ?? '!'));
    // The other formats are one click away, in the DM's thread, without the password.
    const main = h.dms(alice).find((m) => messageText(m) === dm);
    const thread = h.dms(alice).filter((m) => m.thread_ts !== undefined && m.thread_ts === main?.ts).map(messageText);
    expect(thread).toHaveLength(1);
    expect(thread[0]).toMatch(/Java \(JDBC\)[\s\S]*maxroach_e2e:PASSWORD@/);
    for (const form of passwordRenderings(secret?.password ?? '!')) expect(thread[0]).not.toContain(form);
  });

  it('rotates a password: the old one fails, the new one works, and the new DM says so', async () => {
    await h.command(alice, 'user create rotate_e2e --cluster local');
    await h.settle();
    const before = await h.runtime.secretStore.get('crdb-chatops/local/rotate_e2e');
    const result = await h.command(alice, 'user rotate rotate_e2e --cluster local');
    await h.settle();
    expect(h.responses(result).at(-1)).toMatch(/was rotated/);
    const after = await h.runtime.secretStore.get('crdb-chatops/local/rotate_e2e');
    expect(after?.password).not.toBe(before?.password);
    expect(await tryConnect({ user: 'rotate_e2e', password: before?.password ?? '', sourceAddress: HERE })).toMatch(/password authentication failed/);
    expect(await tryConnect({ user: 'rotate_e2e', password: after?.password ?? '', sourceAddress: HERE })).toBe('ok');
  });

  it('refuses connect for someone else\'s user, and lets its owner have it again', async () => {
    await h.command(alice, 'user create owned_e2e --cluster local');
    await h.settle();
    const stranger = await h.command(mallory, 'connect owned_e2e --cluster local');
    expect(h.ackText(stranger)).toMatch(/Only <@U0ALICE>, who owns `owned_e2e`, or an admin/);
    const owner = await h.command(alice, 'connect owned_e2e --cluster local --format psql');
    expect(h.ackText(owner)).toMatch(/Sending the connection details/);
    await h.settle();
    const again = h.dms(alice).map(messageText).filter((t) => t.includes('Here are your connection details') && t.includes('owned_e2e'));
    expect(again).toHaveLength(1);
    expect(again[0]).toContain("psql 'postgresql://owned_e2e:");
    expect(again[0]).not.toContain('cockroach sql');
    expect(h.dms(mallory).map(messageText).join('\n')).not.toContain('owned_e2e');
  });
});

describe('approvals', () => {
  async function pending(text: string, user: string = alice): Promise<string> {
    const result = await h.command(user, text);
    const id = requestIdIn(h.ackText(result));
    await h.settle();
    return id;
  }

  it('refuses self-approval and non-approvers, and logs both to the audit trail', async () => {
    const id = await pending('allow 192.0.2.0/28 --cluster prod');
    await h.clickCard(alice, id, 'approve');
    await h.clickCard(mallory, id, 'approve');
    await h.settle();
    const request = await h.runtime.store.getRequest(id);
    expect(request?.status).toBe('pending');
    const events = await h.runtime.store.listEvents(id);
    expect(events.filter((e) => e.type === 'refused').map((e) => e.actor).sort()).toEqual([alice, mallory].sort());
  });

  it('lets a self-approving approver not count: bob cannot approve his own request', async () => {
    const id = await pending('allow 192.0.2.16/28 --cluster prod', bob);
    const click = await h.clickCard(bob, id, 'approve');
    expect(click.response.statusCode).toBe(200);
    await h.settle();
    expect((await h.runtime.store.getRequest(id))?.status).toBe('pending');
  });

  it('applies once when the same approver double-clicks and two approvers click at once', async () => {
    const id = await pending('allow 192.0.2.32/28 --cluster prod');
    await Promise.all([h.clickCard(bob, id, 'approve'), h.clickCard(bob, id, 'approve'), h.clickCard(carol, id, 'approve')]);
    await h.settle();
    const request = await h.runtime.store.getRequest(id);
    expect(request?.status).toBe('applied');
    expect(request?.approvals).toHaveLength(1);
    const events = await h.runtime.store.listEvents(id);
    expect(events.filter((e) => e.type === 'applied')).toHaveLength(1);
    expect(h.cloud.requestsFor('CockroachCloud_AddAllowlistEntry2').filter((r) => r.path.includes('192.0.2.32'))).toHaveLength(1);
  });

  it('needs two approvals for 0.0.0.0/0 where policy allows it at all', async () => {
    const id = await pending('allow 0.0.0.0/0 --cluster prod --for 1h --reason "vendor demo"');
    expect(messageText(h.card(id))).toMatch(/Open to the whole internet/);
    await h.clickCard(bob, id, 'approve');
    await h.settle();
    expect((await h.runtime.store.getRequest(id))?.status).toBe('pending');
    expect(messageText(h.card(id))).toMatch(/1 of 2 approvals/);
    await h.clickCard(carol, id, 'approve');
    await h.settle();
    expect((await h.runtime.store.getRequest(id))?.status).toBe('applied');
    await h.command(admin, 'revoke 0.0.0.0/0 --cluster prod');
    await h.settle();
  });

  it('denies with a reason from the modal; the card and the requester say why', async () => {
    const result = await h.command(alice, 'allow 192.0.2.48/28 --cluster prod');
    const id = requestIdIn(h.ackText(result));
    await h.settle();
    await h.clickCard(bob, id, 'deny');
    const view = h.slack.views().find((v) => v.view.private_metadata === id && !v.closed);
    if (view === undefined) throw new Error('no deny modal');
    const submitted = await h.driver.submitView({ user: bob, view: view.view, values: { reason: { reason: 'use the VPN' } } });
    expect(submitted.response.statusCode).toBe(200);
    await h.settle();
    expect((await h.runtime.store.getRequest(id))?.status).toBe('denied');
    expect(messageText(h.card(id))).toMatch(/Denied by <@U0BOB>: use the VPN/);
    expect(h.dms(alice).map(messageText).some((t) => /<@U0BOB> denied your request .*: use the VPN/.test(t))).toBe(true);
  });

  it('break-glass applies at once for the on-call group, notifies approvers and marks the trail', async () => {
    const result = await h.command(dave, 'allow 192.0.2.64/28 --cluster prod --break-glass --reason "incident 42"');
    expect(h.ackText(result)).toMatch(/Working on it/);
    const id = requestIdIn(h.ackText(result));
    await h.settle();
    expect((await h.runtime.store.getRequest(id))?.status).toBe('applied');
    expect(h.slack.messages('C0APPROVE').map(messageText).some((t) => /Break-glass change by <@U0DAVE>.*incident 42/.test(t))).toBe(true);
    expect((await h.runtime.store.listEvents(id)).map((e) => e.type)).toContain('break-glass');
    const refused = await h.command(alice, 'allow 192.0.2.80/28 --cluster prod --break-glass --reason "me too"');
    expect(h.ackText(refused)).toMatch(/--break-glass is only for members of the break-glass group/);
  });
});

describe('Slack retries and forged requests', () => {
  it('acts once when Slack delivers the same command again with x-slack-retry-num', async () => {
    const built = h.driver.buildSlashCommand({ user: alice, text: 'allow 192.0.2.96/28 --cluster prod' });
    const again = (n: number) => h.driver.send({ ...built.request, headers: { ...built.request.headers, 'x-slack-retry-num': String(n), 'x-slack-retry-reason': 'http_timeout' } });
    // The retry races the first delivery's admission: it makes a request of its own, which
    // admission ends as a repeat (the trigger_id is claimed once), without a word to anyone.
    const [first, racing] = await Promise.all([h.driver.send(built.request), again(1)]);
    expect([first.statusCode, racing.statusCode]).toEqual([200, 200]);
    await h.settle();
    // Once admitted, a retry finds the request the command made.
    const late = await again(2);
    expect(messageText(late.json<{ text: string }>())).toMatch(/Already received/);
    await h.settle();
    const made = (await h.runtime.store.listByRequester(alice, 50)).filter((r) => r.params.kind === 'allow' && r.params.allow.cidr === '192.0.2.96/28');
    expect(made.filter((r) => r.status !== 'refused')).toHaveLength(1);
    for (const repeat of made.filter((r) => r.status === 'refused')) expect(slackText(repeat.outcome)).toMatch(/A repeated delivery of the command of request/);
    // The repeat is never announced to the requester, and only one card asks the approvers.
    expect(h.slack.ephemerals({ user: alice }).filter((m) => /repeated delivery/.test(messageText(m)))).toEqual([]);
    expect(h.slack.messages(APPROVERS_CHANNEL).filter((m) => !m.thread_ts && messageText(m).includes('192.0.2.96/28'))).toHaveLength(1);
  });

  it('refuses a request signed with another secret before anything runs', async () => {
    const built = h.driver.buildSlashCommand({ user: alice, text: 'allow 192.0.2.112/28 --cluster prod' });
    const forged = { ...built.request, headers: { ...built.request.headers, 'x-slack-signature': 'v0=' + '0'.repeat(64) } };
    expect((await h.driver.send(forged)).statusCode).toBe(401);
    await h.settle();
    expect((await h.runtime.store.listByRequester(alice, 50)).some((r) => r.params.kind === 'allow' && r.params.allow.cidr === '192.0.2.112/28')).toBe(false);
  });
});

describe('bad input', () => {
  it.each([
    ['allow 2001:db8::1', /IPv6/],
    ['allow 1.2.3.4/33', /prefix/],
    ['allow 10.0.0.1 --sql --ui', /./],
    ['user create Bob', /lowercase/],
    ['user create root', /reserved/],
    ['alow 1.2.3.4', /allow/],
    ['allow 1.2.3.4 --for 8 hours', /./],
    ['allow 1.2.3.4 --break-glass', /--reason/],
  ])('%s → one-line reason and an example, nothing written or queued', async (text, reason) => {
    const before = (await h.runtime.store.listByRequester(alice, 100)).length;
    const result = await h.command(alice, `${text} --cluster prod`);
    const ack = h.ackText(result);
    expect(ack).toMatch(reason);
    expect(ack).toMatch(/Try: `\/crdb /);
    await h.settle();
    expect((await h.runtime.store.listByRequester(alice, 100)).length).toBe(before);
  });

  it('asks which cluster when several are configured', async () => {
    const result = await h.command(alice, 'allow 1.2.3.4');
    expect(h.ackText(result)).toMatch(/Several clusters are configured \(local, prod\); say which with --cluster/);
  });
});

describe('info commands', () => {
  it('lists the allowlist with who asked, and checks an address', async () => {
    const list = await h.command(alice, 'allowlist --cluster local');
    expect(h.ackText(list)).toMatch(/Looking up the allowlist on `local`/);
    await h.settle();
    expect(h.responses(list).at(-1)).toMatch(/`127\.0\.0\.21\/32` SQL · <@U0ALICE>/);

    const check = await h.command(alice, `check ${ELSEWHERE} --cluster local`);
    await h.settle();
    expect(h.responses(check).at(-1)).toMatch(/`127\.0\.0\.22` is \*not\* allowed on `local`/);
  });

  it('shows help generated from the grammar, and the clusters', async () => {
    expect(h.ackText(await h.command(mallory, 'help'))).toMatch(/\/crdb allow &lt;ipv4\[\/mask\]&gt;/);
    expect(h.ackText(await h.command(alice, 'clusters'))).toMatch(/`prod`\* — CockroachDB Cloud/);
  });
});

describe('an unexpected failure at the Slack edge', () => {
  it('answers with a reference that is on the log line with the error, and changes nothing', async () => {
    const logs = captureLogs({ level: 'info' });
    // Who may request is a Slack user group; Slack failing to list it fails the command.
    const g = await startHarness({ logger: logs.logger, config: (doc) => void Object.assign(doc.access as object, { requesters: ['S0APPROVERS'] }) });
    try {
      g.slack.failNext('usergroups.users.list', { error: 'internal_error' }, 5);
      const answer = g.ackText(await g.command(USERS.bob, 'allow 192.0.2.77 --cluster prod'));
      const ref = /reference `([0-9a-f]{8})`/.exec(answer)?.[1];
      expect(answer).toMatch(/Something went wrong on our side and nothing was changed/);
      expect(ref).toBeDefined();
      expect(answer).not.toMatch(/internal_error|usergroups/);
      const logged = logs.records('command.error');
      expect(logged.map((r) => r.ref)).toEqual([ref]);
      expect(JSON.stringify(logged[0])).toMatch(/internal_error/);
      await g.settle();
      expect(await g.runtime.store.listByRequester(USERS.bob, 5)).toEqual([]);
    } finally {
      await g.stop();
    }
  });
});
