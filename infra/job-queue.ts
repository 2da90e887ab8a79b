/**
 * The job queue between the slack function and the worker: SQS FIFO, a FIFO dead-letter queue,
 * and an alarm as soon as anything lands there.
 *
 * - FIFO, because jobs about one request must run one at a time and in order (message group =
 *   request); the worker's partial batch response relies on that order.
 * - Deduplication by explicit id (content-based deduplication off): every send carries
 *   `MessageDeduplicationId` = the request or job id, so a Slack retry, a double click or a retried
 *   send within five minutes is one job, while two different jobs with equal bodies are two.
 * - Deduplication scope `queue` (the default, not `messageGroup`): our ids are unique across
 *   groups by construction (`submit-<id>`, `decided-<id>-<n>`, ...) and a job always maps to the
 *   same group, so both scopes drop exactly the same duplicates; `messageGroup` is only required for
 *   high-throughput FIFO, which a chat bot does not need.
 * - Visibility timeout above the worker's timeout, so a job is never delivered again while a
 *   worker may still be running it.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface JobQueueProps {
  /** Deliveries before a job moves to the dead-letter queue: the worker's `MAX_RECEIVE_COUNT`. */
  readonly maxReceiveCount: number;
  /** The consuming function's timeout; the visibility timeout is set above it. */
  readonly consumerTimeout: Duration;
  /** Where the dead-letter alarm notifies; default none (the alarm still shows in the console). */
  readonly alarmAction?: cloudwatch.IAlarmAction;
}

/** Visibility timeout beyond the consumer's timeout: Lambda's polling and the function's start. */
export const VISIBILITY_MARGIN = Duration.minutes(2);

export class JobQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id);
    const { maxReceiveCount, consumerTimeout, alarmAction } = props;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(`JobQueue: maxReceiveCount must be an integer from 1 to 1000, not ${maxReceiveCount}`);
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      fifo: true,
      contentBasedDeduplication: false,
      // The longest SQS keeps anything: time to read what failed and why.
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, 'Jobs', {
      fifo: true,
      contentBasedDeduplication: false,
      deduplicationScope: sqs.DeduplicationScope.QUEUE,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_QUEUE,
      visibilityTimeout: consumerTimeout.plus(VISIBILITY_MARGIN),
      // Pending requests expire in a day by default; a job older than this is of no use to anyone.
      retentionPeriod: Duration.days(4),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });

    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLettersAlarm', {
      alarmDescription:
        'crdb-chatops: a job failed every delivery and is in the dead-letter queue. The worker already rolled back and told the requester; read the worker logs (job.failed) and the message, then delete or redrive it.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (alarmAction) {
      this.deadLetterAlarm.addAlarmAction(alarmAction);
      this.deadLetterAlarm.addOkAction(alarmAction);
    }
  }
}
