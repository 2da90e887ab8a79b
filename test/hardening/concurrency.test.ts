/**
 * Concurrency: many people acting on the same thing at the same moment.
 *
 * - 50 approvers click Approve on one request at once (quorum 3): exactly 3 approvals count, the
 *   request is applied once (one Cloud API write, one `applied` event, one DM to the requester),
 *   and the other 47 are refused, each logged and on the request's trail.
 * - One approver clicks 50 times at once: one approval.
 * - 20 `user create` of the same name at once (different trigger ids), by one requester and by
 *   several, on the real PostgreSQL and on the Cloud API stand-in: one user, one secret holding
 *   the password that works, one record; every other request is refused or fails with a clear
 *   reason, and every requester is told.
 *
 * Network plays: this file's clients connect from 127.0.0.73; its rules name only 127.0.0.73/32.
 */
import { readFile } from 'node:fs/promises';
import { mrkdwn } from '../../lib/slack/text';
import { plainText } from '../../lib/prose';
import { type ChatRequest } from '../../lib/requests/types';
import { type DeliveryResult } from '../../stand-ins/slack';
import { type Harness, messageText, PROD_CLUSTER_ID, requestIdIn, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { tryConnect } from '../support/pg-client';
import { bodyText, captureLogs, printFigures } from './support';

const { alice, bob, carol, dave } = USERS;
const HERE = '127.0.0.73';
const APPROVERS = Array.from({ length: 50 }, (_, i) => `U0APPR${String(i).padStart(2, '0')}`);
const logs = captureLogs({ level: 'info' });
const figures: Record<string, string | number> = {};
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    logger: logs.logger,
    config: (doc) => {
      for (const cluster of doc.clusters as Array<Record<string, unknown>>) {
        if (cluster.alias === 'prod') {
          cluster.approvers = APPROVERS;
          cluster.policy = { ...(cluster.policy as object), quorum: { elevated: 3, high: 3 }, userCreateNeedsApproval: false };
        }
      }
    },
  });
  await h.command(alice, `allow ${HERE} --cluster local`);
  await h.settle();
});

afterAll(async () => {
  const local = await h.runtime.clusters.get('local');
  await local.removeAllowlistEntry(`${HERE}/32`).catch(() => undefined);
  await local.deleteUser('hd_race73').catch(() => undefined);
  await local.deleteUser('hd_race73b').catch(() => undefined);
  printFigures('concurrency', figures);
  await h.stop();
});

afterEach(() => {
  expect(h.cloud.takeViolations()).toEqual([]);
});

const events = async (id: string, type: string) => (await h.runtime.store.listEvents(id)).filter((e) => e.type === type);

describe('approvals at once', () => {
  it('50 approvers clicking Approve at once (quorum 3): 3 approvals, applied once', async () => {
    const result = await h.command(alice, 'allow 198.51.100.0/24 --cluster prod');
    expect(h.ackText(result)).toMatch(/This needs 3 approvals/);
    const id = requestIdIn(h.ackText(result));
    await h.settle();
    const card = h.card(id);
    // Built first, then all sent together: 50 signed clicks on the same card.
    const clicks = APPROVERS.map((user) => h.driver.buildBlockAction({ user, message: card, actionId: 'crdb_approve' }));
    const refusedBefore = logs.records('decision.refused').length;
    const answers = await Promise.all(clicks.map((c) => h.driver.send(c.request)));
    await h.settle();
    expect(answers.map((a) => a.statusCode)).toEqual(APPROVERS.map(() => 200));

    const request = (await h.runtime.store.getRequest(id)) as ChatRequest;
    expect(request.status).toBe('applied');
    expect(request.approvals).toHaveLength(3);
    expect(new Set(request.approvals.map((a) => a.by)).size).toBe(3);
    expect(await events(id, 'approval')).toHaveLength(2);
    expect(await events(id, 'approved')).toHaveLength(1);
    expect(await events(id, 'applied')).toHaveLength(1);
    expect(h.cloud.requestsFor('CockroachCloud_AddAllowlistEntry2').filter((r) => r.path.includes('198.51.100.0'))).toHaveLength(1);
    expect(h.dms(alice).map(messageText).filter((t) => /approved your request to allow `198\.51\.100\.0\/24`/.test(t))).toHaveLength(1);
    // Each of the 47 others was told, logged and recorded.
    const replies = clicks.map((c) => h.slack.responses(c.responseUrlId).map((p) => messageText(p.body as { text?: string })).join(' '));
    expect(replies.filter((t) => /Approval counted|Approved\. Applying it now\./.test(t))).toHaveLength(3);
    expect(replies.filter((t) => /This request is already (approved|applying|applied)/.test(t))).toHaveLength(47);
    expect(logs.records('decision.refused').length - refusedBefore).toBe(47);
    expect(await events(id, 'refused')).toHaveLength(47);
    expect(logs.records().filter((r) => r.level === 'error')).toEqual([]);
    figures['approvals: concurrent clicks'] = 50;
    figures['approvals: counted / refused'] = `${request.approvals.length} / ${(await events(id, 'refused')).length}`;
    figures['approvals: cluster writes / applied events'] = `1 / ${(await events(id, 'applied')).length}`;
  });

  it('one approver clicking 50 times at once: one approval', async () => {
    const result = await h.command(alice, 'allow 198.51.101.0/24 --cluster prod');
    const id = requestIdIn(h.ackText(result));
    await h.settle();
    const card = h.card(id);
    const clicks = APPROVERS.map(() => h.driver.buildBlockAction({ user: APPROVERS[0] ?? '', message: card, actionId: 'crdb_approve' }));
    await Promise.all(clicks.map((c) => h.driver.send(c.request)));
    await h.settle();
    const request = (await h.runtime.store.getRequest(id)) as ChatRequest;
    expect(request.status).toBe('pending');
    expect(request.approvals.map((a) => a.by)).toEqual([APPROVERS[0]]);
    const replies = clicks.map((c) => h.slack.responses(c.responseUrlId).map((p) => messageText(p.body as { text?: string })).join(' '));
    expect(replies.filter((t) => /Approval counted \(1 of 3\)/.test(t))).toHaveLength(1);
    expect(replies.filter((t) => /You have already approved this request/.test(t))).toHaveLength(49);
    figures['double clicks: concurrent / counted'] = `50 / ${request.approvals.length}`;
  });
});

describe('20 user create of the same name at once', () => {
  const requesters = [alice, alice, alice, alice, alice, alice, alice, alice, alice, alice, bob, bob, carol, carol, dave, dave, 'U0ERIN', 'U0FRANK', 'U0GRACE', 'U0HEIDI'];

  /** Sends the 20 commands together; returns each answer and, per requester, what they were told. */
  async function race(cluster: 'local' | 'prod', user: string) {
    const built = requesters.map((requester) => ({ requester, built: h.driver.buildSlashCommand({ user: requester, text: `user create ${user} --cluster ${cluster}` }) }));
    const answers = await Promise.all(built.map(async ({ built: b }) => h.driver.send(b.request)));
    await h.settle();
    const results = built.map(({ requester, built: b }, i) => ({ requester, responseUrlId: b.responseUrlId ?? '', ack: bodyText(answers[i] as DeliveryResult<unknown>['response']) }));
    const requests = (await Promise.all([...new Set(requesters)].map((r) => h.runtime.store.listByRequester(r, 100)))).flat().filter((r) => r.params.kind === 'user-create' && r.params.userCreate.user === user && r.cluster === cluster);
    return { results, requests };
  }

  /** The requester of each request heard its outcome (response_url or DM); refused ones were told in the ack. */
  function expectEveryoneTold(results: Awaited<ReturnType<typeof race>>['results'], requests: readonly ChatRequest[]) {
    for (const { requester, responseUrlId, ack } of results) {
      const posts = h.slack.responses(responseUrlId).filter((p) => p.status === 200).map((p) => messageText(p.body as { text?: string }));
      const id = /Request `([0-9A-Z]{26})`/.exec(ack)?.[1];
      if (id === undefined) {
        // Refused at once: the ack says why.
        expect(ack).toMatch(/already exists|already being processed/);
        continue;
      }
      const request = requests.find((r) => r.id === id);
      expect(request?.status).toMatch(/^(applied|failed)$/);
      const told = [...posts, ...h.dms(requester).map(messageText)].some((t) => t.includes(request?.outcome === undefined ? '\u0000' : mrkdwn(request.outcome)));
      if (!told) throw new Error(`${requester} was not told about ${id} (${request?.status}: ${plainText(request?.outcome ?? [])})`);
    }
  }

  it('on the real PostgreSQL: one user, one secret that works, everyone told', async () => {
    const { results, requests } = await race('local', 'hd_race73');
    const applied = requests.filter((r) => r.status === 'applied');
    expect(applied).toHaveLength(1);
    const winner = applied[0] as ChatRequest;
    expect(requests.filter((r) => r.status !== 'applied').every((r) => r.status === 'failed')).toBe(true);
    const secret = await h.runtime.secretStore.get('crdb-chatops/local/hd_race73');
    expect(secret?.requestId).toBe(winner.id);
    expect((await h.runtime.store.getManagedUser('local', 'hd_race73'))?.requestId).toBe(winner.id);
    expect(h.secretsManager.calls('PutSecretValue').filter((c) => c.input.SecretId === 'crdb-chatops/local/hd_race73')).toEqual([]);
    expect(await tryConnect({ user: 'hd_race73', password: secret?.password ?? '', sourceAddress: HERE })).toBe('ok');
    // The winner's DM carries the password that works; nobody else got one.
    const dms = [...new Set(requesters)].flatMap((r) => h.dms(r).map((m) => ({ r, text: messageText(m) }))).filter((d) => d.text.includes('hd_race73') && /Your new SQL user is ready/.test(d.text));
    expect(dms.map((d) => d.r)).toEqual([winner.requester]);
    expect(dms[0]?.text).toContain(encodeURIComponent(secret?.password ?? '!'));
    expectEveryoneTold(results, requests);
    expect((await readFile(testPostgres().hbaFile, 'utf8')).split('\n').filter((l) => l.includes(`${HERE}/32`))).toHaveLength(1);
    figures['user create (PostgreSQL): concurrent / applied / failed / refused'] = `20 / 1 / ${requests.length - 1} / ${20 - requests.length}`;
  });

  it("over a leftover secret (a failed request's, which its rollback could not delete): one replaces it", async () => {
    // The leftover: a live secret for a user that does not exist, written by a request long gone.
    await h.runtime.secretStore.create(
      'crdb-chatops/local/hd_race73b',
      { engine: 'postgres', host: 'localhost', port: 5432, username: 'hd_race73b', password: 'leftover-password-not-used', dbname: 'defaultdb', cluster: 'local', requestId: '01GZZZZZZZZZZZZZZZZZZZZZZZ' },
      { tags: { owner: alice, cluster: 'local' } },
    );
    const { results, requests } = await race('local', 'hd_race73b');
    const applied = requests.filter((r) => r.status === 'applied');
    expect(applied).toHaveLength(1);
    const winner = applied[0] as ChatRequest;
    const secret = await h.runtime.secretStore.get('crdb-chatops/local/hd_race73b');
    expect(secret?.requestId).toBe(winner.id);
    expect(h.secretsManager.calls('PutSecretValue').filter((c) => c.input.SecretId === 'crdb-chatops/local/hd_race73b' && c.status === 200)).toHaveLength(1);
    expect(await tryConnect({ user: 'hd_race73b', password: secret?.password ?? '', sourceAddress: HERE })).toBe('ok');
    expectEveryoneTold(results, requests);
    figures['user create over a leftover secret: concurrent / applied'] = `20 / ${applied.length}`;
  });

  it('on the Cloud API: one user, one secret that works, everyone told', async () => {
    const { results, requests } = await race('prod', 'hd_race_cloud');
    const applied = requests.filter((r) => r.status === 'applied');
    expect(applied).toHaveLength(1);
    const winner = applied[0] as ChatRequest;
    const secret = await h.runtime.secretStore.get('crdb-chatops/prod/hd_race_cloud');
    expect(secret?.requestId).toBe(winner.id);
    expect(h.cloud.state(PROD_CLUSTER_ID).users.get('hd_race_cloud')?.password).toBe(secret?.password);
    expect((await h.runtime.store.getManagedUser('prod', 'hd_race_cloud'))?.requestId).toBe(winner.id);
    expectEveryoneTold(results, requests);
    figures['user create (Cloud): concurrent / applied / failed / refused'] = `20 / 1 / ${requests.length - 1} / ${20 - requests.length}`;
  });
});
