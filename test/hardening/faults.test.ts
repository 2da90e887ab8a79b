/**
 * Faults: the Cloud API answers 5xx or 429 on 30 % of calls and Secrets Manager fails 10 % of
 * calls (seeded, so a failure replays), while the worker "crashes" between every pair of steps of
 * allow, revoke, user create, user rotate and user delete, on the real PostgreSQL (`local`) and on
 * the Cloud API stand-in (`prod`):
 *
 * - once per step: the executor's checkpoint hook throws at that step the first time it is
 *   reached, the queue delivers the job again, and the executor must resume;
 * - on every delivery (`local`): the request runs out of deliveries at that step, so its last
 *   delivery must end it (failed and undone, or, past the point of telling, committed).
 *
 * The steps are learnt from a clean run: each kind's own (`user-create:secret-written`, ...),
 * `applying` (the request began), `told` (the requester heard the outcome; the final commit
 * follows) and `applied` (after the final commit).
 *
 * Afterwards, and after the audit's reconcile (the auditor's findings, fixed with the same code a
 * Remove click runs): no SQL user without a secret, no secret without a user, no entry the bot
 * made that the state table does not know, no user the bot made that it does not know, every
 * secret holds the password the cluster has, no failed `allow` left its entry on the allowlist,
 * every DM carrying a password is recorded for its deletion, no job ran out of deliveries, and
 * every request is in a final state its requester was told about (response_url or DM).
 *
 * The PostgreSQL server is shared by the test files running in parallel: this file's `local`
 * cluster keeps its allowlist in a private copy of `pg_hba.conf` (it rewrites it a few hundred
 * times); users are real roles, named `hf_*`.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { type Finding } from '../../lib/audit/findings';
import { requestIdFromEntryName } from '../../lib/cluster-admin/allowlist';
import { scramSha256Verifier } from '../../lib/cluster-admin/sql/scram';
import { type ChatRequest } from '../../lib/requests/types';
import { mrkdwn } from '../../lib/slack/text';
import { plainText } from '../../lib/prose';
import { type DeliveryResult } from '../../stand-ins/slack';
import { type Harness, messageText, PROD_CLUSTER_ID, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { connectAs } from '../support/pg-client';
import { allRequests, captureLogs, printFigures } from './support';

const { alice, bob, carol } = USERS;
const SEED = 1707;
const FINAL = new Set(['applied', 'failed', 'denied', 'expired']);

/** A crash the executor cannot tell from any other unknown failure: retryable. */
class SimulatedCrash extends Error {
  constructor(step: string) {
    super(`simulated crash after ${step}`);
    this.name = 'SimulatedCrash';
  }
}

type Kind = ChatRequest['params']['kind'];
const KINDS: readonly Kind[] = ['allow', 'revoke', 'user-create', 'user-rotate', 'user-delete'];

function subjectOf(request: ChatRequest): string {
  const p = request.params;
  const subject = p.kind === 'allow' ? p.allow.cidr : p.kind === 'revoke' ? p.revoke.cidr : p.kind === 'user-create' ? p.userCreate.user : p.kind === 'extend' ? (p.extend.subject.type === 'entry' ? p.extend.subject.cidr : p.extend.subject.user) : p.user.user;
  return `${request.cluster} ${p.kind} ${subject}`;
}

/** Where each subject crashes, and whether on every delivery. */
const plan = new Map<string, { step: string; persistent: boolean }>();
const crashedOnce = new Set<string>();
/** Steps each kind went through, in the order first seen. */
const steps = new Map<Kind, string[]>(KINDS.map((k) => [k, []]));
const crashes = { total: 0, byStep: new Map<string, number>() };

function checkpoint(step: string, request: ChatRequest): void {
  const kindSteps = steps.get(request.params.kind);
  if (kindSteps && !kindSteps.includes(step)) kindSteps.push(step);
  const key = subjectOf(request);
  const planned = plan.get(key);
  if (planned === undefined || planned.step !== step) return;
  if (!planned.persistent && crashedOnce.has(key)) return;
  crashedOnce.add(key);
  crashes.total += 1;
  const point = `${request.cluster} ${request.params.kind} ${step}`;
  crashes.byStep.set(point, (crashes.byStep.get(point) ?? 0) + 1);
  throw new SimulatedCrash(step);
}

const logs = captureLogs({ level: 'error' });
let h: Harness;
const hbaCopy = path.join(process.env.CRDB_TEST_ROOT ?? '/tmp', `pg_hba.faults-${randomBytes(4).toString('hex')}.conf`);
/** Every command typed, by request id: where its requester was answered. */
const commands = new Map<string, DeliveryResult<unknown>>();
const figures: Record<string, string | number> = {};

beforeAll(async () => {
  await copyFile(testPostgres().hbaFile, hbaCopy);
  h = await startHarness({
    checkpoint,
    logger: logs.logger,
    config: (doc) => {
      for (const cluster of doc.clusters as Array<Record<string, unknown>>) {
        if (cluster.alias === 'local') cluster.hba = { kind: 'pg-hba-file', path: hbaCopy };
        if (cluster.alias === 'prod') cluster.policy = { ...(cluster.policy as object), userCreateNeedsApproval: false };
      }
    },
  });
});

afterAll(async () => {
  h.cloud.clearFaults();
  h.secretsManager.clearFaults();
  const local = await h.runtime.clusters.get('local');
  for (const user of await local.listUsers()) if (user.startsWith('hf_')) await local.deleteUser(user).catch(() => undefined);
  await h.stop();
  await rm(hbaCopy, { force: true });
});

/** Types a command; keeps the answer so the request can be traced to where its requester was told. */
async function type(user: string, text: string, crashAt?: { step: string; persistent?: boolean; key: string }): Promise<void> {
  if (crashAt) plan.set(crashAt.key, { step: crashAt.step, persistent: crashAt.persistent === true });
  const result = await h.command(user, text);
  const id = /Request `([0-9A-Z]{26})`/.exec(h.ackText(result))?.[1];
  if (id !== undefined) commands.set(id, result);
}

function faultsOn(): void {
  h.cloud.setRandomFaults({
    probability: 0.3,
    seed: SEED,
    faults: [{ status: 500 }, { status: 502 }, { status: 503 }, { status: 504 }, { status: 503, afterApply: true }, { status: 429, retryAfterSeconds: 1 }, { status: 429 }],
  });
  h.secretsManager.setFaultRate({ probability: 0.1, seed: SEED, faults: ['InternalServiceError', 'ServiceUnavailable', 'ThrottlingException', { type: 'InternalServiceError', afterApply: true }] });
}

/** Retries an audit read the faults may fail, as the next scheduled run would. */
async function retried<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= 8) throw error;
    }
  }
}

const LOCAL_HOSTS = (from: number, count: number) => Array.from({ length: count }, (_, i) => `127.0.0.${from + i}/32`);
const PROD_HOSTS = (from: number, count: number) => Array.from({ length: count }, (_, i) => `100.80.${from}.${i + 1}/32`);

describe('faults, retries and a crash between every pair of steps', () => {
  it('learns the steps of each kind (a clean run, faults on)', async () => {
    faultsOn();
    await type(alice, 'allow 127.0.0.120 --cluster local');
    await type(alice, 'user create hf_learn --cluster local');
    await h.settle();
    await type(alice, 'user rotate hf_learn --cluster local');
    await type(alice, 'revoke 127.0.0.120 --cluster local');
    await h.settle();
    await type(alice, 'user delete hf_learn --cluster local');
    await h.settle();
    for (const kind of KINDS) expect(steps.get(kind)?.length).toBeGreaterThanOrEqual(3);
    figures['steps per kind'] = KINDS.map((k) => `${k} ${steps.get(k)?.length ?? 0}`).join(', ');
  });

  it('resumes after a crash once at every step, on both clusters, with faults on', async () => {
    const stepsOf = (kind: Kind) => steps.get(kind) ?? [];
    // One lane per step: a user created, rotated and (every other one) deleted; an entry allowed, then revoked.
    const userLanes = Math.max(stepsOf('user-create').length, stepsOf('user-rotate').length, 2 * stepsOf('user-delete').length);
    const entryLanes = Math.max(stepsOf('allow').length, stepsOf('revoke').length);
    const at = (kind: Kind, i: number) => stepsOf(kind)[i % stepsOf(kind).length] ?? 'none';
    const clusters = [
      { alias: 'local', hosts: LOCAL_HOSTS(80, entryLanes), user: (i: number) => `hf_t${i}` },
      { alias: 'prod', hosts: PROD_HOSTS(1, entryLanes), user: (i: number) => `hf_c${i}` },
    ];
    const requesters = [alice, bob, carol];
    const who = (i: number) => requesters[i % requesters.length] ?? alice;
    // Three phases; within one, every lane on both clusters runs at once.
    for (const { alias, hosts, user } of clusters) {
      for (let i = 0; i < userLanes; i++) await type(who(i), `user create ${user(i)} --cluster ${alias}`, { key: `${alias} user-create ${user(i)}`, step: at('user-create', i) });
      for (const [i, cidr] of hosts.entries()) await type(who(i), `allow ${cidr} --cluster ${alias}`, { key: `${alias} allow ${cidr}`, step: at('allow', i) });
    }
    await h.settle();
    for (const { alias, hosts, user } of clusters) {
      for (let i = 0; i < userLanes; i++) await type(who(i), `user rotate ${user(i)} --cluster ${alias}`, { key: `${alias} user-rotate ${user(i)}`, step: at('user-rotate', i) });
      for (const [i, cidr] of hosts.entries()) await type(who(i), `revoke ${cidr} --cluster ${alias}`, { key: `${alias} revoke ${cidr}`, step: at('revoke', i) });
    }
    await h.settle();
    for (const { alias, user } of clusters) {
      // Every other user is deleted; the rest stay, so their secrets can be checked at the end.
      for (let i = 0; i < userLanes; i += 2) await type(who(i), `user delete ${user(i)} --cluster ${alias}`, { key: `${alias} user-delete ${user(i)}`, step: at('user-delete', i / 2) });
    }
    await h.settle();
    // Every step of every kind crashed once on each cluster...
    for (const alias of ['local', 'prod']) {
      for (const kind of KINDS) expect(stepsOf(kind).filter((step) => !crashes.byStep.has(`${alias} ${kind} ${step}`))).toEqual([]);
    }
    // ...and with one crash and five deliveries each, every request was applied.
    const stuck = (await allRequests(h)).filter((r) => r.status !== 'applied' && crashedOnce.has(subjectOf(r)));
    expect(stuck.map((r) => `${subjectOf(r)}: ${r.status} ${plainText(r.outcome ?? [])}`)).toEqual([]);
  });

  it('ends a request that crashes at the same step on every delivery as failed, and undoes it', async () => {
    const users = (kind: Kind) => steps.get(kind) ?? [];
    // Users to rotate and delete, made first without crashes.
    const rotateSteps = users('user-rotate');
    const deleteSteps = users('user-delete');
    for (const [i] of rotateSteps.entries()) await type(alice, `user create hf_pr${i} --cluster local`);
    for (const [i] of deleteSteps.entries()) await type(alice, `user create hf_pd${i} --cluster local`);
    const revokeHosts = LOCAL_HOSTS(100, users('revoke').length);
    for (const cidr of revokeHosts) await type(alice, `allow ${cidr} --cluster local`);
    await h.settle();
    for (const [i, step] of users('user-create').entries()) await type(alice, `user create hf_pc${i} --cluster local`, { key: `local user-create hf_pc${i}`, step, persistent: true });
    for (const [i, step] of rotateSteps.entries()) await type(alice, `user rotate hf_pr${i} --cluster local`, { key: `local user-rotate hf_pr${i}`, step, persistent: true });
    for (const [i, step] of deleteSteps.entries()) await type(alice, `user delete hf_pd${i} --cluster local`, { key: `local user-delete hf_pd${i}`, step, persistent: true });
    for (const [i, step] of users('allow').entries()) {
      const cidr = LOCAL_HOSTS(90, users('allow').length)[i] ?? '';
      await type(alice, `allow ${cidr} --cluster local`, { key: `local allow ${cidr}`, step, persistent: true });
    }
    for (const [i, step] of users('revoke').entries()) await type(alice, `revoke ${revokeHosts[i] ?? ''} --cluster local`, { key: `local revoke ${revokeHosts[i] ?? ''}`, step, persistent: true });
    await h.settle();
    const persistent = (await allRequests(h)).filter((r) => plan.get(subjectOf(r))?.persistent === true);
    expect(persistent.every((r) => FINAL.has(r.status))).toBe(true);
    figures['persistent-crash requests (applied / failed)'] = `${persistent.filter((r) => r.status === 'applied').length} / ${persistent.filter((r) => r.status === 'failed').length}`;
    // A failed allow leaves nothing open: its entry is gone (or was never written).
    const local = await h.runtime.clusters.get('local');
    const entries = (await local.listAllowlist()).entries;
    const failedAllows = persistent.filter((r) => r.params.kind === 'allow' && r.status === 'failed');
    const cidrOf = (r: ChatRequest) => (r.params.kind === 'allow' ? r.params.allow.cidr : '');
    expect(entries.filter((e) => failedAllows.some((r) => cidrOf(r) === e.cidr))).toEqual([]);
    // A failed user create leaves no user behind.
    const localUsers = await local.listUsers();
    const rollbackFailures = logs.records('request.rollback-failed');
    expect(rollbackFailures.map((r) => JSON.stringify(r.err).slice(0, 300))).toEqual([]);
    const failedCreates = persistent.filter((r) => r.params.kind === 'user-create' && r.status === 'failed');
    expect(failedCreates.map((r) => (r.params.kind === 'user-create' ? r.params.userCreate.user : '')).filter((u) => localUsers.includes(u))).toEqual([]);
  });

  it('after the audit reconciles: no user without a secret, no secret without a user, no unknown bot entry or user', async () => {
    const auditor = await h.runtime.audit();
    /** This file's findings: `local` is shared with other test files; `prod` is this file's alone. */
    const mine = (f: Finding) => f.cluster === 'prod' || /(^|\/)hf_|127\.0\.0\.(8\d|9\d|1[0-2]\d)\//.test(f.subject);
    const wanted = (f: Finding) =>
      mine(f) &&
      (f.rule === 'user-without-secret' ||
        f.rule === 'secret-without-user' ||
        (f.rule === 'drift' && f.facts.recordOnly !== true && f.facts.external !== true && requestIdFromEntryName(String(f.facts.name ?? '')) !== undefined));
    const inspectAll = async () => (await Promise.all(['local', 'prod'].map((alias) => retried(() => auditor.inspector.inspect(alias))))).flatMap((i) => i.findings).filter(wanted);
    const before = await inspectAll();
    // A user whose password exists nowhere never happens, not even before the audit.
    expect(before.filter((f) => f.rule === 'user-without-secret').map((f) => f.subject)).toEqual([]);
    figures['findings before reconcile (user w/o secret / secret w/o user / unknown bot entry)'] = ['user-without-secret', 'secret-without-user', 'drift'].map((rule) => before.filter((f) => f.rule === rule).length).join(' / ');
    for (const finding of before) {
      await retried(() => auditor.fix({ type: 'audit-fix', cluster: finding.cluster, fingerprint: finding.fingerprint, actor: USERS.admin }, { finalAttempt: false }));
    }
    await h.settle();
    h.cloud.clearFaults();
    h.secretsManager.clearFaults();
    expect((await inspectAll()).map((f) => `${f.cluster} ${f.rule} ${f.subject}`)).toEqual([]);

    // No user the bot made that its table does not know: each `hf_` user has a record and a secret.
    for (const alias of ['local', 'prod']) {
      const admin = await h.runtime.clusters.get(alias);
      const users = (await admin.listUsers()).filter((u) => u.startsWith('hf_'));
      const records = new Map((await h.runtime.store.listManagedUsers(alias)).map((u) => [u.user, u]));
      expect(users.filter((u) => !records.has(u))).toEqual([]);
      figures[`${alias}: users left (each with record and secret)`] = users.length;
    }
  });

  it('every secret holds the password the cluster has', async () => {
    const pg = testPostgres();
    const client = await connectAs({ user: pg.adminUser, password: pg.adminPassword });
    let checked = 0;
    try {
      for (const record of await h.runtime.store.listManagedUsers('local')) {
        if (!record.user.startsWith('hf_')) continue;
        const secret = await h.runtime.secretStore.get(record.secretName);
        const row = (await client.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [record.user])).rows[0];
        const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(row?.rolpassword ?? '');
        if (match === null) throw new Error(`${record.user}: the bot has a record of it, but the cluster has ${row === undefined ? 'no such user' : 'no SCRAM verifier for it'} (secret ${secret === undefined ? 'missing' : 'present'})`);
        const verifier = scramSha256Verifier(secret?.password ?? '', { iterations: Number(match?.[1]), salt: Buffer.from(match?.[2] ?? '', 'base64') });
        if (verifier !== row?.rolpassword) throw new Error(`the secret of ${record.user} does not hold its password`);
        checked += 1;
      }
    } finally {
      await client.end();
    }
    for (const record of await h.runtime.store.listManagedUsers('prod')) {
      const secret = await h.runtime.secretStore.get(record.secretName);
      expect(h.cloud.state(PROD_CLUSTER_ID).users.get(record.user)?.password).toBe(secret?.password);
      checked += 1;
    }
    expect(checked).toBeGreaterThan(10);
    figures['passwords checked against the cluster'] = checked;
  });

  it('every DM that carries a password is recorded, so the sweep deletes it, whichever step crashed', async () => {
    const recorded = new Set((await h.runtime.store.listDueDmReceipts(new Date(Date.now() + 365 * 86_400_000))).map((r) => `${r.channel} ${r.ts}`));
    const withPassword = [alice, bob, carol].flatMap((user) => h.dms(user)).filter((m) => /because it holds a password/.test(messageText(m)));
    expect(withPassword.length).toBeGreaterThan(20);
    expect(withPassword.filter((m) => !recorded.has(`${m.channel} ${m.ts}`)).map((m) => `${m.channel} ${m.ts}`)).toEqual([]);
    figures['password DMs (each recorded for deletion)'] = withPassword.length;
  });

  it('every request ended, and its requester was told how', async () => {
    const requests = await allRequests(h);
    const untold: string[] = [];
    for (const request of requests) {
      expect(`${request.id} ${request.status}`).toMatch(/ (applied|failed|denied|expired)$/);
      const command = commands.get(request.id);
      const posts = command === undefined ? [] : h.responses(command);
      const dms = h.dms(request.requester).map(messageText);
      const outcome = request.outcome === undefined ? '\u0000' : mrkdwn(request.outcome);
      if (![...posts, ...dms].some((t) => t.includes(outcome))) untold.push(`${subjectOf(request)} (${request.status}: ${outcome})`);
    }
    expect(untold).toEqual([]);
    const cloudFaults = h.cloud.requests.filter((r) => r.fault === true).length;
    const smFaults = h.secretsManager.calls().filter((c) => c.injected).length;
    Object.assign(figures, {
      requests: requests.length,
      'requests applied / failed': `${requests.filter((r) => r.status === 'applied').length} / ${requests.filter((r) => r.status === 'failed').length}`,
      'Cloud API calls / injected 5xx+429': `${h.cloud.requests.length} / ${cloudFaults} (${Math.round((100 * cloudFaults) / h.cloud.requests.length)} %)`,
      'Secrets Manager calls / injected failures': `${h.secretsManager.calls().length} / ${smFaults} (${Math.round((100 * smFaults) / h.secretsManager.calls().length)} %)`,
      'simulated crashes': crashes.total,
      'distinct crash points (kind x step)': crashes.byStep.size,
      'job deliveries / redeliveries': `${h.queue.stats.deliveries} / ${h.queue.stats.redeliveries}`,
      'dead-lettered jobs': h.queue.deadLetters.length,
    });
    // No job runs out of deliveries: one that crashes at the same step every time ends its request on the last.
    expect(h.queue.deadLetters.map((job) => ('requestId' in job ? requests.find((r) => r.id === job.requestId) : undefined)).map((r) => (r ? subjectOf(r) : 'a job'))).toEqual([]);
    printFigures(`faults (seed ${SEED})`, figures);
  });
});
