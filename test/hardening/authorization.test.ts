/**
 * Authorization: every attempt to act without the right is refused, logged, and changes nothing.
 *
 * Clicks by non-approvers and by the requester, clicks whose button value was tampered with
 * (another request's id, garbage, an audit finding's ref on an approval button and a request id on
 * an audit button, one finding's ref on another's button), clicks on decided and expired requests,
 * a forged deny modal; `connect` to someone else's user, `revoke` of someone else's entry, rotate
 * and delete of someone else's user, `audit` by a non-admin, break-glass by a non-member, commands
 * by someone not on the requesters list. Each refusal is in the log, and on the request's (or the
 * cluster's) audit trail as `refused` wherever there is a request or a finding to attach it to.
 *
 * Approvers here: `local` has only carol, `prod` the approvers' group (bob and carol).
 * Network plays: this file's rules name only 127.0.0.72/32.
 */
import { readFile } from 'node:fs/promises';
import { encodeFindingRef } from '../../lib/audit/findings';
import { type ChatRequest, type RequestEvent } from '../../lib/requests/types';
import { type SlackMessage, type SlackRequest } from '../../stand-ins/slack';
import { type Harness, messageText, PROD_CLUSTER_ID, requestIdIn, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { Clock } from '../support/observe';
import { captureLogs, printFigures } from './support';

const { alice, bob, carol, admin, dave, mallory } = USERS;
const AUDIT_CHANNEL = 'C0AUDIT72';
const HOUR = 3_600_000;

const clock = new Clock();
const logs = captureLogs({ level: 'info' });
const figures = { attempts: 0, refusalsLogged: 0, refusedEventsOnTrails: 0 };
let h: Harness;
let snapshot: () => Promise<string>;
/** Clicks built while their requests were pending, sent after the decision: what a stale client sends. */
let stale: { approveDenied: SlackRequest; denyApplied: SlackRequest; approveApplied: SlackRequest };

/** Request ids by role in the story. */
const ids = { prod: '', local: '', bobs: '', denied: '', applied: '', expired: '' };

beforeAll(async () => {
  h = await startHarness({
    now: clock.now,
    logger: logs.logger,
    config: (doc) => {
      for (const cluster of doc.clusters as Array<Record<string, unknown>>) {
        if (cluster.alias === 'local') {
          cluster.approvers = [carol];
          cluster.policy = { userCreateNeedsApproval: false, autoApproveSingleHost: false };
        }
        if (cluster.alias === 'prod') cluster.auditChannel = AUDIT_CHANNEL;
      }
    },
  });
  h.slack.addChannel({ id: AUDIT_CHANNEL, name: 'db-audit-72' });
  const pending = async (user: string, text: string) => {
    const result = await h.command(user, text);
    await h.settle();
    return requestIdIn(h.ackText(result));
  };
  ids.prod = await pending(alice, 'allow 198.51.100.0/25 --cluster prod');
  ids.local = await pending(alice, 'allow 127.0.0.72 --cluster local');
  ids.bobs = await pending(bob, 'allow 198.51.100.128/25 --cluster prod');
  ids.denied = await pending(alice, 'allow 192.0.2.0/28 --cluster prod');
  ids.applied = await pending(alice, 'allow 192.0.2.16/28 --cluster prod');
  ids.expired = await pending(alice, 'allow 192.0.2.32/28 --cluster prod');
  await h.command(alice, 'allow 203.0.113.9 --cluster prod');
  await h.command(alice, 'user create hd_auth72 --cluster local');
  await h.settle();
  stale = {
    approveDenied: h.driver.buildBlockAction({ user: bob, message: h.card(ids.denied), actionId: 'crdb_approve' }).request,
    denyApplied: h.driver.buildBlockAction({ user: bob, message: h.card(ids.applied), actionId: 'crdb_deny' }).request,
    approveApplied: h.driver.buildBlockAction({ user: carol, message: h.card(ids.applied), actionId: 'crdb_approve' }).request,
  };
  await h.clickCard(carol, ids.denied, 'deny');
  const view = h.slack.views().find((v) => v.view.private_metadata === ids.denied);
  if (view === undefined) throw new Error('no deny modal');
  await h.driver.submitView({ user: carol, view: view.view });
  await h.clickCard(carol, ids.applied, 'approve');
  await h.settle();
  // Findings to click on: two entries added outside the bot.
  h.cloud.state(PROD_CLUSTER_ID).allowlist.set('100.72.0.0/16', { cidr_ip: '100.72.0.0', cidr_mask: 16, name: 'console', sql: true, ui: false });
  h.cloud.state(PROD_CLUSTER_ID).allowlist.set('100.73.0.0/16', { cidr_ip: '100.73.0.0', cidr_mask: 16, name: 'console', sql: true, ui: false });
  await (await h.runtime.audit()).report();

  /** Everything an attempt could change: requests, records, secrets, the clusters. */
  snapshot = async () =>
    JSON.stringify({
      // A refusal at admission leaves the refused request itself (its history), and nothing else.
      requests: (await h.runtime.store.listByRequester(alice, 100)).concat(await h.runtime.store.listByRequester(bob, 100)).filter((r) => r.id !== ids.expired && r.status !== 'refused').map((r) => [r.id, r.status, r.approvals, r.decidedBy]),
      entries: await h.runtime.store.listManagedEntries('prod'),
      localEntries: await h.runtime.store.listManagedEntries('local'),
      users: await h.runtime.store.listManagedUsers('local'),
      acks: await h.runtime.store.listAuditAcks('prod'),
      secrets: (await h.runtime.secretStore.list('crdb-chatops/')).map((s) => [s.name, s.deletedAt]),
      cloud: [...h.cloud.state(PROD_CLUSTER_ID).allowlist.entries()],
      hba: (await readFile(testPostgres().hbaFile, 'utf8')).split('\n').filter((l) => l.includes('127.0.0.72')),
      dmsToMallory: h.dms(mallory).length,
      cards: h.slack.messages('C0APPROVE').filter((m) => !m.thread_ts).map((m) => [m.ts, messageText(m)]),
    });
});

afterAll(async () => {
  await (await h.runtime.clusters.get('local')).deleteUser('hd_auth72').catch(() => undefined);
  printFigures('authorization', figures);
  await h.stop();
});

afterEach(() => {
  expect(h.cloud.takeViolations()).toEqual([]);
});

const refusedEvents = async (requestId: string, actor?: string): Promise<RequestEvent[]> =>
  (await h.runtime.store.listEvents(requestId)).filter((e) => e.type === 'refused' && (actor === undefined || e.actor === actor));

/**
 * Runs attempts and checks that nothing changed, that each was logged as `logEvent`, and (where
 * given) that each left a `refused` event on `trail`.
 */
async function expectRefused(attempts: ReadonlyArray<() => Promise<unknown>>, logEvent: string | readonly string[], trail?: { id: string }): Promise<void> {
  const before = await snapshot();
  const events = [logEvent].flat();
  const logged = () => logs.records().filter((r) => typeof r.event === 'string' && events.includes(r.event)).length;
  const loggedBefore = logged();
  const trailBefore = trail ? (await refusedEvents(trail.id)).length : 0;
  for (const attempt of attempts) await attempt();
  await h.settle();
  figures.attempts += attempts.length;
  expect(await snapshot()).toBe(before);
  expect(logged() - loggedBefore).toBe(attempts.length);
  figures.refusalsLogged += attempts.length;
  if (trail) {
    expect((await refusedEvents(trail.id)).length - trailBefore).toBe(attempts.length);
    figures.refusedEventsOnTrails += attempts.length;
  }
}

const click = (user: string, message: { channel: string; ts: string }, actionId: string, value?: string, blockId?: string) =>
  h.driver.clickButton({ user, message, actionId, ...(value !== undefined ? { value } : {}), ...(blockId !== undefined ? { blockId } : {}) });
const lastEphemeral = (user: string) => h.slack.ephemerals({ user }).at(-1)?.text ?? '';

function reportFinding(pattern: RegExp): { message: SlackMessage; fingerprint: string } {
  for (const message of h.slack.messages(AUDIT_CHANNEL)) {
    const block = (message.blocks ?? []).find((b) => b.block_id?.startsWith('finding-') === true && !b.block_id.startsWith('finding-actions-') && pattern.test(JSON.stringify(b)));
    if (block?.block_id !== undefined) return { message, fingerprint: block.block_id.slice('finding-'.length) };
  }
  throw new Error(`no finding matching ${String(pattern)}`);
}

describe('approval clicks', () => {
  it('refuses a non-approver (approve and deny), logged and on the trail', async () => {
    await expectRefused(
      [() => h.clickCard(mallory, ids.prod, 'approve'), () => h.clickCard(mallory, ids.prod, 'deny'), () => h.clickCard(dave, ids.prod, 'approve')],
      'decision.refused',
      { id: ids.prod },
    );
    expect((await refusedEvents(ids.prod)).map((e) => e.actor)).toEqual([mallory, mallory, dave]);
    expect(lastEphemeral(mallory)).toMatch(/Only approvers of `prod` can decide on this request/);
    expect(h.slack.views().filter((v) => v.user === mallory)).toEqual([]);
  });

  it('refuses an approver of another cluster', async () => {
    await expectRefused([() => h.clickCard(bob, ids.local, 'approve'), () => h.clickCard(bob, ids.local, 'deny')], 'decision.refused', { id: ids.local });
    expect(lastEphemeral(bob)).toMatch(/Only approvers of `local`/);
  });

  it('refuses self-approval, even by an approver', async () => {
    await expectRefused([() => h.clickCard(bob, ids.bobs, 'approve'), () => h.clickCard(bob, ids.bobs, 'deny')], 'decision.refused', { id: ids.bobs });
    expect(lastEphemeral(bob)).toMatch(/You cannot approve or deny your own request/);
  });

  it("refuses a button whose value was swapped for another request's id, even one the clicker may decide", async () => {
    // carol approves for both clusters: the value points her click on the prod card at the local request.
    await expectRefused(
      [() => click(carol, h.card(ids.prod), 'crdb_approve', ids.local), () => click(carol, h.card(ids.prod), 'crdb_deny', ids.local)],
      'decision.refused',
      { id: ids.local },
    );
    // bob's click on alice's card, pointed at his own request.
    await expectRefused([() => click(bob, h.card(ids.prod), 'crdb_approve', ids.bobs)], 'decision.refused', { id: ids.bobs });
    expect(lastEphemeral(carol)).toMatch(/does not belong to/);
  });

  it('refuses garbage and audit finding refs on approval buttons', async () => {
    const finding = reportFinding(/100\.72\.0\.0\/16/);
    const garbage = [
      '',
      'x',
      '../../../../etc/passwd',
      "' OR '1'='1' --",
      'A'.repeat(5_000),
      '01ARZ3NDEKTSV4RRFFQ69G5FAV',
      ids.prod.toLowerCase(),
      `${ids.prod} `,
      `${ids.prod}\n`,
      '<@U0BOB>',
      '{"requestId":"x"}',
      encodeFindingRef({ cluster: 'prod', fingerprint: finding.fingerprint, rule: 'broad', subject: '100.72.0.0/16' }),
      '\u0000\u202e',
    ];
    await expectRefused(
      garbage.flatMap((value) => [() => click(carol, h.card(ids.prod), 'crdb_approve', value), () => click(carol, h.card(ids.prod), 'crdb_deny', value)]),
      'decision.refused',
    );
    expect(lastEphemeral(carol)).toMatch(/That request does not exist|does not belong to/);
  });

  it('refuses clicks on decided requests (denied, applied), sent from a card as it was before', async () => {
    // A decided card has no buttons any more: only a stale client can still click them.
    await expectRefused([() => h.driver.send(stale.approveDenied)], 'decision.refused', { id: ids.denied });
    await expectRefused([() => h.driver.send(stale.denyApplied), () => h.driver.send(stale.approveApplied)], 'decision.refused', { id: ids.applied });
    expect((await refusedEvents(ids.applied)).map((e) => e.detail)).toEqual(['deny: This request is already applied.', 'approve: This request is already applied.']);
  });

  it('refuses a forged deny modal from a non-approver', async () => {
    await h.clickCard(carol, ids.prod, 'deny');
    const view = h.slack.views().find((v) => v.view.private_metadata === ids.prod && !v.closed);
    if (view === undefined) throw new Error('no deny modal');
    await expectRefused([() => h.driver.submitView({ user: mallory, view: view.view, values: { reason: { reason: 'mine now' } } })], 'decision.refused', { id: ids.prod });
  });

  it('refuses a click on an expired request (before the sweep), expires it and tells the requester', async () => {
    const card = h.card(ids.expired);
    clock.advance(25 * HOUR);
    const before = logs.records('decision.refused').length;
    await click(carol, card, 'crdb_approve');
    await h.settle();
    figures.attempts += 1;
    figures.refusalsLogged += 1;
    figures.refusedEventsOnTrails += 1;
    expect(logs.records('decision.refused').length - before).toBe(1);
    const request = (await h.runtime.store.getRequest(ids.expired)) as ChatRequest;
    expect(request.status).toBe('expired');
    expect(request.approvals).toEqual([]);
    expect(await refusedEvents(ids.expired, carol)).toHaveLength(1);
    expect(lastEphemeral(carol)).toMatch(/This request has expired/);
    expect(h.dms(alice).map(messageText).filter((t) => /allow `192\.0\.2\.32\/28`.*expired without a decision/.test(t))).toHaveLength(1);
    expect(h.cloud.state(PROD_CLUSTER_ID).allowlist.has('192.0.2.32/28')).toBe(false);
    clock.advance(-25 * HOUR);
  });
});

describe('audit report buttons', () => {
  it('refuses a non-approver on Remove and Keep, logged and on the cluster trail', async () => {
    const { message, fingerprint } = reportFinding(/100\.72\.0\.0\/16/);
    await expectRefused(
      [
        () => click(mallory, message, 'crdb_audit_remove', undefined, `finding-actions-${fingerprint}`),
        () => click(mallory, message, 'crdb_audit_keep', undefined, `finding-actions-${fingerprint}`),
      ],
      'audit.click-refused',
      { id: 'audit:prod' },
    );
    expect(h.cloud.state(PROD_CLUSTER_ID).allowlist.has('100.72.0.0/16')).toBe(true);
  });

  it("refuses request ids, garbage and another finding's ref on an audit button", async () => {
    const x = reportFinding(/100\.72\.0\.0\/16/);
    const y = reportFinding(/100\.73\.0\.0\/16/);
    const yRef = encodeFindingRef({ cluster: 'prod', fingerprint: y.fingerprint, rule: 'drift', subject: '100.73.0.0/16' });
    const onX = (value: string) => [
      () => click(bob, x.message, 'crdb_audit_remove', value, `finding-actions-${x.fingerprint}`),
      () => click(bob, x.message, 'crdb_audit_keep', value, `finding-actions-${x.fingerprint}`),
    ];
    // Malformed: no finding named, nothing to attach an event to.
    await expectRefused([ids.prod, '', 'garbage', '{"c":"prod","f":"zz","r":"open","s":"0.0.0.0/0"}', '{"c":"nope","f":"x"}', 'A'.repeat(3_000)].flatMap(onX), 'audit.click-refused');
    // Another finding's ref on X's buttons: refused, and on the cluster's trail.
    await expectRefused(onX(yRef), 'audit.click-refused', { id: 'audit:prod' });
    expect(lastEphemeral(bob)).toMatch(/That button does not belong to this finding/);
    expect(h.cloud.state(PROD_CLUSTER_ID).allowlist.has('100.73.0.0/16')).toBe(true);
  });
});

describe('commands', () => {
  it("refuses connect to someone else's user, and DMs nothing", async () => {
    await expectRefused([() => h.command(mallory, 'connect hd_auth72 --cluster local'), () => h.command(bob, 'connect hd_auth72 --cluster local --format psql')], 'connect.refused');
    expect(lastEphemeral(mallory)).toMatch(/Only <@U0ALICE>, who owns `hd_auth72`, or an admin/);
    expect(h.dms(bob).map(messageText).join('\n')).not.toContain('hd_auth72');
  });

  it("refuses revoke of someone else's entry, and rotate or delete of someone else's user", async () => {
    await expectRefused(
      [
        () => h.command(mallory, 'revoke 203.0.113.9/32 --cluster prod'),
        () => h.command(bob, 'revoke 203.0.113.9 --cluster prod'),
        () => h.command(mallory, 'revoke 100.72.0.0/16 --cluster prod'),
        () => h.command(mallory, 'user rotate hd_auth72 --cluster local'),
        () => h.command(mallory, 'user delete hd_auth72 --cluster local'),
      ],
      'request.refused',
    );
    expect(lastEphemeral(mallory)).toMatch(/Only <@U0ALICE>, who owns `hd_auth72`, or an admin may do that/);
    expect(h.cloud.state(PROD_CLUSTER_ID).allowlist.has('203.0.113.9/32')).toBe(true);
  });

  it('refuses audit by a non-admin', async () => {
    await expectRefused([() => h.command(mallory, 'audit'), () => h.command(bob, 'audit --cluster prod')], 'command.unauthorised');
    expect(lastEphemeral(bob)).toMatch(/Only crdb-chatops admins can run the audit/);
  });

  it('refuses break-glass by a non-member', async () => {
    await expectRefused([() => h.command(mallory, 'allow 198.51.100.7 --cluster prod --break-glass --reason "trust me"')], 'request.refused');
    expect(lastEphemeral(mallory)).toMatch(/--break-glass is only for members of the break-glass group/);
  });

  it('lets the rightful people do the same things (the gates are not simply closed)', async () => {
    await h.command(alice, 'connect hd_auth72 --cluster local');
    await h.command(admin, 'audit --cluster prod');
    await h.settle();
    expect(h.dms(alice).map(messageText).filter((t) => /Here are your connection details/.test(t))).toHaveLength(1);
    expect(h.slack.messages(AUDIT_CHANNEL).filter((m) => m.thread_ts === undefined && m.text.startsWith('Audit of prod:')).length).toBeGreaterThanOrEqual(2);
  });
});

describe('a requesters list', () => {
  it('refuses everyone else, logged', async () => {
    const strict = await startHarness({ logger: logs.logger, config: (doc) => void Object.assign(doc.access as object, { requesters: [alice] }) });
    try {
      const before = logs.records('command.unauthorised').length;
      for (const text of ['allow 198.51.100.9 --cluster prod', 'users --cluster prod', 'requests']) {
        expect(strict.ackText(await strict.command(mallory, text))).toMatch(/not on the list of people who may use this bot/);
      }
      figures.attempts += 3;
      figures.refusalsLogged += 3;
      expect(logs.records('command.unauthorised').length - before).toBe(3);
      expect(await strict.runtime.store.listByRequester(mallory, 10)).toEqual([]);
    } finally {
      await strict.stop();
    }
  });
});
