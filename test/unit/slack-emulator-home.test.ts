/**
 * The Slack emulator's App Home tab: `views.publish` as the real `@slack/web-api` client calls it
 * (one view per user, its hash, Slack's refusals, injected faults), the `app_home_opened` event and
 * Home tab clicks as an app receives them (a target here checks Slack's v0 signature with Bolt's
 * own verifier), and the console's `home` command on top of both.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { verifySlackRequest } from '@slack/bolt';
import { WebAPIPlatformError, WebClient } from '@slack/web-api';
import { SlackConsole } from '../../local/console/console';
import { SlackDriver, SlackWebApiServer, type SlackBlock, type SlackEmulatorEvents, type SlackView } from '../../stand-ins/slack';
import { silentLogger } from '../../stand-ins/slack/proof-app';

const TOKEN = 'xoxb-test-token';
const SECRET = 'test-signing-secret';
const ALICE = 'U0ALICE';
const BOB = 'U0BOB';

const server = new SlackWebApiServer({ users: [{ id: ALICE, name: 'alice' }, { id: BOB, name: 'bob' }] });
let client: WebClient;

/** A request the target accepted: its signature verified. */
interface Delivered {
  readonly contentType: string | undefined;
  readonly body: string;
}

/** What the test's app does with a verified request; the target answers 200 once it returns. */
type AppBehaviour = (delivered: Delivered) => Promise<void> | void;

let delivered: Delivered[] = [];
let behaviour: AppBehaviour = () => undefined;
let target: Server;
let targetUrl: string;

/** The app's side: refuses (401) what Bolt's verifier refuses, records the rest. */
function startTarget(): Promise<void> {
  target = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        verifySlackRequest({
          signingSecret: SECRET,
          body,
          headers: { 'x-slack-signature': String(req.headers['x-slack-signature']), 'x-slack-request-timestamp': Number(req.headers['x-slack-request-timestamp']) },
          logger: silentLogger,
        });
      } catch {
        res.writeHead(401).end();
        return;
      }
      const request: Delivered = { contentType: req.headers['content-type'], body };
      delivered.push(request);
      void Promise.resolve()
        .then(() => behaviour(request))
        .then(
        () => res.writeHead(200).end(),
        () => res.writeHead(500).end(),
      );
    });
  });
  return new Promise((resolve) => {
    target.listen(0, '127.0.0.1', () => {
      targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/slack/events`;
      resolve();
    });
  });
}

function driver(signingSecret = SECRET): SlackDriver {
  return new SlackDriver({ server, signingSecret, target: { kind: 'http', url: targetUrl } });
}

async function platformError(call: Promise<unknown>): Promise<WebAPIPlatformError> {
  const error: unknown = await call.catch((e: unknown) => e);
  if (!(error instanceof WebAPIPlatformError)) throw new Error(`expected a WebAPIPlatformError, got ${String(error)}`);
  return error;
}

function section(text: string, blockId?: string): SlackBlock {
  return { type: 'section', ...(blockId !== undefined && { block_id: blockId }), text: { type: 'mrkdwn', text } };
}

function button(actionId: string, text: string, value: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'button', action_id: actionId, text: { type: 'plain_text', text }, value, ...extra };
}

const REVOKE_CONFIRM = {
  title: { type: 'plain_text', text: 'Revoke this entry?' },
  text: { type: 'mrkdwn', text: 'Nothing connects from it any more.' },
  confirm: { type: 'plain_text', text: 'Revoke' },
  deny: { type: 'plain_text', text: 'Cancel' },
};

/** A Home tab like the bot's: two entries, each with Extend and Revoke (Revoke asks first). */
function homeTab(notice?: string): { type: 'home'; blocks: SlackBlock[] } {
  return {
    type: 'home',
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: 'My access' } },
      ...(notice === undefined ? [] : [section(notice)]),
      section('`203.0.113.7/32`'),
      { type: 'actions', block_id: 'entry-1', elements: [button('extend', 'Extend 8h', 'e1'), button('revoke', 'Revoke', 'r1', { style: 'danger', confirm: REVOKE_CONFIRM })] },
      section('`198.51.100.9/32`'),
      { type: 'actions', block_id: 'entry-2', elements: [button('extend', 'Extend 8h', 'e2'), button('revoke', 'Revoke', 'r2', { style: 'danger', confirm: REVOKE_CONFIRM })] },
    ],
  };
}

function parsedEvent(request: Delivered | undefined): Record<string, unknown> {
  if (request === undefined) throw new Error('nothing was delivered');
  return JSON.parse(request.body) as Record<string, unknown>;
}

function parsedPayload(request: Delivered | undefined): Record<string, unknown> {
  if (request === undefined) throw new Error('nothing was delivered');
  return JSON.parse(new URLSearchParams(request.body).get('payload') ?? 'null') as Record<string, unknown>;
}

beforeAll(async () => {
  await server.start();
  await startTarget();
  client = new WebClient(TOKEN, { slackApiUrl: server.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: silentLogger });
});

afterAll(async () => {
  await server.stop();
  target.closeAllConnections();
  await new Promise<void>((resolve, reject) => target.close((error) => (error ? reject(error) : resolve())));
});

beforeEach(() => {
  server.reset();
  delivered = [];
  behaviour = () => undefined;
});

describe('views.publish', () => {
  it('stores one Home tab per user: the same id on republish, a new hash each time, announced as an event', async () => {
    const events: SlackEmulatorEvents['home'][] = [];
    const listener = (event: SlackEmulatorEvents['home']): void => void events.push(event);
    server.on('home', listener);
    try {
      const first = await client.views.publish({ user_id: ALICE, view: { type: 'home', callback_id: 'my-access', private_metadata: 'p', blocks: [section('one')] } });
      const second = await client.views.publish({ user_id: ALICE, view: { type: 'home', blocks: [section('two')] } });

      expect(first.view).toMatchObject({ type: 'home', team_id: 'T0TEST', callback_id: 'my-access', private_metadata: 'p', app_id: 'A0TEST', bot_id: 'B0BOT', state: { values: {} } });
      expect(first.view?.id).toMatch(/^V[A-Z0-9]+$/);
      expect(second.view?.id).toBe(first.view?.id);
      expect(second.view?.hash).not.toBe(first.view?.hash);
      expect(server.homeView(ALICE)).toEqual(second.view);
      expect(server.homeView(ALICE)?.blocks).toMatchObject([{ type: 'section', text: { text: 'two' } }]);
      expect(server.homeView(BOB)).toBeUndefined();
      expect(server.view(first.view?.id ?? '')).toMatchObject({ user: ALICE, closed: false, view: { type: 'home' } });
      expect(events.map((e) => [e.user, e.view.hash])).toEqual([
        [ALICE, first.view?.hash],
        [ALICE, second.view?.hash],
      ]);
      expect(server.calls('views.publish').map((c) => [c.args.user_id, c.error])).toEqual([
        [ALICE, undefined],
        [ALICE, undefined],
      ]);
    } finally {
      server.off('home', listener);
    }
  });

  it('gives each user their own view, and forgets them all on reset', async () => {
    const alices = await client.views.publish({ user_id: ALICE, view: { type: 'home', blocks: [section('a')] } });
    const bobs = await client.views.publish({ user_id: BOB, view: { type: 'home', blocks: [section('b')] } });

    expect(bobs.view?.id).not.toBe(alices.view?.id);
    server.reset();
    expect(server.homeView(ALICE)).toBeUndefined();
    expect(server.view(alices.view?.id ?? '')).toBeUndefined();
  });

  it('answers hash_conflict for a hash that is not the stored view\'s, and takes the current one', async () => {
    const first = await client.views.publish({ user_id: ALICE, view: { type: 'home', blocks: [section('one')] } });
    await client.views.publish({ user_id: ALICE, view: { type: 'home', blocks: [section('two')] } });

    const stale = await platformError(client.views.publish({ user_id: ALICE, hash: first.view?.hash ?? '', view: { type: 'home', blocks: [section('stale')] } }));
    expect(stale.data.error).toBe('hash_conflict');
    expect(server.homeView(ALICE)?.blocks).toMatchObject([{ text: { text: 'two' } }]);
    expect((await platformError(client.views.publish({ user_id: BOB, hash: '1.abc', view: { type: 'home', blocks: [] } }))).data.error).toBe('hash_conflict');

    const current = server.homeView(ALICE)?.hash ?? '';
    const third = await client.views.publish({ user_id: ALICE, hash: current, view: { type: 'home', blocks: [section('three')] } });
    expect(third.ok).toBe(true);
    expect(server.homeView(ALICE)?.blocks).toMatchObject([{ text: { text: 'three' } }]);
  });

  it('refuses a view that is not a Home tab, no view, and an unknown user, as Slack names them', async () => {
    const modal = await platformError(client.views.publish({ user_id: ALICE, view: { type: 'modal', title: { type: 'plain_text', text: 'T' }, blocks: [] } }));
    expect(modal.data.error).toBe('invalid_arguments');
    expect(modal.data.response_metadata?.messages).toEqual(['[ERROR] must be home [json-pointer:/view/type]']);

    // Forms carry `view` as JSON text: not JSON, and missing, are invalid_arguments too.
    const form = (fields: Record<string, string>): Promise<Record<string, unknown>> =>
      fetch(`${server.apiUrl}views.publish`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: TOKEN, ...fields }) }).then(
        (r) => r.json() as Promise<Record<string, unknown>>,
      );
    expect(await form({ user_id: ALICE, view: '{not json' })).toMatchObject({ ok: false, error: 'invalid_arguments' });
    expect(await form({ user_id: ALICE })).toMatchObject({ ok: false, error: 'invalid_arguments' });

    expect((await platformError(client.views.publish({ user_id: 'U0NOBODY', view: { type: 'home', blocks: [] } }))).data.error).toBe('user_not_found');
    expect(server.homeView(ALICE)).toBeUndefined();
    expect(server.calls('views.publish').map((c) => c.error)).toEqual(['invalid_arguments', 'invalid_arguments', 'invalid_arguments', 'user_not_found']);
  });

  it('takes 100 blocks and refuses 101, and bad blocks, with invalid_arguments pointing into /view/blocks', async () => {
    const dividers = (n: number): { type: string }[] => Array.from({ length: n }, () => ({ type: 'divider' }));

    expect((await client.views.publish({ user_id: ALICE, view: { type: 'home', blocks: dividers(100) } })).view?.blocks).toHaveLength(100);
    const tooMany = await platformError(client.views.publish({ user_id: ALICE, view: { type: 'home', blocks: dividers(101) } }));
    expect(tooMany.data.error).toBe('invalid_arguments');
    expect(tooMany.data.response_metadata?.messages).toEqual(['[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]']);

    const duplicate = await platformError(client.views.publish({ user_id: ALICE, view: { type: 'home', blocks: [section('a', 'x'), section('b', 'x')] } }));
    expect(duplicate.data.error).toBe('invalid_arguments');
    expect(duplicate.data.response_metadata?.messages).toEqual(['[ERROR] duplicate block_id x [json-pointer:/view/blocks/1/block_id]']);
    expect(server.homeView(ALICE)?.blocks).toHaveLength(100);
  });

  it('keeps an external_id to one view, and refuses a view over 250 kB with view_too_large', async () => {
    await client.views.publish({ user_id: ALICE, view: { type: 'home', external_id: 'home-x', blocks: [] } });

    expect((await platformError(client.views.publish({ user_id: BOB, view: { type: 'home', external_id: 'home-x', blocks: [] } }))).data.error).toBe('duplicate_external_id');
    expect((await client.views.publish({ user_id: ALICE, view: { type: 'home', external_id: 'home-x', blocks: [section('again')] } })).view?.external_id).toBe('home-x');
    const large = Array.from({ length: 90 }, (_, i) => section(`${i} ${'x'.repeat(2900)}`));
    expect((await platformError(client.views.publish({ user_id: BOB, view: { type: 'home', blocks: large } }))).data.error).toBe('view_too_large');
    expect(server.homeView(BOB)).toBeUndefined();
  });

  it('fails as failNext says: before the work (nothing stored) or after it (stored, answer lost)', async () => {
    server.failNext('views.publish', { error: 'internal_error' });
    expect((await platformError(client.views.publish({ user_id: ALICE, view: { type: 'home', blocks: [section('lost')] } }))).data.error).toBe('internal_error');
    expect(server.homeView(ALICE)).toBeUndefined();

    server.failNext('views.publish', { error: 'internal_error', afterApply: true });
    expect((await platformError(client.views.publish({ user_id: ALICE, view: { type: 'home', blocks: [section('applied')] } }))).data.error).toBe('internal_error');
    expect(server.homeView(ALICE)?.blocks).toMatchObject([{ text: { text: 'applied' } }]);
    expect(server.calls('views.publish').map((c) => c.injected)).toEqual([true, true]);

    expect((await client.views.publish({ user_id: ALICE, view: { type: 'home', blocks: [section('fine')] } })).ok).toBe(true);
  });
});

describe('app_home_opened', () => {
  it('delivers the signed Events API request Slack sends, with the stored Home tab once there is one', async () => {
    const before = await driver().openHome({ user: ALICE });
    const published = await client.views.publish({ user_id: ALICE, view: homeTab() });
    const after = await driver().openHome({ user: ALICE });

    expect([before.acknowledged, after.acknowledged]).toEqual([true, true]);
    expect(delivered.map((d) => d.contentType)).toEqual(['application/json', 'application/json']);
    const first = parsedEvent(delivered[0]);
    expect(first).toMatchObject({
      token: expect.any(String) as unknown,
      team_id: 'T0TEST',
      api_app_id: 'A0TEST',
      type: 'event_callback',
      event: { type: 'app_home_opened', user: ALICE, channel: server.dmChannelFor(ALICE), tab: 'home' },
      authorizations: [{ enterprise_id: null, team_id: 'T0TEST', user_id: 'U0BOTUSER', is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
    });
    expect(first.event_id).toMatch(/^Ev[A-Z0-9]+$/);
    expect(Math.abs(Number(first.event_time) - Number((first.event as { event_ts: string }).event_ts))).toBeLessThan(2);
    expect((first.event as Record<string, unknown>).view).toBeUndefined();
    expect((parsedEvent(delivered[1]).event as { view?: SlackView }).view).toEqual(published.view);
    expect(parsedEvent(delivered[1]).event_id).not.toBe(first.event_id);
  });

  it('is refused by an app that checks the signature when signed with another secret', async () => {
    const result = await driver('test-other-secret').openHome({ user: ALICE });

    expect(result.response.statusCode).toBe(401);
    expect(result.acknowledged).toBe(false);
    expect(delivered).toEqual([]);
  });
});

describe('clicks in the Home tab', () => {
  it('sends block_actions from the view: no response_url, channel or message, and a trigger_id the Web API takes', async () => {
    const published = await client.views.publish({ user_id: ALICE, view: homeTab() });

    const result = await driver().clickInHome({ user: ALICE, actionId: 'extend', blockId: 'entry-2' });

    expect(result.acknowledged).toBe(true);
    expect(delivered[0]?.contentType).toBe('application/x-www-form-urlencoded');
    const payload = parsedPayload(delivered[0]);
    expect(payload).toMatchObject({
      type: 'block_actions',
      user: { id: ALICE, username: 'alice', team_id: 'T0TEST' },
      team: { id: 'T0TEST' },
      api_app_id: 'A0TEST',
      container: { type: 'view', view_id: published.view?.id },
      view: { id: published.view?.id, type: 'home', hash: published.view?.hash },
      actions: [{ type: 'button', action_id: 'extend', block_id: 'entry-2', value: 'e2', text: { type: 'plain_text', text: 'Extend 8h' } }],
    });
    expect(payload).not.toHaveProperty('response_url');
    expect(payload).not.toHaveProperty('channel');
    expect(payload).not.toHaveProperty('message');
    expect((payload.actions as { action_ts?: string }[])[0]?.action_ts).toMatch(/^\d+\.\d{6}$/);
    const opened = await client.views.open({ trigger_id: String(payload.trigger_id), view: { type: 'modal', title: { type: 'plain_text', text: 'From Home' }, blocks: [] } });
    expect(opened.ok).toBe(true);
  });

  it('sends a forged value in place of the button\'s, and a confirm button without asking (the client asks)', async () => {
    await client.views.publish({ user_id: ALICE, view: homeTab() });

    await driver().clickInHome({ user: ALICE, actionId: 'revoke', value: '{"forged":true}' });
    await driver().clickInHome({ user: ALICE, actionId: 'revoke', blockId: 'entry-2' });

    expect(delivered.map((d) => (parsedPayload(d).actions as { block_id: string; value: string }[])[0])).toMatchObject([
      { block_id: 'entry-1', value: '{"forged":true}' },
      { block_id: 'entry-2', value: 'r2' },
    ]);
  });

  it('refuses to click where there is nothing to click, sending nothing', async () => {
    const d = driver();
    expect(() => d.buildHomeBlockAction({ user: ALICE, actionId: 'extend' })).toThrow(/U0ALICE has no Home tab/);
    const published = await client.views.publish({ user_id: ALICE, view: homeTab() });
    expect(() => d.buildHomeBlockAction({ user: ALICE, actionId: 'delete' })).toThrow('No button with action_id delete on the Home tab of U0ALICE (available: extend, revoke, extend, revoke)');
    expect(() => d.buildHomeBlockAction({ user: ALICE, actionId: 'extend', blockId: 'entry-3' })).toThrow(/No button with action_id extend in block entry-3/);
    expect(() => d.buildHomeBlockAction({ user: BOB, actionId: 'extend' })).toThrow(/U0BOB has no Home tab/);
    // A Home tab is a view, but not one to submit.
    expect(() => d.buildViewSubmission({ user: ALICE, view: published.view?.id ?? '' })).toThrow(/No open modal/);
    expect(delivered).toEqual([]);
  });
});

describe('the console', () => {
  /** A console over piped input; `idle` waits for what the test's app does after answering. */
  function startConsole(): { type(line: string): void; end(): Promise<void>; output(): string; waitFor(text: string): Promise<void> } {
    const input = new PassThrough();
    const output = new PassThrough();
    let text = '';
    output.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    const slackConsole = new SlackConsole({
      input,
      output,
      interactive: false,
      color: false,
      server,
      driver: driver(),
      users: [
        { id: ALICE, name: 'alice', role: 'requester' },
        { id: BOB, name: 'bob', role: 'requester' },
      ],
      initialUser: ALICE,
      commandName: '/crdb',
      channel: 'C0GENERAL',
      idle: () => Promise.all([...background]).then(() => undefined),
    });
    const done = slackConsole.run();
    const waitFor = async (wanted: string): Promise<void> => {
      for (let i = 0; i < 200 && !text.includes(wanted); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      if (!text.includes(wanted)) throw new Error(`the console never printed "${wanted}":\n${text}`);
    };
    return {
      type: (line) => void input.write(`${line}\n`),
      end: async () => {
        input.end();
        await done;
      },
      output: () => text,
      waitFor,
    };
  }

  /** The app's work after its ack, as a queue worker does it. */
  const background = new Set<Promise<void>>();
  function later(work: () => Promise<void>): void {
    const running = new Promise<void>((resolve) => setTimeout(resolve, 50)).then(work);
    background.add(running);
    void running.finally(() => background.delete(running));
  }

  /** Publishes alice's Home tab when she opens it (not bob's), and a notice on top after a click. */
  function homeApp(): void {
    behaviour = (request) => {
      if (request.contentType === 'application/json') {
        const event = parsedEvent(request).event as { user: string };
        if (event.user === ALICE) later(async () => void (await client.views.publish({ user_id: ALICE, view: homeTab() })));
        return;
      }
      const { user, actions } = parsedPayload(request) as { user: { id: string }; actions: { action_id: string; value: string }[] };
      const action = actions[0];
      later(async () => void (await client.views.publish({ user_id: user.id, view: homeTab(`Clicked ${action?.action_id} ${action?.value}`) })));
    };
  }

  it('home shows the Home tab the app published after waiting for it, with buttons click presses (confirm first)', async () => {
    homeApp();
    const session = startConsole();
    session.type('home');
    await session.waitFor('[Home tab of alice]');
    session.type('click 2');
    session.type('click 4');
    session.type('click 4 yes');
    await session.end();
    const out = session.output();

    expect(out).toContain('alice> home\n[Home tab of alice] crdb-chatops:\n  == My access ==\n  `203.0.113.7/32`\n  [1 Extend 8h]  [2 Revoke …]\n');
    // Nothing is sent until the confirm dialog is answered.
    expect(out).toContain('alice> click 2\nRevoke this entry?\n  Nothing connects from it any more.\nRevoke: click 2 yes');
    const clicks = delivered.filter((d) => d.contentType !== 'application/json').map((d) => (parsedPayload(d).actions as { block_id: string; value: string }[])[0]);
    expect(clicks).toMatchObject([{ block_id: 'entry-2', value: 'r2' }]);
    // The tab the click republished, shown in place, its buttons numbered anew; no "updated" line for it.
    expect(out).toContain('alice> click 4 yes\n[Home tab of alice] crdb-chatops:\n  == My access ==\n  Clicked revoke r2\n');
    expect(out).toContain('[5 Extend 8h]');
    expect(out).not.toContain('your Home tab was updated');
  });

  it('says so in one line when the app published nothing, and keeps a Home button to its owner', async () => {
    homeApp();
    const session = startConsole();
    session.type('home');
    await session.waitFor('[1 Extend 8h]');
    session.type('as bob');
    session.type('home');
    session.type('click 1');
    await session.end();
    const out = session.output();

    expect(out).toContain('bob> home\n[Home tab of bob] (crdb-chatops has published no Home tab for bob)\n');
    expect(out).toContain("bob> click 1\n! that button is on alice's Home tab: only they see it (as alice).");
    expect(delivered.filter((d) => d.contentType !== 'application/json')).toEqual([]);
  });

  it('prints one line when the app republishes the current user\'s Home tab later, nothing for someone else\'s', async () => {
    homeApp();
    const session = startConsole();
    session.type('home');
    await session.waitFor('[Home tab of alice]');
    await client.views.publish({ user_id: BOB, view: homeTab('for bob') });
    await client.views.publish({ user_id: ALICE, view: homeTab('expired') });
    await session.waitFor('(your Home tab was updated — type home to see it)');
    await session.end();
    const out = session.output();

    expect(out.match(/your Home tab was updated/g)).toHaveLength(1);
    expect(out).not.toContain('expired');
    expect(out).not.toContain('for bob');
  });

  it('lists home in help', async () => {
    const session = startConsole();
    session.type('help');
    await session.end();

    expect(session.output()).toMatch(/\n {2}home {18}open the bot's Home tab \("My access"\); its buttons are numbered like messages'\n/);
  });
});
