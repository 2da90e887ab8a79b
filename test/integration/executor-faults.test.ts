/**
 * Nothing is lost when a step fails: the worker resumes a retryable failure from its last step and
 * rolls back a permanent one. Faults are injected at the stand-ins (the real SDK and Cloud client
 * see real error responses) and the whole app runs through the harness.
 */
import { type SQSEvent } from 'aws-lambda';
import { requestIdFromEntryName } from '../../lib/cluster-admin/allowlist';
import { createLogger } from '../../lib/log';
import { captureLogs } from '../hardening/support';
import { processJobBatch } from '../../lib/queue/batch';
import { APPROVERS_CHANNEL, type Harness, messageText, PROD_CLUSTER_ID, startHarness, USERS } from '../support/app-harness';
import { slackText } from '../support/prose';

const { alice, bob, dave } = USERS;

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    config: (doc) => {
      const clusters = doc.clusters as Array<Record<string, unknown>>;
      const prod = clusters.find((c) => c.alias === 'prod');
      if (prod) prod.policy = { ...(prod.policy as object), userCreateNeedsApproval: false };
    },
  });
});

afterAll(() => h.stop());

afterEach(() => {
  h.cloud.clearFaults();
  h.secretsManager.clearFaults();
  expect(h.cloud.takeViolations()).toEqual([]);
});

const cloudUsers = () => h.cloud.state(PROD_CLUSTER_ID).users;

async function lastRequest() {
  const [latest] = await h.runtime.store.listByRequester(alice, 1);
  if (latest === undefined) throw new Error('no request');
  return latest;
}

describe('user create', () => {
  it('resumes after the secret was written but the response was lost: one secret, one user, same password', async () => {
    // Every attempt of the SDK (3) creates-then-fails: the worker sees an error after the write.
    h.secretsManager.failNext(3, { type: 'InternalServiceError', operation: 'CreateSecret', afterApply: true });
    const result = await h.command(alice, 'user create resume_e2e --cluster prod');
    await h.settle();
    const request = await lastRequest();
    expect(request.status).toBe('applied');
    const secret = await h.runtime.secretStore.get('crdb-chatops/prod/resume_e2e');
    expect(secret?.requestId).toBe(request.id);
    expect(cloudUsers().get('resume_e2e')?.password).toBe(secret?.password);
    expect(h.secretsManager.callCount('CreateSecret')).toBeGreaterThanOrEqual(3);
    expect(h.responses(result).at(-1)).toMatch(/is ready on `prod`/);
  });

  it('rolls back the secret when the cluster refuses the user for good, and tells the requester', async () => {
    h.cloud.failNext(1, { status: 400, match: { operationId: 'CockroachCloud_CreateSQLUser' }, body: { code: 3, message: 'password does not meet the requirements' } });
    const result = await h.command(alice, 'user create refused_e2e --cluster prod');
    await h.settle();
    const request = await lastRequest();
    expect(request.status).toBe('failed');
    expect(slackText(request.outcome)).toMatch(/password does not meet the requirements/);
    expect(cloudUsers().has('refused_e2e')).toBe(false);
    expect(await h.runtime.secretStore.get('crdb-chatops/prod/refused_e2e')).toBeUndefined();
    const [listed] = await h.runtime.secretStore.list('crdb-chatops/prod/refused_e2e');
    expect(listed?.deletedAt).toBeInstanceOf(Date);
    expect((await h.runtime.store.listEvents(request.id)).map((e) => e.type)).toEqual(expect.arrayContaining(['failed', 'rolled-back']));
    expect(h.responses(result).at(-1)).toMatch(/failed: .*password does not meet the requirements/);
  });

  it('refuses to take over a user that exists on the cluster but was not created by the bot', async () => {
    cloudUsers().set('preexisting_e2e', { name: 'preexisting_e2e', password: 'not-ours-123', admin: true });
    await h.command(alice, 'user create preexisting_e2e --cluster prod');
    await h.settle();
    const request = await lastRequest();
    expect(request.status).toBe('failed');
    expect(slackText(request.outcome)).toMatch(/was not created by the bot; it will not take it over/);
    expect(cloudUsers().get('preexisting_e2e')?.password).toBe('not-ours-123');
    expect(await h.runtime.secretStore.get('crdb-chatops/prod/preexisting_e2e')).toBeUndefined();
  });
});

describe('telling before the final commit', () => {
  it('tells again and commits after a crash between telling and committing: one DM, recorded for deletion', async () => {
    const crashed = new Set<string>();
    const c = await startHarness({
      checkpoint: (step, request) => {
        if (step !== 'told' || crashed.has(request.id)) return;
        crashed.add(request.id);
        throw new Error('simulated crash after telling');
      },
      config: (doc) => {
        for (const cluster of doc.clusters as Array<Record<string, unknown>>) if (cluster.alias === 'prod') cluster.policy = { ...(cluster.policy as object), userCreateNeedsApproval: false };
      },
    });
    try {
      const result = await c.command(alice, 'user create told_twice_e2e --cluster prod');
      await c.settle();
      const [request] = await c.runtime.store.listByRequester(alice, 1);
      expect(request).toMatchObject({ status: 'applied', step: 'told' });
      // At least once: told on each delivery that got that far; never lost.
      expect(c.responses(result).filter((t) => /SQL user `told_twice_e2e` is ready on `prod`/.test(t))).toHaveLength(2);
      // The DM follows telling, right before the commit that records it: the crash came before it.
      const dms = c.dms(alice).filter((m) => messageText(m).includes('told_twice_e2e') && /because it holds a password/.test(messageText(m)));
      expect(dms).toHaveLength(1);
      const receipts = await c.runtime.store.listDueDmReceipts(new Date(Date.now() + 86_400_000));
      expect(receipts.map((r) => `${r.channel} ${r.ts}`)).toContain(`${dms[0]?.channel ?? ''} ${dms[0]?.ts ?? ''}`);
      expect((await c.runtime.store.listEvents(request?.id ?? '')).map((e) => e.type)).toEqual(['created', 'applying', 'applied']);
    } finally {
      await c.stop();
    }
  });

  it('says a break-glass notice once, even when the user create is retried before it begins', async () => {
    // Default policy: new users on `prod` need approval, so break-glass applies.
    const g = await startHarness();
    try {
      // Every SDK attempt of the first delivery fails: the job is delivered again before the request begins.
      g.secretsManager.failNext(3, { type: 'ServiceUnavailable', operation: 'CreateSecret' });
      await g.command(dave, 'user create glass_once_e2e --cluster prod --break-glass --reason "incident 42"');
      await g.settle();
      const [request] = await g.runtime.store.listByRequester(dave, 1);
      expect(request).toMatchObject({ status: 'applied', breakGlass: true });
      expect(g.secretsManager.callCount('CreateSecret')).toBeGreaterThanOrEqual(4);
      expect(g.slack.messages(APPROVERS_CHANNEL).filter((m) => /Break-glass change by <@U0DAVE>.*incident 42/.test(messageText(m)))).toHaveLength(1);
    } finally {
      await g.stop();
    }
  });
});

describe('allow of an entry another request made', () => {
  it("is refused for another requester; the owner's allow again takes the entry over only once it is its own", async () => {
    const cidr = '203.0.113.91/32';
    const entryOwner = () => requestIdFromEntryName(h.cloud.state(PROD_CLUSTER_ID).allowlist.get(cidr)?.name ?? '');
    await h.command(alice, `allow ${cidr} --cluster prod`);
    await h.settle();
    const first = await lastRequest();
    expect(first.status).toBe('applied');

    // Another requester: refused at admission, nothing written but the refused request.
    const bobs = await h.command(bob, `allow ${cidr} --cluster prod`);
    expect(await h.answer(bobs)).toMatch(/already on the allowlist of `prod`, held by <@U0ALICE>/);
    expect((await h.runtime.store.listByRequester(bob, 1)).map((r) => r.status)).toEqual(['refused']);
    expect(entryOwner()).toBe(first.id);

    // The owner again (to extend it), refused for good before the entry changes: entry and record stay.
    h.cloud.failNext(1, { status: 403, match: { operationId: 'CockroachCloud_ListAllowlistEntries' } });
    await h.command(alice, `allow ${cidr} --cluster prod --for 8h`);
    await h.settle();
    const refused = await lastRequest();
    expect(refused.id).not.toBe(first.id);
    expect(refused.status).toBe('failed');
    expect(entryOwner()).toBe(first.id);
    await expect(h.runtime.store.getManagedEntry('prod', cidr)).resolves.toMatchObject({ requestId: first.id, requester: alice });

    await h.command(alice, `allow ${cidr} --cluster prod --for 8h`);
    await h.settle();
    const second = await lastRequest();
    expect(second.status).toBe('applied');
    expect(entryOwner()).toBe(second.id);
    await expect(h.runtime.store.getManagedEntry('prod', cidr)).resolves.toMatchObject({ requestId: second.id, requester: alice, previous: { requestId: first.id } });
  });
});

describe('user rotate', () => {
  it('puts the previous password back when the cluster refuses the new one', async () => {
    await h.command(alice, 'user create rotate_fault_e2e --cluster prod');
    await h.settle();
    const before = await h.runtime.secretStore.get('crdb-chatops/prod/rotate_fault_e2e');
    h.cloud.failNext(1, { status: 400, match: { operationId: 'CockroachCloud_UpdateSQLUserPassword' } });
    await h.command(alice, 'user rotate rotate_fault_e2e --cluster prod');
    await h.settle();
    expect((await lastRequest()).status).toBe('failed');
    const after = await h.runtime.secretStore.get('crdb-chatops/prod/rotate_fault_e2e');
    expect(after?.password).toBe(before?.password);
    expect(cloudUsers().get('rotate_fault_e2e')?.password).toBe(before?.password);
  });
});

describe('retries run out', () => {
  it('ends a request as failed on its last delivery and tells the requester, with nothing half-applied', async () => {
    // The Cloud API is down for longer than every delivery's retries.
    h.cloud.failNext(1_000, { status: 503, match: { operationId: 'CockroachCloud_ListAllowlistEntries' } });
    const result = await h.command(alice, 'allow 203.0.113.77 --cluster prod');
    await h.settle();
    const request = await lastRequest();
    expect(request.status).toBe('failed');
    expect(h.responses(result).at(-1)).toMatch(/failed: .*try again/i);
    expect([...h.cloud.state(PROD_CLUSTER_ID).allowlist.keys()]).not.toContain('203.0.113.77/32');
    expect(h.queue.deadLetters).toEqual([]);
  });
});

describe('the worker batch loop', () => {
  const record = (messageId: string, body: string) =>
    ({ messageId, body, attributes: { ApproximateReceiveCount: '1' }, receiptHandle: messageId, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn', awsRegion: 'us-east-1' }) as unknown as SQSEvent['Records'][number];

  it('drops poison messages and reports a failure plus everything after it (FIFO order)', async () => {
    const ran: string[] = [];
    const runner = {
      run: async (job: { type: string; requestId?: string }) => {
        ran.push(job.requestId ?? job.type);
        if (job.requestId === 'fails') throw new Error('boom');
        return Promise.resolve();
      },
    };
    const event: SQSEvent = {
      Records: [
        record('m1', '{"type":"submit","requestId":"ok"}'),
        record('m2', 'not json'),
        record('m3', '{"type":"submit","requestId":"fails"}'),
        record('m4', '{"type":"submit","requestId":"after"}'),
      ],
    };
    const response = await processJobBatch(event, runner, { maxReceiveCount: 5, logger: createLogger({ level: 'silent' }) });
    expect(ran).toEqual(['ok', 'fails']);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm3' }, { itemIdentifier: 'm4' }]);
  });
});

describe('unexpected failures', () => {
  it('tell the requester a reference that is on the log line with the details, and no details', async () => {
    const logs = captureLogs({ level: 'info' });
    const c = await startHarness({
      logger: logs.logger,
      checkpoint: (step, request) => {
        // A bug, not a backend's error: every delivery fails the same way, the last one rolls back.
        if (step === 'applying' && request.params.kind === 'allow' && request.params.allow.cidr === '198.51.100.203/32') throw new TypeError('simulated bug: x is undefined (internal detail)');
      },
    });
    try {
      const result = await c.command(alice, 'allow 198.51.100.203 --cluster prod');
      const told = await c.answer(result);
      const ref = /reference `([0-9a-f]{8})`/.exec(told)?.[1];
      expect(ref).toBeDefined();
      expect(told).toMatch(/Something went wrong on our side; the change was not applied/);
      expect(told).not.toMatch(/simulated bug|internal detail|TypeError/);
      const failed = logs.records('request.failed');
      expect(failed.map((r) => r.ref)).toContain(ref);
      expect(JSON.stringify(failed.find((r) => r.ref === ref))).toMatch(/simulated bug/);
      const [request] = await c.runtime.store.listByRequester(alice, 1);
      expect(request).toMatchObject({ status: 'failed', step: 'told' });
      expect(slackText(request?.outcome)).toContain(ref);
    } finally {
      await c.stop();
    }
  });
});
