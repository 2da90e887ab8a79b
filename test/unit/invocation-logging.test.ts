/**
 * Every log line of a Lambda invocation names it (`awsRequestId`, `functionName`): the four
 * exported handlers are wrapped by `invocationLogged`; the factories local mode and the tests use
 * are not, so their lines carry neither field.
 */
import { handler as auditEntry } from '../../handlers/audit';
import { handler as outboxEntry } from '../../handlers/outbox';
import { handler as slackEntry } from '../../handlers/slack';
import { handler as workerEntry } from '../../handlers/worker';
import { createLogger, invocationLogged } from '../../lib/log';

function capture(): { lines: () => Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const raw: string[] = [];
  const logger = createLogger({ destination: { write: (line: string) => void raw.push(line) } });
  return { logger, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('invocation ids on log lines', () => {
  it('are absent outside a wrapped invocation (local mode, tests)', async () => {
    const { logger, lines } = capture();
    const unwrapped = (_event: unknown, _context: { awsRequestId: string; functionName: string }): Promise<void> => {
      logger.info('work');
      return Promise.resolve();
    };
    await unwrapped({}, { awsRequestId: 'r-0', functionName: 'f' });
    expect(lines()[0]).not.toHaveProperty('awsRequestId');
    expect(lines()[0]).not.toHaveProperty('functionName');
  });

  it('name the invocation on every line written during it, from any logger, and the next invocation replaces them', async () => {
    const { logger, lines } = capture();
    const child = logger.child({ requestId: 'req-1' });
    const wrapped = invocationLogged(async (event: { n: number }, _context: { awsRequestId: string; functionName: string }) => {
      logger.info({ n: event.n }, 'start');
      await new Promise((resolve) => setImmediate(resolve));
      child.warn('later, after an await');
      return event.n;
    });

    await expect(wrapped({ n: 1 }, { awsRequestId: 'aaaa-1111', functionName: 'crdb-chatops-worker' })).resolves.toBe(1);
    await wrapped({ n: 2 }, { awsRequestId: 'bbbb-2222', functionName: 'crdb-chatops-worker' });

    expect(lines().map((l) => [l.message, l.awsRequestId, l.functionName])).toEqual([
      ['start', 'aaaa-1111', 'crdb-chatops-worker'],
      ['later, after an await', 'aaaa-1111', 'crdb-chatops-worker'],
      ['start', 'bbbb-2222', 'crdb-chatops-worker'],
      ['later, after an await', 'bbbb-2222', 'crdb-chatops-worker'],
    ]);
    expect(lines()[1]).toMatchObject({ requestId: 'req-1' });
  });

  it.each([
    ['slack', slackEntry],
    ['worker', workerEntry],
    ['audit', auditEntry],
    ['outbox', outboxEntry],
  ])('wrap the %s function\'s Lambda entry point', (_name, entry) => {
    expect(entry.name).toBe('invocationLoggedHandler');
  });
});
