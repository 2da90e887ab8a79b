/**
 * The Slack Web API stand-in itself, driven by the real `@slack/web-api` client: that it answers
 * the way Slack does (shapes, error codes, HTTP statuses), so tests against it mean something.
 */
import { WebAPIHTTPError, WebAPIPlatformError, WebClient } from '@slack/web-api';
import { SlackDriver, SlackWebApiServer, type SlackEmulatorEvents } from '../../stand-ins/slack';
import { silentLogger } from '../../stand-ins/slack/proof-app';

const TOKEN = 'xoxb-test-token';
const ALICE = 'U0ALICE';
let clock = Date.now();
const server = new SlackWebApiServer({
  now: () => clock,
  users: [{ id: ALICE, name: 'alice', realName: 'Alice Example', email: 'alice@example.test' }],
  channels: [
    { id: 'C0GENERAL', name: 'general' },
    { id: 'G0SECRET', name: 'secret', isPrivate: true },
  ],
  userGroups: [{ id: 'S0APPROVERS', handle: 'crdb-approvers', users: [ALICE, 'U0CAROL'] }],
});
let client: WebClient;

async function platformError(call: Promise<unknown>): Promise<WebAPIPlatformError> {
  const error: unknown = await call.catch((e: unknown) => e);
  if (!(error instanceof WebAPIPlatformError)) throw new Error(`expected a WebAPIPlatformError, got ${String(error)}`);
  return error;
}

const card = [
  { type: 'section', text: { type: 'mrkdwn', text: 'Request *req-1*' } },
  { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Approve' }, value: 'req-1' }] },
];

beforeAll(async () => {
  await server.start();
  client = new WebClient(TOKEN, { slackApiUrl: server.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: silentLogger });
});

afterAll(async () => {
  await server.stop();
});

beforeEach(() => {
  clock = Date.now();
  server.reset();
});

describe('authentication', () => {
  it('answers auth.test with the bot identity', async () => {
    const result = await client.auth.test();

    expect(result).toMatchObject({ ok: true, url: 'https://crdb-test.slack.com/', team_id: 'T0TEST', user_id: 'U0BOTUSER', bot_id: 'B0BOT', user: 'crdb-chatops' });
  });

  it('refuses an unknown token with invalid_auth and a missing one with not_authed', async () => {
    const stranger = new WebClient('xoxb-test-other', { slackApiUrl: server.apiUrl, retryConfig: { retries: 0 }, logger: silentLogger });
    const anonymous = new WebClient(undefined, { slackApiUrl: server.apiUrl, retryConfig: { retries: 0 }, logger: silentLogger });

    expect((await platformError(stranger.auth.test())).data.error).toBe('invalid_auth');
    expect((await platformError(anonymous.auth.test())).data.error).toBe('not_authed');
  });

  it('takes the token from a form field, but not from a JSON body (Slack requires the header there)', async () => {
    const form = await fetch(`${server.apiUrl}auth.test`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `token=${TOKEN}` });
    const json = await fetch(`${server.apiUrl}auth.test`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) });
    const bearerJson = await fetch(`${server.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=utf-8', Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ channel: 'C0GENERAL', blocks: card, text: 'card' }),
    });

    await expect(form.json()).resolves.toMatchObject({ ok: true });
    await expect(json.json()).resolves.toEqual({ ok: false, error: 'not_authed' });
    await expect(bearerJson.json()).resolves.toMatchObject({ ok: true, message: { blocks: [{ type: 'section' }, { type: 'actions' }] } });
  });

  it('answers unknown_method for a name that only an object prototype has (a regression: toString answered 200)', async () => {
    for (const method of ['toString', 'constructor', 'hasOwnProperty', 'no.such.method']) {
      const answer = await fetch(`${server.apiUrl}${method}`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
      expect([method, answer.status, await answer.json()]).toEqual([method, 200, { ok: false, error: 'unknown_method', req_method: method }]);
    }
  });
});

describe('chat.postMessage', () => {
  it('answers with channel, ts and the message as Slack returns it', async () => {
    const result = await client.chat.postMessage({ channel: 'C0GENERAL', text: 'hello' });

    expect(result).toMatchObject({
      ok: true,
      channel: 'C0GENERAL',
      ts: expect.stringMatching(/^\d{10}\.\d{6}$/) as unknown,
      message: { type: 'message', text: 'hello', user: 'U0BOTUSER', bot_id: 'B0BOT', app_id: 'A0TEST', team: 'T0TEST', bot_profile: { id: 'B0BOT' } },
    });
    expect(server.messages('C0GENERAL')).toMatchObject([{ ts: result.ts, text: 'hello', deleted: false, via: 'chat.postMessage' }]);
  });

  it('posts to a user id in the DM with that user, and to #name in that channel', async () => {
    const dm = await client.chat.postMessage({ channel: ALICE, text: 'psst' });
    const named = await client.chat.postMessage({ channel: '#secret', text: 'private' });

    expect(dm.channel).toBe(server.dmChannelFor(ALICE));
    expect(named.channel).toBe('G0SECRET');
    expect(server.messages(ALICE).map((m) => m.text)).toEqual(['psst']);
  });

  it('refuses an unknown channel with channel_not_found and an empty message with no_text', async () => {
    expect((await platformError(client.chat.postMessage({ channel: 'C0NOWHERE', text: 'x' }))).data.error).toBe('channel_not_found');
    expect((await platformError(client.chat.postMessage({ channel: 'C0GENERAL', text: '' }))).data.error).toBe('no_text');
  });

  it('refuses blocks over Slack limits with invalid_blocks and a pointer to the field', async () => {
    const tooLong = [{ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } }];

    const error = await platformError(client.chat.postMessage({ channel: 'C0GENERAL', text: 'cert', blocks: tooLong }));

    expect(error.data.error).toBe('invalid_blocks');
    expect(error.data.response_metadata?.messages).toEqual(['[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]']);
  });

  it('fills in block_id and action_id as Slack does', async () => {
    const result = await client.chat.postMessage({ channel: 'C0GENERAL', text: 'card', blocks: card });

    const [section, actions] = server.message('C0GENERAL', result.ts ?? '')?.blocks ?? [];
    expect(section?.block_id).toMatch(/^[A-Za-z0-9]{5}$/);
    expect(actions).toMatchObject({ elements: [{ action_id: expect.stringMatching(/^[A-Za-z0-9]{5}$/) as unknown }] });
  });
});

describe('chat.postEphemeral, chat.update, chat.delete', () => {
  it('shows an ephemeral to one user and answers message_ts', async () => {
    const result = await client.chat.postEphemeral({ channel: 'C0GENERAL', user: ALICE, text: 'only you' });

    expect(result.message_ts).toMatch(/^\d+\.\d{6}$/);
    expect(server.ephemerals({ channel: 'C0GENERAL', user: ALICE })).toMatchObject([{ ts: result.message_ts, text: 'only you', via: 'chat.postEphemeral' }]);
    expect(server.messages('C0GENERAL')).toEqual([]);
  });

  it('updates in place, keeping blocks when none are sent and dropping them for []', async () => {
    const posted = await client.chat.postMessage({ channel: 'C0GENERAL', text: 'card', blocks: card });
    const ts = posted.ts ?? '';

    const kept = await client.chat.update({ channel: 'C0GENERAL', ts, text: 'still a card' });
    const keptBlocks = server.message('C0GENERAL', ts)?.blocks;
    await client.chat.update({ channel: 'C0GENERAL', ts, text: 'plain now', blocks: [] });

    expect(kept).toMatchObject({ ok: true, channel: 'C0GENERAL', ts, text: 'still a card', message: { text: 'still a card', edited: { user: 'U0BOTUSER' } } });
    expect(keptBlocks).toHaveLength(2);
    expect(server.message('C0GENERAL', ts)).toMatchObject({ text: 'plain now' });
    expect(server.message('C0GENERAL', ts)?.blocks).toBeUndefined();
  });

  it('needs the channel id: updating a DM by user id is channel_not_found, an unknown ts message_not_found', async () => {
    const dm = await client.chat.postMessage({ channel: ALICE, text: 'psst' });

    expect((await platformError(client.chat.update({ channel: ALICE, ts: dm.ts ?? '', text: 'x' }))).data.error).toBe('channel_not_found');
    expect((await platformError(client.chat.update({ channel: dm.channel ?? '', ts: '1.000001', text: 'x' }))).data.error).toBe('message_not_found');
  });

  it('deletes a message: gone from the channel, still visible to tests as deleted', async () => {
    const posted = await client.chat.postMessage({ channel: 'C0GENERAL', text: 'oops' });

    const result = await client.chat.delete({ channel: 'C0GENERAL', ts: posted.ts ?? '' });

    expect(result).toMatchObject({ ok: true, channel: 'C0GENERAL', ts: posted.ts });
    expect(server.messages('C0GENERAL')).toEqual([]);
    expect(server.message('C0GENERAL', posted.ts ?? '')?.deleted).toBe(true);
    expect((await platformError(client.chat.delete({ channel: 'C0GENERAL', ts: posted.ts ?? '' }))).data.error).toBe('message_not_found');
  });
});

describe('conversations, users, user groups', () => {
  it('opens the same DM channel for a user every time, already_open the second time', async () => {
    const first = await client.conversations.open({ users: ALICE });
    const second = await client.conversations.open({ users: ALICE });

    expect(first).toMatchObject({ ok: true, channel: { id: 'D0ALICE' } });
    expect(first.already_open).toBeUndefined();
    expect(second).toMatchObject({ ok: true, no_op: true, already_open: true, channel: { id: 'D0ALICE' } });
    expect((await platformError(client.conversations.open({ users: 'U0NOBODY' }))).data.error).toBe('user_not_found');
  });

  it('answers users.info with the configured user, user_not_found otherwise', async () => {
    const result = await client.users.info({ user: ALICE });

    expect(result.user).toMatchObject({ id: ALICE, name: 'alice', real_name: 'Alice Example', team_id: 'T0TEST', is_bot: false, profile: { email: 'alice@example.test' } });
    expect((await platformError(client.users.info({ user: 'U0NOBODY' }))).data.error).toBe('user_not_found');
  });

  it('answers usergroups.users.list with the group members, no_such_subteam otherwise', async () => {
    const result = await client.usergroups.users.list({ usergroup: 'S0APPROVERS' });

    expect(result.users).toEqual([ALICE, 'U0CAROL']);
    expect((await platformError(client.usergroups.users.list({ usergroup: 'S0NONE' }))).data.error).toBe('no_such_subteam');
  });
});

describe('views', () => {
  const modal = { type: 'modal' as const, callback_id: 'm', title: { type: 'plain_text' as const, text: 'Request' }, blocks: [] };

  it('opens a view with a fresh trigger_id, once: a second use is exchanged_trigger_id', async () => {
    const trigger = server.issueTriggerId(ALICE);

    const opened = await client.views.open({ trigger_id: trigger, view: modal });

    expect(opened.view).toMatchObject({ id: expect.stringMatching(/^V[A-Z0-9]{10}$/) as unknown, type: 'modal', callback_id: 'm', team_id: 'T0TEST', root_view_id: opened.view?.id });
    expect(server.views()).toMatchObject([{ user: ALICE, closed: false }]);
    expect((await platformError(client.views.open({ trigger_id: trigger, view: modal }))).data.error).toBe('exchanged_trigger_id');
  });

  it('refuses a trigger_id older than 3 seconds, and an unknown one', async () => {
    const trigger = server.issueTriggerId(ALICE);
    clock += 3001;

    expect((await platformError(client.views.open({ trigger_id: trigger, view: modal }))).data.error).toBe('expired_trigger_id');
    expect((await platformError(client.views.open({ trigger_id: '1.2.abc', view: modal }))).data.error).toBe('invalid_trigger_id');
  });

  it('updates a view by id, refusing a stale hash with hash_conflict', async () => {
    const opened = await client.views.open({ trigger_id: server.issueTriggerId(ALICE), view: modal });
    const id = opened.view?.id ?? '';

    const updated = await client.views.update({ view_id: id, hash: opened.view?.hash ?? '', view: { ...modal, title: { type: 'plain_text', text: 'Step 2' } } });

    expect(updated.view).toMatchObject({ id, title: { text: 'Step 2' } });
    expect((await platformError(client.views.update({ view_id: id, hash: 'stale', view: modal }))).data.error).toBe('hash_conflict');
  });
});

describe('faults and the call log', () => {
  it('fails the next call with a platform error, then recovers', async () => {
    server.failNext('chat.postMessage', { error: 'channel_not_found' });

    const error = await platformError(client.chat.postMessage({ channel: 'C0GENERAL', text: 'x' }));
    const next = await client.chat.postMessage({ channel: 'C0GENERAL', text: 'y' });

    expect(error.data.error).toBe('channel_not_found');
    expect(next.ok).toBe(true);
    expect(server.calls('chat.postMessage').map((c) => [c.error, c.injected])).toEqual([
      ['channel_not_found', true],
      [undefined, false],
    ]);
  });

  it('answers an HTTP status fault as WebAPIHTTPError', async () => {
    server.failNext('users.info', { status: 500 });

    const error: unknown = await client.users.info({ user: ALICE }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WebAPIHTTPError);
    expect((error as WebAPIHTTPError).statusCode).toBe(500);
  });

  it('applies an afterApply fault before failing: the message exists though the call failed', async () => {
    server.failNext('chat.postMessage', { status: 503, afterApply: true });

    await expect(client.chat.postMessage({ channel: 'C0GENERAL', text: 'lost answer' })).rejects.toBeInstanceOf(WebAPIHTTPError);

    expect(server.messages('C0GENERAL').map((m) => m.text)).toEqual(['lost answer']);
  });

  it('records method, args as sent and time for every call', async () => {
    await client.chat.postMessage({ channel: 'C0GENERAL', text: 'hello', blocks: card });

    const [call] = server.calls('chat.postMessage');
    expect(call).toMatchObject({ method: 'chat.postMessage', args: { channel: 'C0GENERAL', text: 'hello' }, status: 200, injected: false });
    expect(call?.time.getTime()).toBe(clock);
    // Form posts carry blocks as JSON text, as Slack receives them; the token is not kept.
    expect(typeof call?.args.blocks).toBe('string');
    expect(call?.args.token).toBeUndefined();
  });
});

describe('events', () => {
  it('emits message, update and delete as they happen', async () => {
    const seen: string[] = [];
    const onMessage = ({ message }: SlackEmulatorEvents['message']): void => void seen.push(`message ${message.text}`);
    const onUpdate = ({ before, after }: SlackEmulatorEvents['update']): void => void seen.push(`update ${before.text} -> ${after.text}`);
    const onDelete = ({ message }: SlackEmulatorEvents['delete']): void => void seen.push(`delete ${message.text}`);
    server.on('message', onMessage).on('update', onUpdate).on('delete', onDelete);

    const posted = await client.chat.postMessage({ channel: 'C0GENERAL', text: 'one' });
    await client.chat.update({ channel: 'C0GENERAL', ts: posted.ts ?? '', text: 'two' });
    await client.chat.delete({ channel: 'C0GENERAL', ts: posted.ts ?? '' });
    server.off('message', onMessage).off('update', onUpdate).off('delete', onDelete);

    expect(seen).toEqual(['message one', 'update one -> two', 'delete two']);
  });

  it('keeps serving when a listener throws', async () => {
    const boom = (): void => {
      throw new Error('console bug');
    };
    server.on('message', boom);

    const result = await client.chat.postMessage({ channel: 'C0GENERAL', text: 'still fine' });
    server.off('message', boom);

    expect(result.ok).toBe(true);
  });
});

describe('response URLs', () => {
  const post = (url: string, body: unknown): Promise<Response> =>
    fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

  it('refuses a response_url after 30 minutes with 404 expired_url', async () => {
    const { url } = server.createResponseUrl({ kind: 'slash_command', channel: 'C0GENERAL', user: ALICE });
    clock += 30 * 60 * 1000 + 1;

    const response = await post(url, { text: 'late' });

    expect(response.status).toBe(404);
    await expect(response.json()).resolves.toEqual({ ok: false, error: 'expired_url' });
    expect(server.responses()).toMatchObject([{ status: 404, error: 'expired_url', use: 0 }]);
  });

  it('posts in_channel responses as bot messages and ephemeral ones to the user only', async () => {
    const { url } = server.createResponseUrl({ kind: 'slash_command', channel: 'C0GENERAL', user: ALICE });

    await post(url, { response_type: 'in_channel', text: 'for everyone' });
    await post(url, { text: 'for alice' });

    expect(server.messages('C0GENERAL')).toMatchObject([{ text: 'for everyone', user: 'U0BOTUSER', via: 'response_url' }]);
    expect(server.ephemerals({ user: ALICE })).toMatchObject([{ text: 'for alice', via: 'response_url' }]);
  });

  it('replaces the last ephemeral of a slash command with replace_original, and deletes it with delete_original', async () => {
    const { url } = server.createResponseUrl({ kind: 'slash_command', channel: 'C0GENERAL', user: ALICE });
    const replaced: (string | undefined)[] = [];
    const onEphemeral = ({ replaces }: SlackEmulatorEvents['ephemeral']): void => void replaced.push(replaces);
    server.on('ephemeral', onEphemeral);

    await post(url, { text: 'step 1' });
    await post(url, { text: 'step 2', replace_original: true });
    await post(url, { delete_original: true });
    server.off('ephemeral', onEphemeral);

    const shown = server.ephemerals({ user: ALICE });
    expect(shown.map((e) => [e.text, e.replaced, e.deleted])).toEqual([
      ['step 1', true, false],
      ['step 2', false, true],
    ]);
    expect(shown[0]?.ts).toBe(shown[1]?.ts);
    expect(replaced).toEqual([undefined, shown[0]?.ts, shown[0]?.ts]);
  });

  it('refuses a body without text or blocks (no_text), non-JSON (invalid_payload) and an unknown URL (no_service)', async () => {
    const { url } = server.createResponseUrl({ kind: 'slash_command', channel: 'C0GENERAL', user: ALICE });

    const empty = await post(url, { response_type: 'ephemeral' });
    const form = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'text=hi' });
    const unknown = await post(`${server.url}/response/0123`, { text: 'x' });

    expect([empty.status, form.status, unknown.status]).toEqual([400, 400, 404]);
    expect(server.responses().map((r) => r.error)).toEqual(['no_text', 'invalid_payload', 'no_service']);
  });

  it('shows Slack an app that takes over 3 s as operation_timeout, ignoring its ack', async () => {
    const slow = new SlackDriver({
      server,
      signingSecret: 'test-signing-secret',
      ackDeadlineMs: 20,
      target: {
        kind: 'lambda',
        handler: async () => {
          await new Promise((resolve) => setTimeout(resolve, 40));
          return { statusCode: 200, body: 'too late' };
        },
      },
    });

    const result = await slow.slashCommand({ user: ALICE, text: 'hello' });

    expect(result.acknowledged).toBe(false);
    expect(server.ephemerals({ user: ALICE })).toMatchObject([{ author: 'USLACKBOT', text: '/crdb failed with the error "operation_timeout"' }]);
  });
});
