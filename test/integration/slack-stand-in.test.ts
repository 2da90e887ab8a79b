/**
 * The Slack stand-in end to end against a real Bolt app on AwsLambdaReceiver: the driver's signed
 * requests, delivered as Function URL events, are verified and parsed by Bolt; what the app sends
 * back (ack bodies, response_url posts, Web API calls) lands in the stand-in's state.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { App, HTTPReceiver } from '@slack/bolt';
import { WebAPIRateLimitedError, WebClient } from '@slack/web-api';
import { SlackDriver, SlackWebApiServer, SLACKBOT_USER_ID, toSlackTimestamp, type SlackMessage } from '../../stand-ins/slack';
import { forgeRequest } from '../../stand-ins/slack/forgery';
import { approvalCard, APPROVERS_CHANNEL, createProofApp, PROOF_BOT_TOKEN, PROOF_SIGNING_SECRET, silentLogger, type ProofApp } from '../../stand-ins/slack/proof-app';

const ALICE = 'U0ALICE';
const BOB = 'U0BOB';

const server = new SlackWebApiServer({
  users: [
    { id: ALICE, name: 'alice', realName: 'Alice Example' },
    { id: BOB, name: 'bob', realName: 'Bob Example' },
  ],
  channels: [
    { id: 'C0GENERAL', name: 'general' },
    { id: APPROVERS_CHANNEL, name: 'approvers' },
  ],
});
let proof: ProofApp;
let driver: SlackDriver;

beforeAll(async () => {
  await server.start();
});

afterAll(async () => {
  await server.stop();
});

beforeEach(() => {
  server.reset();
  proof = createProofApp({ slackApiUrl: server.apiUrl });
  driver = new SlackDriver({ server, signingSecret: PROOF_SIGNING_SECRET, target: { kind: 'lambda', handler: proof.handler } });
});

async function postApprovalCard(): Promise<SlackMessage> {
  await driver.slashCommand({ user: ALICE, text: 'card' });
  const [card] = server.messages(APPROVERS_CHANNEL);
  if (card === undefined) throw new Error('no approval card was posted');
  return card;
}

describe('slash commands through a Function URL event', () => {
  it('answers a signed slash command with 200 and the ephemeral ack body', async () => {
    const result = await driver.slashCommand({ user: ALICE, text: 'hello' });

    expect(result.response.statusCode).toBe(200);
    expect(result.response.json()).toEqual({ response_type: 'ephemeral', text: 'Working on: hello' });
    expect(result.acknowledged).toBe(true);
    expect(server.ephemerals({ user: ALICE }).find((e) => e.via === 'ack')).toMatchObject({ channel: 'C0GENERAL', text: 'Working on: hello' });
  });

  it('hands Bolt the payload Slack sends, with a response_url and trigger_id from the platform', async () => {
    await driver.slashCommand({ user: ALICE, text: 'hello', channel: APPROVERS_CHANNEL });

    expect(proof.observed.commands).toHaveLength(1);
    expect(proof.observed.commands[0]).toMatchObject({
      token: 'test-verification-token',
      team_id: 'T0TEST',
      team_domain: 'crdb-test',
      channel_id: APPROVERS_CHANNEL,
      channel_name: 'approvers',
      user_id: ALICE,
      user_name: 'alice',
      command: '/crdb',
      text: 'hello',
      api_app_id: 'A0TEST',
      is_enterprise_install: 'false',
    });
    expect(proof.observed.commands[0]?.response_url).toMatch(new RegExp(`^${server.url}/response/[0-9a-f]{32}$`));
    expect(proof.observed.commands[0]?.trigger_id).toMatch(/^\d+\.\d+\.[0-9a-f]+$/);
  });

  it('records the respond() post as an ephemeral, shown before the ack: on Lambda Bolt answers only when the listener returns', async () => {
    await driver.slashCommand({ user: ALICE, text: 'hello' });

    expect(server.responses()).toMatchObject([{ status: 200, use: 1, body: { text: 'Done: hello' } }]);
    expect(server.ephemerals({ user: ALICE }).map((e) => [e.via, e.text])).toEqual([
      ['response_url', 'Done: hello'],
      ['ack', 'Working on: hello'],
    ]);
  });

  it('records chat.postMessage to a user id as a message in the DM with that user', async () => {
    await driver.slashCommand({ user: ALICE, text: 'hello' });

    expect(server.calls('chat.postMessage').map((c) => c.args.channel)).toEqual([ALICE]);
    expect(server.messages(server.dmChannelFor(ALICE))).toMatchObject([{ channel: 'D0ALICE', user: 'U0BOTUSER', bot_id: 'B0BOT', text: 'Details for hello' }]);
  });

  it('never calls auth.test: bot ids are given, so a cold start spends nothing of the 3 s', async () => {
    await driver.slashCommand({ user: ALICE, text: 'hello' });

    expect(server.calls('auth.test')).toEqual([]);
  });

  it('decodes the base64 form body a Function URL delivers, non-ASCII text included', async () => {
    const built = driver.buildSlashCommand({ user: ALICE, text: 'allow 1.2.3.4 --reason "café ☕ + 100%"' });

    const response = await driver.send(built.request);

    expect(response.statusCode).toBe(200);
    expect(proof.observed.commands[0]?.text).toBe('allow 1.2.3.4 --reason "café ☕ + 100%"');
  });

  it('passes X-Slack-Retry-Num and X-Slack-Retry-Reason to the listener (as strings, whatever Bolt types say)', async () => {
    await driver.slashCommand({ user: ALICE, text: 'hello', retryNum: 1, retryReason: 'http_timeout' });

    // AwsLambdaReceiver copies the header value; Bolt's Context types retryNum as a number.
    expect(proof.observed.retries).toEqual([{ retryNum: '1', retryReason: 'http_timeout' }]);
  });
});

describe('request verification', () => {
  const expectRefused = async (request: Parameters<SlackDriver['send']>[0]): Promise<void> => {
    const response = await driver.send(request);
    expect(response.statusCode).toBe(401);
    expect(proof.observed.commands).toEqual([]);
  };

  it('refuses a request signed with another secret with 401, and the listener never runs', async () => {
    const { request } = driver.buildSlashCommand({ user: ALICE, text: 'hello' });

    await expectRefused(forgeRequest(request, { resign: { signingSecret: 'test-wrong-secret' } }));
  });

  it('refuses a body changed after signing', async () => {
    const { request } = driver.buildSlashCommand({ user: ALICE, text: 'allow 1.2.3.4' });

    await expectRefused(forgeRequest(request, { tamper: (body) => body.replace('1.2.3.4', '0.0.0.0%2F0') }));
  });

  it('refuses a timestamp more than five minutes old, even correctly signed', async () => {
    const stale = toSlackTimestamp(Date.now()) - 5 * 60 - 5;
    const { request } = driver.buildSlashCommand({ user: ALICE, text: 'hello', timestamp: stale });

    await expectRefused(request);
  });

  it('refuses a request without signature headers', async () => {
    const { request } = driver.buildSlashCommand({ user: ALICE, text: 'hello' });

    await expectRefused(forgeRequest(request, { omitHeaders: ['X-Slack-Signature'] }));
    await expectRefused(forgeRequest(request, { omitHeaders: ['X-Slack-Request-Timestamp'] }));
  });

  it('refuses a v0 hash relabelled v1=', async () => {
    const { request } = driver.buildSlashCommand({ user: ALICE, text: 'hello' });

    await expectRefused(forgeRequest(request, { relabel: 'v1' }));
  });

  it('(Bolt quirk) AwsLambdaReceiver accepts a v1= signature computed with the secret, where verifySlackRequest allows only v0', async () => {
    const { request } = driver.buildSlashCommand({ user: ALICE, text: 'hello' });

    const response = await driver.send(forgeRequest(request, { resign: { signingSecret: PROOF_SIGNING_SECRET, version: 'v1' } }));

    // Harmless (only the secret's holder can compute it), but a handler wanting Slack's exact rule must check the prefix itself.
    expect(response.statusCode).toBe(200);
  });
});

describe('button clicks', () => {
  it('delivers a block_actions payload Bolt parses, and chat.update changes the stored message', async () => {
    const card = await postApprovalCard();

    const result = await driver.clickButton({ user: BOB, message: card, actionId: 'approve' });

    expect(result.response.statusCode).toBe(200);
    expect(proof.observed.clicks).toEqual([{ actionId: 'approve', value: 'req-1', user: BOB, channel: APPROVERS_CHANNEL, messageTs: card.ts }]);
    const updated = server.message(APPROVERS_CHANNEL, card.ts);
    expect(updated).toMatchObject({ text: `Approved by <@${BOB}>`, edited: { user: 'U0BOTUSER' } });
    expect(updated?.blocks).toBeUndefined();
  });

  it('builds the payload Slack sends: container, channel, the stored message, state and the button action', async () => {
    const card = await postApprovalCard();

    const { payload } = driver.buildBlockAction({ user: BOB, message: card, actionId: 'deny' });

    expect(payload).toMatchObject({
      type: 'block_actions',
      user: { id: BOB, username: 'bob', name: 'bob', team_id: 'T0TEST' },
      api_app_id: 'A0TEST',
      container: { type: 'message', message_ts: card.ts, channel_id: APPROVERS_CHANNEL, is_ephemeral: false },
      team: { id: 'T0TEST', domain: 'crdb-test' },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: APPROVERS_CHANNEL, name: 'approvers' },
      message: { type: 'message', ts: card.ts, text: card.text, bot_id: 'B0BOT', blocks: card.blocks },
      state: { values: {} },
      actions: [{ type: 'button', action_id: 'deny', block_id: 'decision', value: 'req-1', style: 'danger', text: { type: 'plain_text', text: 'Deny' } }],
    });
  });

  it('delivers a tampered button value as sent: the app, not Slack, must check it', async () => {
    const card = await postApprovalCard();

    await driver.clickButton({ user: BOB, message: card, actionId: 'approve', value: 'req-999' });

    expect(proof.observed.clicks[0]?.value).toBe('req-999');
  });

  it('replaces the card in place when the app responds with replace_original', async () => {
    const card = await postApprovalCard();

    await driver.clickButton({ user: BOB, message: card, actionId: 'deny' });

    expect(server.messages(APPROVERS_CHANNEL)).toMatchObject([{ ts: card.ts, text: `Denied by <@${BOB}>`, blocks: card.blocks }]);
    expect(server.responses()).toMatchObject([{ status: 200, body: { replace_original: true } }]);
  });

  it('clicks a button on an ephemeral: no message in the payload, replace_original replaces the ephemeral', async () => {
    const client = new WebClient(PROOF_BOT_TOKEN, { slackApiUrl: server.apiUrl, logger: silentLogger });
    const { message_ts: ts = '' } = await client.chat.postEphemeral({ channel: 'C0GENERAL', user: ALICE, ...approvalCard('req-2') });
    const message = { channel: 'C0GENERAL', ts };

    const { payload } = driver.buildBlockAction({ user: ALICE, message, actionId: 'deny' });
    await driver.clickButton({ user: ALICE, message, actionId: 'deny' });

    expect(payload.container).toMatchObject({ is_ephemeral: true, message_ts: ts });
    expect(payload).not.toHaveProperty('message');
    expect(server.ephemerals({ user: ALICE }).map((e) => [e.ts, e.text, e.replaced])).toEqual([
      [ts, 'Request req-2 needs approval', true],
      [ts, `Denied by <@${ALICE}>`, false],
    ]);
    expect(() => driver.buildBlockAction({ user: BOB, message, actionId: 'deny' })).toThrow(/another user's ephemeral/);
  });

  it('refuses to click a button the message does not have', async () => {
    const card = await postApprovalCard();

    expect(() => driver.buildBlockAction({ user: BOB, message: card, actionId: 'escalate' })).toThrow(/available: approve, deny/);
  });
});

describe('response_url limits', () => {
  it('refuses the 6th post to a response_url with 404 used_url, as Slack does', async () => {
    await driver.slashCommand({ user: ALICE, text: 'hello' });
    const url = proof.observed.commands[0]?.response_url ?? '';
    const post = (n: number): Promise<Response> =>
      fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: `update ${n}` }) });

    const statuses = [];
    for (const n of [2, 3, 4, 5]) statuses.push((await post(n)).status);
    const sixth = await post(6);

    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(sixth.status).toBe(404);
    await expect(sixth.json()).resolves.toEqual({ ok: false, error: 'used_url' });
  });
});

describe('Web API faults', () => {
  it('surfaces a ratelimited fault as WebAPIRateLimitedError with Retry-After, on a client that does not retry', async () => {
    server.failNext('chat.postMessage', { error: 'ratelimited', retryAfterSeconds: 7 });
    const client = new WebClient(PROOF_BOT_TOKEN, { slackApiUrl: server.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: silentLogger });

    const error: unknown = await client.chat.postMessage({ channel: 'C0GENERAL', text: 'hi' }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WebAPIRateLimitedError);
    expect((error as WebAPIRateLimitedError).retryAfter).toBe(7);
    expect(server.messages('C0GENERAL')).toEqual([]);
  });

  it('turns a Web API failure after ack into a 500 for Slack when the app rethrows (Bolt on Lambda answers after the listener)', async () => {
    server.failNext('chat.postMessage', { error: 'ratelimited', retryAfterSeconds: 7 });

    const result = await driver.slashCommand({ user: ALICE, text: 'post-after-ack' });

    expect(result.response.statusCode).toBe(500);
    expect(proof.observed.errors[0]).toBeInstanceOf(WebAPIRateLimitedError);
    // The ack never reaches the user; Slack shows its own error instead.
    expect(server.ephemerals({ user: ALICE })).toMatchObject([{ author: SLACKBOT_USER_ID, text: '/crdb failed with the error "dispatch_failed"' }]);
  });

  it('keeps the ack when app.error handles the failure', async () => {
    proof = createProofApp({ slackApiUrl: server.apiUrl, swallowErrors: true });
    driver = new SlackDriver({ server, signingSecret: PROOF_SIGNING_SECRET, target: { kind: 'lambda', handler: proof.handler } });
    server.failNext('chat.postMessage', { error: 'channel_not_found' });

    const result = await driver.slashCommand({ user: ALICE, text: 'post-after-ack' });

    expect(result.response.statusCode).toBe(200);
    expect(server.ephemerals({ user: ALICE })).toMatchObject([{ via: 'ack', text: 'Working on it' }]);
  });
});

describe('modals', () => {
  it('opens a modal with the trigger_id and delivers its submission values to the listener', async () => {
    await driver.slashCommand({ user: ALICE, text: 'modal' });
    const [opened] = server.views();
    if (opened === undefined) throw new Error('no modal was opened');

    const result = await driver.submitView({ user: ALICE, view: opened.view, values: { cidr: { value: '203.0.113.7/32' } } });

    expect(opened).toMatchObject({ user: ALICE, closed: false, view: { callback_id: 'request_modal', type: 'modal' } });
    expect(result.response.statusCode).toBe(200);
    expect(proof.observed.submissions).toEqual([{ callbackId: 'request_modal', user: ALICE, values: { cidr: { value: { type: 'plain_text_input', value: '203.0.113.7/32' } } } }]);
    expect(server.view(opened.view.id)?.closed).toBe(true);
  });

  it('keeps the modal open and reports field errors when the app acks with response_action errors', async () => {
    await driver.slashCommand({ user: ALICE, text: 'modal' });
    const [opened] = server.views();
    if (opened === undefined) throw new Error('no modal was opened');

    const result = await driver.submitView({ user: ALICE, view: opened.view, values: { cidr: { value: '2001:db8::/32' } } });

    expect(result.viewAck).toEqual({ responseAction: 'errors', errors: { cidr: 'IPv6 is not supported' } });
    expect(server.view(opened.view.id)?.closed).toBe(false);
  });
});

describe('over HTTP (local mode)', () => {
  let http: Server;
  let app: App;

  afterEach(async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  it('drives a Bolt HTTPReceiver the same way', async () => {
    const receiver = new HTTPReceiver({ signingSecret: PROOF_SIGNING_SECRET, logger: silentLogger });
    app = new App({ token: PROOF_BOT_TOKEN, botId: 'B0BOT', botUserId: 'U0BOTUSER', receiver, logger: silentLogger, clientOptions: { slackApiUrl: server.apiUrl } });
    const seen: string[] = [];
    app.command('/crdb', async ({ command, ack }) => {
      seen.push(command.text);
      await ack(`HTTP ack: ${command.text}`);
    });
    http = createServer(receiver.requestListener);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    const httpDriver = new SlackDriver({ server, signingSecret: PROOF_SIGNING_SECRET, target: { kind: 'http', url: `http://127.0.0.1:${port}/slack/events` } });

    const result = await httpDriver.slashCommand({ user: ALICE, text: 'over http' });
    const forged = await httpDriver.send(forgeRequest(httpDriver.buildSlashCommand({ user: ALICE, text: 'forged' }).request, { resign: { signingSecret: 'test-wrong-secret' } }));

    expect(result.response.statusCode).toBe(200);
    expect(seen).toEqual(['over http']);
    expect(server.ephemerals({ user: ALICE })).toMatchObject([{ via: 'ack', text: 'HTTP ack: over http' }]);
    expect(forged.statusCode).toBe(401);
  });
});
