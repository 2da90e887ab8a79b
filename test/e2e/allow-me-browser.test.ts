/**
 * `allow me` in a real browser: Debian's Chromium, driven by playwright-core, against local
 * mode's real endpoint (`npm start -- --headless`, a child process) with this test playing Slack.
 * The page is opened, read, used by keyboard alone, and confirmed; the request goes through the
 * approval card to the embedded PostgreSQL's pg_hba.conf. The bad-link pages are opened too.
 *
 * The endpoint listens on `::` so one server is reached over IPv4 (127.0.0.1, which it sees as
 * `::ffff:127.0.0.1`) and IPv6 (`::1`). With CHATOPS_SCREENSHOTS=<dir> it saves the README's
 * screenshots there.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { SlackDriver, SlackWebApiServer } from '../../stand-ins/slack';
import { APPROVERS_CHANNEL, GENERAL_CHANNEL, LOCAL_BOT, LOCAL_USERS } from '../../local/workspace';
import { messageText } from '../support/app-harness';
import { freePort } from '../support/global-setup';
import { waitUntil } from '../support/observe';
import { freshDataDir, type LocalProcess, LocalProcess as Local } from '../support/local-process';

const CHROMIUM = '/usr/bin/chromium';
const SIGNING_SECRET = 'test-signing-secret-allow-me-browser';
const BOT_TOKEN = 'xoxb-test-allow-me-browser';
const DEV = 'U0LOCALDEV';
const APPROVER = 'U0APPROVER';

let slack: SlackWebApiServer;
let local: LocalProcess;
let browser: Browser;
let driver: SlackDriver;
let port: number;
let hbaFile: string;
const cleanups: (() => Promise<void>)[] = [];
const screenshots = process.env.CHATOPS_SCREENSHOTS;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`This test needs Chromium at ${CHROMIUM}: apt-get install chromium (CI's .ci/run installs it).`);
  slack = new SlackWebApiServer({ bot: { ...LOCAL_BOT, token: BOT_TOKEN }, users: LOCAL_USERS, channels: [GENERAL_CHANNEL, APPROVERS_CHANNEL] });
  await slack.start();
  cleanups.push(() => slack.stop());
  const data = await freshDataDir();
  cleanups.push(data.remove);
  hbaFile = path.join(data.dir, 'postgres', 'data', 'pg_hba.conf');
  port = await freePort();
  local = Local.start({
    args: ['--headless', '--host', '::', '--data-dir', data.dir, '--pg-port', String(await freePort()), '--dynamo-port', String(await freePort())],
    env: { PORT: String(port), SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slack.apiUrl },
  });
  cleanups.push(() => local.kill());
  await local.waitFor(/"event":"local\.ready"/, { timeoutMs: 60_000 });
  driver = new SlackDriver({ server: slack, signingSecret: SIGNING_SECRET, target: { kind: 'http', url: `http://127.0.0.1:${port}/slack/events` } });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  cleanups.push(() => browser.close());
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

/** `/crdb <text>` as `user`; the link from the ack, on the endpoint's IPv4 or IPv6 address. */
async function link(text: string, family: 'ipv4' | 'ipv6' = 'ipv4', user = DEV): Promise<{ url: string; responseUrlId: string | undefined }> {
  const result = await driver.slashCommand({ user, text, channel: GENERAL_CHANNEL.id });
  const ack = messageText(result.response.json<{ text?: string; blocks?: unknown[] }>());
  const match = new RegExp(`http://localhost:${port}(/allow-me/[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{22})`).exec(ack);
  if (match?.[1] === undefined) throw new Error(`no link in the ack: ${ack}`);
  return { url: `http://${family === 'ipv4' ? '127.0.0.1' : '[::1]'}:${port}${match[1]}`, responseUrlId: result.responseUrlId };
}

async function open(url: string, width = 390): Promise<{ page: Page; status: number | undefined }> {
  const page = await browser.newPage({ viewport: { width, height: 844 } });
  const response = await page.goto(url);
  return { page, status: response?.status() };
}

async function shoot(page: Page, name: string): Promise<void> {
  if (screenshots === undefined) return;
  await mkdir(screenshots, { recursive: true });
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

const until = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> => waitUntil(what, probe, { timeoutMs: 20_000, detail: () => local.tail() });

describe('allow me, in Chromium', () => {
  it('shows the address, confirms by keyboard, and the approved entry reaches pg_hba.conf', async () => {
    const { url, responseUrlId } = await link('allow me --cluster local --for 1h --reason "laptop on hotel wifi"');
    const { page, status } = await open(url);
    expect(status).toBe(200);
    await expect(page.title()).resolves.toBe('Allow this network · crdb-chatops');
    await expect(page.locator('#address').textContent()).resolves.toBe('127.0.0.1');
    await expect(page.locator('h1').textContent()).resolves.toBe('Allow this network on local?');
    const confirm = page.getByRole('button', { name: 'Confirm: allow 127.0.0.1' });
    await expect(confirm.isVisible()).resolves.toBe(true);
    // Readable on a phone: nothing wider than the screen.
    await expect(page.evaluate<number>('document.documentElement.scrollWidth')).resolves.toBeLessThanOrEqual(390);
    await shoot(page, 'allow-me-confirm');
    expect(await readFile(hbaFile, 'utf8')).not.toMatch(/hostssl all all 127\.0\.0\.1\/32/);

    // Keyboard only: Tab reaches the button, Enter presses it.
    await page.keyboard.press('Tab');
    await expect(page.evaluate<string | undefined>('document.activeElement?.textContent')).resolves.toBe('Confirm: allow 127.0.0.1');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    await expect(page.locator('h1').textContent()).resolves.toBe('127.0.0.1/32 needs an approval on local');
    // The outcome as the page says it: no Slack markup (`<#C…>`, backticks) on a web page.
    const said = await page.getByRole('status').textContent();
    expect(said).toMatch(/^It needs 1 approval in Slack: allow 127\.0\.0\.1\/32 \(sql\) for 1h on local\./);
    expect(said).not.toMatch(/[`<]/);
    await shoot(page, 'allow-me-done');

    // The card in #db-approvers; the approver approves; the entry is written.
    const card = await until('the approval card', () => slack.messages(APPROVERS_CHANNEL.id).find((m) => /127\.0\.0\.1\/32/.test(messageText(m)) && !m.thread_ts));
    expect(messageText(card)).toMatch(/<@U0LOCALDEV>/);
    await driver.clickButton({ user: APPROVER, message: card, actionId: 'crdb_approve' });
    await until('the pg_hba.conf rule', async () => ((await readFile(hbaFile, 'utf8')).match(/hostssl all all 127\.0\.0\.1\/32 scram-sha-256 # crdb-chatops/) ? true : undefined));
    await until('"You can connect now" on the command\'s response_url', () =>
      responseUrlId !== undefined && slack.responses(responseUrlId).some((r) => /127\.0\.0\.1\/32.*You can connect now/s.test(messageText(r.body))) ? true : undefined,
    );

    // A reload, or the same link again: used, nothing more.
    const again = await open(url);
    expect(again.status).toBe(410);
    await expect(again.page.locator('h1').textContent()).resolves.toBe('This link was already used');
    await shoot(again.page, 'allow-me-used');
    await Promise.all([page.close(), again.page.close()]);
  });

  it('shows a plain page for a changed link, and nothing changes', async () => {
    const { url } = await link('allow me --cluster local');
    const [base = '', token = ''] = url.split('/allow-me/');
    const tampered = `${base}/allow-me/${token.replace(/\.([A-Za-z0-9_-])/, (_m, c: string) => `.${c === 'A' ? 'B' : 'A'}`)}`;
    const before = await readFile(hbaFile, 'utf8');
    const { page, status } = await open(tampered);
    expect(status).toBe(404);
    await expect(page.locator('h1').textContent()).resolves.toBe('This link is not valid');
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/changed, cut short, or made by another bot/);
    await expect(page.locator('form').count()).resolves.toBe(0);
    await shoot(page, 'allow-me-invalid');
    expect(await readFile(hbaFile, 'utf8')).toBe(before);
    await page.close();
  });

  it('explains IPv6 to a browser that came over it, and the link still works over IPv4', async () => {
    const { url } = await link('allow me --cluster local', 'ipv6');
    const { page, status } = await open(url);
    expect(status).toBe(200);
    await expect(page.locator('h1').textContent()).resolves.toBe('This browser came over IPv6');
    await expect(page.locator('main').textContent()).resolves.toMatch(/sees ::1, an IPv6 address/);
    await expect(page.locator('form').count()).resolves.toBe(0);
    await shoot(page, 'allow-me-ipv6');
    const v4 = await open(url.replace('[::1]', '127.0.0.1'));
    await expect(v4.page.locator('#address').textContent()).resolves.toBe('127.0.0.1');
    await Promise.all([page.close(), v4.page.close()]);
  });
});
