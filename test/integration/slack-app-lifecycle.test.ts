/**
 * Time and delivery: pending requests expire and their cards say so; password DMs are deleted
 * after their TTL; `secret-reference` delivery never puts a password in Slack; user delete; and
 * no secret ever reaches a log line, a channel or an ephemeral reply.
 *
 * Network plays: this file's clients connect from 127.0.0.31.
 */
import { BOT_TOKEN, CLOUD_API_KEY, type Harness, messageText, requestIdIn, SIGNING_SECRET, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { captureLogs, Clock } from '../support/observe';
import { tryConnect } from '../support/pg-client';

const { alice, bob, mallory } = USERS;
const HERE = '127.0.0.31';



describe('with a clock: expiry and DM deletion', () => {
  const clock = new Clock();
  const logs = captureLogs('debug');
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ now: clock.now, logger: logs.logger, redactor: logs.redactor });
  });
  afterAll(() => h.stop());

  it('expires a pending request after 24 h: the card says so, the requester is told, clicks are refused', async () => {
    const result = await h.command(alice, 'allow 203.0.113.0/24 --cluster prod');
    const id = requestIdIn(h.ackText(result));
    await h.settle();
    clock.advance(24 * 60 * 60 * 1000 + 1000);
    const maintenance = await h.runtime.maintenance();
    expect(await maintenance.expireStaleRequests()).toEqual([id]);
    await h.settle();
    expect((await h.runtime.store.getRequest(id))?.status).toBe('expired');
    expect(messageText(h.card(id))).toMatch(/Expired without a decision/);
    expect(messageText(h.card(id))).not.toMatch(/Approve/);
    expect(h.dms(alice).map(messageText).some((t) => /expired without a decision/.test(t))).toBe(true);
  });

  it('refuses a click on an expired card even before the sweep ran', async () => {
    const result = await h.command(alice, 'allow 203.0.113.64/26 --cluster prod');
    const id = requestIdIn(h.ackText(result));
    await h.settle();
    clock.advance(25 * 60 * 60 * 1000);
    await h.clickCard(bob, id, 'approve');
    await h.settle();
    expect((await h.runtime.store.getRequest(id))?.status).toBe('expired');
    expect(messageText(h.card(id))).toMatch(/Expired/);
  });

  it('deletes a password DM once its TTL has passed, and `connect` sends it again', async () => {
    await h.command(alice, 'user create ttl_e2e --cluster local');
    await h.settle();
    const withPassword = () => h.dms(alice).filter((m) => /ttl_e2e/.test(messageText(m)) && /\*Password\*/.test(messageText(m)));
    expect(withPassword()).toHaveLength(1);
    const maintenance = await h.runtime.maintenance();
    expect((await maintenance.deleteDueDms()).deleted).toBe(0);
    clock.advance(61 * 60 * 1000);
    expect((await maintenance.deleteDueDms()).deleted).toBe(1);
    expect(withPassword()).toHaveLength(0);
    expect(h.slack.messages(h.slack.dmChannelFor(alice), { includeDeleted: true }).filter((m) => m.deleted)).toHaveLength(1);

    await h.command(alice, 'connect ttl_e2e --cluster local');
    await h.settle();
    expect(withPassword()).toHaveLength(1);
  });

  it('drops a user and schedules its secret for deletion', async () => {
    await h.command(alice, 'user create leaving_e2e --cluster local');
    await h.settle();
    expect(await h.runtime.secretStore.get('crdb-chatops/local/leaving_e2e')).toBeDefined();
    const stranger = await h.command(mallory, 'user delete leaving_e2e --cluster local');
    expect(await h.answer(stranger)).toMatch(/Only <@U0ALICE>/);
    const result = await h.command(alice, 'user delete leaving_e2e --cluster local');
    await h.settle();
    expect(h.responses(result).at(-1)).toMatch(/was dropped from `local`.*scheduled for deletion in 7 days/);
    expect(await h.runtime.secretStore.get('crdb-chatops/local/leaving_e2e')).toBeUndefined();
    const listed = await h.runtime.secretStore.list('crdb-chatops/local/leaving_e2e');
    expect(listed[0]?.deletedAt).toBeInstanceOf(Date);
    expect(await (await h.runtime.clusters.get('local')).listUsers()).not.toContain('leaving_e2e');
  });

  it('lists the users and the requests a person made or may decide', async () => {
    const users = await h.command(alice, 'users --cluster local');
    await h.settle();
    expect(h.responses(users).at(-1)).toMatch(/`ttl_e2e` · owner <@U0ALICE>/);
    const pending = await h.command(alice, 'allow 203.0.113.128/25 --cluster prod');
    const id = requestIdIn(h.ackText(pending));
    await h.settle();
    expect(h.ackText(await h.command(bob, 'requests'))).toMatch(new RegExp(`Waiting for your decision\\* \\(\\d+\\)[\\s\\S]*${id}`));
    expect(h.ackText(await h.command(alice, 'requests'))).toMatch(new RegExp(`Your recent requests[\\s\\S]*${id}`));
  });

  it('never writes a password, token, signing secret or API key to a log line', async () => {
    const secret = await h.runtime.secretStore.get('crdb-chatops/local/ttl_e2e');
    if (secret === undefined) throw new Error('no secret');
    const secrets = [secret.password, SIGNING_SECRET, BOT_TOKEN, CLOUD_API_KEY, testPostgres().adminPassword];
    expect(logs.lines.length).toBeGreaterThan(10);
    const leaks = logs.lines.filter((line) => secrets.some((value) => line.includes(value)));
    expect(leaks).toEqual([]);
  });
});

describe('secret-reference delivery', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ passwordDelivery: 'secret-reference' });
  });
  afterAll(() => h.stop());

  it('DMs the secret name and the AWS CLI command, never the password; the password still works', async () => {
    await h.command(alice, `allow ${HERE} --cluster local`);
    await h.command(alice, 'user create byref_e2e --cluster local');
    await h.settle();
    const secret = await h.runtime.secretStore.get('crdb-chatops/local/byref_e2e');
    if (secret === undefined) throw new Error('no secret');
    const everything = [
      ...h.slack.messages(h.slack.dmChannelFor(alice)),
      ...h.slack.messages('C0APPROVE'),
      ...h.slack.ephemerals(),
      ...h.slack.responses().map((p) => p.body as { text?: string }),
    ].map((m) => messageText(m as { text?: string; blocks?: unknown[] }));
    expect(everything.join('\n')).not.toContain(secret.password);
    const dm = h.dms(alice).map(messageText).find((t) => t.includes('byref_e2e'));
    expect(dm).toContain('aws secretsmanager get-secret-value --secret-id crdb-chatops/local/byref_e2e');
    expect(dm).toContain('byref_e2e:PASSWORD@localhost');
    expect(dm).not.toMatch(/This message is deleted/);
    expect(await tryConnect({ user: 'byref_e2e', password: secret.password, sourceAddress: HERE })).toBe('ok');
    expect(await h.runtime.store.listDueDmReceipts(new Date(Date.now() + 365 * 86_400_000))).toEqual([]);
  });

  it('refuses people who are not on the requesters list', async () => {
    const strict = await startHarness({ config: (doc) => void Object.assign(doc.access as object, { requesters: [alice] }) });
    try {
      expect(strict.ackText(await strict.command(mallory, 'allow 1.2.3.4 --cluster prod'))).toMatch(/not on the list of people who may use this bot/);
      expect(strict.ackText(await strict.command(mallory, 'help'))).toMatch(/self-serve CockroachDB access/);
    } finally {
      await strict.stop();
    }
  });
});
