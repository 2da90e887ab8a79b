/**
 * Application metrics as CloudWatch Embedded Metric Format lines on stdout, which Lambda's log
 * group turns into metrics with no API call and no extra permission. Powertools for AWS Lambda
 * builds and validates each EMF document; each point is written at once as its own line, so a
 * crash or a timeout loses nothing already counted and points never share dimensions by mistake.
 */
import { Metrics as PowertoolsMetrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type MetricDimensions, type MetricName, type Metrics, METRICS_NAMESPACE } from './metrics';

export interface EmfMetricsOptions {
  /** The `service` dimension: the function (slack, worker, audit, outbox). */
  readonly service: string;
  /** Where each EMF line goes; default stdout. */
  readonly write?: (line: string) => void;
}

export class EmfMetrics implements Metrics {
  private readonly emf: PowertoolsMetrics;
  private readonly write: (line: string) => void;

  constructor({ service, write = (line) => process.stdout.write(`${line}\n`) }: EmfMetricsOptions) {
    this.emf = new PowertoolsMetrics({ namespace: METRICS_NAMESPACE, serviceName: service });
    this.write = write;
  }

  count(name: MetricName, dimensions: MetricDimensions): void {
    this.emit(name, MetricUnit.Count, 1, dimensions);
  }

  milliseconds(name: MetricName, value: number, dimensions: MetricDimensions): void {
    this.emit(name, MetricUnit.Milliseconds, Math.round(value), dimensions);
  }

  private emit(name: MetricName, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number, dimensions: MetricDimensions): void {
    try {
      this.emf.addDimensions({ ...dimensions });
      this.emf.addMetric(name, unit, value);
      this.write(JSON.stringify(this.emf.serializeMetrics()));
    } finally {
      this.emf.clearMetrics();
      this.emf.clearDimensions();
    }
  }
}
