/**
 * Access integrity at the Slack edge: text is data, payloads are bound, response_urls are Slack's.
 *
 * - Everything a requester or a cluster supplied (a `--reason`, a `--name`, an entry name from the
 *   Cloud API, a role name from PostgreSQL) reaches Block Kit inert: no live `<!channel>`, mention
 *   or disguised link, no code span broken by a backtick, no bold/strike/newline imitating a
 *   card's fields, labels quoted and capped; and the break-glass notice names what changed.
 * - A click counts only from the configured team (and Enterprise Grid org), from a user id (not a
 *   group id), from the card's (or finding's) own message and block: every variant with a foreign,
 *   missing or mismatched field is refused, logged, and changes nothing.
 * - A `response_url` outside the configured prefix is never fetched: answers go by DM.
 *
 * Real HTTP through the emulator; the app is the Lambda handler, as deployed.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type ChatRequest } from '../../lib/requests/types';
import { type BlockAction, type ButtonAction } from '@slack/bolt';
import { type BuiltRequest, type SlackMessage } from '../../stand-ins/slack';
import { type Harness, messageText, PROD_CLUSTER_ID, requestIdIn, startHarness, USERS } from '../support/app-harness';
import { testPostgres } from '../support/env';
import { connectAs } from '../support/pg-client';
import { captureLogs, printFigures } from './support';

const { alice, bob, carol, admin, dave, mallory } = USERS;
const AUDIT_CHANNEL = 'C0AUDIT91';
const ROLE = 'hd91`x*y_<!here>';

const logs = captureLogs({ level: 'info' });
const figures = { forgedClicks: 0, refusedAndLogged: 0, hostileStrings: 0, evilResponseUrls: 0 };
let h: Harness;

/** A local HTTP server that records every request: where a forged response_url points. */
let evil: { server: Server; url: string; hits: string[] };

beforeAll(async () => {
  h = await startHarness({
    logger: logs.logger,
    config: (doc) => {
      for (const cluster of doc.clusters as Array<Record<string, unknown>>) if (cluster.alias === 'prod') cluster.auditChannel = AUDIT_CHANNEL;
    },
  });
  h.slack.addChannel({ id: AUDIT_CHANNEL, name: 'db-audit-91' });
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method ?? ''} ${req.url ?? ''}`);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  evil = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/response/forged`, hits };
});

afterAll(async () => {
  printFigures('slack integrity', figures);
  evil.server.closeAllConnections();
  await new Promise<void>((resolve) => evil.server.close(() => resolve()));
  await h.stop();
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** `<…>` sequences Slack acts on, other than those the bot builds from validated ids. */
function liveMarkup(text: string): string[] {
  return [...text.matchAll(/<[^>]*>/g)].map((m) => m[0]).filter((t) => !/^<@[UW][A-Z0-9]+>$|^<#C[A-Z0-9]+(\|[^>]*)?>$|^<!date\^[^>]*>$|^<!subteam\^S[A-Z0-9]+>$/.test(t));
}

/** A line with its inline code spans removed: what Slack formats. */
function outsideCode(line: string): string {
  return line.replace(/`[^`\n]*`/g, '');
}

/** Every mrkdwn/plain text of a message, one string each. */
function texts(message: { text?: string; blocks?: readonly unknown[] }): string[] {
  return messageText(message).split('\n');
}

async function pendingRequest(user: string, text: string): Promise<string> {
  const result = await h.command(user, text);
  await h.settle();
  return requestIdIn(h.ackText(result));
}

/** Builds a click as Slack would, lets `tamper` change its payload, signs and sends it. */
async function forgedClick(built: BuiltRequest<BlockAction<ButtonAction>>, tamper: (payload: Record<string, unknown>) => void): Promise<void> {
  const payload = structuredClone(built.payload) as unknown as Record<string, unknown>;
  tamper(payload);
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const response = await h.driver.send(h.driver.sign(body, 'application/x-www-form-urlencoded'));
  expect(response.statusCode).toBe(200);
  figures.forgedClicks += 1;
}

/** Sends `/crdb <text>` as `user` with its response_url replaced by `responseUrl`. */
async function commandWithResponseUrl(user: string, text: string, responseUrl: string): Promise<string> {
  const built = h.driver.buildSlashCommand({ user, text });
  const payload: Record<string, string> = { ...(built.payload as unknown as Record<string, string>), response_url: responseUrl };
  const response = await h.driver.send(h.driver.sign(new URLSearchParams(payload).toString(), 'application/x-www-form-urlencoded'));
  expect(response.statusCode).toBe(200);
  figures.evilResponseUrls += 1;
  return messageText(JSON.parse(response.body) as { text?: string; blocks?: unknown[] });
}

const del = (payload: Record<string, unknown>, ...path: string[]): void => {
  let node = payload;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  delete node[path.at(-1) ?? ''];
};
const set = (payload: Record<string, unknown>, path: string[], value: unknown): void => {
  let node = payload;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[path.at(-1) ?? ''] = value;
};

// ---------------------------------------------------------------------------------------------

describe('text is data', () => {
  it('renders a break-glass reason inert and names what changed', async () => {
    // Slack sends what people type with `& < >` as entities; the parser decodes them.
    const ack = await h.command(dave, 'allow 198.51.100.80/28 --cluster prod --break-glass --reason "&lt;!channel&gt; &lt;https://evil.example/|click&gt; *Risk* ~x~ `a"');
    await h.settle();
    expect(h.ackText(ack)).toMatch(/Working on it/);
    figures.hostileStrings += 1;
    const notices = h.slack.messages('C0APPROVE').filter((m) => /Break-glass change by <@U0DAVE>/.test(messageText(m)));
    expect(notices).toHaveLength(1);
    const text = messageText(notices[0] as SlackMessage);
    expect(liveMarkup(text)).toEqual([]);
    expect(text).toContain('&lt;!channel&gt;');
    expect(text).not.toMatch(/<https?:/);
    // What changed: the CIDR, the access and the cluster.
    expect(text).toMatch(/198\.51\.100\.80\/28/);
    expect(text).toMatch(/\bprod\b/);
    // No formatting from the reason: the bold, strike and backtick are look-alikes.
    const reason = text.slice(text.indexOf('Reason:'));
    expect(reason).not.toMatch(/[*~`]/);
  });

  it('quotes, unformats and caps a label; it cannot imitate the card fields', async () => {
    const label = '`*Requester*` &lt;@U0MALLORY&gt; _it_ ~s~ &lt;!here&gt;';
    const id = await pendingRequest(alice, `allow 198.51.100.0/28 --cluster prod --name "${label}"`);
    figures.hostileStrings += 1;
    const card = h.card(id);
    const all = texts(card);
    expect(liveMarkup(all.join('\n'))).toEqual([]);
    // The card's own bold field names appear once each: the label did not add one.
    expect(all.filter((t) => t.includes('*Requester*'))).toHaveLength(1);
    const what = all.find((t) => t.includes('198.51.100.0/28') && t.includes('“'));
    expect(what).toBeDefined();
    const quoted = /“([^”]*)”/.exec(what ?? '')?.[1] ?? '';
    expect(quoted).not.toMatch(/[*~`\n]/);
    expect(quoted).not.toMatch(/(^|\s)_|_(\s|$)/);
    expect(outsideCode(what ?? '')).not.toContain('<');
  });

  it('quotes and caps an entry name from the Cloud API, and keeps role names from the cluster inside their code span', async () => {
    const name = `*Requester*\n<@U0MALLORY> \`x\` <https://evil.example/|login> ${'y'.repeat(200)}`;
    h.cloud.state(PROD_CLUSTER_ID).allowlist.set('100.91.0.0/16', { cidr_ip: '100.91.0.0', cidr_mask: 16, name, sql: true, ui: false });
    const pg = testPostgres();
    const client = await connectAs({ user: pg.adminUser, password: pg.adminPassword });
    try {
      await client.query(`CREATE ROLE "${ROLE.replace(/"/g, '""')}" LOGIN`);
      figures.hostileStrings += 2;
      await h.command(alice, 'allowlist --cluster prod');
      await h.command(alice, 'users --cluster local');
      await h.command(admin, 'audit --cluster prod');
      await h.settle();
    } finally {
      await client.query(`DROP ROLE IF EXISTS "${ROLE.replace(/"/g, '""')}"`);
      await client.end();
    }
    const answers = [...h.slack.responses().filter((p) => p.status === 200).map((p) => messageText(p.body as { text?: string; blocks?: unknown[] })), ...h.dms(alice).map(messageText)];
    const allowlist = answers.find((t) => t.includes('100.91.0.0/16'));
    const users = answers.find((t) => t.includes('hd91'));
    const report = h.slack.messages(AUDIT_CHANNEL).map(messageText).find((t) => t.includes('100.91.0.0/16'));
    for (const text of [allowlist, users, report]) {
      expect(text).toBeDefined();
      expect(liveMarkup(text ?? '')).toEqual([]);
    }
    const entryLine = (allowlist ?? '').split('\n').find((l) => l.includes('100.91.0.0/16')) ?? '';
    const quoted = /“([^”]*)”/.exec(entryLine)?.[1] ?? '';
    // Capped as people read it (entities count as the one character they show).
    expect([...quoted.replace(/&(lt|gt|amp);/g, '_')].length).toBeLessThanOrEqual(64);
    expect(quoted.endsWith('…')).toBe(true);
    expect(quoted).not.toMatch(/[*`]/);
    // The name's newline did not start a line that looks like a field.
    expect((allowlist ?? '').split('\n').some((l) => l.startsWith('&lt;@U0MALLORY') || l.startsWith('<@U0MALLORY'))).toBe(false);
    const roleLine = (users ?? '').split('\n').find((l) => l.includes('hd91')) ?? '';
    expect(outsideCode(roleLine)).not.toContain('hd91');
    expect(outsideCode(roleLine)).not.toMatch(/x\*y|here/);
  });
});

describe('clicks are bound to the team, a user id, and the card', () => {
  let id = '';
  let other = '';
  beforeAll(async () => {
    id = await pendingRequest(alice, 'allow 198.51.100.16/28 --cluster prod');
    other = await pendingRequest(alice, 'allow 198.51.100.32/28 --cluster prod');
  });

  const approve = (user = bob) => h.driver.buildBlockAction({ user, message: h.card(id), actionId: 'crdb_approve' });
  const deny = (user = bob) => h.driver.buildBlockAction({ user, message: h.card(id), actionId: 'crdb_deny' });
  const action = (p: Record<string, unknown>) => (p.actions as Array<Record<string, unknown>>)[0] as Record<string, unknown>;

  const variants: Array<[string, (p: Record<string, unknown>) => void]> = [
    ['a foreign team.id', (p) => set(p, ['team', 'id'], 'T0EVIL')],
    ['no team', (p) => del(p, 'team')],
    ['an empty team.id', (p) => set(p, ['team', 'id'], '')],
    ["a foreign user.team_id", (p) => set(p, ['user', 'team_id'], 'T0EVIL')],
    ['no user.team_id', (p) => del(p, 'user', 'team_id')],
    ['a user group id as user.id', (p) => set(p, ['user', 'id'], 'S0APPROVERS')],
    ['a channel id as user.id', (p) => set(p, ['user', 'id'], 'C0APPROVE')],
    ['no container', (p) => del(p, 'container')],
    ['an ephemeral container', (p) => set(p, ['container', 'is_ephemeral'], true)],
    ['a view container', (p) => set(p, ['container', 'type'], 'view')],
    ["another message's ts in the container", (p) => set(p, ['container', 'message_ts'], '1700000000.000100')],
    ['another channel in the container', (p) => set(p, ['container', 'channel_id'], 'C0GENERAL')],
    ['no message', (p) => del(p, 'message')],
    ['no message ts', (p) => del(p, 'message', 'ts')],
    ['no channel', (p) => del(p, 'channel')],
    ['container and message moved together to another message', (p) => (set(p, ['container', 'message_ts'], '1700000000.000100'), set(p, ['message', 'ts'], '1700000000.000100'))],
    ['no block_id', (p) => delete action(p).block_id],
    ["another request's block_id", (p) => (action(p).block_id = `decide-${other}`)],
    ['a block_id that is not a card block', (p) => (action(p).block_id = 'reason')],
  ];

  it.each(variants)('refuses an Approve with %s: logged, nothing changed', async (_name, tamper) => {
    const before = logs.records().filter((r) => r.event === 'click.refused' || r.event === 'decision.refused').length;
    await forgedClick(approve(), tamper);
    await h.settle();
    const request = (await h.runtime.store.getRequest(id)) as ChatRequest;
    expect(request.status).toBe('pending');
    expect(request.approvals).toEqual([]);
    expect(logs.records().filter((r) => r.event === 'click.refused' || r.event === 'decision.refused').length - before).toBe(1);
    figures.refusedAndLogged += 1;
  });

  it('refuses a Deny with a foreign team or a group id: no modal opens', async () => {
    await forgedClick(deny(), (p) => set(p, ['team', 'id'], 'T0EVIL'));
    await forgedClick(deny(), (p) => set(p, ['user', 'id'], 'S0APPROVERS'));
    await forgedClick(deny(), (p) => del(p, 'container'));
    expect(h.slack.views().filter((v) => v.view.private_metadata === id)).toEqual([]);
    figures.refusedAndLogged += 3;
  });

  it('refuses a deny modal submitted from another team', async () => {
    await h.clickCard(carol, other, 'deny');
    const view = h.slack.views().find((v) => v.view.private_metadata === other && !v.closed);
    if (view === undefined) throw new Error('no deny modal');
    const built = h.driver.buildViewSubmission({ user: carol, view: view.view });
    const payload = structuredClone(built.payload) as unknown as Record<string, unknown>;
    set(payload, ['team', 'id'], 'T0EVIL');
    const response = await h.driver.send(h.driver.sign(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), 'application/x-www-form-urlencoded'));
    expect(response.body).toMatch(/does not serve this workspace/);
    await h.settle();
    expect(((await h.runtime.store.getRequest(other)) as ChatRequest).status).toBe('pending');
  });

  it('counts the same click when nothing is forged (the gate is not simply closed)', async () => {
    await h.clickCard(bob, id, 'approve');
    await h.settle();
    const request = (await h.runtime.store.getRequest(id)) as ChatRequest;
    expect(request.approvals.map((a) => a.by)).toEqual([bob]);
  });

  it('refuses Remove / Keep on a finding from another team, off the report, or off the finding block', async () => {
    h.cloud.state(PROD_CLUSTER_ID).allowlist.set('100.92.0.0/16', { cidr_ip: '100.92.0.0', cidr_mask: 16, name: 'console', sql: true, ui: false });
    await h.command(admin, 'audit --cluster prod');
    await h.settle();
    const message = h.slack.messages(AUDIT_CHANNEL).filter((m) => messageText(m).includes('100.92.0.0/16')).at(-1);
    if (message === undefined) throw new Error('no report');
    const finding = (message.blocks ?? []).find((b) => b.block_id?.startsWith('finding-') === true && JSON.stringify(b).includes('100.92.0.0/16'));
    if (finding?.block_id === undefined) throw new Error('no finding block');
    const blockId = finding.block_id.replace(/^finding-/, 'finding-actions-');
    const keep = () => h.driver.buildBlockAction({ user: bob, message, actionId: 'crdb_audit_keep', blockId });
    const before = logs.records('click.refused').length;
    await forgedClick(keep(), (p) => set(p, ['team', 'id'], 'T0EVIL'));
    await forgedClick(keep(), (p) => set(p, ['user', 'id'], 'S0APPROVERS'));
    await forgedClick(keep(), (p) => del(p, 'container'));
    await forgedClick(keep(), (p) => del(p, 'message'));
    await forgedClick(keep(), (p) => delete action(p).block_id);
    await forgedClick(keep(), (p) => set(p, ['channel', 'id'], 'C0APPROVE'));
    await forgedClick(keep(), (p) => (set(p, ['channel', 'id'], 'C0APPROVE'), set(p, ['container', 'channel_id'], 'C0APPROVE')));
    await forgedClick(keep(), (p) => set(p, ['message', 'bot_id'], 'B0SOMEONE'));
    await h.settle();
    expect(logs.records('click.refused').length - before).toBe(8);
    figures.refusedAndLogged += 8;
    expect(await h.runtime.store.listAuditAcks('prod')).toEqual([]);
    // The genuine click counts.
    await h.driver.clickButton({ user: bob, message, actionId: 'crdb_audit_keep', blockId });
    await h.settle();
    expect((await h.runtime.store.listAuditAcks('prod')).length).toBe(1);
  });
});

describe('an Enterprise Grid org', () => {
  let g: Harness;
  beforeAll(async () => {
    g = await startHarness({ logger: logs.logger, team: { enterprise: { id: 'E0ORG91', name: 'Org' } } });
  });
  afterAll(async () => {
    await g.stop();
  });

  it('refuses clicks without the org, or from another, and counts the genuine one', async () => {
    const result = await g.command(alice, 'allow 198.51.100.48/28 --cluster prod');
    await g.settle();
    const id = requestIdIn(g.ackText(result));
    const send = async (tamper: (p: Record<string, unknown>) => void) => {
      const built = g.driver.buildBlockAction({ user: bob, message: g.card(id), actionId: 'crdb_approve' });
      const payload = structuredClone(built.payload) as unknown as Record<string, unknown>;
      tamper(payload);
      await g.driver.send(g.driver.sign(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), 'application/x-www-form-urlencoded'));
      figures.forgedClicks += 1;
    };
    await send((p) => set(p, ['enterprise'], null));
    await send((p) => set(p, ['enterprise'], { id: 'E0EVIL', name: 'Evil' }));
    await send((p) => (set(p, ['enterprise'], { id: 'E0EVIL', name: 'Evil' }), set(p, ['team', 'enterprise_id'], 'E0EVIL')));
    await g.settle();
    expect(((await g.runtime.store.getRequest(id)) as ChatRequest).approvals).toEqual([]);
    figures.refusedAndLogged += 3;
    await g.clickCard(bob, id, 'approve');
    await g.settle();
    expect(((await g.runtime.store.getRequest(id)) as ChatRequest).approvals.map((a) => a.by)).toEqual([bob]);
  });
});

describe("a response_url that is not Slack's", () => {
  it('is never fetched: a command is answered by DM', async () => {
    const dmsBefore = h.dms(mallory).length;
    const ack = await commandWithResponseUrl(mallory, 'check 100.91.1.1 --cluster prod', evil.url);
    expect(ack).toMatch(/Looking up whether/);
    await commandWithResponseUrl(mallory, 'allowlist --cluster prod', 'https://evil.example/hook');
    // Under the prefix as written, outside it once normalised.
    await commandWithResponseUrl(mallory, 'users --cluster local', `${h.slack.url}/response/../api/chat.postMessage`);
    await h.settle();
    expect(evil.hits).toEqual([]);
    const dms = h.dms(mallory).slice(dmsBefore).map(messageText);
    expect(dms.some((t) => /100\.91\.1\.1/.test(t))).toBe(true);
    expect(dms.some((t) => /Allowlist of `prod`/.test(t))).toBe(true);
    expect(dms.some((t) => /SQL users on `local`/.test(t))).toBe(true);
    expect(logs.records('response-url.ignored').length).toBeGreaterThanOrEqual(3);
  });

  it("is never fetched: a request's outcome and a click's answer go by DM", async () => {
    const ack = await commandWithResponseUrl(alice, 'allow 198.51.100.64/28 --cluster prod', evil.url);
    const id = requestIdIn(ack);
    await h.settle();
    const built = h.driver.buildBlockAction({ user: carol, message: h.card(id), actionId: 'crdb_approve' });
    const dmsBefore = h.dms(carol).length;
    await forgedClick(built, (p) => set(p, ['response_url'], evil.url));
    await h.settle();
    expect(evil.hits).toEqual([]);
    expect(((await h.runtime.store.getRequest(id)) as ChatRequest).status).toBe('applied');
    expect(h.dms(carol).slice(dmsBefore).map(messageText).some((t) => /Approved/.test(t))).toBe(true);
    expect(h.dms(alice).map(messageText).some((t) => /198\.51\.100\.64\/28/.test(t))).toBe(true);
  });
});
