/**
 * Keeping access longer (`extend`, `user extend`), the expiry reminder DM with its Extend and Let
 * it expire, and a requester's Cancel of their own pending request: through the real Slack
 * handler and worker, the real PostgreSQL (a user's VALID UNTIL), dynalite and the Slack stand-in.
 * A second member (mallory) tries each one on alice's access.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { type Harness, messageText, requestIdIn, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { Clock } from '../support/observe';

const { alice, bob, mallory } = USERS;
const HOUR = 3_600_000;
const clock = new Clock();
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ now: clock.now, privateHba: true });
});

afterAll(async () => {
  await h.stop();
});

/** A fresh single host for each test: the suite shares one allowlist. */
function host(): string {
  return `198.51.100.${10 + Math.floor(Math.random() * 200)}`;
}

async function entryExpiry(cidr: string): Promise<number | undefined> {
  const entry = await h.runtime.store.getManagedEntry('local', cidr);
  return entry?.expiresAt === undefined ? undefined : Date.parse(entry.expiresAt);
}

async function validUntil(user: string): Promise<number | undefined> {
  const pg = testPostgres();
  const client = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database: pg.database, ssl: { ca: pg.caPem, servername: 'localhost' } });
  await client.connect();
  try {
    const { rows } = await client.query<{ until: Date | null }>('SELECT rolvaliduntil AS until FROM pg_roles WHERE rolname = $1', [user]);
    return rows[0]?.until?.getTime() ?? undefined;
  } finally {
    await client.end();
  }
}

function lastDm(user: string): string {
  const dms = h.dms(user);
  return dms.length === 0 ? '' : messageText(dms[dms.length - 1] ?? {});
}

describe('extend', () => {
  it('keeps a temporary entry for --for from now, and only for the person who holds it', async () => {
    const ip = host();
    const cidr = `${ip}/32`;
    expect(await h.answer(await h.command(alice, `allow ${ip} --for 1h --cluster local`))).toMatch(/You can connect now/);
    const before = await entryExpiry(cidr);
    expect(before).toBeGreaterThan(Date.now() + 0.9 * HOUR);

    // Mallory, another member, tries to keep alice's entry: refused at admission, nothing changed.
    const stolen = await h.answer(await h.command(mallory, `extend ${cidr} --for 4h --cluster local`));
    expect(stolen).toContain(`Only <@${alice}>, who holds \`${cidr}\`, may extend it.`);
    expect(await entryExpiry(cidr)).toBe(before);

    const kept = await h.answer(await h.command(alice, `extend ${cidr} --for 4h --cluster local`));
    expect(kept).toMatch(new RegExp(`\`${cidr.replace(/\./g, '\\.')}\` stays on the allowlist of \`local\` until`));
    const after = await entryExpiry(cidr);
    expect(after).toBeGreaterThan(clock.now().getTime() + 3.9 * HOUR);
    expect(after).toBeLessThanOrEqual(clock.now().getTime() + 4 * HOUR);
    // The entry itself (and the request that made it) is unchanged: only its expiry moved.
    const entry = await h.runtime.store.getManagedEntry('local', cidr);
    expect(entry?.requester).toBe(alice);
    expect((await h.runtime.store.getRequest(entry?.requestId ?? ''))?.params.kind).toBe('allow');
  });

  it('refuses a permanent entry, an unknown one and a --for past maxFor, with a corrected example', async () => {
    const ip = host();
    await h.answer(await h.command(alice, `allow ${ip} --cluster local`));
    expect(await h.answer(await h.command(alice, `extend ${ip}/32 --for 2h --cluster local`))).toContain(`\`${ip}/32\` on \`local\` does not expire; nothing to extend.`);
    expect(await h.answer(await h.command(alice, 'extend 192.0.2.201/32 --cluster local'))).toContain('`192.0.2.201/32` is not something the bot manages on `local`; nothing to extend.');
    const tooLong = await h.answer(await h.command(alice, `extend ${ip}/32 --for 60d --cluster local`));
    expect(tooLong).toContain('--for is at most 30d on local.');
    expect(tooLong).toContain(`Try: \`/crdb extend ${ip}/32 --for 30d --cluster local\``);
  });

  it('keeps a temporary SQL user longer: its VALID UNTIL on the cluster and its record', async () => {
    const user = `tmp_${randomBytes(3).toString('hex')}`;
    expect(await h.answer(await h.command(alice, `user create ${user} --for 1h --cluster local`))).toMatch(/is ready on `local`/);
    const created = await validUntil(user);
    expect(created).toBeGreaterThan(Date.now() + 0.9 * HOUR);
    expect(created).toBeLessThan(Date.now() + 1.1 * HOUR);

    expect(await h.answer(await h.command(mallory, `user extend ${user} --for 5h --cluster local`))).toContain(`Only <@${alice}>, who holds SQL user \`${user}\`, may extend it.`);
    expect(await validUntil(user)).toBe(created);

    expect(await h.answer(await h.command(alice, `user extend ${user} --for 5h --cluster local`))).toContain(`SQL user \`${user}\` on \`local\` stays until`);
    const extended = await validUntil(user);
    expect(extended).toBeGreaterThan(Date.now() + 4.9 * HOUR);
    const record = await h.runtime.store.getManagedUser('local', user);
    expect(Math.abs(Date.parse(record?.expiresAt ?? '') - (extended ?? 0))).toBeLessThan(1_000);
  });

  it('asks the approvers where allowing for that long would (a broad entry), and applies once approved', async () => {
    // A /28 needs one approval on local: keeping it longer does too.
    const cidr = `203.0.113.${Math.floor(Math.random() * 8) * 16}/28`;
    const made = await h.command(alice, `allow ${cidr} --for 1h --cluster local`);
    const id = requestIdIn(h.ackText(made));
    await h.settle();
    await h.clickCard(bob, id, 'approve');
    await h.settle();
    const before = await entryExpiry(cidr);
    const ask = await h.command(alice, `extend ${cidr} --for 6h --cluster local`);
    expect(h.ackText(ask)).toMatch(/This needs 1 approval/);
    const extendId = requestIdIn(h.ackText(ask));
    await h.settle();
    expect(messageText(h.card(extendId))).toContain('extend access on local');
    expect(await entryExpiry(cidr)).toBe(before);
    await h.clickCard(bob, extendId, 'approve');
    await h.settle();
    expect(await entryExpiry(cidr)).toBeGreaterThan(clock.now().getTime() + 5.9 * HOUR);
  });
});

describe('Cancel of a pending request', () => {
  it('ends it for its requester only: the card says cancelled, and an approver can no longer approve it', async () => {
    const cidr = `192.0.2.${Math.floor(Math.random() * 16) * 16}/28`;
    const made = await h.command(alice, `allow ${cidr} --for 1h --cluster local`);
    const id = requestIdIn(h.ackText(made));
    await h.settle();
    const decisions = h.runtime.decisions;

    const forged = await decisions.withdraw(id, mallory);
    expect(forged).toMatchObject({ ok: false, message: ['Only its requester can cancel a request; nothing was changed.'] });
    expect((await h.runtime.store.getRequest(id))?.status).toBe('pending');

    const cancelled = await decisions.withdraw(id, alice);
    expect(cancelled.ok).toBe(true);
    await h.settle();
    const request = await h.runtime.store.getRequest(id);
    expect(request).toMatchObject({ status: 'denied', decidedBy: alice, step: 'told' });
    expect(messageText(h.card(id))).toContain('Cancelled by its requester');
    expect(messageText(h.card(id))).not.toContain('Approve');
    expect(lastDm(alice)).toContain('You cancelled your request');
    await h.clickCard(bob, id, 'approve').catch(() => undefined);
    await h.settle();
    expect((await h.runtime.store.getRequest(id))?.status).toBe('denied');
    expect(await h.runtime.store.getManagedEntry('local', cidr)).toBeUndefined();
    // A second Cancel does nothing more.
    expect((await decisions.withdraw(id, alice)).ok).toBe(false);
  });
});

describe('expiry reminders', () => {
  it('DMs the holder once per expiry, and Extend keeps it; a second member clicking it changes nothing of alice\'s', async () => {
    const ip = host();
    const cidr = `${ip}/32`;
    await h.answer(await h.command(alice, `allow ${ip} --for 20m --cluster local`));
    const maintenance = await h.runtime.maintenance();
    const reminderOf = () => h.dms(alice).filter((m) => messageText(m).includes(cidr) && messageText(m).includes('expires'));

    // 20 minutes out: not yet (15 minutes is the default).
    await maintenance.remindExpiring();
    expect(reminderOf()).toHaveLength(0);

    clock.advance(6 * 60_000);
    expect(await maintenance.remindExpiring()).toBeGreaterThanOrEqual(1);
    expect(await maintenance.remindExpiring()).toBe(0);
    const [reminder] = reminderOf();
    if (reminder === undefined) throw new Error('no reminder');
    expect(messageText(reminder)).toContain('Extend by 8h');
    expect(messageText(reminder)).toContain('Let it expire');

    await h.driver.clickButton({ user: alice, message: { channel: reminder.channel, ts: reminder.ts }, actionId: 'reminder-extend' });
    await h.settle();
    expect(await entryExpiry(cidr)).toBeGreaterThan(clock.now().getTime() + 7.9 * HOUR);
    // The reminder's buttons gave way to the answer.
    const answered = h.slack.message(reminder.channel, reminder.ts);
    expect(messageText(answered ?? {})).not.toContain('Let it expire');
    expect(lastDm(alice)).toContain('stays on the allowlist of `local` until');

    // A new expiry is a new reminder, when it comes near.
    clock.advance(8 * HOUR - 10 * 60_000);
    expect(await maintenance.remindExpiring()).toBeGreaterThanOrEqual(1);
    const again = reminderOf().filter((m) => messageText(m).includes('Let it expire'));
    const second = again[again.length - 1];
    if (second === undefined) throw new Error('no second reminder');

    // Mallory replays alice's Extend as herself (a forged click: the value names alice's entry):
    // it is her request, refused at admission; alice's expiry is unchanged.
    const before = await entryExpiry(cidr);
    await h.driver.clickButton({ user: mallory, message: { channel: second.channel, ts: second.ts }, actionId: 'reminder-extend' });
    await h.settle();
    expect(lastDm(mallory)).toContain(`Only <@${alice}>, who holds \`${cidr}\`, may extend it.`);
    expect(await entryExpiry(cidr)).toBe(before);
  });

  it('Let it expire answers and changes nothing; a forged value is refused in one line', async () => {
    const user = `rem_${randomBytes(3).toString('hex')}`;
    await h.answer(await h.command(alice, `user create ${user} --for 10m --cluster local`));
    await (await h.runtime.maintenance()).remindExpiring();
    const reminder = h.dms(alice).find((m) => messageText(m).includes(user) && messageText(m).includes('Let it expire'));
    if (reminder === undefined) throw new Error('no reminder');
    const before = (await h.runtime.store.getManagedUser('local', user))?.expiresAt;

    await h.driver.clickButton({ user: alice, message: { channel: reminder.channel, ts: reminder.ts }, actionId: 'reminder-extend', value: '{"c":"local","u":"root"}' });
    await h.settle();
    expect((await h.runtime.store.listByRequester(alice, 5)).some((r) => r.params.kind === 'extend' && r.params.extend.subject.type === 'user' && r.params.extend.subject.user === 'root')).toBe(false);
    for (const forged of ['{"c":"nope","u":"x"}', '{"c":"local","e":"10.0.0.1/8"}', 'not json', '{"c":"local","u":"a","extra":"1"}']) {
      const result = await h.driver.clickButton({ user: alice, message: { channel: reminder.channel, ts: reminder.ts }, actionId: 'reminder-let-expire', value: forged });
      expect(result.acknowledged).toBe(true);
    }
    expect((await h.runtime.store.getManagedUser('local', user))?.expiresAt).toBe(before);

    await h.driver.clickButton({ user: alice, message: { channel: reminder.channel, ts: reminder.ts }, actionId: 'reminder-let-expire' });
    await h.settle();
    const answered = messageText(h.slack.message(reminder.channel, reminder.ts) ?? {});
    expect(answered).toContain(`OK: your SQL user \`${user}\` on \`local\` expires`);
    expect((await h.runtime.store.getManagedUser('local', user))?.expiresAt).toBe(before);
  });
});
