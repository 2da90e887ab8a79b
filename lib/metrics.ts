/**
 * Application metrics: what operators graph and alarm on beside Lambda's own (errors, throttles,
 * durations). The domain and the cluster-admin library speak to this port; the composition root
 * chooses where the points go: CloudWatch Embedded Metric Format on Lambda (`EmfMetrics`, in
 * emf-metrics.ts), the log in local mode, nowhere by default.
 *
 * Dimensions are only ever values from closed sets (a request kind, an outcome, a configured
 * cluster alias): never a user, an address or anything typed in Slack, which would make one
 * CloudWatch metric per value.
 */
import { type Logger } from './log';

/** CloudWatch namespace of every application metric. */
export const METRICS_NAMESPACE = 'crdb-chatops';

export const METRIC = {
  /** A request reached a final status. Dimensions: kind, outcome (applied, failed, denied, expired, refused). Count. */
  requestEnded: 'RequestEnded',
  /** From a request to its decision (quorum reached or denied). Dimensions: kind, decision. Milliseconds. */
  approvalLatency: 'ApprovalLatency',
  /** From approval (or the request, when none was needed) to applied or failed, propagation waits included. Dimensions: kind, outcome. Milliseconds. */
  applyDuration: 'ApplyDuration',
  /** A Cloud API answer 429 (Too Many Requests). Dimension: cluster. Count. */
  cloudApiThrottled: 'CloudApiThrottled',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

export type MetricDimensions = Readonly<Record<string, string>>;

export interface Metrics {
  count(name: MetricName, dimensions: MetricDimensions): void;
  milliseconds(name: MetricName, value: number, dimensions: MetricDimensions): void;
}

/** Where metrics go when nobody asked for them. */
export const NO_METRICS: Metrics = {
  count: () => undefined,
  milliseconds: () => undefined,
};

/** Local mode: each point one debug log line (`event: "metric"`). */
export class LoggedMetrics implements Metrics {
  constructor(private readonly logger: Logger) {}

  count(name: MetricName, dimensions: MetricDimensions): void {
    this.logger.debug({ event: 'metric', metric: name, value: 1, unit: 'Count', dimensions }, 'metric');
  }

  milliseconds(name: MetricName, value: number, dimensions: MetricDimensions): void {
    this.logger.debug({ event: 'metric', metric: name, value, unit: 'Milliseconds', dimensions }, 'metric');
  }
}

/** Milliseconds from `from` (ISO time) to `to`, never negative (clocks of two functions may disagree a little). */
export function elapsedMs(from: string, to: Date): number {
  return Math.max(0, to.getTime() - Date.parse(from));
}
