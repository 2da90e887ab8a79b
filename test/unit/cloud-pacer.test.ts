import { CloudApiPacers, SpacingPacer } from '../../lib/cluster-admin/cloud/pacer';

/**
 * A frozen clock: every request asks at the same instant (a burst), and the injected sleep records
 * when the pacer lets each one start instead of waiting.
 */
function burst() {
  const now = 1_000;
  const starts: number[] = [];
  const pacer = new SpacingPacer({
    now: () => now,
    sleep: async (ms) => {
      starts.push(now + ms);
      return Promise.resolve();
    },
  });
  return {
    starts,
    async request() {
      const before = starts.length;
      await pacer.acquire();
      if (starts.length === before) starts.push(now); // no wait: starts right away
    },
  };
}

describe('Cloud API pacer', () => {
  it('spaces a burst of requests 105 ms apart: never more than 10 starts in any second', async () => {
    const { starts, request } = burst();
    for (let i = 0; i < 12; i++) await request();

    expect(starts).toEqual(Array.from({ length: 12 }, (_, i) => 1_000 + 105 * i));
    for (const start of starts) {
      expect(starts.filter((t) => t >= start && t <= start + 1000).length).toBeLessThanOrEqual(10);
    }
  });

  it('does not delay a request when the previous one is long past', async () => {
    let now = 0;
    const waits: number[] = [];
    const pacer = new SpacingPacer({ now: () => now, sleep: (ms) => Promise.resolve(void waits.push(ms)) });
    await pacer.acquire();
    now += 5_000;
    await pacer.acquire();
    expect(waits).toEqual([]);
  });

  it('gives every client of one key the same pacer, and other keys their own', () => {
    const pacers = new CloudApiPacers();
    expect(pacers.forKey('CCDB1_fake_key_one')).toBe(pacers.forKey('CCDB1_fake_key_one'));
    expect(pacers.forKey('CCDB1_fake_key_one')).not.toBe(pacers.forKey('CCDB1_fake_key_two'));
    expect(new CloudApiPacers().forKey('CCDB1_fake_key_one')).not.toBe(pacers.forKey('CCDB1_fake_key_one'));
  });

  it('stops waiting when the caller aborts', async () => {
    const pacer = new SpacingPacer({ spacingMs: 60_000 });
    await pacer.acquire();
    await expect(pacer.acquire(AbortSignal.timeout(20))).rejects.toMatchObject({ name: 'AbortError' });
  });
});
