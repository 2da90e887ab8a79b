/**
 * Application metrics, end to end: the real EMF adapter (Powertools) behind the real runtime, fed
 * by signed commands and clicks. Each point is one CloudWatch Embedded Metric Format line; a
 * request is counted once however often its jobs are delivered, and no dimension carries what a
 * user typed or who they are.
 */
import { EmfMetrics } from '../../lib/emf-metrics';
import { type Harness, requestIdIn, startHarness, USERS } from '../support/app-harness';

const { alice, bob } = USERS;

interface EmfLine {
  readonly _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  readonly [key: string]: unknown;
}

const lines: string[] = [];
let h: Harness;

beforeAll(async () => {
  // Every job delivered twice more after it was handled, as SQS may.
  h = await startHarness({ metrics: new EmfMetrics({ service: 'worker', write: (line) => lines.push(line) }), duplicateJobDeliveries: 2 });
});

afterAll(async () => {
  await h.stop();
});

beforeEach(() => {
  lines.length = 0;
});

function points(): { name: string; unit: string; value: unknown; dimensions: Record<string, unknown>; namespace: string }[] {
  return lines.map((line) => {
    const emf = JSON.parse(line) as EmfLine;
    const [directive] = emf._aws.CloudWatchMetrics;
    if (directive === undefined || directive.Metrics.length !== 1) throw new Error(`not one metric: ${line}`);
    const [metric] = directive.Metrics;
    const names = directive.Dimensions[0] ?? [];
    return {
      name: metric?.Name ?? '',
      unit: metric?.Unit ?? '',
      value: emf[metric?.Name ?? ''],
      dimensions: Object.fromEntries(names.map((n) => [n, emf[n]])),
      namespace: directive.Namespace,
    };
  });
}

describe('application metrics (EMF)', () => {
  it('counts an approved and applied request once, with its approval latency and apply duration', async () => {
    const result = await h.command(alice, 'allow 198.51.100.0/24 --cluster prod --for 8h --reason "office"');
    const id = requestIdIn(h.ackText(result));
    await h.settle();
    await h.clickCard(bob, id, 'approve');
    await h.settle();
    expect((await h.runtime.store.getRequest(id))?.status).toBe('applied');

    const seen = points();
    expect(seen.map((p) => [p.name, p.dimensions])).toEqual(
      expect.arrayContaining([
        ['ApprovalLatency', { service: 'worker', kind: 'allow', decision: 'approved' }],
        ['RequestEnded', { service: 'worker', kind: 'allow', outcome: 'applied' }],
        ['ApplyDuration', { service: 'worker', kind: 'allow', outcome: 'applied' }],
      ]),
    );
    // Three jobs delivered three times each: still one of each.
    expect(seen.filter((p) => p.name === 'RequestEnded')).toHaveLength(1);
    expect(seen.filter((p) => p.name === 'ApplyDuration')).toHaveLength(1);
    expect(seen.filter((p) => p.name === 'ApprovalLatency')).toHaveLength(1);
    expect(new Set(seen.map((p) => p.namespace))).toEqual(new Set(['crdb-chatops']));
    const latency = seen.find((p) => p.name === 'ApprovalLatency');
    expect(latency?.unit).toBe('Milliseconds');
    expect(latency?.value).toEqual(expect.any(Number));
    expect(seen.find((p) => p.name === 'RequestEnded')).toMatchObject({ unit: 'Count', value: 1 });
    // Nothing typed in Slack, and nobody's id, is a dimension or a value.
    expect(lines.join('\n')).not.toMatch(/198\.51\.100|office|U0ALICE|U0BOB/);
  });

  it('counts a denied request by kind and outcome, with the latency of the denial', async () => {
    const denied = requestIdIn(h.ackText(await h.command(alice, 'allow 192.0.2.48/28 --cluster prod')));
    await h.settle();
    await h.clickCard(bob, denied, 'deny');
    const view = h.slack.views().find((v) => v.view.private_metadata === denied && !v.closed);
    if (view === undefined) throw new Error('no deny modal');
    await h.driver.submitView({ user: bob, view: view.view, values: { reason: { reason: 'use the VPN' } } });
    await h.settle();

    expect(points().filter((p) => p.name === 'RequestEnded').map((p) => p.dimensions)).toEqual([{ service: 'worker', kind: 'allow', outcome: 'denied' }]);
    expect(points().filter((p) => p.name === 'ApprovalLatency').map((p) => p.dimensions)).toEqual([{ service: 'worker', kind: 'allow', decision: 'denied' }]);
    expect(lines.join('\n')).not.toMatch(/VPN|192\.0\.2/);
  });

  it('counts each 429 from the Cloud API by cluster', async () => {
    h.cloud.failNext(2, { status: 429, retryAfterSeconds: 0 });
    const result = await h.command(alice, 'allowlist --cluster prod');
    await h.settle();
    expect(h.responses(result).at(-1)).toMatch(/prod/);
    expect(points().filter((p) => p.name === 'CloudApiThrottled')).toEqual([
      expect.objectContaining({ unit: 'Count', value: 1, dimensions: { service: 'worker', cluster: 'prod' } }),
      expect.objectContaining({ unit: 'Count', value: 1, dimensions: { service: 'worker', cluster: 'prod' } }),
    ]);
  });
});
