/**
 * Leaks: every flow runs with its logs captured at debug level, then everything that left the bot
 * is scanned for every secret it handled: each generated password in all its renderings (raw,
 * percent-encoded, each code literal's escaping), the bot token, the signing secret, the Cloud API
 * key, the admin SQL password and the fake AWS secret key.
 *
 * Scanned: every log line; every Slack Web API call's arguments (channel posts, updates,
 * ephemerals, modal views); every message in every channel; every response_url post; every HTTP
 * answer of the Slack function; every job body on the queue; every item of the state table
 * (request outcomes, the audit trail, error messages); the PostgreSQL server's log. Only DMs may
 * carry a password, and only in `dm` delivery mode — and there they must (the scan would see it).
 *
 * Three runs of the same flows: `dm` delivery with the logger sharing the runtime's redactor (as
 * deployed); `dm` delivery with a logger whose redactor knows nothing (so nothing is merely
 * scrubbed: it was never written); `secret-reference` delivery, also with a redactor that knows
 * nothing, where not even a DM may carry a password.
 *
 * Network plays: this file's rules name only 127.0.0.75/32, 127.0.0.76/32 and 127.0.0.77/32.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { passwordRenderings } from '../../lib/cluster-admin/connection-formats';
import { SecretRedactor } from '../../lib/log';
import { createDocumentClient } from '../../lib/requests/dynamo-store';
import { computeSlackSignature } from '../../stand-ins/slack';
import { BOT_TOKEN, CLOUD_API_KEY, type Harness, requestIdIn, SIGNING_SECRET, startHarness, USERS } from '../support/app-harness';
import { testDynamo, testPostgres } from '../support/env';
import { Clock } from '../support/observe';
import { captureLogs, printFigures, RecordingRedactor } from './support';

const { alice, bob, carol, admin, dave, mallory } = USERS;
const AUDIT_CHANNEL = 'C0AUDIT75';
const AWS_SECRET_KEY = 'test-secret';

interface Run {
  readonly name: string;
  readonly delivery: 'dm' | 'secret-reference';
  /** The logger's redactor: the runtime's own, or one that knows nothing. */
  readonly sharedRedactor: boolean;
  readonly address: string;
  readonly tag: string;
}

const RUNS: readonly Run[] = [
  { name: 'dm delivery, logger sharing the runtime redactor', delivery: 'dm', sharedRedactor: true, address: '127.0.0.75', tag: 'a' },
  { name: 'dm delivery, logger redactor knowing nothing', delivery: 'dm', sharedRedactor: false, address: '127.0.0.76', tag: 'b' },
  { name: 'secret-reference delivery, logger redactor knowing nothing', delivery: 'secret-reference', sharedRedactor: false, address: '127.0.0.77', tag: 'c' },
];

const figures: Record<string, string | number> = {};

afterAll(() => printFigures('leaks', figures));

/** Every flow the bot has, with faults on part of the way. */
async function everyFlow(h: Harness, run: Run, clock: Clock): Promise<void> {
  const user = `hl_${run.tag}75`;
  const cloudUser = `hl_${run.tag}_cloud`;
  const ack = async (who: string, text: string) => h.ackText(await h.command(who, text));

  // Help, info and refusals.
  await ack(alice, 'help');
  await ack(alice, 'help user create');
  await ack(alice, 'clusters');
  await ack(alice, 'alow 1.2.3.4 --cluster prod');
  await ack(alice, 'allow 2001:db8::1 --cluster prod');
  await ack(alice, 'user create Bob --cluster local');
  // Allow, on both clusters; one approved, one denied with a reason.
  await ack(alice, `allow ${run.address} --cluster local --reason "laptop"`);
  const approved = requestIdIn(await ack(alice, `allow 198.51.${run.tag === 'a' ? 10 : run.tag === 'b' ? 11 : 12}.0/24 --cluster prod --for 8h --reason "office"`));
  const denied = requestIdIn(await ack(carol, 'allow 192.0.2.0/26 --cluster prod'));
  await h.settle();
  await h.clickCard(bob, approved, 'approve');
  await h.clickCard(bob, denied, 'deny');
  const modal = h.slack.views().find((v) => v.view.private_metadata === denied && !v.closed);
  if (modal === undefined) throw new Error('no deny modal');
  await h.driver.submitView({ user: bob, view: modal.view, values: { reason: { reason: 'use the VPN' } } });
  // Users: create, rotate, connect in every format, on the real PostgreSQL and on Cloud (with approval).
  await ack(alice, `user create ${user} --cluster local`);
  const cloudCreate = requestIdIn(await ack(dave, `user create ${cloudUser} --cluster prod`));
  await h.settle();
  await h.clickCard(bob, cloudCreate, 'approve');
  await ack(alice, `user rotate ${user} --cluster local`);
  await h.settle();
  for (const format of ['', ' --format cockroach-sql', ' --format url', ' --format psql', ' --format psycopg2', ' --format sqlalchemy', ' --format jdbc', ' --format pgx', ' --format node-postgres']) {
    await ack(alice, `connect ${user} --cluster local${format}`);
  }
  await ack(admin, `connect ${cloudUser} --cluster prod`);
  await ack(alice, 'users --cluster local');
  await ack(alice, 'allowlist --cluster prod');
  await ack(alice, `check ${run.address} --cluster local`);
  await ack(bob, 'requests');
  await h.settle();
  // Break-glass, and what nobody may do.
  await ack(dave, 'allow 192.0.2.128/25 --cluster prod --break-glass --reason "incident"');
  await ack(mallory, `connect ${user} --cluster local`);
  await ack(mallory, 'audit');
  await h.settle();
  // The audit: a report, Keep and Remove, the sweep.
  await ack(admin, 'audit --cluster prod');
  await h.settle();
  const report = h.slack.messages(AUDIT_CHANNEL).find((m) => m.thread_ts === undefined && m.text.startsWith('Audit of prod:'));
  const findings = (report?.blocks ?? []).filter((b) => b.block_id?.startsWith('finding-actions-') === true).map((b) => b.block_id ?? '');
  if (report !== undefined && findings[0] !== undefined) await h.driver.clickButton({ user: bob, message: report, actionId: 'crdb_audit_keep', blockId: findings[0] });
  if (report !== undefined && findings[1] !== undefined) await h.driver.clickButton({ user: bob, message: report, actionId: 'crdb_audit_remove', blockId: findings[1] });
  await h.settle();
  // A day later: the sweep expires what is still pending and deletes the password DMs.
  await ack(carol, 'allow 192.0.2.64/26 --cluster prod');
  await h.settle();
  clock.advance(25 * 3_600_000);
  await (await h.runtime.audit()).sweep();
  await h.settle();
  // Forged requests: refused before parsing, and logged.
  for (let i = 0; i < 10; i++) {
    const built = h.driver.buildSlashCommand({ user: mallory, text: `user create x${i} --cluster local` }).request;
    const timestamp = Math.floor(Date.now() / 1000) - (i % 2 === 0 ? 0 : 600);
    await h.driver.send({ ...built, headers: { ...built.headers, 'X-Slack-Request-Timestamp': String(timestamp), 'X-Slack-Signature': computeSlackSignature({ signingSecret: `wrong-${i}`, timestamp, body: built.body }) } });
  }
  // Faults: the Cloud API and Secrets Manager failing, a create the cluster refuses for good,
  // Slack refusing a response_url and a DM post once.
  h.cloud.setRandomFaults({ probability: 0.3, seed: 75, faults: [{ status: 503 }, { status: 429 }, { status: 500, afterApply: true }] });
  h.secretsManager.setFaultRate({ probability: 0.15, seed: 75, faults: ['InternalServiceError', { type: 'InternalServiceError', afterApply: true }] });
  await ack(alice, `user create ${user}_f --cluster local`);
  await ack(dave, `user rotate ${cloudUser} --cluster prod`);
  await ack(alice, `allow 203.0.113.${run.tag === 'a' ? 1 : run.tag === 'b' ? 2 : 3} --cluster prod`);
  await h.settle();
  h.cloud.clearFaults();
  h.secretsManager.clearFaults();
  const refused = requestIdIn(await ack(dave, `user create ${cloudUser}_refused --cluster prod`));
  await h.settle();
  h.cloud.failNext(1, { status: 400, match: { operationId: 'CockroachCloud_CreateSQLUser' }, body: { code: 3, message: 'password does not meet the requirements' } });
  await h.clickCard(bob, refused, 'approve');
  h.slack.failNext('response_url', { status: 500 });
  h.slack.failNext('chat.postMessage', { status: 500 });
  await ack(alice, `user rotate ${user}_f --cluster local`);
  await h.settle();
  // Hostile error bodies: a proxy in front of Slack, and the Cloud API, echoing the credentials they were sent.
  h.slack.failNext('chat.postMessage', { status: 502, body: `<html>bad gateway; request was: Authorization: Bearer ${BOT_TOKEN}</html>` }, 3);
  await ack(alice, `connect ${user}_f --cluster local`);
  h.cloud.failNext(1, { status: 400, match: { operationId: 'CockroachCloud_ListAllowlistEntries' }, body: { code: 3, message: `key ${CLOUD_API_KEY} may not list this allowlist` } });
  await ack(alice, 'allowlist --cluster prod');
  await h.settle();
  // And away again.
  await ack(alice, `user delete ${user} --cluster local`);
  await ack(alice, `user delete ${user}_f --cluster local`);
  await ack(dave, `user delete ${cloudUser} --cluster prod`);
  await ack(alice, `revoke ${run.address} --cluster local`);
  await h.settle();
}

/** Every place text left the bot, as [where, text]. DMs are kept apart: they may carry a password in `dm` mode. */
async function outputs(h: Harness, logs: readonly string[]): Promise<{ anywhere: Array<[string, string]>; dms: Array<[string, string]> }> {
  // A DM channel (`D…`), or a user id: Slack posts a message addressed to a user into the bot's DM with them.
  const isDm = (channel: unknown) => typeof channel === 'string' && /^[DUW]/.test(channel);
  const anywhere: Array<[string, string]> = [];
  const dms: Array<[string, string]> = [];
  logs.forEach((line, i) => anywhere.push([`log line ${i}`, line]));
  for (const call of h.slack.calls()) {
    const where = `Slack ${call.method} (${JSON.stringify(call.args.channel ?? '')})`;
    // A DM's text and blocks, as posted or updated.
    if ((call.method === 'chat.postMessage' || call.method === 'chat.update') && isDm(call.args.channel)) dms.push([where, JSON.stringify(call.args)]);
    else anywhere.push([where, JSON.stringify(call.args)]);
  }
  for (const message of h.slack.messages(undefined, { includeDeleted: true })) {
    (isDm(message.channel) ? dms : anywhere).push([`message in ${message.channel}`, JSON.stringify(message)]);
  }
  for (const e of h.slack.ephemerals()) anywhere.push([`ephemeral to ${e.user}`, JSON.stringify(e)]);
  for (const post of h.slack.responses()) anywhere.push([`response_url post ${post.id}`, JSON.stringify(post.body)]);
  for (const view of h.slack.views()) anywhere.push([`modal ${view.view.id}`, JSON.stringify(view)]);
  h.appResponses.forEach((body, i) => anywhere.push([`Slack function answer ${i}`, body]));
  h.jobBodies.forEach((body, i) => anywhere.push([`job ${i}`, body]));
  const table = createDocumentClient({ endpoint: testDynamo().endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: AWS_SECRET_KEY } });
  let start: Record<string, unknown> | undefined;
  do {
    const page = await table.send(new ScanCommand({ TableName: h.config.state.tableName, ...(start ? { ExclusiveStartKey: start } : {}) }));
    for (const item of page.Items ?? []) anywhere.push([`table item ${String(item.pk)} ${String(item.sk)}`, JSON.stringify(item)]);
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  table.destroy();
  const pgLog = await readFile(path.join(process.env.CRDB_TEST_ROOT ?? '', 'postgres.log'), 'utf8').catch(() => '');
  anywhere.push(['PostgreSQL server log', pgLog]);
  return { anywhere, dms };
}

describe.each(RUNS)('every flow, then a scan for secrets: $name', (run) => {
  const redactor = new RecordingRedactor();
  const logs = captureLogs({ level: 'debug', redactor: run.sharedRedactor ? redactor : new SecretRedactor() });
  const clock = new Clock();
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({
      passwordDelivery: run.delivery,
      now: clock.now,
      logger: logs.logger,
      redactor,
      config: (doc) => {
        for (const cluster of doc.clusters as Array<Record<string, unknown>>) if (cluster.alias === 'prod') cluster.auditChannel = AUDIT_CHANNEL;
      },
    });
    h.slack.addChannel({ id: AUDIT_CHANNEL, name: 'db-audit-75' });
    await everyFlow(h, run, clock);
  }, 120_000);

  afterAll(async () => {
    const local = await h.runtime.clusters.get('local');
    for (const u of await local.listUsers()) if (u.startsWith(`hl_${run.tag}`)) await local.deleteUser(u).catch(() => undefined);
    await local.removeAllowlistEntry(`${run.address}/32`).catch(() => undefined);
    await h.stop();
  });

  it('finds no secret anywhere but in DMs, and in DMs only in dm mode', async () => {
    // Every secret the bot handled: what the runtime registered, and every password version Secrets Manager holds.
    const secrets = new Set<string>([SIGNING_SECRET, BOT_TOKEN, CLOUD_API_KEY, testPostgres().adminPassword, AWS_SECRET_KEY, ...redactor.seen]);
    const stored = await h.runtime.secretStore.list('crdb-chatops/');
    let passwords = 0;
    for (const { name } of stored) {
      for (const version of h.secretsManager.secret(name)?.versions ?? []) {
        const password = (JSON.parse(version.value ?? '{}') as { password?: string }).password;
        if (password === undefined) continue;
        passwords += 1;
        for (const rendering of passwordRenderings(password)) secrets.add(rendering);
      }
    }
    expect(passwords).toBeGreaterThanOrEqual(5);

    const { anywhere, dms } = await outputs(h, logs.lines);
    const hits = (haystacks: Array<[string, string]>) => haystacks.flatMap(([where, text]) => [...secrets].filter((s) => text.includes(s)).map((s) => `${where}: …${s.slice(0, 6)}…`));
    expect(hits(anywhere)).toEqual([]);
    // In `dm` mode the DMs do carry passwords (so the scan would see one); in `secret-reference` mode none does.
    expect(hits(dms).length > 0).toBe(run.delivery === 'dm');
    expect(logs.records('request.unverified')).toHaveLength(10);
    // The flows ran: failures, rollbacks, expiry and DM deletion among them.
    expect(logs.records('request.failed').length).toBeGreaterThanOrEqual(1);
    expect(logs.records('request.expired').length + logs.records('audit.swept').length).toBeGreaterThanOrEqual(1);
    expect(logs.records('dm.deleted').length >= 3).toBe(run.delivery === 'dm');
    const bytes = anywhere.reduce((n, [, t]) => n + t.length, 0) + dms.reduce((n, [, t]) => n + t.length, 0);
    figures[`${run.name}: secrets / places / MB scanned`] = `${secrets.size} / ${anywhere.length + dms.length} / ${(bytes / 1e6).toFixed(1)}`;
    figures[`${run.name}: log lines / hits outside DMs`] = `${logs.lines.length} / ${hits(anywhere).length}`;
  });
});


