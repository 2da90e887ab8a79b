/**
 * What tells an operator the bot itself is in trouble (README, "Runbook"), beyond the dead-letter
 * and audit alarms next to their resources:
 *
 * - per function, **errors** (an invocation that threw or timed out) and **throttles** (Lambda
 *   refused to run it: reserved concurrency or the account's limit);
 * - per function, **logged errors**: a metric filter on its log group counting lines at level
 *   `error` or `fatal`. The slack function answers Slack 200 with "Something went wrong (ref …)"
 *   when a listener fails, so Lambda's own Errors metric never sees those; the log line does;
 * - the **job queue's oldest message**: jobs back off in seconds and propagation waits are a few
 *   minutes, so a job older than 15 minutes means the worker is not keeping up or not running.
 *
 * Every alarm goes to the stack's alarm action (an SNS topic) when one is configured, and has a
 * description that says what to do first.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Namespace of the metrics the stack derives from log lines. */
export const LOG_METRIC_NAMESPACE = 'crdb-chatops';
/** The bot's log lines are JSON with a string `level` (lib/log.ts). */
export const LOGGED_ERROR_PATTERN = logs.FilterPattern.any(logs.FilterPattern.stringValue('$.level', '=', 'error'), logs.FilterPattern.stringValue('$.level', '=', 'fatal'));
/** Oldest job before the queue-age alarm fires. */
export const JOB_AGE_ALARM = Duration.minutes(15);

export interface WatchedFunction {
  /** `Slack`, `Worker`, …: names the alarms and the log metric. */
  readonly name: string;
  readonly function: lambda.IFunction;
  readonly logGroup: logs.ILogGroup;
  /** What the operator reads first when this function fails. */
  readonly firstLook: string;
  /** False where another alarm already watches the function's Errors metric (the audit's). */
  readonly errorsAlarm?: boolean;
}

export interface OperationalAlarmsProps {
  readonly functions: readonly WatchedFunction[];
  readonly jobQueue: sqs.IQueue;
  readonly alarmAction?: cloudwatch.IAlarmAction;
}

export class OperationalAlarms extends Construct {
  /** Every alarm made here, by construct id (`SlackErrors`, `WorkerThrottles`, `JobsOldestMessage`). */
  readonly alarms: ReadonlyMap<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: OperationalAlarmsProps) {
    super(scope, id);
    const alarms = new Map<string, cloudwatch.Alarm>();
    const alarm = (alarmId: string, description: string, metric: cloudwatch.IMetric, threshold = 1): void => {
      const made = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: `crdb-chatops: ${description}`,
        metric,
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (props.alarmAction) made.addAlarmAction(props.alarmAction);
      alarms.set(alarmId, made);
    };
    const fiveMinutes = { period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM };

    for (const watched of props.functions) {
      const { name, function: fn, firstLook } = watched;
      if (watched.errorsAlarm !== false) {
        alarm(`${name}Errors`, `the ${name.toLowerCase()} function failed (threw or timed out). ${firstLook}`, fn.metricErrors(fiveMinutes));
      }
      alarm(
        `${name}Throttles`,
        `Lambda refused to run the ${name.toLowerCase()} function (reserved concurrency or the account's limit). Check its concurrency metrics; raise the reservation if the traffic is real.`,
        fn.metricThrottles(fiveMinutes),
      );
      const filter = new logs.MetricFilter(this, `${name}LoggedErrorsFilter`, {
        logGroup: watched.logGroup,
        filterPattern: LOGGED_ERROR_PATTERN,
        metricNamespace: LOG_METRIC_NAMESPACE,
        metricName: `${name}LoggedErrors`,
        metricValue: '1',
        defaultValue: 0,
      });
      alarm(
        `${name}LoggedErrors`,
        `the ${name.toLowerCase()} function logged an error, including failures Slack was answered 200 for ("Something went wrong (ref …)": the ref is in the line). ${firstLook}`,
        filter.metric(fiveMinutes),
      );
    }

    alarm(
      'JobsOldestMessage',
      `a job has waited over ${JOB_AGE_ALARM.toMinutes()} minutes in the job queue: the worker is failing, throttled or not subscribed. Read the worker's errors and throttles; the reconciler drives requests on once it runs.`,
      props.jobQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
      JOB_AGE_ALARM.toSeconds(),
    );
    this.alarms = alarms;
  }
}
