/**
 * The whole bot on AWS: four functions, the queue between them, the table, the schedules, the
 * alarms, and for each function exactly the permissions its code uses (infra/permissions.ts).
 *
 *   Slack ──> Function URL ──> slack ──> one DynamoDB table ──stream──> outbox ──> SQS FIFO ──> worker
 *                                                 ^                                (+ DLQ, alarm)
 *   EventBridge Scheduler ──> audit (reconcile, sweep, report) ── drive jobs ──────────┘
 *
 * The slack function acks a command after one write: the request, `received`. The stream takes it
 * to the queue; the reconciler takes on any request nothing moved on.
 *
 * The stack is environment-agnostic (no account or region at synth time, no lookups), so
 * `cdk synth` needs no credentials and no network; `cdk deploy` picks the account and region of
 * the credentials it runs with.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { type Construct } from 'constructs';
import path from 'node:path';
import { MAX_RECEIVE_COUNT } from '../lib/requests/jobs';
import { OUTBOX_STREAM_FILTER } from '../lib/requests/outbox';
import { OperationalAlarms } from './alarms';
import { AuditSchedules } from './audit-schedules';
import { ChatopsFunction } from './chatops-function';
import { type DeployConfig, type FunctionRole, WORKER_TIMEOUT_MS } from './deploy-config';
import { JobQueue } from './job-queue';
import {
  configSecretStatement,
  CREATES_USER_SECRETS,
  createUserSecretsStatements,
  noForcedSecretDeletionStatement,
  KMS_ACTIONS,
  kmsKeyStatement,
  LISTS_SECRETS,
  SENDS_JOBS,
  type SecretScope,
  TABLE_ITEM_ACTIONS,
  TABLE_QUERY_ACTIONS,
  USER_SECRET_ACTIONS,
  userSecretResource,
} from './permissions';
import { suppressAcceptedFindings } from './nag';
import { FunctionNetwork, type NetworkChoice } from './network';
import { StateTable, type StateTableProps } from './state-table';

/** The repository root: handlers, package-lock.json and tsconfig.json live there. */
export const PROJECT_ROOT = path.resolve(__dirname, '..');

/** Handler modules, relative to the project root. */
export const DEFAULT_ENTRIES: Readonly<Record<FunctionRole, string>> = {
  slack: 'handlers/slack.ts',
  worker: 'handlers/worker.ts',
  audit: 'handlers/audit.ts',
  outbox: 'handlers/outbox.ts',
};

/** Per-function sizing. Memory buys CPU on Lambda: the slack function must answer within 3 s cold. */
export const SLACK_TIMEOUT = Duration.seconds(10);
export const SLACK_MEMORY_MB = 1024;
export const WORKER_MEMORY_MB = 512;
export const AUDIT_TIMEOUT = Duration.minutes(10);
export const AUDIT_MEMORY_MB = 1024;
export const OUTBOX_TIMEOUT = Duration.seconds(30);
export const OUTBOX_MEMORY_MB = 256;
/**
 * Concurrent executions reserved for (and capping) the public slack function: a flood of requests
 * to its URL cannot take the account's whole concurrency, and the bot always has this much.
 */
export const DEFAULT_SLACK_RESERVED_CONCURRENCY = 100;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ChatopsStackProps extends StackProps {
  /** The validated config file (`loadDeployConfig`). */
  readonly config: DeployConfig;
  /** pino level for every function. Default `info`. */
  readonly logLevel?: string;
  /** Subscribes this address to the alarm topic (one confirmation email). */
  readonly alarmEmail?: string;
  /** Or notify an existing SNS topic. */
  readonly alarmTopicArn?: string;
  /** Default one month. */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Reserved concurrency of the slack function (default `DEFAULT_SLACK_RESERVED_CONCURRENCY`);
   * `null`: none, for accounts whose concurrency limit cannot spare it (Lambda keeps 100 unreserved).
   */
  readonly slackReservedConcurrency?: number | null;
  /** Where the functions run on the network (infra/network.ts); default outside any VPC. */
  readonly network?: NetworkChoice;
  /** X-Ray active tracing on every function; default off. */
  readonly tracing?: boolean;
  /** The state table's removal and point-in-time recovery window (infra/state-table.ts); default retained, 35 days. */
  readonly table?: Pick<StateTableProps, 'removal' | 'recoveryDays'>;
  /** Handler modules (default `DEFAULT_ENTRIES`). */
  readonly entries?: Partial<Record<FunctionRole, string>>;
}

export class ChatopsStack extends Stack {
  readonly slack: ChatopsFunction;
  readonly worker: ChatopsFunction;
  readonly audit: ChatopsFunction;
  readonly outbox: ChatopsFunction;
  readonly functionUrl: lambda.FunctionUrl;
  readonly jobs: JobQueue;
  readonly state: StateTable;
  readonly schedules: AuditSchedules;
  readonly auditAlarm: cloudwatch.Alarm;
  /** Audit invocations that failed (Lambda's asynchronous on-failure destination). */
  readonly auditFailures: sqs.Queue;
  readonly alarms: OperationalAlarms;
  readonly network?: FunctionNetwork;
  readonly tracing: boolean;

  constructor(scope: Construct, id: string, props: ChatopsStackProps) {
    super(scope, id, { description: 'crdb-chatops: self-serve CockroachDB access from Slack', ...props });
    const { config, logLevel = 'info', logRetention, slackReservedConcurrency = DEFAULT_SLACK_RESERVED_CONCURRENCY } = props;
    if (slackReservedConcurrency !== null && (!Number.isInteger(slackReservedConcurrency) || slackReservedConcurrency < 1)) {
      throw new Error(`slackReservedConcurrency: ${String(slackReservedConcurrency)} is not a whole number of at least 1 (or null for none)`);
    }
    const { file } = config;
    if (!LOG_LEVELS.includes(logLevel)) throw new Error(`LOG_LEVEL: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
    if (props.alarmEmail !== undefined && props.alarmTopicArn !== undefined) throw new Error('Give alarmEmail or alarmTopicArn, not both.');
    const entries = { ...DEFAULT_ENTRIES, ...props.entries };

    const alarmAction = this.alarmAction(props);
    const workerTimeout = Duration.millis(WORKER_TIMEOUT_MS);

    this.state = new StateTable(this, 'State', props.table ?? {});
    this.jobs = new JobQueue(this, 'Jobs', { maxReceiveCount: MAX_RECEIVE_COUNT, consumerTimeout: workerTimeout, ...(alarmAction && { alarmAction }) });

    // Deployment facts override the file, as lib/config.ts `applyEnv` reads them.
    const environment = {
      CHATOPS_CONFIG_JSON: config.json,
      TABLE_NAME: this.state.table.tableName,
      QUEUE_URL: this.jobs.queue.queueUrl,
      LOG_LEVEL: logLevel,
    };
    if (props.network !== undefined && props.network.kind !== 'none') this.network = new FunctionNetwork(this, 'Network', props.network);
    const network = this.network && { vpc: this.network.vpc, subnets: this.network.subnets, securityGroup: this.network.securityGroup };
    this.tracing = props.tracing ?? false;
    const common = { environment, projectRoot: PROJECT_ROOT, bundledFiles: config.bundledFiles, tracing: this.tracing, ...(logRetention !== undefined && { logRetention }), ...(network && { network }) };

    this.slack = new ChatopsFunction(this, 'Slack', {
      ...common,
      entry: entries.slack,
      description: 'Slack commands and clicks: verify, validate, record, ack',
      timeout: SLACK_TIMEOUT,
      memorySize: SLACK_MEMORY_MB,
      ...(slackReservedConcurrency !== null && { reservedConcurrency: slackReservedConcurrency }),
    });
    this.worker = new ChatopsFunction(this, 'Worker', {
      ...common,
      entry: entries.worker,
      description: 'Jobs from the queue: apply requests, create users, DM connections',
      timeout: workerTimeout,
      memorySize: WORKER_MEMORY_MB,
    });
    this.audit = new ChatopsFunction(this, 'Audit', {
      ...common,
      entry: entries.audit,
      description: 'Scheduled audit: expiry sweep every 15 minutes, daily report',
      timeout: AUDIT_TIMEOUT,
      memorySize: AUDIT_MEMORY_MB,
    });

    this.outbox = new ChatopsFunction(this, 'Outbox', {
      ...common,
      entry: entries.outbox,
      description: 'State table stream: sends each new request to the job queue',
      timeout: OUTBOX_TIMEOUT,
      memorySize: OUTBOX_MEMORY_MB,
    });

    // Slack signs every request; the function verifies before anything else (DESIGN, "Security model").
    this.functionUrl = this.slack.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE, invokeMode: lambda.InvokeMode.BUFFERED });

    // One job per invocation: a job's failure sets its own retry delay (ChangeMessageVisibility),
    // which must not hold up other requests' jobs batched with it. Partial batch responses stay
    // on, as the handler reports them.
    this.worker.function.addEventSource(new SqsEventSource(this.jobs.queue, { batchSize: 1, reportBatchItemFailures: true }));

    // New requests only (the filter), in order per shard; a failed send is retried from its record
    // on, and past an hour or ten tries the reconciler drives the request instead.
    this.outbox.function.addEventSource(
      new DynamoEventSource(this.state.table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: 25,
        retryAttempts: 10,
        maxRecordAge: Duration.hours(1),
        reportBatchItemFailures: true,
        filters: [lambda.FilterCriteria.filter(OUTBOX_STREAM_FILTER)],
      }),
    );

    // A failed report must not be posted twice by Lambda's asynchronous retries. A failed run is
    // kept (which schedule, when, the error) where the operator looks, and alarms.
    this.auditFailures = new sqs.Queue(this, 'AuditFailures', { retentionPeriod: Duration.days(14), encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
    // Lambda sends the record with the function's role: `sqs:SendMessage` on this queue and nothing
    // else (the CDK's SqsDestination would also grant GetQueueAttributes and GetQueueUrl).
    const failures = this.auditFailures;
    this.audit.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.hours(1), onFailure: { bind: () => ({ destination: failures.queueArn }) } });
    this.audit.role.addToPolicy(new iam.PolicyStatement({ sid: 'RecordFailedRuns', actions: ['sqs:SendMessage'], resources: [failures.queueArn] }));
    this.schedules = new AuditSchedules(this, 'AuditSchedules', {
      target: this.audit.function,
      reportAt: file.audit.reportAt,
      timeZone: file.audit.timeZone,
      sweepEvery: Duration.millis(file.audit.sweepEvery),
    });
    this.auditAlarm = new cloudwatch.Alarm(this, 'AuditFailedAlarm', {
      alarmDescription: 'crdb-chatops: the scheduled audit or sweep failed. Read the audit function logs; the next sweep runs within 15 minutes.',
      metric: this.audit.function.metricErrors({ period: Duration.minutes(15), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (alarmAction) this.auditAlarm.addAlarmAction(alarmAction);

    this.alarms = new OperationalAlarms(this, 'Alarms', {
      jobQueue: this.jobs.queue,
      ...(alarmAction && { alarmAction }),
      functions: [
        { name: 'Slack', function: this.slack.function, logGroup: this.slack.logGroup, firstLook: 'Search its logs for the line with level "error" (the ref the user saw is in it).' },
        { name: 'Worker', function: this.worker.function, logGroup: this.worker.logGroup, firstLook: 'Search its logs for job.failed and request.failed; the job is retried, then dead-lettered.' },
        // The audit's Errors metric has its own alarm (AuditFailedAlarm).
        { name: 'Audit', function: this.audit.function, logGroup: this.audit.logGroup, firstLook: 'Read its logs and the AuditFailures queue.', errorsAlarm: false },
        { name: 'Outbox', function: this.outbox.function, logGroup: this.outbox.logGroup, firstLook: 'A failed send is retried from the stream; past that the reconciler drives the request.' },
      ],
    });

    for (const [role, fn] of [['slack', this.slack], ['worker', this.worker], ['audit', this.audit], ['outbox', this.outbox]] as const) {
      this.grantRole(role, fn, config);
      if (this.network) fn.role.addToPolicy(FunctionNetwork.networkInterfaceStatement());
    }

    new CfnOutput(this, 'SlackFunctionUrl', { value: this.functionUrl.url, description: 'The slack function URL' });
    new CfnOutput(this, 'SlackRequestUrl', {
      value: `${this.functionUrl.url}slack/events`,
      description: 'Paste into manifest.yml: slash_commands[].url and settings.interactivity.request_url',
    });
    new CfnOutput(this, 'JobQueueUrl', { value: this.jobs.queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.jobs.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'StateTableName', { value: this.state.table.tableName });
    new CfnOutput(this, 'DeadLetterAlarmName', { value: this.jobs.deadLetterAlarm.alarmName });
    new CfnOutput(this, 'AuditFailedAlarmName', { value: this.auditAlarm.alarmName });
    new CfnOutput(this, 'AuditFailuresQueueUrl', { value: this.auditFailures.queueUrl });
    if (this.network?.egressIp !== undefined) {
      new CfnOutput(this, 'EgressIp', { value: this.network.egressIp, description: "The bot's fixed egress address: name it in adminSourceCidrs and your clusters' firewalls and allowlists (as <ip>/32)" });
    }

    suppressAcceptedFindings(this, config);
  }

  /** Exactly what `role`'s code calls, on exactly its resources (infra/permissions.ts). */
  private grantRole(role: FunctionRole, fn: ChatopsFunction, config: DeployConfig): void {
    const { file } = config;
    const secretsRegion = file.secrets.store === 'aws' ? file.secrets.region : undefined;
    const scope: SecretScope = { stack: this, ...(secretsRegion !== undefined && { region: secretsRegion }) };

    this.state.grant(fn.role, { itemActions: TABLE_ITEM_ACTIONS[role], queryActions: TABLE_QUERY_ACTIONS[role] });

    if (SENDS_JOBS[role]) {
      fn.role.addToPolicy(new iam.PolicyStatement({ sid: 'SendJobs', actions: ['sqs:SendMessage'], resources: [this.jobs.queue.queueArn] }));
    }

    const configSecrets = configSecretStatement(scope, config.secrets, role);
    if (configSecrets) fn.role.addToPolicy(configSecrets);

    if (USER_SECRET_ACTIONS[role].length > 0) {
      fn.role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'UserSecrets',
          actions: [...USER_SECRET_ACTIONS[role]],
          resources: file.clusters.map((c) => userSecretResource(scope, c.alias)),
        }),
      );
    }
    const aliases = file.clusters.map((c) => c.alias);
    if (CREATES_USER_SECRETS[role]) for (const statement of createUserSecretsStatements(scope, aliases)) fn.role.addToPolicy(statement);
    if (USER_SECRET_ACTIONS[role].includes('secretsmanager:DeleteSecret')) fn.role.addToPolicy(noForcedSecretDeletionStatement(scope, aliases));
    if (LISTS_SECRETS[role]) {
      // ListSecrets supports no resource-level permissions: `*` is the only resource IAM accepts.
      fn.role.addToPolicy(new iam.PolicyStatement({ sid: 'ListSecrets', actions: ['secretsmanager:ListSecrets'], resources: ['*'] }));
    }
    if (file.secrets.store === 'aws' && file.secrets.kmsKeyId !== undefined) {
      fn.role.addToPolicy(kmsKeyStatement(this, file.secrets.kmsKeyId, secretsRegion, KMS_ACTIONS[role]));
    }
  }

  private alarmAction(props: ChatopsStackProps): cloudwatch.IAlarmAction | undefined {
    if (props.alarmTopicArn !== undefined) return new actions.SnsAction(sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn));
    if (props.alarmEmail === undefined) return undefined;
    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'crdb-chatops alarms', enforceSSL: true });
    topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    return new actions.SnsAction(topic);
  }
}
