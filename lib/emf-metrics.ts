/**
 * Application metrics as CloudWatch Embedded Metric Format lines on stdout, which Lambda's log
 * group turns into metrics with no API call and no extra permission. Powertools for AWS Lambda
 * builds and validates each EMF document; each point is written at once as its own line, so a
 * crash or a timeout loses nothing already counted and points never share dimensions by mistake.
 *
 * Powertools is loaded on the first point, not with the module: the slack function rarely emits
 * one (an approval's latency), and its cold start does not pay for the library (~20 ms to load).
 */
import type * as Powertools from '@aws-lambda-powertools/metrics';
import { type MetricDimensions, type MetricName, type Metrics, METRICS_NAMESPACE } from './metrics';

export interface EmfMetricsOptions {
  /** The `service` dimension: the function (slack, worker, audit, outbox). */
  readonly service: string;
  /** Where each EMF line goes; default stdout. */
  readonly write?: (line: string) => void;
}

type Unit = (typeof Powertools.MetricUnit)[keyof typeof Powertools.MetricUnit];

export class EmfMetrics implements Metrics {
  private emf: Powertools.Metrics | undefined;
  private units: typeof Powertools.MetricUnit | undefined;
  private readonly service: string;
  private readonly write: (line: string) => void;

  constructor({ service, write = (line) => process.stdout.write(`${line}\n`) }: EmfMetricsOptions) {
    this.service = service;
    this.write = write;
  }

  count(name: MetricName, dimensions: MetricDimensions): void {
    this.emit(name, (units) => units.Count, 1, dimensions);
  }

  milliseconds(name: MetricName, value: number, dimensions: MetricDimensions): void {
    this.emit(name, (units) => units.Milliseconds, Math.round(value), dimensions);
  }

  private emit(name: MetricName, unit: (units: typeof Powertools.MetricUnit) => Unit, value: number, dimensions: MetricDimensions): void {
    if (this.emf === undefined || this.units === undefined) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose (see above)
      const powertools = require('@aws-lambda-powertools/metrics') as typeof Powertools;
      this.emf = new powertools.Metrics({ namespace: METRICS_NAMESPACE, serviceName: this.service });
      this.units = powertools.MetricUnit;
    }
    const emf = this.emf;
    try {
      emf.addDimensions({ ...dimensions });
      emf.addMetric(name, unit(this.units), value);
      this.write(JSON.stringify(emf.serializeMetrics()));
    } finally {
      emf.clearMetrics();
      emf.clearDimensions();
    }
  }
}
