/**
 * Duplicates: every Slack request is delivered four times (the original and Slack's three retries,
 * with `X-Slack-Retry-Num` and the same body, so the same `trigger_id`) and every job twice (SQS
 * is at-least-once). Each change still has exactly one effect, counted where it lands: the
 * cluster (the real PostgreSQL's `pg_hba.conf` and roles, the Cloud API stand-in's calls and
 * state), the secret store (Secrets Manager calls per secret) and the state table (requests,
 * events, records), and the requester hears the outcome once.
 *
 * Network plays: this file's clients connect from 127.0.0.71; its rules name only 127.0.0.71/32.
 */
import { readFile } from 'node:fs/promises';
import { plainText } from '../../lib/prose';
import { type RequestEvent } from '../../lib/requests/types';
import { type Harness, messageText, PROD_CLUSTER_ID, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { tryConnect } from '../support/pg-client';
import { allRequests, bodyText, deliverWithRetries, printFigures } from './support';

const { alice, bob, carol, admin, dave } = USERS;
const HERE = '127.0.0.71';
const USER = 'hd_dup71';
const SECRET = `crdb-chatops/local/${USER}`;

let h: Harness;
const figures = { flows: 0, slackDeliveries: 0, slackRetries: 0, jobDeliveries: 0, duplicateJobDeliveries: 0, effectsChecked: 0 };

const AUDIT_CHANNEL = 'C0AUDIT71';

beforeAll(async () => {
  h = await startHarness({
    duplicateJobDeliveries: 1,
    config: (doc) => {
      for (const cluster of doc.clusters as Array<Record<string, unknown>>) if (cluster.alias === 'prod') cluster.auditChannel = AUDIT_CHANNEL;
    },
  });
  h.slack.addChannel({ id: AUDIT_CHANNEL, name: 'db-audit-71' });
});

afterAll(async () => {
  const local = await h.runtime.clusters.get('local');
  await local.removeAllowlistEntry(`${HERE}/32`).catch(() => undefined);
  await local.deleteUser(USER).catch(() => undefined);
  figures.jobDeliveries = h.queue.stats.deliveries;
  figures.duplicateJobDeliveries = h.queue.stats.duplicates;
  printFigures('duplicates (each Slack request x4, each job x2)', figures);
  await h.stop();
});

afterEach(() => {
  expect(h.cloud.takeViolations()).toEqual([]);
});

/** Types a command; Slack delivers it four times. Returns the four answers and the response_url id. */
async function command(user: string, text: string) {
  const built = h.driver.buildSlashCommand({ user, text });
  const answers = await deliverWithRetries(h, built);
  figures.flows += 1;
  figures.slackDeliveries += answers.length;
  figures.slackRetries += answers.length - 1;
  expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200]);
  const texts = answers.map(bodyText);
  h.slack.applyCommandAck(built.responseUrlId ?? '', answers[0]?.body ?? '');
  await h.settle();
  return { texts, responseUrlId: built.responseUrlId ?? '', posts: () => h.slack.responses(built.responseUrlId).filter((p) => p.status === 200).map((p) => messageText(p.body as { text?: string })) };
}

/** Clicks a card button; Slack delivers the click four times. */
async function click(user: string, requestId: string, action: 'approve' | 'deny') {
  const built = h.driver.buildBlockAction({ user, message: h.card(requestId), actionId: action === 'approve' ? 'crdb_approve' : 'crdb_deny' });
  const answers = await deliverWithRetries(h, built);
  figures.slackDeliveries += answers.length;
  figures.slackRetries += answers.length - 1;
  expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200]);
  await h.settle();
  return h.slack.responses(built.responseUrlId).map((p) => messageText(p.body as { text?: string }));
}

/** The one request a command created, asserting there is exactly one for `describe`. */
async function onlyRequest(match: (r: Awaited<ReturnType<typeof allRequests>>[number]) => boolean) {
  const all = (await allRequests(h)).filter(match);
  // A retry racing the first delivery's admission makes a request of its own: admission ends it as
  // a repeat (refused, told, nothing done), so it is no second effect.
  const repeats = all.filter((r) => r.status === 'refused' && /A repeated delivery of the command of request/.test(plainText(r.outcome ?? [])));
  for (const repeat of repeats) expect(repeat.step).toBe('told');
  const found = all.filter((r) => !repeats.includes(r));
  expect(found).toHaveLength(1);
  const [request] = found;
  if (request === undefined) throw new Error('unreachable');
  return request;
}

async function eventsOf(id: string, type: RequestEvent['type']): Promise<RequestEvent[]> {
  return (await h.runtime.store.listEvents(id)).filter((e) => e.type === type);
}

/**
 * The first answer is the real one. The first retry, sent at the same moment, may find the request
 * or race it (then admission ends its request as a repeat: see `onlyRequest`); every later retry
 * is told it was received already.
 */
function expectOneAcceptance(texts: readonly string[], accepted: RegExp): void {
  expect(texts[0]).toMatch(accepted);
  expect(texts[1]).toMatch(new RegExp(`${accepted.source}|Already received: request \`[0-9A-Z]{26}\``));
  for (const t of texts.slice(2)) expect(t).toMatch(/Already received: request `[0-9A-Z]{26}`/);
}

const hbaLines = async (cidr: string) => (await readFile(testPostgres().hbaFile, 'utf8')).split('\n').filter((l) => l.includes(` ${cidr} `));
const cloudCalls = (operationId: string, pathPart: string) => h.cloud.requestsFor(operationId).filter((r) => r.path.includes(pathPart) && r.status !== undefined && r.status < 300);
const smCalls = (operation: 'CreateSecret' | 'PutSecretValue' | 'DeleteSecret', name: string) =>
  h.secretsManager.calls(operation).filter((c) => c.input.SecretId === name || c.input.Name === name).filter((c) => c.status === 200);

describe('every request four times, every job twice: one effect', () => {
  it('allow (single host, local): one pg_hba.conf line, one request, one record, one "applied"', async () => {
    const { texts, posts } = await command(alice, `allow ${HERE} --cluster local`);
    expectOneAcceptance(texts, /Working on it: allow `127\.0\.0\.71\/32`/);
    expect(await hbaLines(`${HERE}/32`)).toHaveLength(1);
    const request = await onlyRequest((r) => r.params.kind === 'allow' && r.params.allow.cidr === `${HERE}/32`);
    expect(request.status).toBe('applied');
    expect(await eventsOf(request.id, 'applied')).toHaveLength(1);
    expect((await h.runtime.store.listManagedEntries('local')).filter((e) => e.cidr === `${HERE}/32`).map((e) => e.requestId)).toEqual([request.id]);
    expect(posts().filter((t) => /You can connect now/.test(t))).toHaveLength(1);
    figures.effectsChecked += 5;
  });

  it('user create (local): one role, one CreateSecret, one record, one password DM', async () => {
    const { texts, posts } = await command(alice, `user create ${USER} --cluster local`);
    expectOneAcceptance(texts, /Working on it: create SQL user/);
    expect((await (await h.runtime.clusters.get('local')).listUsers()).filter((u) => u === USER)).toHaveLength(1);
    expect(smCalls('CreateSecret', SECRET)).toHaveLength(1);
    expect(smCalls('PutSecretValue', SECRET)).toHaveLength(0);
    const request = await onlyRequest((r) => r.params.kind === 'user-create' && r.params.userCreate.user === USER);
    expect(request.status).toBe('applied');
    expect(await eventsOf(request.id, 'applied')).toHaveLength(1);
    expect((await h.runtime.store.listManagedUsers('local')).filter((u) => u.user === USER).map((u) => u.requestId)).toEqual([request.id]);
    const dms = h.dms(alice).map(messageText).filter((t) => t.includes(USER) && /Your new SQL user is ready/.test(t));
    expect(dms).toHaveLength(1);
    expect(posts().filter((t) => /is ready on `local`/.test(t))).toHaveLength(1);
    const secret = await h.runtime.secretStore.get(SECRET);
    expect(await tryConnect({ user: USER, password: secret?.password ?? '', sourceAddress: HERE })).toBe('ok');
    figures.effectsChecked += 7;
  });

  it('user rotate: one PutSecretValue, the cluster has the new password, one DM', async () => {
    const before = await h.runtime.secretStore.get(SECRET);
    const { texts } = await command(alice, `user rotate ${USER} --cluster local`);
    expectOneAcceptance(texts, /Working on it: rotate/);
    expect(smCalls('PutSecretValue', SECRET)).toHaveLength(1);
    const after = await h.runtime.secretStore.get(SECRET);
    expect(after?.password).not.toBe(before?.password);
    expect(await tryConnect({ user: USER, password: after?.password ?? '', sourceAddress: HERE })).toBe('ok');
    expect(await tryConnect({ user: USER, password: before?.password ?? '', sourceAddress: HERE })).toMatch(/password authentication failed/);
    const request = await onlyRequest((r) => r.params.kind === 'user-rotate' && r.params.user.user === USER);
    expect(await eventsOf(request.id, 'applied')).toHaveLength(1);
    expect(h.dms(alice).map(messageText).filter((t) => t.includes(USER) && /password was rotated/.test(t))).toHaveLength(1);
    figures.effectsChecked += 6;
  });

  it('connect: one DM with the connection details', async () => {
    const { texts } = await command(alice, `connect ${USER} --cluster local --format psql`);
    // Not a request: the retries are answered like the original, and the job is deduplicated.
    expect(texts.filter((t) => /Sending the connection details/.test(t))).toHaveLength(4);
    expect(h.dms(alice).map(messageText).filter((t) => t.includes(USER) && /Here are your connection details/.test(t))).toHaveLength(1);
    figures.effectsChecked += 1;
  });

  it('read commands: one answer each', async () => {
    for (const text of ['allowlist --cluster local', `check ${HERE} --cluster local`, 'users --cluster local']) {
      const { posts } = await command(alice, text);
      expect(posts()).toHaveLength(1);
      figures.effectsChecked += 1;
    }
  });

  it('user delete: the role is gone, one DeleteSecret, the record is gone', async () => {
    const { texts } = await command(alice, `user delete ${USER} --cluster local`);
    expectOneAcceptance(texts, /Working on it: delete SQL user/);
    expect(await (await h.runtime.clusters.get('local')).listUsers()).not.toContain(USER);
    expect(smCalls('DeleteSecret', SECRET)).toHaveLength(1);
    expect(await h.runtime.store.getManagedUser('local', USER)).toBeUndefined();
    const request = await onlyRequest((r) => r.params.kind === 'user-delete' && r.params.user.user === USER);
    expect(await eventsOf(request.id, 'applied')).toHaveLength(1);
    figures.effectsChecked += 4;
  });

  it('revoke (local): the line is gone, one request, one "applied"', async () => {
    const { texts } = await command(alice, `revoke ${HERE} --cluster local`);
    expectOneAcceptance(texts, /Working on it: revoke/);
    expect(await hbaLines(`${HERE}/32`)).toHaveLength(0);
    const request = await onlyRequest((r) => r.params.kind === 'revoke' && r.params.revoke.cidr === `${HERE}/32`);
    expect(await eventsOf(request.id, 'applied')).toHaveLength(1);
    expect(await h.runtime.store.getManagedEntry('local', `${HERE}/32`)).toBeUndefined();
    figures.effectsChecked += 3;
  });
});

describe('approvals four times each: one approval per approver, one write', () => {
  it('approve (quorum 1, Cloud): one approval, one "approved", one PUT, one "applied", one DM', async () => {
    const { texts } = await command(alice, 'allow 203.0.113.0/24 --cluster prod');
    expectOneAcceptance(texts, /This needs 1 approval/);
    const request = await onlyRequest((r) => r.params.kind === 'allow' && r.params.allow.cidr === '203.0.113.0/24');
    expect(h.slack.messages('C0APPROVE').filter((m) => !m.thread_ts && messageText(m).includes(request.id))).toHaveLength(1);
    const answers = await click(bob, request.id, 'approve');
    expect(answers.filter((t) => /Approved\. Applying it now\./.test(t))).toHaveLength(1);
    expect(answers.filter((t) => /You have already approved this request|already (approved|applying|applied)/.test(t))).toHaveLength(3);
    const done = await h.runtime.store.getRequest(request.id);
    expect(done?.status).toBe('applied');
    expect(done?.approvals.map((a) => a.by)).toEqual([bob]);
    expect(await eventsOf(request.id, 'approved')).toHaveLength(1);
    expect(await eventsOf(request.id, 'applied')).toHaveLength(1);
    expect(cloudCalls('CockroachCloud_AddAllowlistEntry2', '203.0.113.0')).toHaveLength(1);
    expect(h.dms(alice).map(messageText).filter((t) => /<@U0BOB> approved your request to allow `203\.0\.113\.0\/24`/.test(t))).toHaveLength(1);
    figures.effectsChecked += 7;
  });

  it('approve (quorum 2): two approvers, four clicks each: exactly two approvals, one write', async () => {
    await command(alice, 'allow 0.0.0.0/0 --cluster prod --for 1h --reason "demo"');
    const request = await onlyRequest((r) => r.params.kind === 'allow' && r.params.allow.cidr === '0.0.0.0/0');
    await click(bob, request.id, 'approve');
    expect((await h.runtime.store.getRequest(request.id))?.approvals.map((a) => a.by)).toEqual([bob]);
    await click(carol, request.id, 'approve');
    const done = await h.runtime.store.getRequest(request.id);
    expect(done?.status).toBe('applied');
    expect(done?.approvals.map((a) => a.by)).toEqual([bob, carol]);
    // The first approval is an `approval` event, the one completing the quorum `approved`.
    expect(await eventsOf(request.id, 'approval')).toHaveLength(1);
    expect(await eventsOf(request.id, 'approved')).toHaveLength(1);
    expect(cloudCalls('CockroachCloud_AddAllowlistEntry2', '/0.0.0.0/')).toHaveLength(1);
    figures.effectsChecked += 4;
  });

  it('deny: the modal opens once, four submissions deny once, one DM', async () => {
    await command(alice, 'allow 198.51.100.0/24 --cluster prod');
    const request = await onlyRequest((r) => r.params.kind === 'allow' && r.params.allow.cidr === '198.51.100.0/24');
    const clicked = await click(bob, request.id, 'deny');
    // The retried clicks find the modal open already: nobody is told something went wrong.
    expect(clicked.filter((t) => /went wrong/.test(t))).toEqual([]);
    const views = h.slack.views().filter((v) => v.view.private_metadata === request.id);
    expect(views).toHaveLength(1);
    const view = views[0];
    if (view === undefined) throw new Error('no deny modal');
    const built = h.driver.buildViewSubmission({ user: bob, view: view.view, values: { reason: { reason: 'use the VPN' } } });
    const answers = await deliverWithRetries(h, built);
    figures.slackDeliveries += 4;
    figures.slackRetries += 3;
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200]);
    await h.settle();
    expect((await h.runtime.store.getRequest(request.id))?.status).toBe('denied');
    expect(await eventsOf(request.id, 'denied')).toHaveLength(1);
    expect(h.dms(alice).map(messageText).filter((t) => /<@U0BOB> denied your request to allow `198\.51\.100\.0\/24`/.test(t))).toHaveLength(1);
    expect(cloudCalls('CockroachCloud_AddAllowlistEntry2', '198.51.100.0')).toHaveLength(0);
    figures.effectsChecked += 4;
  });

  it('user create on Cloud with approval: one CreateSQLUser, one secret', async () => {
    await command(carol, 'user create hd_dup_cloud --cluster prod');
    const request = await onlyRequest((r) => r.params.kind === 'user-create' && r.params.userCreate.user === 'hd_dup_cloud');
    await click(bob, request.id, 'approve');
    expect((await h.runtime.store.getRequest(request.id))?.status).toBe('applied');
    expect(cloudCalls('CockroachCloud_CreateSQLUser', '/sql-users')).toHaveLength(1);
    expect(smCalls('CreateSecret', 'crdb-chatops/prod/hd_dup_cloud')).toHaveLength(1);
    const secret = await h.runtime.secretStore.get('crdb-chatops/prod/hd_dup_cloud');
    expect(h.cloud.state(PROD_CLUSTER_ID).users.get('hd_dup_cloud')?.password).toBe(secret?.password);
    figures.effectsChecked += 4;
  });

  it('break-glass: applied once, approvers notified once', async () => {
    const { texts } = await command(dave, 'allow 192.0.2.64/28 --cluster prod --break-glass --reason "incident 71"');
    expectOneAcceptance(texts, /Working on it: allow `192\.0\.2\.64\/28`/);
    const request = await onlyRequest((r) => r.params.kind === 'allow' && r.params.allow.cidr === '192.0.2.64/28');
    expect(request.status).toBe('applied');
    expect(h.slack.messages('C0APPROVE').filter((m) => /Break-glass change by <@U0DAVE>.*incident 71/.test(messageText(m)))).toHaveLength(1);
    expect(await eventsOf(request.id, 'break-glass')).toHaveLength(1);
    expect(cloudCalls('CockroachCloud_AddAllowlistEntry2', '192.0.2.64')).toHaveLength(1);
    figures.effectsChecked += 3;
  });

  it('audit: one report; Remove on a finding removes it once and says so once', async () => {
    const { texts } = await command(admin, 'audit --cluster prod');
    expect(texts.filter((t) => /Running the audit of `prod`/.test(t))).toHaveLength(4);
    const reports = h.slack.messages(AUDIT_CHANNEL).filter((m) => m.thread_ts === undefined && m.text.startsWith('Audit of prod:'));
    expect(reports).toHaveLength(1);
    const report = reports[0];
    if (report === undefined) throw new Error('no report');
    const block = (report.blocks ?? []).find((b) => b.block_id?.startsWith('finding-actions-') === true && JSON.stringify(b).includes('0.0.0.0'));
    const fingerprint = block?.block_id?.slice('finding-actions-'.length);
    // The open entry of the quorum-2 test above.
    const open = (report.blocks ?? []).find((b) => b.block_id === `finding-${fingerprint ?? ''}`);
    expect(JSON.stringify(open)).toMatch(/0\.0\.0\.0\/0/);
    const built = h.driver.buildBlockAction({ user: bob, message: report, actionId: 'crdb_audit_remove', blockId: `finding-actions-${fingerprint ?? ''}` });
    const answers = await deliverWithRetries(h, built);
    figures.slackDeliveries += 4;
    figures.slackRetries += 3;
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200]);
    await h.settle();
    expect(h.cloud.state(PROD_CLUSTER_ID).allowlist.has('0.0.0.0/0')).toBe(false);
    expect(cloudCalls('CockroachCloud_DeleteAllowlistEntry', '/0.0.0.0/')).toHaveLength(1);
    expect((await h.runtime.store.listEvents('audit:prod')).filter((e) => e.type === 'removed')).toHaveLength(1);
    const outcomes = h.slack.messages(AUDIT_CHANNEL).filter((m) => m.thread_ts === report.ts).map(messageText);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatch(/<@U0BOB> removed “Open to the internet” `0\.0\.0\.0\/0`/);
    figures.effectsChecked += 5;
  });

  it('revoke (Cloud) by an admin: one DELETE', async () => {
    await command(admin, 'revoke 203.0.113.0/24 --cluster prod');
    expect(cloudCalls('CockroachCloud_DeleteAllowlistEntry', '203.0.113.0')).toHaveLength(1);
    expect(h.cloud.state(PROD_CLUSTER_ID).allowlist.has('203.0.113.0/24')).toBe(false);
    figures.effectsChecked += 2;
  });

  it('every job was delivered twice', () => {
    expect(h.queue.stats.duplicates).toBeGreaterThan(10);
    const bodies = new Map<string, number>();
    for (const body of h.jobBodies) bodies.set(body, (bodies.get(body) ?? 0) + 1);
    expect([...bodies.values()].every((n) => n >= 2)).toBe(true);
    expect(h.queue.deadLetters).toEqual([]);
  });
});
