/**
 * `/crdb allow me`: the signed one-time link, its page on the function's own URL, and the request
 * a confirmation makes, end to end through handlers/slack.ts (Function URL events), the worker,
 * dynalite and the Cloud API stand-in. Every refusal is checked to change nothing: no request, no
 * allowlist entry, the link still as it was.
 */
import { LinkKey } from '../../lib/links/token';
import { type Harness, requestIdIn, SIGNING_SECRET, startHarness, USERS } from '../support/app-harness';
import { confirmForm } from '../support/observe';

const { alice, mallory } = USERS;
const PROD_CLUSTER_ID = '7a1c1f0e-0000-4000-8000-00000000c0de';
const HERE = '203.0.113.9';

let h: Harness;
/** The business clock runs this far ahead of the real one. */
let ahead = 0;

beforeAll(async () => {
  h = await startHarness({ now: () => new Date(Date.now() + ahead) });
});

afterAll(async () => {
  await h.stop();
});

afterEach(() => {
  ahead = 0;
  expect(h.cloud.takeViolations()).toEqual([]);
});

/** `/crdb <text>` as `user`; the link's path on the function URL and the ack's text. */
async function linkFor(user: string, text: string): Promise<{ path: string; ack: string; result: Awaited<ReturnType<Harness['command']>> }> {
  const result = await h.command(user, text);
  const ack = h.ackText(result);
  const match = /https:\/\/[a-z0-9.-]+\.lambda-url\.[a-z0-9-]+\.on\.aws(\/allow-me\/[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22})/.exec(ack);
  if (match?.[1] === undefined) throw new Error(`no link in: ${ack}`);
  return { path: match[1], ack, result };
}

function allowlist(): string[] {
  return [...h.cloud.state(PROD_CLUSTER_ID).allowlist.values()].map((e) => `${e.cidr_ip}/${e.cidr_mask}`);
}

async function requestsOf(user: string) {
  return h.runtime.store.listByRequester(user, 100);
}

describe('allow me', () => {
  it('replies with a one-time link on the function URL and requests nothing yet', async () => {
    const before = (await requestsOf(alice)).length;
    const { path, ack } = await linkFor(alice, 'allow me --cluster prod --for 8h --reason "hotel wifi"');
    expect(ack).toMatch(/Open this link.*on the machine you want to allow.*`prod`/s);
    expect(ack).toMatch(/works once, for 10 minutes/);
    expect(path).toMatch(/^\/allow-me\//);
    await h.settle();
    expect((await requestsOf(alice)).length).toBe(before);
  });

  it('shows the address the page was opened from, and on Confirm makes exactly the request `allow <address>/32` would', async () => {
    const { path, result } = await linkFor(alice, 'allow me --cluster prod --for 8h --reason "hotel wifi"');
    const page = await h.browse({ method: 'GET', path }, HERE);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`<code class="address" id="address">${HERE}</code>`);
    expect(page.body).toMatch(/<dt>Cluster<\/dt><dd><code>prod<\/code><\/dd>/);
    expect(page.body).toContain(`${HERE}/32</code>: SQL, for 8h`);
    expect(page.body).toContain('hotel wifi');
    expect(page.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'x-frame-options': 'DENY',
      'referrer-policy': 'same-origin',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/);
    expect(page.body).not.toMatch(/<script|https?:\/\/(?!checkip)/);
    expect(allowlist()).not.toContain(`${HERE}/32`);

    const done = await h.browse({ method: 'POST', path, body: confirmForm(page.body) }, HERE);
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain(`Allowing ${HERE}/32 on prod`);
    await h.settle();
    expect(allowlist()).toContain(`${HERE}/32`);
    // The requester hears it where they typed the command.
    expect(h.responses(result).at(-1)).toMatch(/`203\.0\.113\.9\/32` is on the allowlist of `prod` for SQL until .*You can connect now/s);

    // The same request as typing the address (another one, so both exist side by side).
    const typed = requestIdIn(h.ackText(await h.command(alice, 'allow 203.0.113.10 --cluster prod --for 8h --reason "hotel wifi"')));
    await h.settle();
    const [viaLink, viaCommand] = await Promise.all(
      [(await h.runtime.store.getLink(path.split('/')[2]?.split('.')[0] ?? ''))?.requestId ?? '', typed].map((id) => h.runtime.store.getRequest(id)),
    );
    const shape = (r: typeof viaLink) => ({ ...r?.params, allow: { ...(r?.params.kind === 'allow' ? r.params.allow : {}), cidr: 'x' }, requester: r?.requester, cluster: r?.cluster, reason: r?.reason, quorum: r?.quorum, risk: r?.risk, status: r?.status, breakGlass: r?.breakGlass });
    expect(viaLink?.params).toMatchObject({ kind: 'allow', allow: { cidr: `${HERE}/32` } });
    expect(shape(viaLink)).toEqual(shape(viaCommand));
  });

  it('works once: a second Confirm, from anywhere, and a reload say it was used and change nothing', async () => {
    const { path } = await linkFor(alice, 'allow me --cluster prod');
    const page = await h.browse({ method: 'GET', path }, '203.0.113.20');
    await h.browse({ method: 'POST', path, body: confirmForm(page.body) }, '203.0.113.20');
    await h.settle();
    const requests = (await requestsOf(alice)).length;

    const again = await h.browse({ method: 'POST', path, body: confirmForm(page.body) }, '203.0.113.20');
    expect(again.statusCode).toBe(410);
    expect(again.body).toMatch(/This link was already used/);
    const elsewhere = await h.browse({ method: 'GET', path }, '198.51.100.66');
    expect(elsewhere.statusCode).toBe(410);
    await h.settle();
    expect((await requestsOf(alice)).length).toBe(requests);
    expect(allowlist()).not.toContain('198.51.100.66/32');
  });

  it('refuses a changed link, a link from another bot, and an expired one, with a plain page', async () => {
    const { path } = await linkFor(alice, 'allow me --cluster prod');
    const token = path.slice('/allow-me/'.length);
    const flipped = `/allow-me/${token.slice(0, 5)}${token[5] === 'A' ? 'B' : 'A'}${token.slice(6)}`;
    const foreign = `/allow-me/${new LinkKey(`${SIGNING_SECRET}-other-bot`).issue().token}`;
    for (const bad of [flipped, foreign, '/allow-me/nonsense', `${path}x`]) {
      for (const method of ['GET', 'POST'] as const) {
        const page = await h.browse({ method, path: bad, body: 'address=203.0.113.30&form=x' }, '203.0.113.30');
        expect([bad, method, page.statusCode]).toEqual([bad, method, 404]);
        expect(page.body).toMatch(/This link is not valid/);
        expect(page.body).toMatch(/Nothing was changed/);
      }
    }

    ahead = 11 * 60_000;
    const expired = await h.browse({ method: 'GET', path }, '203.0.113.30');
    expect(expired.statusCode).toBe(410);
    expect(expired.body).toMatch(/This link has expired/);
    const link = await h.runtime.store.getLink(token.split('.')[0] ?? '');
    expect(link?.usedAt).toBeUndefined();
    await h.settle();
    expect(allowlist()).not.toContain('203.0.113.30/32');
  });

  it('explains IPv6 and leaves the link usable', async () => {
    const { path } = await linkFor(alice, 'allow me --cluster prod');
    const page = await h.browse({ method: 'GET', path }, '2001:db8::7');
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(/This browser came over IPv6/);
    expect(page.body).toMatch(/CockroachDB Cloud allowlists take IPv4 networks only/);
    expect(page.body).not.toMatch(/<form/);
    const posted = await h.browse({ method: 'POST', path, body: 'address=2001%3Adb8%3A%3A7&form=x' }, '2001:db8::7');
    expect(posted.body).toMatch(/came over IPv6/);
    // A dual-stack socket's IPv4 client is an IPv4 client.
    const v4 = await h.browse({ method: 'GET', path }, '::ffff:203.0.113.40');
    expect(v4.body).toContain('<code class="address" id="address">203.0.113.40</code>');
  });

  it('confirms only the address the page showed, from the page itself', async () => {
    const { path } = await linkFor(alice, 'allow me --cluster prod');
    const page = await h.browse({ method: 'GET', path }, '203.0.113.50');
    // The network changed between the page and the click: a new page for the new address.
    const moved = await h.browse({ method: 'POST', path, body: confirmForm(page.body) }, '203.0.113.51');
    expect(moved.statusCode).toBe(200);
    expect(moved.body).toMatch(/Your address changed from <code>203\.0\.113\.50<\/code>/);
    expect(moved.body).toContain('<code class="address" id="address">203.0.113.51</code>');
    // A form token for one address does not confirm another.
    const swapped = confirmForm(page.body).replace('203.0.113.50', '203.0.113.51');
    expect((await h.browse({ method: 'POST', path, body: swapped }, '203.0.113.51')).statusCode).toBe(400);
    expect((await h.browse({ method: 'POST', path, body: 'address=203.0.113.50' }, '203.0.113.50')).statusCode).toBe(400);
    // Another site posting the form (it cannot know the token, but is refused even so).
    const crossSite = await h.browse({ method: 'POST', path, body: confirmForm(page.body), headers: { origin: 'https://evil.example' } }, '203.0.113.50');
    expect(crossSite.statusCode).toBe(403);
    // An opaque origin (a sandboxed frame, a file) is not this endpoint either.
    expect((await h.browse({ method: 'POST', path, body: confirmForm(page.body), headers: { origin: 'null' } }, '203.0.113.50')).statusCode).toBe(403);
    await h.settle();
    expect(allowlist().filter((c) => c.startsWith('203.0.113.5'))).toEqual([]);
    expect((await h.runtime.store.getLink(path.split('/')[2]?.split('.')[0] ?? ''))?.usedAt).toBeUndefined();
  });

  it("escapes the requester's reason on the page", async () => {
    // As Slack delivers what was typed: `<`, `>` and `&` escaped.
    const { path } = await linkFor(alice, 'allow me --cluster prod --reason "&lt;img src=x onerror=alert(1)&gt; &amp; \'quotes\'"');
    const page = await h.browse({ method: 'GET', path }, '203.0.113.60');
    expect(page.body).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; &#39;quotes&#39;');
    expect(page.body).not.toContain('<img');
  });

  it('resumes a confirmation cut short after the link was marked used, from the same address only, into one request', async () => {
    const { path } = await linkFor(alice, 'allow me --cluster prod');
    const id = path.split('/')[2]?.split('.')[0] ?? '';
    const page = await h.browse({ method: 'GET', path }, '203.0.113.70');
    // What a crash right after marking the link used leaves: used, no request.
    expect((await h.runtime.store.useLink(id, { address: '203.0.113.70', at: new Date() })).ok).toBe(true);
    expect((await h.browse({ method: 'GET', path }, '203.0.113.71')).statusCode).toBe(410);
    const resumed = await h.browse({ method: 'POST', path, body: confirmForm(page.body) }, '203.0.113.70');
    expect(resumed.body).toContain('Allowing 203.0.113.70/32 on prod');
    const again = await h.browse({ method: 'POST', path, body: confirmForm(page.body) }, '203.0.113.70');
    expect(again.statusCode).toBe(410);
    await h.settle();
    expect((await requestsOf(alice)).filter((r) => r.params.kind === 'allow' && r.params.allow.cidr === '203.0.113.70/32')).toHaveLength(1);
    expect(allowlist()).toContain('203.0.113.70/32');
  });

  it("another member's link makes that member's request: mallory cannot act as alice with one", async () => {
    const { path } = await linkFor(mallory, 'allow me --cluster prod');
    const page = await h.browse({ method: 'GET', path }, '203.0.113.80');
    await h.browse({ method: 'POST', path, body: confirmForm(page.body) }, '203.0.113.80');
    await h.settle();
    const made = (await requestsOf(mallory)).find((r) => r.params.kind === 'allow' && r.params.allow.cidr === '203.0.113.80/32');
    expect(made?.requester).toBe(mallory);
    expect((await requestsOf(alice)).some((r) => r.params.kind === 'allow' && r.params.allow.cidr === '203.0.113.80/32')).toBe(false);
  });

  it('is refused in one line with an example when the cluster is ambiguous, and its flags are checked like allow', async () => {
    expect(h.ackText(await h.command(alice, 'allow me'))).toMatch(/Several clusters are configured.*--cluster/);
    const bad = h.ackText(await h.command(alice, 'allow me --for 2 weeks --cluster prod'));
    expect(bad).toMatch(/not a duration|--for/);
    expect(bad).toMatch(/\/crdb allow me/);
  });
});
