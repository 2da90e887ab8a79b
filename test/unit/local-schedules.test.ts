import { createLogger } from '../../lib/log';
import { LocalSchedules } from '../../local/schedules';

/** Local mode's timers, on a clock the test moves: what runs when. */
function scheduled(start: string, { reportAt = '09:00', timeZone = 'UTC' } = {}) {
  let now = new Date(start);
  const ran: string[] = [];
  const task = (name: string) => () => {
    ran.push(`${now.toISOString().slice(11, 16)} ${name}`);
    return Promise.resolve();
  };
  const schedules = new LocalSchedules({
    tasks: { recoverAll: task('recover'), reconcile: task('reconcile'), sweep: task('sweep'), report: task('report') },
    reconcileEveryMs: 5_000,
    sweepEveryMs: 60_000,
    reportAt,
    timeZone,
    logger: createLogger({ level: 'silent' }),
    now: () => now,
  });
  return {
    ran,
    at: async (iso: string) => {
      now = new Date(iso);
      await schedules.tick();
    },
  };
}

describe('local mode schedules', () => {
  it('recovers every open request and sweeps at start, then reconciles every 5 s and sweeps every minute', async () => {
    const s = scheduled('2026-12-04T10:00:00Z');
    await s.at('2026-12-04T10:00:00Z');
    await s.at('2026-12-04T10:00:04Z');
    await s.at('2026-12-04T10:00:05Z');
    await s.at('2026-12-04T10:01:00Z');
    expect(s.ran).toEqual(['10:00 recover', '10:00 sweep', '10:00 reconcile', '10:01 reconcile', '10:01 sweep']);
  });

  it('reports once a day at reportAt in the time zone, not at start when the time has passed', async () => {
    const s = scheduled('2026-12-04T07:59:00Z', { reportAt: '09:00', timeZone: 'Europe/Paris' });
    await s.at('2026-12-04T07:59:00Z'); // 08:59 in Paris
    await s.at('2026-12-04T08:00:30Z'); // 09:00 in Paris
    await s.at('2026-12-04T09:30:00Z');
    await s.at('2026-12-05T08:00:00Z');
    expect(s.ran.filter((r) => r.endsWith('report'))).toEqual(['08:00 report', '08:00 report']);

    const late = scheduled('2026-12-04T12:00:00Z');
    await late.at('2026-12-04T12:00:00Z');
    await late.at('2026-12-04T23:59:00Z');
    expect(late.ran.filter((r) => r.endsWith('report'))).toEqual([]);
    await late.at('2026-12-05T09:00:00Z');
    expect(late.ran.filter((r) => r.endsWith('report'))).toEqual(['09:00 report']);
  });
});
