/**
 * The Home tab ("My access") end to end: Slack's app_home_opened event and Home tab clicks, signed
 * and delivered like Slack's, through the real handler and worker to `views.publish` on the Slack
 * stand-in. Each button runs the command it stands for as the clicker; a second member (mallory)
 * tries alice's buttons with forged values.
 */
import { randomBytes } from 'node:crypto';
import { type Harness, messageText, requestIdIn, startHarness, USERS } from '../support/app-harness';

const { alice, bob, mallory } = USERS;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ privateHba: true });
});

afterAll(async () => {
  await h.stop();
});

async function openHome(user: string): Promise<string> {
  const delivered = await h.driver.openHome({ user });
  expect(delivered.acknowledged).toBe(true);
  await h.settle();
  return homeText(user);
}

function homeText(user: string): string {
  const view = h.slack.homeView(user);
  return view === undefined ? '' : messageText(view);
}

async function click(user: string, actionId: string, options: { blockId?: string; value?: string } = {}): Promise<string> {
  const delivered = await h.driver.clickInHome({ user, actionId, ...options });
  expect(delivered.acknowledged).toBe(true);
  await h.settle();
  return homeText(user);
}

function lastDm(user: string): string {
  const dms = h.dms(user);
  return dms.length === 0 ? '' : messageText(dms[dms.length - 1] ?? {});
}

describe('My access', () => {
  const ip = `198.51.100.${Math.floor(Math.random() * 200) + 20}`;
  const cidr = `${ip}/32`;
  const user = `home_${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    await h.answer(await h.command(alice, `allow ${ip} --for 2h --cluster local --name "home office"`));
    await h.answer(await h.command(alice, `user create ${user} --for 1d --cluster local`));
  });

  it('shows the person their own entries and users, with the buttons that fit, and nobody else\'s', async () => {
    const home = await openHome(alice);
    expect(home).toContain('My access');
    expect(home).toContain(cidr);
    expect(home).toContain('“home office”');
    expect(home).toContain(`SQL user \`${user}\``);
    for (const label of ['Extend 8h', 'Revoke', 'Re-send connection details', 'Rotate password']) expect(home).toContain(label);
    const view = h.slack.homeView(alice);
    expect(view?.type).toBe('home');

    const theirs = await openHome(mallory);
    expect(theirs).toContain('You hold no allowlist entry or SQL user');
    expect(theirs).not.toContain(cidr);
    expect(theirs).not.toContain(user);
  });

  it('runs a forged button as its clicker: another member cannot revoke or extend alice\'s entry', async () => {
    // Mallory holds an entry of her own, so her Home tab has Revoke and Extend; she forges their
    // values to name alice's entry. The click is her request, and admission refuses it.
    const hers = `198.51.100.${Math.floor(Math.random() * 10) + 5}`;
    await h.answer(await h.command(mallory, `allow ${hers} --for 1h --cluster local`));
    await openHome(mallory);
    const before = await h.runtime.store.getManagedEntry('local', cidr);
    const forged = JSON.stringify({ c: 'local', e: cidr });

    await click(mallory, 'home-revoke', { value: forged });
    expect(lastDm(mallory)).toContain(`Only <@${alice}>, who asked for \`${cidr}\`, or an admin may revoke it.`);
    await click(mallory, 'home-extend', { value: forged });
    expect(lastDm(mallory)).toContain(`Only <@${alice}>, who holds \`${cidr}\`, may extend it.`);
    expect(await h.runtime.store.getManagedEntry('local', cidr)).toEqual(before);
    expect(await h.runtime.store.getManagedEntry('local', `${hers}/32`)).toMatchObject({ requester: mallory });
  });

  it('refuses a Home button clicked anywhere but the Home tab', async () => {
    const count = (await h.runtime.store.listByRequester(alice, 100)).length;
    // A message carrying a Home action id (here: a DM the bot never sent, posted through the API).
    const posted = await (await h.runtime.slack()).chat.postMessage({
      channel: alice,
      text: 'x',
      blocks: [{ type: 'actions', elements: [{ type: 'button', action_id: 'home-revoke', text: { type: 'plain_text', text: 'Revoke' }, value: JSON.stringify({ c: 'local', e: cidr }) }] }],
    });
    await h.driver.clickButton({ user: alice, message: { channel: posted.channel ?? '', ts: posted.ts ?? '' }, actionId: 'home-revoke' });
    await h.settle();
    expect(await h.runtime.store.getManagedEntry('local', cidr)).toMatchObject({ requester: alice });
    expect((await h.runtime.store.listByRequester(alice, 100)).length).toBe(count);
  });
});

describe('buttons', () => {
  it('Revoke removes the holder\'s entry; the Home tab follows', async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 200) + 20}`;
    await h.answer(await h.command(alice, `allow ${ip} --for 1h --cluster local`));
    const home = await openHome(alice);
    expect(home).toContain(`${ip}/32`);
    const after = await click(alice, 'home-revoke', { blockId: `entry-local-${ip}/32` });
    expect(await h.runtime.store.getManagedEntry('local', `${ip}/32`)).toBeUndefined();
    // Its row is gone; what the tab says on top is how the request ended.
    expect(after).not.toContain(`:globe_with_meridians: \`${ip}/32\``);
    expect(after).toMatch(/Working on it: revoke|Applied: your request to revoke/);
    expect(lastDm(alice)).toContain(`\`${ip}/32\` was removed from the allowlist of \`local\``);
  });

  it('Re-send DMs the connection details; Rotate makes a new password', async () => {
    const user = `rs_${randomBytes(3).toString('hex')}`;
    await h.answer(await h.command(alice, `user create ${user} --cluster local`));
    await openHome(alice);
    const dmsBefore = h.dms(alice).length;
    const notice = await click(alice, 'home-resend', { blockId: `user-local-${user}` });
    expect(notice).toContain(`Sending the connection details of \`${user}\``);
    expect(h.dms(alice).length).toBeGreaterThan(dmsBefore);
    expect(messageText(h.dms(alice).find((m) => messageText(m).includes(user) && messageText(m).includes('postgresql://')) ?? {})).toContain(user);

    const secret = await h.runtime.secretStore.get(`crdb-chatops/local/${user}`);
    await click(alice, 'home-rotate', { blockId: `user-local-${user}` });
    const rotated = await h.runtime.secretStore.get(`crdb-chatops/local/${user}`);
    expect(rotated?.password).toBeDefined();
    expect(rotated?.password).not.toBe(secret?.password);
  });

  it('Cancel request withdraws the holder\'s pending request; a forged Cancel of someone else\'s is refused', async () => {
    const cidr = `192.0.2.${Math.floor(Math.random() * 16) * 16}/28`;
    const id = requestIdIn(h.ackText(await h.command(alice, `allow ${cidr} --for 1h --cluster local`)));
    await h.settle();
    const home = await openHome(alice);
    expect(home).toContain('waiting for approval (0 of 1)');
    expect(home).toContain('Cancel request');
    const bobs = await openHome(bob);
    expect(bobs).toContain('Waiting for your approval');

    // Mallory, with a pending request of her own (so her Home tab has Cancel), forges alice's id.
    requestIdIn(h.ackText(await h.command(mallory, `allow 203.0.113.${Math.floor(Math.random() * 32) * 8}/29 --for 1h --cluster local`)));
    await h.settle();
    await openHome(mallory);
    const refused = await click(mallory, 'home-cancel', { value: JSON.stringify({ r: id }) });
    expect(refused).toContain('Only its requester can cancel a request; nothing was changed.');
    expect((await h.runtime.store.getRequest(id))?.status).toBe('pending');

    const after = await click(alice, 'home-cancel', { value: JSON.stringify({ r: id }) });
    // The click's answer, or (published just after it) the request's own end: both say it.
    expect(after).toMatch(/Cancelled request `[0-9A-Z]+`|Cancelled by its requester: your request to allow/);
    expect(after).not.toContain('Cancel request');
    expect((await h.runtime.store.getRequest(id))?.status).toBe('denied');
    expect(messageText(h.card(id))).toContain('Cancelled by its requester');
  });

  it('a broken value, an unknown cluster or a non-canonical network is refused with one line, and makes no request', async () => {
    await openHome(alice);
    const count = (await h.runtime.store.listByRequester(alice, 100)).length;
    for (const value of ['{"c":"local","e":"10.0.0.1/8"}', '{"c":"elsewhere","u":"x"}', 'nope', '{"c":"local","e":"10.0.0.0/8","u":"x"}']) {
      const text = await click(alice, 'home-extend', { value }).catch(() => homeText(alice));
      expect(text).toContain('That button is not one the bot made; nothing was changed.');
    }
    expect((await h.runtime.store.listByRequester(alice, 100)).length).toBe(count);
  });
});
