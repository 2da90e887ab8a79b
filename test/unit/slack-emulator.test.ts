/**
 * The Slack emulator's pure parts, no network: its signatures verify with Bolt's own verifier, its
 * Function URL events have the shape Lambda delivers, and its Block Kit checks hold.
 */
import { parse } from 'node:querystring';
import { verifySlackRequest } from '@slack/bolt';
import {
  BlockKitError,
  computeSlackSignature,
  createLambdaContext,
  functionUrlResponse,
  invokeHandler,
  parseBlocks,
  SlackDriver,
  SlackWebApiServer,
  toFunctionUrlEvent,
  type SlackRequest,
} from '../../stand-ins/slack';

const SECRET = 'test-signing-secret';
const request: SlackRequest = {
  method: 'POST',
  path: '/slack/events',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': 'Slackbot 1.0 (+https://api.slack.com/robots)', 'X-Slack-Signature': 'v0=abc' },
  body: 'command=%2Fcrdb&text=allow+1.2.3.4',
};

describe('v0 signing', () => {
  it("produces signatures Bolt's verifySlackRequest accepts", () => {
    const nowMs = 1_700_000_000_000;
    const timestamp = Math.floor(nowMs / 1000);
    const signature = computeSlackSignature({ signingSecret: SECRET, timestamp, body: request.body });

    expect(signature).toMatch(/^v0=[0-9a-f]{64}$/);
    expect(() =>
      verifySlackRequest({
        signingSecret: SECRET,
        body: request.body,
        headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
        nowMilliseconds: nowMs,
      }),
    ).not.toThrow();
    expect(() =>
      verifySlackRequest({
        signingSecret: 'test-other-secret',
        body: request.body,
        headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
        nowMilliseconds: nowMs,
      }),
    ).toThrow(/signature mismatch/);
  });
});

describe('Function URL events', () => {
  const now = (): number => Date.UTC(2024, 2, 12, 19, 3, 58, 390);

  it('carries a form post base64-encoded with lower-cased headers, as Function URLs deliver it', () => {
    const event = toFunctionUrlEvent(request, { now });

    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/slack/events',
      rawQueryString: '',
      isBase64Encoded: true,
      requestContext: {
        accountId: 'anonymous',
        http: { method: 'POST', path: '/slack/events', protocol: 'HTTP/1.1', userAgent: 'Slackbot 1.0 (+https://api.slack.com/robots)' },
        routeKey: '$default',
        stage: '$default',
        time: '12/Mar/2024:19:03:58 +0000',
        timeEpoch: now(),
      },
    });
    expect(Buffer.from(event.body ?? '', 'base64').toString('utf8')).toBe(request.body);
    expect(event.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(event.headers['x-slack-signature']).toBe('v0=abc');
    expect(Object.keys(event.headers).every((name) => name === name.toLowerCase())).toBe(true);
    expect(event.headers['x-forwarded-proto']).toBe('https');
    expect(event.headers['content-length']).toBe(String(Buffer.byteLength(request.body)));
    expect(event).not.toHaveProperty('queryStringParameters');
  });

  it('carries JSON as text, and honours a forced encoding', () => {
    const json: SlackRequest = { ...request, headers: { 'Content-Type': 'application/json' }, body: '{"type":"url_verification"}' };

    expect(toFunctionUrlEvent(json)).toMatchObject({ isBase64Encoded: false, body: json.body });
    expect(toFunctionUrlEvent(request, { base64: false })).toMatchObject({ isBase64Encoded: false, body: request.body });
  });

  it('gives a context with Lambda fields and a remaining-time clock', () => {
    let t = 1000;
    const context = createLambdaContext({ functionName: 'slack', timeoutMs: 3000, now: () => t });
    t += 1000;

    expect(context).toMatchObject({ functionName: 'slack', functionVersion: '$LATEST', memoryLimitInMB: '512', logGroupName: '/aws/lambda/slack' });
    expect(context.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:123456789012:function:slack');
    expect(context.getRemainingTimeInMillis()).toBe(2000);
    expect(() => context.succeed('x')).toThrow(/Node.js 24/);
  });

  it('reads results as Function URLs do: statusCode objects as responses, anything else as a 200 JSON body', () => {
    expect(functionUrlResponse({ statusCode: 401, body: '' })).toMatchObject({ statusCode: 401, body: '' });
    expect(functionUrlResponse({ statusCode: 200, headers: { 'Content-Type': 'text/plain', 'X-Count': 2 }, body: 'aGk=', isBase64Encoded: true })).toMatchObject({
      statusCode: 200,
      headers: { 'content-type': 'text/plain', 'x-count': '2' },
      body: 'hi',
    });
    expect(functionUrlResponse({ ok: true })).toMatchObject({ statusCode: 200, body: '{"ok":true}', headers: { 'content-type': 'application/json' } });
  });

  it('answers 502 when the handler throws, keeping the error for the test', async () => {
    const failure = new Error('boom');

    const response = await invokeHandler(() => Promise.reject(failure), request);

    expect(response).toMatchObject({ statusCode: 502, body: 'Internal Server Error', error: failure });
  });

  it('refuses a callback-style (3-argument) handler, as the Node.js 24 runtime does', async () => {
    const callbackStyle = (_event: unknown, _context: unknown, _callback: unknown): Promise<unknown> => Promise.resolve({ statusCode: 200, body: '' });

    await expect(invokeHandler(callbackStyle as Parameters<typeof invokeHandler>[0], request)).rejects.toThrow(/CallbackHandlerDeprecated/);
  });
});

describe('Block Kit checks', () => {
  it('refuses duplicate block ids and over-long button values with invalid_blocks', () => {
    const blocks = [
      { type: 'section', block_id: 'a', text: { type: 'mrkdwn', text: 'x' } },
      { type: 'actions', block_id: 'a', elements: [{ type: 'button', action_id: 'go', text: { type: 'plain_text', text: 'Go' }, value: 'v'.repeat(2001) }] },
    ];

    let error: unknown;
    try {
      parseBlocks(blocks, { maxBlocks: 50 });
    } catch (e) {
      error = e;
    }

    expect(error).toBeInstanceOf(BlockKitError);
    expect((error as BlockKitError).error).toBe('invalid_blocks');
    expect((error as BlockKitError).messages).toEqual([
      '[ERROR] duplicate block_id a [json-pointer:/blocks/1/block_id]',
      '[ERROR] must be less than 2001 characters [json-pointer:/blocks/1/elements/0/value]',
    ]);
  });

  it('refuses blocks that are not a JSON array with invalid_blocks_format', () => {
    expect(() => parseBlocks('{not json', { maxBlocks: 50 })).toThrow(expect.objectContaining({ error: 'invalid_blocks_format' }) as Error);
    expect(() => parseBlocks('{"type":"section"}', { maxBlocks: 50 })).toThrow(expect.objectContaining({ error: 'invalid_blocks_format' }) as Error);
  });
});

describe('slash command requests', () => {
  it('form-encode the fields Slack sends, in its order, signed over the exact body', () => {
    // Not started: a built request is never sent here, the public URL only goes into response_url.
    const server = new SlackWebApiServer({ publicUrl: 'http://127.0.0.1:1' });
    const driver = new SlackDriver({ server, signingSecret: SECRET, now: () => 1_700_000_000_000 });

    const { request: built, payload } = driver.buildSlashCommand({ user: 'U0ALICE', text: 'allow 1.2.3.4 --for 8h' });

    expect(built.body.split('&').map((pair) => pair.split('=')[0])).toEqual([
      'token',
      'team_id',
      'team_domain',
      'channel_id',
      'channel_name',
      'user_id',
      'user_name',
      'command',
      'text',
      'api_app_id',
      'is_enterprise_install',
      'response_url',
      'trigger_id',
    ]);
    expect(built.body).toContain('text=allow+1.2.3.4+--for+8h');
    expect(parse(built.body)).toEqual({ ...payload });
    expect(built.headers).toMatchObject({
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Slack-Request-Timestamp': '1700000000',
      'X-Slack-Signature': computeSlackSignature({ signingSecret: SECRET, timestamp: 1_700_000_000, body: built.body }),
    });
  });
});
