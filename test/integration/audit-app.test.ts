/**
 * The audit end to end, through the whole app: `handlers/audit.ts` as EventBridge Scheduler invokes
 * it (`{ mode: 'sweep' }`, `{ mode: 'report' }`), Remove / Keep clicks signed like Slack's into
 * `handlers/slack.ts`, fixes through the job queue into `handlers/worker.ts`, and `/crdb audit`.
 * Clusters: `local` on the real PostgreSQL (sql backend, `pg_hba.conf`), `prod` on the Cloud API
 * stand-in; state in dynalite; secrets in the Secrets Manager stand-in.
 *
 * Network plays: this file's clients connect from 127.0.0.41; its `pg_hba.conf` rules name only
 * 127.0.0.41/32, 127.0.0.42/32 and 127.0.0.43/32.
 */
import { type Context } from 'aws-lambda';
import { type Pool } from 'pg';
import { auditHandler } from '../../lib/compose/audit-function';
import { type ReportSummary, type SweepSummary } from '../../lib/audit/auditor';
import { PgHbaFileStore } from '../../lib/cluster-admin/sql/hba-store';
import { createAdminPool } from '../../lib/cluster-admin/sql/pool';
import { auditTrailId } from '../../lib/requests/types';
import { type SlackMessage } from '../../stand-ins/slack';
import { type Harness, messageText, PROD_CLUSTER_ID, requestIdIn, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { captureLogs, Clock } from '../support/observe';
import { tryConnect } from '../support/pg-client';

const { alice, bob, carol, admin, mallory } = USERS;
const AUDIT_CHANNEL = 'C0AUDIT';
const HERE = '127.0.0.41';
const OPERATOR_LINE = 'hostssl all all 127.0.0.42/32 scram-sha-256';
const HOUR = 3_600_000;



type LogRecord = Record<string, unknown> & { event?: string; cluster?: string; message?: string };

interface ShownFinding {
  readonly fingerprint: string;
  readonly text: string;
  /** action_ids of its buttons; empty once someone clicked. */
  readonly buttons: readonly string[];
  /** What replaced the buttons after a click. */
  readonly resolved?: string;
}

interface Block {
  readonly type: string;
  readonly block_id?: string;
  readonly text?: { readonly text?: string };
  readonly elements?: ReadonlyArray<{ readonly action_id?: string; readonly text?: unknown }>;
}

function blocksOf(message: SlackMessage): readonly Block[] {
  return message.blocks ?? [];
}

function shownFindings(message: SlackMessage): ShownFinding[] {
  const blocks = blocksOf(message);
  return blocks
    .filter((b) => b.type === 'section' && b.block_id?.startsWith('finding-') === true && !b.block_id.startsWith('finding-actions-'))
    .map((b) => {
      const fingerprint = (b.block_id ?? '').slice('finding-'.length);
      const follow = blocks.find((x) => x.block_id === `finding-actions-${fingerprint}`);
      const resolvedText = follow?.type === 'context' ? (follow.elements?.[0]?.text as string | undefined) : undefined;
      return {
        fingerprint,
        text: b.text?.text ?? '',
        buttons: follow?.type === 'actions' ? (follow.elements ?? []).map((e) => e.action_id ?? '') : [],
        ...(resolvedText !== undefined ? { resolved: resolvedText } : {}),
      };
    });
}

describe('the audit, end to end', () => {
  const clock = new Clock();
  const logs = captureLogs();
  const pg = testPostgres();
  const context = { awsRequestId: 'audit-test', functionName: 'audit' } as Context;
  let h: Harness;
  let pool: Pool;
  let hba: PgHbaFileStore;
  let audit: ReturnType<typeof auditHandler>;

  beforeAll(async () => {
    h = await startHarness({
      now: clock.now,
      logger: logs.logger,
      redactor: logs.redactor,
      config: (doc) => {
        for (const cluster of doc.clusters as Array<Record<string, unknown>>) cluster.auditChannel = AUDIT_CHANNEL;
      },
    });
    h.slack.addChannel({ id: AUDIT_CHANNEL, name: 'db-audit' });
    audit = auditHandler(() => h.runtime);
    pool = createAdminPool({ host: pg.host, port: pg.port, database: pg.database, user: pg.adminUser, password: pg.adminPassword, caPem: pg.caPem });
    hba = new PgHbaFileStore({ cluster: 'local', pool, file: pg.hbaFile });
  });

  afterAll(async () => {
    const local = await h.runtime.clusters.get('local');
    for (const cidr of [`${HERE}/32`, '127.0.0.43/32']) await local.removeAllowlistEntry(cidr).catch(() => undefined);
    await hba.modify((text) => (text.includes(`${OPERATOR_LINE}\n`) ? text.replace(`${OPERATOR_LINE}\n`, '') : undefined));
    for (const role of ['tmp_audit41', 'stray_audit43', 'audit_admin44']) await pool.query(`DROP ROLE IF EXISTS ${role}`);
    await pool.end();
    await h.stop();
  });

  afterEach(() => {
    expect(h.cloud.takeViolations()).toEqual([]);
  });

  const records = (event: string, cluster?: string): LogRecord[] =>
    logs.lines.map((line) => JSON.parse(line) as LogRecord).filter((r) => r.event === event && (cluster === undefined || r.cluster === cluster));

  /** The newest report of `cluster`: its top-level message and the messages in its thread. */
  function latestReport(cluster: string): { top: SlackMessage; all: SlackMessage[] } {
    const messages = h.slack.messages(AUDIT_CHANNEL);
    const top = messages.filter((m) => m.thread_ts === undefined && m.text.startsWith(`Audit of ${cluster}:`)).at(-1);
    if (top === undefined) throw new Error(`no report of ${cluster}`);
    return { top, all: [top, ...messages.filter((m) => m.thread_ts === top.ts)] };
  }

  function findingIn(cluster: string, pattern: RegExp): { message: SlackMessage; finding: ShownFinding } {
    for (const message of latestReport(cluster).all) {
      const finding = shownFindings(message).find((f) => pattern.test(f.text));
      if (finding !== undefined) return { message, finding };
    }
    throw new Error(`no finding matching ${String(pattern)} in the report of ${cluster}`);
  }

  async function click(user: string, where: { message: SlackMessage; finding: ShownFinding }, button: 'remove' | 'keep') {
    return h.driver.clickButton({
      user,
      message: where.message,
      actionId: button === 'remove' ? 'crdb_audit_remove' : 'crdb_audit_keep',
      blockId: `finding-actions-${where.finding.fingerprint}`,
    });
  }

  const prodAllowlist = () => h.cloud.state(PROD_CLUSTER_ID).allowlist;

  /** Passwords the bot handled in this file: none may reach a log line. */
  const passwords: string[] = ['not-a-real-password'];

  describe('expiry sweep (every 15 minutes)', () => {
    it('removes expired temporary entries it can prove it made, drops expired users, deletes password DMs and expires stale requests', async () => {
      const [, allowProd, , , pending] = await Promise.all([
        h.command(alice, `allow ${HERE} --cluster local --for 1h`),
        h.command(alice, 'allow 100.24.0.7 --cluster prod --for 1h'),
        h.command(alice, 'allow 100.24.0.8 --cluster prod --for 1h'),
        h.command(alice, 'user create tmp_audit41 --cluster local --for 1h'),
        h.command(alice, 'allow 100.24.1.0/24 --cluster prod'),
      ]);
      if (allowProd === undefined || pending === undefined) throw new Error('commands not answered');
      const allowProdId = requestIdIn(h.ackText(allowProd));
      const pendingId = requestIdIn(h.ackText(pending));
      expect(h.ackText(pending)).toMatch(/needs 1 approval/);
      await h.settle();
      // Someone renames one entry in the Cloud console: the bot can no longer prove it is its own.
      const renamed = prodAllowlist().get('100.24.0.8/32');
      if (renamed === undefined) throw new Error('100.24.0.8/32 was not applied');
      prodAllowlist().set('100.24.0.8/32', { ...renamed, name: 'edited in the console' });
      const secret = await h.runtime.secretStore.get('crdb-chatops/local/tmp_audit41');
      if (secret === undefined) throw new Error('no secret for tmp_audit41');
      passwords.push(secret.password);
      expect(await tryConnect({ user: 'tmp_audit41', password: secret.password, sourceAddress: HERE })).toBe('ok');
      const passwordDm = () => h.dms(alice).filter((m) => /tmp_audit41/.test(messageText(m)) && /\*Password\*/.test(messageText(m)));
      expect(passwordDm()).toHaveLength(1);

      // Nothing is due yet: the sweep changes nothing.
      expect(await audit({ mode: 'sweep' }, context)).toEqual({ actions: {}, dmsDeleted: 0, dmDeletionsFailed: 0 });

      // The first sweep after the hour: the temporary entries, the user and the DM are due.
      clock.advance(HOUR + 5 * 60_000);
      const summary = (await audit({ mode: 'sweep' }, context)) as SweepSummary;
      await h.settle();
      expect(summary).toEqual({ actions: { 'entry-removed': 2, 'entry-kept': 1, 'user-dropped': 1 }, dmsDeleted: 1, dmDeletionsFailed: 0 });

      // Cloud: the proven entry is gone, the renamed one stays (policy: nothing unproven is removed).
      expect(prodAllowlist().has('100.24.0.7/32')).toBe(false);
      expect(prodAllowlist().has('100.24.0.8/32')).toBe(true);
      expect((await h.runtime.store.listManagedEntries('prod')).map((e) => e.cidr)).toEqual(['100.24.0.8/32']);
      // pg_hba.conf: the rule is gone, so the real server refuses the address; the user is dropped.
      expect(await tryConnect({ user: 'tmp_audit41', password: secret.password, sourceAddress: HERE })).toMatch(/no pg_hba\.conf entry/);
      expect(await (await h.runtime.clusters.get('local')).listUsers()).not.toContain('tmp_audit41');
      expect((await h.runtime.secretStore.list('crdb-chatops/local/tmp_audit41'))[0]?.deletedAt).toBeInstanceOf(Date);
      expect(await h.runtime.store.getManagedUser('local', 'tmp_audit41')).toBeUndefined();
      expect(passwordDm()).toHaveLength(0);
      expect((await h.runtime.store.getRequest(pendingId))?.status).toBe('pending');

      // A day later the pending request has expired; the unproven entry is still left, and not announced again.
      clock.advance(24 * HOUR);
      expect(((await audit({ mode: 'sweep' }, context)) as SweepSummary).actions).toEqual({ 'entry-kept': 1, 'request-expired': 1 });
      await h.settle();
      expect((await h.runtime.store.getRequest(pendingId))?.status).toBe('expired');

      // Written to the audit trail: the request's own and the cluster's.
      expect((await h.runtime.store.listEvents(allowProdId)).map((e) => e.type)).toEqual(expect.arrayContaining(['applied', 'swept']));
      expect((await h.runtime.store.listEvents(auditTrailId('prod'))).filter((e) => e.type === 'swept').map((e) => e.detail)).toEqual([
        expect.stringMatching(/^expired 100\.24\.0\.7\/32 removed from the allowlist \(request [0-9A-Z]{26}\)$/),
      ]);
      expect((await h.runtime.store.listEvents(auditTrailId('local'))).filter((e) => e.type === 'swept')).toHaveLength(2);

      // Reported to each cluster's audit channel, and logged as one record per action.
      const posted = h.slack.messages(AUDIT_CHANNEL).map(messageText).join('\n');
      expect(posted).toMatch(/Expiry sweep on `prod`[\s\S]*Removed expired `100\.24\.0\.7\/32` \(asked by <@U0ALICE>/);
      expect(posted.match(/Left expired `100\.24\.0\.8\/32`.*cannot prove it created the entry.*edited in the console/g)).toHaveLength(1);
      expect(posted).toMatch(/Expired pending request `[0-9A-Z]{26}`/);
      expect(posted).toMatch(/Expiry sweep on `local`[\s\S]*Removed expired `127\.0\.0\.41\/32`[\s\S]*Dropped expired SQL user `tmp_audit41`/);
      expect(records('audit.swept').map((r) => r.action).sort()).toEqual(['entry-kept', 'entry-kept', 'entry-removed', 'entry-removed', 'request-expired', 'user-dropped']);
    });

    it('removes an unproven expired entry too when `audit.removeUnprovenExpired` is on', async () => {
      const lenientClock = new Clock();
      const lenient = await startHarness({
        now: lenientClock.now,
        config: (doc) => {
          doc.audit = { removeUnprovenExpired: true };
        },
      });
      try {
        await lenient.command(alice, 'allow 100.24.0.9 --cluster prod --for 1h');
        await lenient.settle();
        const entries = lenient.cloud.state(PROD_CLUSTER_ID).allowlist;
        const entry = entries.get('100.24.0.9/32');
        if (entry === undefined) throw new Error('not applied');
        entries.set('100.24.0.9/32', { ...entry, name: 'edited in the console' });
        lenientClock.advance(2 * HOUR);
        expect(((await auditHandler(() => lenient.runtime)({ mode: 'sweep' }, context)) as SweepSummary).actions).toEqual({ 'entry-removed': 1 });
        expect(entries.has('100.24.0.9/32')).toBe(false);
      } finally {
        await lenient.stop();
      }
    });
  });

  describe('daily report', () => {
    let report: ReportSummary;

    beforeAll(async () => {
      // Drift on the Cloud cluster: an open entry and a private range added in the console, a user
      // made outside the bot, a secret whose user is gone.
      prodAllowlist().set('0.0.0.0/0', { cidr_ip: '0.0.0.0', cidr_mask: 0, sql: true, ui: false, name: 'vendor <!channel>' });
      prodAllowlist().set('10.0.0.0/8', { cidr_ip: '10.0.0.0', cidr_mask: 8, sql: true, ui: false });
      h.cloud.state(PROD_CLUSTER_ID).users.set('stray_audit', { name: 'stray_audit', password: 'not-a-real-password', admin: true });
      await h.runtime.secretStore.create(
        'crdb-chatops/prod/ghost_audit',
        { engine: 'cockroachdb', host: 'h', port: 26257, username: 'ghost_audit', password: 'not-a-real-password-ghost', dbname: 'defaultdb', cluster: 'prod' },
        { tags: { owner: alice, cluster: 'prod' } },
      );
      report = (await audit({ mode: 'report' }, context)) as ReportSummary;
    });

    it('posts a summary line, then each finding with Remove and Keep buttons, to the audit channel', () => {
      const prod = report.clusters.find((c) => c.cluster === 'prod');
      expect(prod).toMatchObject({ postedTo: AUDIT_CHANNEL, kept: 0 });
      const { top, all } = latestReport('prod');
      const headline = blocksOf(top)[0]?.text?.text ?? '';
      expect(headline).toMatch(new RegExp(`Audit of \`prod\`\\*: ${prod?.findings} findings · ${prod?.bySeverity.high} high, ${prod?.bySeverity.medium} medium, ${prod?.bySeverity.low} low\\.`));
      const shown = all.flatMap(shownFindings);
      expect(shown).toHaveLength(prod?.shown ?? -1);
      const byText = (pattern: RegExp) => shown.find((f) => pattern.test(f.text));
      expect(byText(/Open to the internet\* · `0\.0\.0\.0\/0` admits the whole internet/)?.buttons).toEqual(['crdb_audit_remove', 'crdb_audit_keep']);
      // What someone typed in the console is escaped: no channel-wide ping from an entry name.
      expect(byText(/Not created by the bot\* · `0\.0\.0\.0\/0`/)?.text).toContain('“vendor &lt;!channel&gt;”');
      expect(byText(/Private range\* · `10\.0\.0\.0\/8`/)?.buttons).toEqual(['crdb_audit_remove', 'crdb_audit_keep']);
      expect(byText(/Expired temporary entry\* · `100\.24\.0\.8\/32`.*cannot prove/)?.text).toMatch(/<@U0ALICE>$/);
      expect(byText(/User without a managed secret\* · SQL user `stray_audit`/)).toBeDefined();
      expect(byText(/Secret without a user\* · Secret `crdb-chatops\/prod\/ghost_audit`/)?.buttons).toContain('crdb_audit_remove');
      expect(byText(/Overlapping entries\* · `10\.0\.0\.0\/8` lies inside `0\.0\.0\.0\/0`/)).toBeDefined();
      // Most severe first.
      expect(shown[0]?.text).toMatch(/:red_circle:/);
    });

    it('logs the same findings as one structured JSON record each', () => {
      const prod = report.clusters.find((c) => c.cluster === 'prod');
      const logged = records('audit.finding', 'prod');
      expect(logged).toHaveLength(prod?.findings ?? -1);
      const shown = latestReport('prod').all.flatMap(shownFindings).map((f) => f.fingerprint).sort();
      expect(logged.map((r) => r.fingerprint).sort()).toEqual(shown);
      expect(logged.find((r) => r.rule === 'open')).toMatchObject({
        level: 'info',
        cluster: 'prod',
        severity: 'high',
        subject: '0.0.0.0/0',
        fix: 'remove-entry',
        trigger: 'schedule',
        facts: { cidr: '0.0.0.0/0', sql: true, ui: false, name: 'vendor <!channel>', addresses: 4_294_967_296 },
        // Log lines are plain text: no Slack marks.
        message: '0.0.0.0/0 admits the whole internet (SQL).',
      });
      expect(logged.find((r) => r.rule === 'secret-without-user')).toMatchObject({ subject: 'crdb-chatops/prod/ghost_audit', facts: { secretName: 'crdb-chatops/prod/ghost_audit', user: 'ghost_audit', owner: alice } });
      expect(records('audit.summary', 'prod').at(-1)).toMatchObject({ findings: prod?.findings, kept: 0, entries: prodAllowlist().size, cap: 50 });
    });

    it('Keep: refused to a non-approver; for an approver it records an acknowledgement, and the finding stays quiet until it changes', async () => {
      const target = findingIn('prod', /Private range\* · `10\.0\.0\.0\/8`/);
      await click(mallory, target, 'keep');
      expect(h.slack.ephemerals({ user: mallory }).map((e) => e.text)).toContain('Only approvers of `prod` can act on its audit findings.');
      expect(await h.runtime.store.listAuditAcks('prod')).toEqual([]);

      await click(bob, target, 'keep');
      const updated = h.slack.message(AUDIT_CHANNEL, target.message.ts);
      if (updated === undefined) throw new Error('report message gone');
      const after = shownFindings(updated).find((f) => f.fingerprint === target.finding.fingerprint);
      expect(after?.buttons).toEqual([]);
      expect(after?.resolved).toMatch(/Kept by <@U0BOB>: not reported again until it changes/);
      expect(await h.runtime.store.listAuditAcks('prod')).toEqual([
        expect.objectContaining({ cluster: 'prod', fingerprint: target.finding.fingerprint, rule: 'private', subject: '10.0.0.0/8', by: bob }),
      ]);
      expect((await h.runtime.store.listEvents(auditTrailId('prod'))).filter((e) => e.type === 'kept' || e.type === 'refused').map((e) => [e.type, e.actor])).toEqual([
        ['refused', mallory],
        ['kept', bob],
      ]);

      const again = (await audit({ mode: 'report' }, context)) as ReportSummary;
      expect(again.clusters.find((c) => c.cluster === 'prod')?.kept).toBe(1);
      expect(latestReport('prod').all.flatMap(shownFindings).some((f) => f.fingerprint === target.finding.fingerprint)).toBe(false);
      expect(blocksOf(latestReport('prod').top)[0]?.text?.text).toMatch(/1 kept earlier, not shown/);
      expect(records('audit.finding', 'prod').filter((r) => r.fingerprint === target.finding.fingerprint).at(-1)).toMatchObject({ acknowledged: { by: bob } });

      // Someone grants the DB Console on it: a new state, so a new finding, and the old acknowledgement goes.
      prodAllowlist().set('10.0.0.0/8', { cidr_ip: '10.0.0.0', cidr_mask: 8, sql: true, ui: true });
      await audit({ mode: 'report' }, context);
      expect(findingIn('prod', /Private range\* · `10\.0\.0\.0\/8`/).finding.fingerprint).not.toBe(target.finding.fingerprint);
      expect(await h.runtime.store.listAuditAcks('prod')).toEqual([]);
    });

    it('Remove: refused to a non-approver; for an approver the worker applies the fix and reports it in the thread', async () => {
      const open = findingIn('prod', /Open to the internet\* · `0\.0\.0\.0\/0`/);
      const drift = findingIn('prod', /Not created by the bot\* · `0\.0\.0\.0\/0`/);
      await click(mallory, open, 'remove');
      // A forged click: the value names no finding.
      await h.driver.clickButton({ user: bob, message: open.message, actionId: 'crdb_audit_remove', blockId: `finding-actions-${open.finding.fingerprint}`, value: '{"c":"prod"}' });
      await h.settle();
      expect(prodAllowlist().has('0.0.0.0/0')).toBe(true);
      expect(h.slack.ephemerals({ user: bob }).map((e) => e.text)).toContain('That button does not name a finding.');

      await click(bob, open, 'remove');
      const pending = shownFindings(h.slack.message(AUDIT_CHANNEL, open.message.ts) ?? open.message).find((f) => f.fingerprint === open.finding.fingerprint);
      expect(pending?.resolved).toMatch(/Removing, as <@U0BOB> asked/);
      await h.settle();
      expect(prodAllowlist().has('0.0.0.0/0')).toBe(false);
      const thread = h.slack.messages(AUDIT_CHANNEL).filter((m) => m.thread_ts === latestReport('prod').top.ts).map(messageText);
      expect(thread.some((t) => /<@U0BOB> removed “Open to the internet” `0\.0\.0\.0\/0`: `0\.0\.0\.0\/0` was removed from the allowlist of `prod`\./.test(t))).toBe(true);
      expect((await h.runtime.store.listEvents(auditTrailId('prod'))).filter((e) => e.type === 'removed').map((e) => [e.actor, e.detail])).toEqual([
        [bob, 'open 0.0.0.0/0: 0.0.0.0/0 was removed from the allowlist of prod.'],
      ]);
      expect(records('audit.removed', 'prod')).toHaveLength(1);

      // The same entry's drift finding is stale now: a Remove on it changes nothing and says so.
      await click(carol, drift, 'remove');
      await h.settle();
      expect(h.slack.messages(AUDIT_CHANNEL).map(messageText).some((t) => /Nothing was changed: this finding was resolved or has changed since the report/.test(t))).toBe(true);

      // A secret without a user: Remove schedules its deletion.
      await click(bob, findingIn('prod', /Secret without a user\* · Secret `crdb-chatops\/prod\/ghost_audit`/), 'remove');
      await h.settle();
      expect((await h.runtime.secretStore.list('crdb-chatops/prod/ghost_audit'))[0]?.deletedAt).toBeInstanceOf(Date);

      // A user made outside the bot: Remove drops it.
      await click(bob, findingIn('prod', /User without a managed secret\* · SQL user `stray_audit`/), 'remove');
      await h.settle();
      expect(h.cloud.state(PROD_CLUSTER_ID).users.has('stray_audit')).toBe(false);
    });
  });

  describe('sql backend on the real PostgreSQL', () => {
    beforeAll(async () => {
      const local = await h.runtime.clusters.get('local');
      // In the bot's block, but not by the bot (no name, no record); and an operator's own line.
      await local.upsertAllowlistEntry({ cidr: '127.0.0.43/32', sql: true, ui: false });
      await hba.modify((text) => `${text}${OPERATOR_LINE}\n`);
      await pool.query('CREATE USER stray_audit43 LOGIN');
      await pool.query('CREATE ROLE audit_admin44 SUPERUSER NOLOGIN');
      await audit({ mode: 'report' }, context);
    });

    it("reports drift in pg_hba.conf, offering Remove only for lines in the bot's block", () => {
      expect(findingIn('local', /Not created by the bot\* · `127\.0\.0\.43\/32` \(SQL\) was not created by the bot: added outside the bot \(no name\)/).finding.buttons).toEqual([
        'crdb_audit_remove',
        'crdb_audit_keep',
      ]);
      expect(findingIn('local', /Not created by the bot\* · `127\.0\.0\.42\/32`.*`pg_hba\.conf` line the bot does not manage/).finding.buttons).toEqual(['crdb_audit_keep']);
      // Self-hosted clusters see private and loopback addresses: no private/reserved findings there.
      expect(latestReport('local').all.flatMap(shownFindings).some((f) => /Reserved range|Private range/.test(f.text))).toBe(false);
    });

    it('reports users without a managed secret and unexpected superusers', () => {
      expect(findingIn('local', /User without a managed secret\* · SQL user `stray_audit43`/).finding.buttons).toContain('crdb_audit_remove');
      expect(findingIn('local', /Unexpected admin\* · `audit_admin44` is privileged \(superuser\) though it cannot log in/).finding.buttons).toEqual(['crdb_audit_keep']);
    });

    it('Remove drops the entry from pg_hba.conf and the user from the server', async () => {
      await click(bob, findingIn('local', /Not created by the bot\* · `127\.0\.0\.43\/32`/), 'remove');
      await click(bob, findingIn('local', /User without a managed secret\* · SQL user `stray_audit43`/), 'remove');
      await h.settle();
      const local = await h.runtime.clusters.get('local');
      expect((await local.listAllowlist()).entries.map((e) => e.cidr)).not.toContain('127.0.0.43/32');
      expect((await local.listAllowlist()).entries.map((e) => e.cidr)).toContain('127.0.0.42/32');
      expect(await local.listUsers()).not.toContain('stray_audit43');
    });
  });

  describe('/crdb audit', () => {
    it('runs the report now for an admin and answers with a summary; refuses everyone else', async () => {
      expect(h.ackText(await h.command(alice, 'audit --cluster prod'))).toMatch(/Only crdb-chatops admins can run the audit/);
      const result = await h.command(admin, 'audit --cluster prod');
      expect(h.ackText(result)).toMatch(/Running the audit of `prod`; the report follows here/);
      await h.settle();
      const summary = records('audit.summary', 'prod').at(-1);
      expect(h.responses(result).at(-1)).toMatch(new RegExp(`Audit finished\\.\\n• \`prod\`: ${String(summary?.findings)} findings \\(\\d+ high.*\\); report in <#C0AUDIT>`));
      expect(blocksOf(latestReport('prod').top).map((b) => JSON.stringify(b)).join('\n')).toMatch(/run by <@U0ADMIN>/);
      expect(records('audit.finding', 'prod').at(-1)).toMatchObject({ trigger: 'command' });

      const everything = await h.command(admin, 'audit');
      await h.settle();
      expect(h.responses(everything).at(-1)).toMatch(/• `local`: .*\n• `prod`: /);
    });

  });

  describe('failures', () => {
    it('refuses an event that is neither a reconcile, a sweep nor a report', async () => {
      await expect(audit({ mode: 'purge' }, context)).rejects.toThrow('audit: the event must be {"mode":"reconcile"}, {"mode":"sweep"} or {"mode":"report"}, not {"mode":"purge"}.');
    });

    it('reports every cluster it can, then fails the invocation (so the alarm fires) naming the ones it could not', async () => {
      const before = latestReport('local').top.ts;
      h.cloud.failNext(1, { status: 403, match: { operationId: 'CockroachCloud_ListAllowlistEntries' } });
      await expect(audit({ mode: 'report' }, context)).rejects.toThrow('audit report: could not audit prod; see the audit.cluster-failed log records.');
      expect(latestReport('local').top.ts).not.toBe(before);
      expect(records('audit.cluster-failed', 'prod')).toHaveLength(1);
      // The audit channel hears it too, with the reference of the log line that has the details.
      const ref = String(records('audit.cluster-failed', 'prod')[0]?.ref);
      expect(ref).toMatch(/^[0-9a-f]{8}$/);
      const told = h.slack.messages(AUDIT_CHANNEL).map(messageText).filter((t) => t.includes('could not run'));
      expect(told).toHaveLength(1);
      expect(told[0]).toContain('The audit of `prod` could not run:');
      expect(told[0]).toContain(`Reference \`${ref}\``);
    });

    it('never writes a password or the ghost secret to a log line', () => {
      expect(logs.lines.length).toBeGreaterThan(20);
      expect(passwords).toHaveLength(2);
      expect(logs.lines.filter((line) => [...passwords, pg.adminPassword].some((p) => line.includes(p)))).toEqual([]);
    });
  });
});
