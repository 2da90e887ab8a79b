/**
 * EventBridge Scheduler drives the audit function: the reconciler every minute, an expiry sweep every 15 minutes and the full
 * report once a day at the configured time, in the configured time zone (daylight saving
 * included: Scheduler evaluates the cron in that zone). Each schedule sends its own payload, so
 * one function serves both.
 *
 * Scheduler invokes Lambda asynchronously. Its own retries only cover a failed invoke call
 * (throttling); the function's asynchronous retries are turned off by the stack, because a report
 * that failed half-way would be posted twice. A failed run shows in the audit alarm and the next
 * sweep is 15 minutes away.
 */
import { Duration, TimeZone } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';

/** What the audit function receives from each schedule (handlers/audit.ts reads `mode`). */
export const SWEEP_INPUT = { mode: 'sweep' } as const;
export const REPORT_INPUT = { mode: 'report' } as const;
export const RECONCILE_INPUT = { mode: 'reconcile' } as const;

/**
 * How often the reconciler looks for open requests nothing has moved on (a worker killed by its
 * timeout, a job lost or dead-lettered): Scheduler's finest rate.
 */
export const RECONCILE_INTERVAL = Duration.minutes(1);

/** How often the sweep runs by default (config `audit.sweepEvery`). */
export const SWEEP_INTERVAL = Duration.minutes(15);

export interface AuditSchedulesProps {
  readonly target: lambda.IFunction;
  /** "HH:MM", 24-hour (config `audit.reportAt`). */
  readonly reportAt: string;
  /** IANA zone name (config `audit.timeZone`). */
  readonly timeZone: string;
  /** Config `audit.sweepEvery`; default 15 minutes. */
  readonly sweepEvery?: Duration;
}

export class AuditSchedules extends Construct {
  readonly sweep: scheduler.Schedule;
  readonly report: scheduler.Schedule;
  readonly reconcile: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: AuditSchedulesProps) {
    super(scope, id);
    const match = /^(\d{2}):(\d{2})$/.exec(props.reportAt);
    const hour = Number(match?.[1]);
    const minute = Number(match?.[2]);
    if (!match || hour > 23 || minute > 59) throw new Error(`AuditSchedules: reportAt "${props.reportAt}" is not a time of day like 09:00`);

    // One role for both schedules (the target creates it: lambda:InvokeFunction on this function only).
    const sweepEvery = props.sweepEvery ?? SWEEP_INTERVAL;
    this.sweep = new scheduler.Schedule(this, 'Sweep', {
      description: 'crdb-chatops: expiry sweep (expired entries and users, stale requests, password DMs past their TTL)',
      schedule: scheduler.ScheduleExpression.rate(sweepEvery),
      target: new targets.LambdaInvoke(props.target, {
        input: scheduler.ScheduleTargetInput.fromObject(SWEEP_INPUT),
        // A sweep later than the next one is useless.
        maxEventAge: sweepEvery,
        retryAttempts: 3,
      }),
    });
    this.reconcile = new scheduler.Schedule(this, 'Reconcile', {
      description: 'crdb-chatops: drive on every acked request nothing has moved on (nothing acked is lost)',
      schedule: scheduler.ScheduleExpression.rate(RECONCILE_INTERVAL),
      target: new targets.LambdaInvoke(props.target, {
        input: scheduler.ScheduleTargetInput.fromObject(RECONCILE_INPUT),
        // The next run is a minute away and does the same.
        maxEventAge: RECONCILE_INTERVAL,
        retryAttempts: 0,
      }),
    });
    this.report = new scheduler.Schedule(this, 'Report', {
      description: `crdb-chatops: daily audit report at ${props.reportAt} ${props.timeZone}`,
      schedule: scheduler.ScheduleExpression.cron({ minute: String(minute), hour: String(hour), timeZone: TimeZone.of(props.timeZone) }),
      target: new targets.LambdaInvoke(props.target, {
        input: scheduler.ScheduleTargetInput.fromObject(REPORT_INPUT),
        maxEventAge: Duration.hours(1),
        retryAttempts: 3,
      }),
    });
  }
}
