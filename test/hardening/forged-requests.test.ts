/**
 * Forged and replayed requests: well over a thousand generated variants of real slash commands and
 * button clicks — wrong secret, body tampered after signing, stale or future timestamps, missing
 * headers, wrong version labels, non-ASCII and oversized bodies — all refused with 401 by the
 * signature gate, before Bolt or the command parser sees them, with nothing written anywhere.
 */
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { createLogger, SecretRedactor } from '../../lib/log';
import { computeSlackSignature, type SlackRequest } from '../../stand-ins/slack';
import { forgeRequest } from '../../stand-ins/slack/forgery';
import { type Harness, messageText, requestIdIn, SIGNING_SECRET, startHarness, USERS } from '../support/app-harness';
import { printFigures } from './support';

const { alice, bob } = USERS;
const lines: string[] = [];
const destination = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});
const redactor = new SecretRedactor();

let h: Harness;
let cardRequestId: string;

beforeAll(async () => {
  h = await startHarness({ logger: createLogger({ level: 'info', redactor, destination }), redactor });
  const pending = await h.command(alice, 'allow 198.51.100.0/25 --cluster prod');
  cardRequestId = requestIdIn(h.ackText(pending));
  await h.settle();
});

const figures = { 'forged or replayed requests': 0, 'refused with 401': 0, 'log lines past the gate': 0 };

afterAll(async () => {
  printFigures('forged and replayed requests', figures);
  await h.stop();
});

const now = () => Math.floor(Date.now() / 1000);

/** A fresh, correctly signed request of each kind the app accepts. */
function genuine(kind: 'command' | 'click', text = 'allow 192.0.2.200 --cluster prod'): SlackRequest {
  if (kind === 'command') return h.driver.buildSlashCommand({ user: alice, text }).request;
  return h.driver.buildBlockAction({ user: bob, message: h.card(cardRequestId), actionId: 'crdb_approve' }).request;
}

type Forgery = { name: string; make: () => SlackRequest };

function variants(): Forgery[] {
  const out: Forgery[] = [];
  for (const kind of ['command', 'click'] as const) {
    for (let i = 0; i < 150; i++) out.push({ name: `${kind}: wrong secret #${i}`, make: () => forgeRequest(genuine(kind), { resign: { signingSecret: `not-the-secret-${i}-${Math.random()}` } }) });
    for (const delta of [301, 302, 360, 600, 3_600, 86_400, 31_536_000]) {
      out.push({ name: `${kind}: stale by ${delta}s`, make: () => forgeRequest(genuine(kind), { resign: { signingSecret: SIGNING_SECRET, timestamp: now() - delta } }) });
      out.push({ name: `${kind}: future by ${delta}s`, make: () => forgeRequest(genuine(kind), { resign: { signingSecret: SIGNING_SECRET, timestamp: now() + delta } }) });
    }
    for (const omit of [['X-Slack-Signature'], ['X-Slack-Request-Timestamp'], ['X-Slack-Signature', 'X-Slack-Request-Timestamp']]) {
      out.push({ name: `${kind}: missing ${omit.join('+')}`, make: () => forgeRequest(genuine(kind), { omitHeaders: omit }) });
    }
    for (const label of ['v1', 'V0', 'v00', 'v', '', 'v0 ', 'sha256']) {
      out.push({ name: `${kind}: version label "${label}"`, make: () => forgeRequest(genuine(kind), { relabel: label }) });
    }
    // Same hash and timestamp, but signed with Slack's secret under another version label.
    out.push({ name: `${kind}: v1 signed with the real secret`, make: () => forgeRequest(genuine(kind), { resign: { signingSecret: SIGNING_SECRET, version: 'v1' } }) });
  }
  const tampers: Array<[string, (body: string) => string]> = [
    ['user swapped', (b) => b.replace(/U0(ALICE|BOB)/, 'U0ADMIN')],
    ['action changed', (b) => b.replace(/allow|crdb_approve/, (m) => (m === 'allow' ? 'revoke' : 'crdb_deny'))],
    ['parameter appended', (b) => `${b}&user_id=U0ADMIN`],
    ['trailing newline', (b) => `${b}\n`],
    ['one byte flipped', (b) => `${b.slice(0, 10)}${b[10] === 'a' ? 'b' : 'a'}${b.slice(11)}`],
    ['emptied', () => ''],
    ['non-ASCII appended', (b) => `${b}&x=%C3%A9t%C3%A9é漢字`],
    ['non-ASCII replaced', (b) => b.replace('allow', 'ällöw')],
    ['payload replaced', () => `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'U0ADMIN' }, actions: [{ action_id: 'crdb_approve', value: 'x' }] }))}`],
  ];
  for (const kind of ['command', 'click'] as const) {
    for (const [name, tamper] of tampers) {
      for (let i = 0; i < 20; i++) {
        out.push({
          name: `${kind}: body ${name} after signing #${i}`,
          make: () => {
            const original = genuine(kind);
            const forged = forgeRequest(original, { tamper });
            if (forged.body === original.body) throw new Error(`tamper "${name}" changed nothing in a ${kind}`);
            return forged;
          },
        });
      }
    }
  }
  // Oversized bodies, correctly signed: not Slack, refused before the HMAC is even computed.
  for (const size of [300_000, 1_000_000, 5_000_000]) {
    out.push({
      name: `oversized body ${size} bytes`,
      make: () => {
        const request = genuine('command');
        const body = `${request.body}&pad=${'x'.repeat(size)}`;
        const timestamp = now();
        return { ...request, body, headers: { ...request.headers, 'X-Slack-Request-Timestamp': String(timestamp), 'X-Slack-Signature': computeSlackSignature({ signingSecret: SIGNING_SECRET, timestamp, body }) } };
      },
    });
  }
  // Replays of a genuine request with fuzzed signatures.
  fc.sample(fc.stringMatching(/^v0=[0-9a-f]{64}$/), { numRuns: 300, seed: 7 }).forEach((signature, i) =>
    out.push({ name: `random signature #${i}`, make: () => ({ ...genuine('command'), headers: { ...genuine('command').headers, 'X-Slack-Signature': signature } }) }),
  );
  return out;
}

describe('forged and replayed requests', () => {
  it('refuses every generated variant with 401 before parsing, and writes nothing', async () => {
    const all = variants();
    expect(all.length).toBeGreaterThanOrEqual(1_000);
    const requestsBefore = await h.runtime.store.listByRequester(alice, 100);
    const cardBefore = messageText(h.card(cardRequestId));
    const callsBefore = h.slack.calls().length;
    const linesBefore = lines.length;

    const statuses = new Map<number, number>();
    for (const variant of all) {
      const response = await h.driver.send(variant.make());
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      if (response.statusCode !== 401) throw new Error(`${variant.name}: answered ${response.statusCode}`);
    }
    await h.settle();

    expect([...statuses.entries()]).toEqual([[401, all.length]]);
    figures['forged or replayed requests'] = all.length;
    figures['refused with 401'] = statuses.get(401) ?? 0;
    expect(await h.runtime.store.listByRequester(alice, 100)).toEqual(requestsBefore);
    expect((await h.runtime.store.getRequest(cardRequestId))?.approvals).toEqual([]);
    expect(messageText(h.card(cardRequestId))).toBe(cardBefore);
    expect(h.slack.calls().length).toBe(callsBefore);
    const newLines = lines.slice(linesBefore).map((l) => JSON.parse(l) as { event?: string });
    expect(newLines.filter((l) => l.event === 'request.unverified')).toHaveLength(all.length);
    // Nothing past the gate ran: no command, decision or request log line.
    expect(newLines.filter((l) => l.event !== 'request.unverified')).toEqual([]);
    figures['log lines past the gate'] = newLines.filter((l) => l.event !== 'request.unverified').length;
  });

  it('still accepts the genuine article (the gate is not simply closed)', async () => {
    const response = await h.driver.send(genuine('command', 'help'));
    expect(response.statusCode).toBe(200);
    expect(messageText(response.json<{ text: string }>())).toMatch(/self-serve CockroachDB access/);
  });
});
