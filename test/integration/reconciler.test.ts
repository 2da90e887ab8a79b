/**
 * Nothing acked is lost, in process: a request the ack wrote whose job never arrived (a crash
 * between the write and `SendMessage`, SQS refusing it) is driven on by the reconciler, by a Slack
 * retry of the command, or by a repeated click; `/crdb requests` shows it meanwhile.
 *
 * Network plays: this file's rules name only 127.0.0.101–127.0.0.104.
 */
import { newRequestId } from '../../lib/requests/ids';
import { type ChatRequest } from '../../lib/requests/types';
import { type SlackMessage } from '../../stand-ins/slack';
import { type Harness, startHarness, USERS } from '../support/app-harness';
import { slackText } from '../support/prose';

const { alice, admin, carol } = USERS;
const AUDIT_CHANNEL = 'C0AUDIT101';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    config: (doc) => {
      for (const cluster of doc.clusters as Array<Record<string, unknown>>) {
        if (cluster.alias === 'local') {
          cluster.policy = { userCreateNeedsApproval: false, autoApproveSingleHost: true };
          cluster.auditChannel = AUDIT_CHANNEL;
        }
      }
    },
  });
  h.slack.addChannel({ id: AUDIT_CHANNEL, name: 'db-audit-101' });
});

afterAll(async () => {
  await h.stop();
});

/** What the ack writes for `allow <cidr>` on `local`, and nothing after it: the job is lost. */
async function ackedWithoutJob(cidr: string, claim?: string, madeAt = new Date()): Promise<ChatRequest> {
  const now = madeAt;
  const request: ChatRequest = {
    id: newRequestId(),
    cluster: 'local',
    requester: alice,
    params: { kind: 'allow', allow: { cidr, sql: true, ui: false } },
    status: 'approved',
    risk: 'low',
    flags: [],
    quorum: 0,
    approvals: [],
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 86_400_000).toISOString(),
    version: 0,
  };
  const created = { requestId: request.id, actor: alice, type: 'created' as const, at: now.toISOString() };
  await h.runtime.store.createRequest(request, created);
  // As admission leaves it: the command's trigger id claimed by the request.
  if (claim !== undefined) await h.runtime.store.claimIdempotencyKey(`slash:${claim}`, request.id, 3_600);
  return request;
}

async function statusOf(id: string): Promise<ChatRequest | undefined> {
  return h.runtime.store.getRequest(id);
}

describe('the reconciler', () => {
  it('drives on a request whose job was lost, and its requester hears the outcome', async () => {
    const lost = await ackedWithoutJob('127.0.0.101/32');
    await h.settle();
    expect((await statusOf(lost.id))?.status).toBe('approved');
    expect(h.ackText(await h.command(alice, 'requests'))).toMatch(/Your unfinished requests\* \(1\)[\s\S]*127\.0\.0\.101\/32/);

    // Not due yet: a worker may still be at it. Due a minute after the last write.
    expect(await (await h.runtime.maintenance()).reconcile()).toEqual([]);
    const driven = await (await h.runtime.maintenance()).reconcile({ everyOpen: true });
    expect(driven).toEqual([lost.id]);
    await h.settle();

    const done = await statusOf(lost.id);
    expect(done).toMatchObject({ status: 'applied', step: 'told' });
    expect(h.dms(alice).map((m) => m.text).join('\n')).toMatch(/127\.0\.0\.101\/32/);
    expect(h.ackText(await h.command(alice, 'requests'))).not.toMatch(/Your unfinished requests/);
    // Ended and told: nothing left to drive.
    expect(await (await h.runtime.maintenance()).reconcile({ everyOpen: true })).toEqual([]);
  });

  it("drives it on when Slack delivers the command again, instead of only answering 'duplicate'", async () => {
    const built = h.driver.buildSlashCommand({ user: alice, text: 'allow 127.0.0.102 --cluster local' });
    const lost = await ackedWithoutJob('127.0.0.102/32', built.payload.trigger_id);
    const retry = { ...built.request, headers: { ...built.request.headers, 'X-Slack-Retry-Num': '1', 'X-Slack-Retry-Reason': 'http_timeout' } };
    await h.driver.send(retry);
    await h.settle();
    expect(await statusOf(lost.id)).toMatchObject({ status: 'applied', step: 'told' });
  });

  it('drives on an approved request when an approver clicks its card again', async () => {
    const ack = h.ackText(await h.command(alice, 'allow 203.0.113.0/28 --cluster prod'));
    const id = /Request `([0-9A-Z]{26})`/.exec(ack)?.[1] ?? '';
    await h.settle();
    // The approval is written, its job lost: the request stays approved.
    await h.runtime.store.addApproval(id, { by: carol, at: new Date().toISOString() });
    expect((await statusOf(id))?.status).toBe('approved');
    await h.clickCard(carol, id, 'approve');
    await h.settle();
    expect(await statusOf(id)).toMatchObject({ status: 'applied', step: 'told' });
  });
});

/** Runs `/crdb audit` on `local` and finds the report with the finding about `requestId`, and its buttons' block. */
async function auditedFinding(requestId: string): Promise<{ report: SlackMessage; blockId: string }> {
  await h.command(admin, 'audit --cluster local');
  await h.settle();
  const report = h.slack.messages(AUDIT_CHANNEL).find((m) => JSON.stringify(m.blocks ?? []).includes(requestId));
  // The finding's own actions block follows its section.
  const list = (report?.blocks ?? []) as readonly { block_id?: string }[];
  const actions = list.slice(list.findIndex((b) => JSON.stringify(b).includes(requestId))).find((b) => b.block_id?.startsWith('finding-actions-'));
  if (report === undefined || actions?.block_id === undefined) throw new Error(`no finding with buttons for ${requestId}`);
  return { report, blockId: actions.block_id };
}

describe('a request that does not finish', () => {
  it('is a high audit finding, and an approver can cancel it: ended as failed, its requester told', async () => {
    const stuck = await ackedWithoutJob('127.0.0.103/32', undefined, new Date(Date.now() - 40 * 60_000));
    const { report, blockId } = await auditedFinding(stuck.id);
    const blocks = JSON.stringify(report.blocks ?? []);
    expect(blocks).toMatch(/Request not finishing/);
    expect(blocks).toMatch(/Cancel request/);
    expect(blocks).toMatch(/crdb_audit_retry/);
    await h.driver.clickButton({ user: carol, message: report, actionId: 'crdb_audit_remove', blockId });
    await h.settle();
    const ended = await statusOf(stuck.id);
    expect(ended).toMatchObject({ status: 'failed', step: 'told' });
    expect(slackText(ended?.outcome)).toMatch(/^Cancelled by <@U0CAROL>/);
    expect(h.dms(alice).map((m) => m.text).join('\n')).toMatch(/Cancelled by/);
    // Nothing of it is left on the cluster.
    expect(await h.runtime.store.getManagedEntry('local', '127.0.0.103/32')).toBeUndefined();
  });
});

describe('Retry now, on a request that does not finish', () => {
  it('drives it on at once, and is refused once the request has finished', async () => {
    const stuck = await ackedWithoutJob('127.0.0.104/32', undefined, new Date(Date.now() - 40 * 60_000));
    const { report, blockId } = await auditedFinding(stuck.id);
    // A second click, built now (what a client still showing the button sends later).
    const again = h.driver.buildBlockAction({ user: carol, message: report, actionId: 'crdb_audit_retry', blockId: blockId }).request;
    await h.driver.clickButton({ user: carol, message: report, actionId: 'crdb_audit_retry', blockId });
    await h.settle();
    expect(await statusOf(stuck.id)).toMatchObject({ status: 'applied', step: 'told' });
    await h.driver.send(again);
    expect(h.slack.ephemerals({ user: carol }).map((e) => e.text).join('\n')).toMatch(/not waiting for anything any more/);
  });
});
