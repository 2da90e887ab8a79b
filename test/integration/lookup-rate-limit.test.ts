/**
 * A member who floods lookups (`allowlist`, `check`, `users`, `connect`) spends only their own
 * budget: past it, the bot says so and asks nothing of the cluster, so the Cloud API key's
 * 10 requests/s that everyone shares stays everyone's.
 */
import { type Harness, startHarness, USERS } from '../support/app-harness';

const { alice, mallory } = USERS;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    config: (document) => {
      (document.requests as Record<string, unknown>).readRateLimit = { max: 3, window: '1m' };
    },
  });
});

afterAll(async () => {
  await h.stop();
});

describe('lookups per requester', () => {
  it('refuses a member past their lookups in the window without calling the cluster, and leaves others alone', async () => {
    const cloudCalls = () => h.cloud.requestsFor('CockroachCloud_ListAllowlistEntries').length;
    const before = cloudCalls();
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) answers.push(await h.answer(await h.command(mallory, 'allowlist --cluster prod')));
    const refused = answers.filter((a) => /more than 3 lookups in 1m, the most one person may make; nothing was looked up/.test(a));
    expect(refused).toHaveLength(2);
    // Three lookups reached the Cloud API (each lists the allowlist once); the two refused did not.
    expect(cloudCalls() - before).toBe(3);

    // Another member's lookups are theirs.
    const others = await h.answer(await h.command(alice, 'allowlist --cluster prod'));
    expect(others).not.toMatch(/lookups in/);
    expect(cloudCalls() - before).toBe(4);
  });
});
