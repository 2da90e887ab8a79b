/**
 * The job schema: every kind of job the bot sends reads back as itself, and a body that is not a
 * job is a poison message (undefined), never a half-read job.
 */
import { parseJob } from '../../lib/queue/job-schema';
import { type Job } from '../../lib/requests/jobs';

const JOBS: readonly Job[] = [
  { type: 'submit', requestId: '01JF3K6Z9Q8V7W6X5Y4Z3A2B1C' },
  { type: 'decided', requestId: '01JF3K6Z9Q8V7W6X5Y4Z3A2B1C' },
  { type: 'drive', requestId: '01JF3K6Z9Q8V7W6X5Y4Z3A2B1C' },
  { type: 'cancel', requestId: '01JF3K6Z9Q8V7W6X5Y4Z3A2B1C', actor: 'U0ADMIN' },
  { type: 'connect', id: 'connect-t1', requester: 'U0ALICE', cluster: 'prod', user: 'maxroach', database: 'defaultdb', region: 'eu', format: 'psql', responseUrl: 'https://hooks.slack.com/x' },
  { type: 'read', id: 'read-t1', command: 'check', cluster: 'prod', requester: 'U0ALICE', ip: '203.0.113.7' },
  { type: 'home', id: 'home-Ev1', user: 'U0ALICE', opened: true },
  { type: 'home', id: 'home-t2', user: 'U0ALICE', notice: 'Working on it.' },
  { type: 'audit', id: 'audit-t1', requester: 'U0ADMIN', cluster: 'prod' },
  { type: 'audit-fix', id: 'fix-1', cluster: 'prod', fingerprint: 'abc', actor: 'U0ADMIN', report: { channel: 'C0AUDIT', ts: '1.2' } },
];

describe('parseJob', () => {
  it.each(JOBS.map((job) => [job.type, job] as const))('reads a %s job back as itself', (_type, job) => {
    expect(parseJob(JSON.stringify(job))).toEqual(job);
  });

  it('drops fields it does not know (a newer bot\'s job still runs)', () => {
    expect(parseJob(JSON.stringify({ type: 'submit', requestId: 'r-1', addedLater: 1 }))).toEqual({ type: 'submit', requestId: 'r-1' });
  });

  it.each([
    ['not JSON', 'submit r-1'],
    ['JSON that is not an object', '"submit"'],
    ['an unknown type', '{"type":"drop-table","requestId":"r-1"}'],
    ['a missing field', '{"type":"cancel","requestId":"r-1"}'],
    ['a field of the wrong type', '{"type":"submit","requestId":42}'],
    ['an empty request id', '{"type":"drive","requestId":""}'],
    ['an unknown read command', '{"type":"read","command":"drop","cluster":"prod","requester":"U0ALICE"}'],
    ['a non-boolean flag', '{"type":"home","user":"U0ALICE","opened":"yes"}'],
  ])('refuses %s', (_what, body) => {
    expect(parseJob(body)).toBeUndefined();
  });
});
