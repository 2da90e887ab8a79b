/**
 * The synthesized stack, from the example config, with the real bundling (esbuild, locally):
 * resources, schedules, queue + DLQ + alarm, the table, IAM per function, and no secret anywhere.
 */
import { type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { type CloudAssembly } from 'aws-cdk-lib/cx-api';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { MAX_RECEIVE_COUNT } from '../../lib/requests/jobs';
import { loadConfig } from '../../lib/config';
import { tableDefinition, TTL_ATTRIBUTE } from '../../lib/requests/dynamo-store';
import { RECONCILE_INPUT, REPORT_INPUT, SWEEP_INPUT } from '../../infra/audit-schedules';
import { OUTBOX_STREAM_FILTER } from '../../lib/requests/outbox';
import { secretTagRecord } from '../../lib/secrets/types';
import { logRetentionDays, networkChoice, reservedConcurrency, tableChoice, tracingChoice } from '../../infra/app';

const ctx = (values: Record<string, string>) => (key: string): string | undefined => values[key];
import { type NetworkChoice } from '../../infra/network';
import { ChatopsStack, DEFAULT_SLACK_RESERVED_CONCURRENCY } from '../../infra/chatops-stack';
import { createLogger } from '../../lib/log';
import { loadDeployConfig } from '../../infra/deploy-config';
import { allStatements, EXAMPLE_CONFIG, logicalId, projectApp, resourceOf, resourcesOfType, roleStatements, type Statement, templateJson } from './support';

// Values a careless stack could pick up from the environment; none may reach the assembly.
const SENTINELS = {
  SLACK_SIGNING_SECRET: 'sentinel-signing-secret-5c1e0b7d9a',
  // Token-shaped (the prefix a scanner looks for is assembled, not written), and no token.
  SLACK_BOT_TOKEN: ['xoxb', '000000000000', 'sentinel-bot-token'].join('-'),
  CLOUD_API_KEY: 'CCDB1_sentinel-cloud-api-key-7f3a',
  ADMIN_SQL_PASSWORD: 'sentinel-admin-sql-password-91d2',
};

let stack: ChatopsStack;
let template: Template;
let assembly: CloudAssembly;
const ids: Record<string, string> = {};

beforeAll(() => {
  const saved = { ...process.env };
  Object.assign(process.env, SENTINELS);
  try {
    const app = projectApp();
    stack = new ChatopsStack(app, 'CrdbChatops', { config: loadDeployConfig(EXAMPLE_CONFIG), alarmEmail: 'oncall@example.com' });
    template = Template.fromStack(stack);
    assembly = app.synth();
  } finally {
    process.env = saved;
  }
  const id = (s: Stack, construct: { node: { defaultChild?: unknown } }): string => logicalId(s, construct.node.defaultChild);
  Object.assign(ids, {
    table: id(stack, stack.state.table),
    queue: id(stack, stack.jobs.queue),
    dlq: id(stack, stack.jobs.deadLetterQueue),
    slack: id(stack, stack.slack.function),
    worker: id(stack, stack.worker.function),
    audit: id(stack, stack.audit.function),
    slackRole: id(stack, stack.slack.role),
    workerRole: id(stack, stack.worker.role),
    auditRole: id(stack, stack.audit.role),
    outbox: id(stack, stack.outbox.function),
    outboxRole: id(stack, stack.outbox.role),
    outboxLogs: id(stack, stack.outbox.logGroup),
    slackLogs: id(stack, stack.slack.logGroup),
    workerLogs: id(stack, stack.worker.logGroup),
    auditLogs: id(stack, stack.audit.logGroup),
  });
});

// The assembly holds three bundles (about 20 MB): not left behind in the temp dir.
afterAll(() => rmSync(assembly.directory, { recursive: true, force: true }));

function functionProps(name: string): Record<string, unknown> & { Environment: { Variables: Record<string, unknown> } } {
  return resourceOf(template, ids[name]).Properties as Record<string, unknown> & { Environment: { Variables: Record<string, unknown> } };
}

function propsOf(name: string): Record<string, unknown> {
  return resourceOf(template, ids[name]).Properties;
}

// Template assertions throw on a mismatch; these names tell the linter they are assertions.
function expectResourceProperties(type: string, props: unknown): void {
  template.hasResourceProperties(type, props);
}
function expectResource(type: string, props: unknown): void {
  template.hasResource(type, props);
}
function expectResourceCount(type: string, count: number): void {
  template.resourceCountIs(type, count);
}

describe('functions', () => {
  it.each([
    ['slack', 10, 1024],
    ['worker', 2 * 60, 512],
    ['audit', 10 * 60, 1024],
  ])('%s runs Node.js 22 on arm64 with its timeout, memory, source maps and own log group', (name, timeout, memory) => {
    const props = functionProps(name);
    expect(props).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: timeout, MemorySize: memory, Handler: 'index.handler' });
    expect(props.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    expect(props.LoggingConfig).toEqual({ LogGroup: { Ref: ids[`${name}Logs`] } });
    expect(resourceOf(template, ids[`${name}Logs`])).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Retain' });
  });

  it('uses no deprecated log-retention custom resource and no managed policies', () => {
    expectResourceCount('Custom::LogRetention', 0);
    for (const role of Object.values(resourcesOfType(template, 'AWS::IAM::Role'))) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('passes every function the same config document, the table, the queue and the log level', () => {
    for (const name of ['slack', 'worker', 'audit']) {
      const variables = functionProps(name).Environment.Variables;
      expect(Object.keys(variables).sort()).toEqual(['CHATOPS_CONFIG_JSON', 'LOG_LEVEL', 'NODE_OPTIONS', 'QUEUE_URL', 'TABLE_NAME']);
      expect(variables.TABLE_NAME).toEqual({ Ref: ids.table });
      expect(variables.QUEUE_URL).toEqual({ Ref: ids.queue });
      expect(variables.LOG_LEVEL).toBe('info');
    }
  });

  it('transports the config so the functions parse exactly what local mode parses from the file', () => {
    const json = functionProps('worker').Environment.Variables.CHATOPS_CONFIG_JSON as string;
    const onLambda = loadConfig({ CHATOPS_CONFIG_JSON: json, TABLE_NAME: 'table-from-stack', QUEUE_URL: 'https://sqs.example/queue.fifo' });
    const local = loadConfig({ CHATOPS_CONFIG: EXAMPLE_CONFIG });
    const withoutPlaces = ({ baseDir: _b, state: _s, queue: _q, clusters, ...rest }: typeof local) => ({
      ...rest,
      clusters: clusters.map((c) => (c.backend === 'sql' ? { ...c, caFile: 'ca', connection: { ...c.connection, caFile: 'ca' } } : c)),
    });
    expect(withoutPlaces(onLambda)).toEqual(withoutPlaces(local));
    expect(onLambda.state.tableName).toBe('table-from-stack');
    expect(onLambda.queue).toEqual({ kind: 'sqs', url: 'https://sqs.example/queue.fifo' });
  });

  it('bundles the CA files the config names, at the path the transported config gives', () => {
    const json = functionProps('worker').Environment.Variables.CHATOPS_CONFIG_JSON as string;
    const onprem = loadConfig({ CHATOPS_CONFIG_JSON: json }).clusters.find((c) => c.alias === 'onprem');
    const caFile = onprem?.backend === 'sql' ? onprem.caFile : undefined;
    expect(caFile).toMatch(/^certs\/[0-9a-f]{16}\.pem$/);
    const pem = readFileSync(path.join(path.dirname(EXAMPLE_CONFIG), 'example-ca.pem'), 'utf8');
    for (const name of ['slack', 'worker', 'audit']) {
      const assetDir = assetDirOf(ids[name] ?? '');
      expect(readFileSync(path.join(assetDir, caFile ?? ''), 'utf8')).toBe(pem);
      expect(readdirSync(assetDir).sort()).toEqual(['certs', 'index.js', 'index.js.map']);
    }
  });
});

describe('concurrency', () => {
  it('reserves (and caps) concurrency for the public slack function only', () => {
    expect(propsOf('slack').ReservedConcurrentExecutions).toBe(DEFAULT_SLACK_RESERVED_CONCURRENCY);
    for (const name of ['worker', 'audit', 'outbox']) expect(propsOf(name).ReservedConcurrentExecutions).toBeUndefined();
  });

  it('takes another reservation, or none, from the deploy options', () => {
    const synth = (slackReservedConcurrency: number | null): Record<string, unknown> => {
      const s = new ChatopsStack(projectApp(), 'Other', { config: loadDeployConfig(EXAMPLE_CONFIG), slackReservedConcurrency });
      return resourceOf(Template.fromStack(s), logicalId(s, s.slack.function.node.defaultChild)).Properties;
    };
    expect(synth(20).ReservedConcurrentExecutions).toBe(20);
    expect(synth(null).ReservedConcurrentExecutions).toBeUndefined();
    expect(() => synth(0)).toThrow(/slackReservedConcurrency: 0 is not a whole number of at least 1/);
  });

  it('reads -c slackReservedConcurrency and -c logRetentionDays, refusing bad values in one line with an example', () => {
    expect(reservedConcurrency(undefined)).toBe(DEFAULT_SLACK_RESERVED_CONCURRENCY);
    expect(reservedConcurrency('none')).toBeNull();
    expect(reservedConcurrency('40')).toBe(40);
    expect(() => reservedConcurrency('-3')).toThrow(/^slackReservedConcurrency: "-3" is not a whole number .* Example: -c slackReservedConcurrency=50$/);
    expect(logRetentionDays('90')).toBe(90);
    expect(() => logRetentionDays('45')).toThrow(/^logRetentionDays: "45" is not a period CloudWatch Logs offers \(1, 3, 5, 7, 14, 30, 60, 90,.*\)\. Example: -c logRetentionDays=90$/);
  });
});

describe('the slack function URL', () => {
  it('is public (Slack signs every request) and buffered', () => {
    expectResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE', InvokeMode: 'BUFFERED', TargetFunctionArn: { 'Fn::GetAtt': [ids.slack, 'Arn'] } });
    expectResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunctionUrl', FunctionUrlAuthType: 'NONE', Principal: '*', FunctionName: { 'Fn::GetAtt': [ids.slack, 'Arn'] } });
    expectResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunction', InvokedViaFunctionUrl: true, Principal: '*', FunctionName: { 'Fn::GetAtt': [ids.slack, 'Arn'] } });
  });

  it('is an output, with the request URL to paste into manifest.yml', () => {
    const outputs = templateJson(template).Outputs;
    expect(Object.keys(outputs).sort()).toEqual(['AuditFailedAlarmName', 'AuditFailuresQueueUrl', 'DeadLetterAlarmName', 'DeadLetterQueueUrl', 'JobQueueUrl', 'SlackFunctionUrl', 'SlackRequestUrl', 'StateTableName']);
    const url = { 'Fn::GetAtt': [logicalId(stack, stack.functionUrl.node.defaultChild), 'FunctionUrl'] };
    expect(outputs.SlackFunctionUrl?.Value).toEqual(url);
    expect(outputs.SlackRequestUrl?.Value).toEqual({ 'Fn::Join': ['', [url, 'slack/events']] });
    expect(outputs.DeadLetterAlarmName?.Value).toEqual({ Ref: logicalId(stack, stack.jobs.deadLetterAlarm.node.defaultChild) });
  });
});

describe('job queue', () => {
  it('is FIFO, deduplicated by our ids (not content), redriving to a FIFO DLQ after MAX_RECEIVE_COUNT', () => {
    expect(propsOf('queue')).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      DeduplicationScope: 'queue',
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [ids.dlq, 'Arn'] }, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    expect(propsOf('dlq')).toMatchObject({ FifoQueue: true, MessageRetentionPeriod: 14 * 86_400 });
  });

  it('hides a job longer than the worker may run', () => {
    expect(propsOf('queue').VisibilityTimeout).toBeGreaterThan(functionProps('worker').Timeout as number);
  });

  it('refuses plain HTTP', () => {
    expectResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: ids.queue }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('relays new requests from the table stream (NEW_IMAGE) to the queue, filtered to INSERTs of received requests', () => {
    expectResourceProperties('AWS::DynamoDB::Table', { StreamSpecification: { StreamViewType: 'NEW_IMAGE' } });
    expectResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [ids.table, 'StreamArn'] },
      FunctionName: { Ref: ids.outbox },
      StartingPosition: 'TRIM_HORIZON',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 3600,
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify(OUTBOX_STREAM_FILTER) }] },
    });
  });

  it('feeds the worker one job at a time, with partial batch responses', () => {
    expectResourceCount('AWS::Lambda::EventSourceMapping', 2);
    expectResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [ids.queue, 'Arn'] },
      FunctionName: { Ref: ids.worker },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('alarms on the first dead letter, to the alarm topic', () => {
    const topic = logicalId(stack, stack.node.findChild('AlarmTopic').node.defaultChild);
    expectResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids.dlq, 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topic }],
    });
    expectResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: { Ref: topic } });
  });
});

describe('audit schedules', () => {
  const schedules = (): Array<Record<string, unknown>> => Object.values(resourcesOfType(template, 'AWS::Scheduler::Schedule')).map((r) => r.Properties);

  it('sweeps every 15 minutes with the sweep payload', () => {
    expectResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Arn: { 'Fn::GetAtt': [ids.audit, 'Arn'] }, Input: JSON.stringify(SWEEP_INPUT) },
    });
  });

  it('reports daily at audit.reportAt in audit.timeZone with the report payload', () => {
    expectResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 8 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Paris',
      Target: { Arn: { 'Fn::GetAtt': [ids.audit, 'Arn'] }, Input: JSON.stringify(REPORT_INPUT) },
    });
    expect(schedules()).toHaveLength(3);
  });

  it('runs the reconciler every minute, without retries (the next run is a minute away)', () => {
    expectResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      Target: { Arn: { 'Fn::GetAtt': [ids.audit, 'Arn'] }, Input: JSON.stringify(RECONCILE_INPUT), RetryPolicy: { MaximumEventAgeInSeconds: 60, MaximumRetryAttempts: 0 } },
    });
  });

  it('lets the scheduler invoke the audit function and nothing else', () => {
    const schedulerRoles = Object.entries(resourcesOfType(template, 'AWS::IAM::Role')).filter(([, r]) =>
      JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('scheduler.amazonaws.com'),
    );
    expect(schedulerRoles).toHaveLength(1);
    expect(roleStatements(template, schedulerRoles[0]?.[0] ?? '')).toEqual([
      { effect: 'Allow', actions: ['lambda:InvokeFunction'], resources: [`\${${ids.audit}.Arn}`, `\${${ids.audit}.Arn}:*`] },
    ]);
  });

  it('never retries a failed run asynchronously (a report must not be posted twice) and alarms instead', () => {
    expectResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: ids.audit }, MaximumRetryAttempts: 0 });
    expectResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.audit } }], Threshold: 1 });
  });

  it('keeps a failed run in an encrypted queue of its own (the asynchronous on-failure destination), which only the audit function may send to', () => {
    const failures = logicalId(stack, stack.auditFailures.node.defaultChild);
    expectResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: ids.audit },
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [failures, 'Arn'] } } },
    });
    expectResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    const senders = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, policy]) =>
      JSON.stringify(policy).includes(JSON.stringify({ 'Fn::GetAtt': [failures, 'Arn'] })),
    );
    expect(senders.map(([, policy]) => (policy as { Properties: { Roles: unknown[] } }).Properties.Roles)).toEqual([[{ Ref: ids.auditRole }]]);
  });
});

describe('operational alarms', () => {
  const topic = (): { Ref: string } => ({ Ref: logicalId(stack, stack.node.findChild('AlarmTopic').node.defaultChild) });

  it.each(['slack', 'worker', 'outbox'])('alarms on the %s function\'s errors and throttles, to the alarm topic', (name) => {
    for (const metric of ['Errors', 'Throttles']) {
      expectResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: metric,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids[name] } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [topic()],
      });
    }
  });

  it("alarms on the audit function's throttles; its errors have one alarm, not two", () => {
    expectResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/Lambda', MetricName: 'Throttles', Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.audit } }], AlarmActions: [topic()] });
    const auditErrors = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) => {
      const p = (alarm as { Properties: { MetricName?: string; Dimensions?: unknown } }).Properties;
      return p.MetricName === 'Errors' && JSON.stringify(p.Dimensions) === JSON.stringify([{ Name: 'FunctionName', Value: { Ref: ids.audit } }]);
    });
    expect(auditErrors).toHaveLength(1);
  });

  it.each([
    ['slack', 'slackLogs', 'SlackLoggedErrors'],
    ['worker', 'workerLogs', 'WorkerLoggedErrors'],
    ['audit', 'auditLogs', 'AuditLoggedErrors'],
    ['outbox', 'outboxLogs', 'OutboxLoggedErrors'],
  ])('counts the %s function\'s error log lines (failures answered 200 included) and alarms on the first', (_name, logs, metricName) => {
    expectResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: ids[logs] },
      FilterPattern: '{ ($.level = "error") || ($.level = "fatal") }',
      MetricTransformations: [{ MetricNamespace: 'crdb-chatops', MetricName: metricName, MetricValue: '1', DefaultValue: 0 }],
    });
    expectResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'crdb-chatops', MetricName: metricName, Statistic: 'Sum', Threshold: 1, AlarmActions: [topic()] });
  });

  it('matches the level field the bot\'s logger writes', () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    logger.error('boom');
    logger.info('fine');
    const levels = lines.map((line) => (JSON.parse(line) as { level: unknown }).level);
    expect(levels).toEqual(['error', 'info']);
  });

  it('alarms when a job has waited 15 minutes in the job queue', () => {
    expectResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids.queue, 'QueueName'] } }],
      Statistic: 'Maximum',
      Threshold: 900,
      AlarmActions: [topic()],
    });
  });

  it('says in every alarm what it means', () => {
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect((alarm as { Properties: { AlarmDescription?: string } }).Properties.AlarmDescription).toMatch(/^crdb-chatops: .{40,}/);
    }
  });
});

describe('state table', () => {
  it('is built from tableDefinition(): keys, indexes, TTL attribute', () => {
    const definition = tableDefinition('ignored');
    const props = propsOf('table');
    expect(props.KeySchema).toEqual(definition.KeySchema);
    expect(props.AttributeDefinitions).toEqual(expect.arrayContaining(definition.AttributeDefinitions));
    expect(props.AttributeDefinitions).toHaveLength(definition.AttributeDefinitions.length);
    expect(props.GlobalSecondaryIndexes).toEqual(definition.GlobalSecondaryIndexes);
    expect(props.TimeToLiveSpecification).toEqual({ AttributeName: TTL_ATTRIBUTE, Enabled: true });
  });

  it('is on-demand, with point-in-time recovery, retained on stack deletion and protected from deletion', () => {
    expectResource('AWS::DynamoDB::Table', {
      Properties: { BillingMode: 'PAY_PER_REQUEST', PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 35 }, DeletionProtectionEnabled: true },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    expectResourceCount('AWS::DynamoDB::Table', 1);
  });

  it('with -c tableRemoval=destroy -c tableRecoveryDays=7: deleted with the stack, unprotected, a 7-day recovery window', () => {
    const s = new ChatopsStack(projectApp(), 'Throwaway', { config: loadDeployConfig(EXAMPLE_CONFIG), table: tableChoice(ctx({ tableRemoval: 'destroy', tableRecoveryDays: '7' })) });
    const table = resourceOf(Template.fromStack(s), logicalId(s, s.state.table.node.defaultChild));
    expect(table).toMatchObject({
      Properties: { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 7 }, DeletionProtectionEnabled: false },
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
    });
  });

  it('reads -c tableRemoval / tableRecoveryDays, refusing bad values in one line with an example', () => {
    expect(tableChoice(ctx({}))).toEqual({ removal: 'retain', recoveryDays: 35 });
    expect(() => tableChoice(ctx({ tableRemoval: 'delete' }))).toThrow(/^tableRemoval: "delete" is not "retain" or "destroy"\. Example: -c tableRemoval=destroy/);
    for (const bad of ['0', '36', '7.5', '7d']) {
      expect(() => tableChoice(ctx({ tableRecoveryDays: bad }))).toThrow(new RegExp(`^tableRecoveryDays: "${bad.replace('.', '\\.')}" is not a whole number of days from 1 to 35\\. Example: -c tableRecoveryDays=7$`));
    }
  });
});

describe('IAM: each function gets exactly what its code calls', () => {
  const secret = (name: string): string => `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${name}`;
  const table = (): string => `\${${ids.table}.Arn}`;
  const tableQueries = (): Statement => ({
    sid: 'StateTableQueries',
    effect: 'Allow',
    actions: ['dynamodb:Query'],
    resources: [table(), `${table()}/index/gsi1`, `${table()}/index/gsi2`],
  });
  const logs = (role: string): Statement => ({ sid: 'WriteOwnLogs', effect: 'Allow', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`\${${ids[`${role}Logs`]}.Arn}`] });
  const clusterSecrets = ['crdb-chatops/cloud-api-key-??????', 'crdb-chatops/onprem-admin-??????', 'crdb-chatops/prod-eu-admin-sql-??????', 'crdb-chatops/slack-bot-token-??????'].map(secret);
  const userSecrets = [secret('crdb-chatops/onprem/*'), secret('crdb-chatops/prod-eu/*')];
  const listSecrets: Statement = { sid: 'ListSecrets', effect: 'Allow', actions: ['secretsmanager:ListSecrets'], resources: ['*'] };
  const createUserSecrets = (): Statement[] =>
    ['prod-eu', 'onprem'].map((alias, i) => ({
      sid: `CreateUserSecrets${i}`,
      effect: 'Allow',
      actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
      resources: [secret(`crdb-chatops/${alias}/*`)],
      conditions: {
        StringEquals: { 'aws:RequestTag/managed-by': 'crdb-chatops', 'aws:RequestTag/crdb-chatops:cluster': alias },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['crdb-chatops:owner', 'crdb-chatops:cluster', 'managed-by'] },
      },
    }));
  const noForcedDeletion: Statement = {
    sid: 'NoForcedSecretDeletion',
    effect: 'Deny',
    actions: ['secretsmanager:DeleteSecret'],
    resources: [secret('crdb-chatops/onprem/*'), secret('crdb-chatops/prod-eu/*')],
    conditions: { Bool: { 'secretsmanager:ForceDeleteWithoutRecovery': 'true' } },
  };
  const bySid = (a: Statement, b: Statement): number => (a.sid ?? '').localeCompare(b.sid ?? '') || a.actions.join().localeCompare(b.actions.join());

  it('slack: its table items, queries, sending jobs, the signing secret and bot token', () => {
    expect(roleStatements(template, ids.slackRole ?? '').sort(bySid)).toEqual(
      [
        logs('slack'),
        { sid: 'StateTableItems', effect: 'Allow', actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [table()] },
        tableQueries(),
        { sid: 'SendJobs', effect: 'Allow', actions: ['sqs:SendMessage'], resources: [`\${${ids.queue}.Arn}`] },
        { sid: 'ReadConfigSecrets', effect: 'Allow', actions: ['secretsmanager:GetSecretValue'], resources: [secret('crdb-chatops/slack-bot-token-??????'), secret('crdb-chatops/slack-signing-secret-??????')] },
      ].sort(bySid),
    );
  });

  it("worker: consumes the queue, writes users' secrets per cluster, reads the cluster credentials", () => {
    expect(roleStatements(template, ids.workerRole ?? '').sort(bySid)).toEqual(
      [
        logs('worker'),
        {
          effect: 'Allow',
          actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'],
          resources: [`\${${ids.queue}.Arn}`],
        },
        { sid: 'StateTableItems', effect: 'Allow', actions: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [table()] },
        tableQueries(),
        { sid: 'ReadConfigSecrets', effect: 'Allow', actions: ['secretsmanager:GetSecretValue'], resources: clusterSecrets },
        {
          sid: 'UserSecrets',
          effect: 'Allow',
          actions: ['secretsmanager:DeleteSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:RestoreSecret'],
          resources: userSecrets,
        },
        ...createUserSecrets(),
        noForcedDeletion,
        listSecrets,
      ].sort(bySid),
    );
  });

  it("creates users' secrets only with the tags the code writes, and never deletes one without its recovery window", () => {
    // The keys the policy allows are exactly the keys the store tags a new secret with.
    const written = Object.keys(secretTagRecord({ owner: 'U0X', cluster: 'prod-eu' })).sort();
    const [first] = createUserSecrets();
    expect((first?.conditions as { 'ForAllValues:StringEquals': { 'aws:TagKeys': string[] } })['ForAllValues:StringEquals']['aws:TagKeys'].slice().sort()).toEqual(written);
    // No statement of any role allows CreateSecret without the tag conditions, or TagResource alone.
    const creating = allStatements(template).filter(({ statement }) => statement.effect === 'Allow' && statement.actions.some((a) => a === 'secretsmanager:CreateSecret' || a === 'secretsmanager:TagResource'));
    expect(creating.every(({ statement }) => statement.conditions !== undefined)).toBe(true);
    // Every role that may delete a secret has the Deny on forced deletion.
    for (const role of [ids.workerRole, ids.auditRole]) expect(roleStatements(template, role ?? '')).toContainEqual(noForcedDeletion);
  });

  it("audit: its table items, queries, sending drive jobs, listing and deleting users' secrets, the cluster credentials", () => {
    expect(roleStatements(template, ids.auditRole ?? '').sort(bySid)).toEqual(
      [
        logs('audit'),
        { sid: 'SendJobs', effect: 'Allow', actions: ['sqs:SendMessage'], resources: [`\${${ids.queue}.Arn}`] },
        { sid: 'RecordFailedRuns', effect: 'Allow', actions: ['sqs:SendMessage'], resources: [`\${${logicalId(stack, stack.auditFailures.node.defaultChild)}.Arn}`] },
        { sid: 'StateTableItems', effect: 'Allow', actions: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [table()] },
        tableQueries(),
        { sid: 'ReadConfigSecrets', effect: 'Allow', actions: ['secretsmanager:GetSecretValue'], resources: clusterSecrets },
        { sid: 'UserSecrets', effect: 'Allow', actions: ['secretsmanager:DeleteSecret', 'secretsmanager:DescribeSecret'], resources: userSecrets },
        noForcedDeletion,
        listSecrets,
      ].sort(bySid),
    );
  });

  it('outbox: reads the table stream and sends jobs, nothing else (no table item, no secret)', () => {
    expect(roleStatements(template, ids.outboxRole ?? '').sort(bySid)).toEqual(
      [
        logs('outbox'),
        // Granted by the event source mapping; ListStreams has no resource-level permissions.
        { effect: 'Allow', actions: ['dynamodb:ListStreams'], resources: ['*'] },
        { effect: 'Allow', actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'], resources: [`\${${ids.table}.StreamArn}`] },
        { sid: 'SendJobs', effect: 'Allow', actions: ['sqs:SendMessage'], resources: [`\${${ids.queue}.Arn}`] },
      ].sort(bySid),
    );
  });

  it('has no write action on a wildcard resource, in any policy of the template', () => {
    const readOnly = /^[a-z0-9-]+:(Get|List|Describe|Query|Scan|BatchGet)[A-Za-z]*$/;
    const offenders = allStatements(template).filter(
      ({ statement }) => statement.effect === 'Allow' && statement.resources.some((r) => r === '*' || r.endsWith(':*:*')) && statement.actions.some((a) => a.includes('*') || !readOnly.test(a)),
    );
    expect(offenders).toEqual([]);
    // The `*`s the stack needs: ListSecrets and the stream's ListStreams, which IAM supports on no narrower resource.
    expect(allStatements(template).filter(({ statement }) => statement.resources.includes('*')).flatMap(({ statement }) => statement.actions).sort()).toEqual([
      'dynamodb:ListStreams',
      'secretsmanager:ListSecrets',
      'secretsmanager:ListSecrets',
    ]);
  });

  it('grants no action with a wildcard, and no Secrets Manager write outside the users\' prefixes', () => {
    const statements = allStatements(template).map(({ statement }) => statement);
    expect(statements.flatMap((s) => s.actions.filter((a) => a.includes('*')))).toEqual([]);
    const secretWrites = statements.filter((s) => s.actions.some((a) => a.startsWith('secretsmanager:') && !/^secretsmanager:(Get|List|Describe)/.test(a)));
    expect(secretWrites.length).toBeGreaterThan(0);
    expect(secretWrites.flatMap((s) => s.resources).filter((r) => !/:secret:crdb-chatops\/[a-z0-9-]+\/\*$/.test(r))).toEqual([]);
  });
});

describe('secrets', () => {
  it('appear nowhere in the assembly: no value from the environment, no token, no signing secret', () => {
    const everything = [JSON.stringify(template.toJSON()), ...assetFiles(assembly.directory).map((f) => readFileSync(f, 'utf8'))];
    for (const text of everything) {
      for (const value of Object.values(SENTINELS)) expect(text).not.toContain(value);
      expect(text).not.toMatch(/xox[abp]-[0-9]/);
    }
    // What the template does carry: references by name.
    expect(JSON.stringify(template.toJSON())).toContain('crdb-chatops/slack-signing-secret');
  });

  it('are not created by the stack (they are the operator\'s, referenced by name)', () => {
    expectResourceCount('AWS::SecretsManager::Secret', 0);
  });
});

/** The asset directory of a function's code in the synthesized assembly. */
function assetDirOf(functionLogicalId: string): string {
  const key = (resourceOf(template, functionLogicalId).Properties.Code as { S3Key: string }).S3Key;
  return path.join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
}

function assetFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return assetFiles(full);
    return /\.(json|js|map|pem)$/.test(name) ? [full] : [];
  });
}

describe('network', () => {
  const inVpc = (network: NetworkChoice): { s: ChatopsStack; t: Template } => {
    const s = new ChatopsStack(projectApp(), 'Net', { config: loadDeployConfig(EXAMPLE_CONFIG), network });
    return { s, t: Template.fromStack(s) };
  };

  it('runs outside any VPC by default', () => {
    for (const name of ['slack', 'worker', 'audit', 'outbox']) expect(propsOf(name).VpcConfig).toBeUndefined();
    expectResourceCount('AWS::EC2::VPC', 0);
    expect(Object.keys(templateJson(template).Outputs)).not.toContain('EgressIp');
  });

  it('with vpc=new: every function in the private subnets behind one NAT, its Elastic IP the EgressIp output, outbound only, rejected flows logged', () => {
    const { s, t } = inVpc({ kind: 'new' });
    const sg = logicalId(s, s.network?.securityGroup.node.defaultChild);
    const privateSubnets = (s.network?.vpc.privateSubnets ?? []).map((subnet) => ({ Ref: logicalId(s, subnet.node.defaultChild) }));
    expect(privateSubnets).toHaveLength(2);
    for (const fn of [s.slack, s.worker, s.audit, s.outbox]) {
      expect(resourceOf(t, logicalId(s, fn.function.node.defaultChild)).Properties.VpcConfig).toEqual({
        SecurityGroupIds: [{ 'Fn::GetAtt': [sg, 'GroupId'] }],
        SubnetIds: privateSubnets,
      });
      expect(roleStatements(t, logicalId(s, fn.role.node.defaultChild))).toContainEqual({
        sid: 'VpcNetworkInterfaces',
        effect: 'Allow',
        actions: ['ec2:AssignPrivateIpAddresses', 'ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:UnassignPrivateIpAddresses'],
        resources: ['*'],
      });
    }
    t.resourceCountIs('AWS::EC2::NatGateway', 1);
    const eips = Object.keys(t.findResources('AWS::EC2::EIP'));
    expect(eips).toHaveLength(1);
    expect(templateJson(t).Outputs.EgressIp?.Value).toEqual({ 'Fn::GetAtt': [eips[0], 'PublicIp'] });
    expect(resourceOf(t, sg).Properties.SecurityGroupIngress).toBeUndefined();
    t.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT' });
  });

  it('with an existing VPC: the functions in the given subnets, no VPC or NAT made', () => {
    const { s, t } = inVpc({ kind: 'existing', vpcId: 'vpc-0abc1234def567890', subnetIds: ['subnet-0abc1234', 'subnet-0def5678'], availabilityZones: ['eu-west-1a', 'eu-west-1b'] });
    expect(resourceOf(t, logicalId(s, s.worker.function.node.defaultChild)).Properties.VpcConfig).toMatchObject({ SubnetIds: ['subnet-0abc1234', 'subnet-0def5678'] });
    t.resourceCountIs('AWS::EC2::VPC', 0);
    t.resourceCountIs('AWS::EC2::NatGateway', 0);
    t.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0abc1234def567890' });
  });

  it('reads -c vpc / vpcId / subnetIds / availabilityZones, refusing bad values in one line with an example', () => {
    expect(networkChoice(ctx({}))).toEqual({ kind: 'none' });
    expect(networkChoice(ctx({ vpc: 'new' }))).toEqual({ kind: 'new' });
    expect(networkChoice(ctx({ vpcId: 'vpc-0abc1234', subnetIds: 'subnet-0abc1234, subnet-0def5678', availabilityZones: 'eu-west-1a,eu-west-1b' }))).toEqual({
      kind: 'existing',
      vpcId: 'vpc-0abc1234',
      subnetIds: ['subnet-0abc1234', 'subnet-0def5678'],
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    });
    expect(() => networkChoice(ctx({ vpc: 'yes' }))).toThrow(/^vpc: "yes" is not "new"\. Example: -c vpc=new/);
    expect(() => networkChoice(ctx({ vpcId: 'vpc-0abc1234', subnetIds: 'subnet-0abc1234;rm' , availabilityZones: 'a' }))).toThrow(/^subnetIds: "subnet-0abc1234;rm" is not a list of subnet ids\. Example:/);
    expect(() => networkChoice(ctx({ vpcId: 'vpc-0abc1234', subnetIds: 'subnet-0abc1234' }))).toThrow(/^availabilityZones: give one zone per subnet/);
  });
});

describe('X-Ray tracing (-c tracing=active)', () => {
  const config = loadDeployConfig(EXAMPLE_CONFIG);

  it('is off by default: no tracing config, no X-Ray permission', () => {
    const s = new ChatopsStack(projectApp(), 'Untraced', { config });
    const t = Template.fromStack(s);
    for (const fn of [s.slack, s.worker, s.audit, s.outbox]) {
      expect(resourceOf(t, logicalId(s, fn.function.node.defaultChild)).Properties.TracingConfig).toBeUndefined();
      expect(roleStatements(t, logicalId(s, fn.role.node.defaultChild)).flatMap((st) => st.actions).filter((a) => a.startsWith('xray:'))).toEqual([]);
    }
  });

  it('traces every function actively, and lets each role write its segments and nothing more of X-Ray', () => {
    const s = new ChatopsStack(projectApp(), 'Traced', { config, tracing: true });
    const t = Template.fromStack(s);
    for (const fn of [s.slack, s.worker, s.audit, s.outbox]) {
      expect(resourceOf(t, logicalId(s, fn.function.node.defaultChild)).Properties.TracingConfig).toEqual({ Mode: 'Active' });
      const xray = roleStatements(t, logicalId(s, fn.role.node.defaultChild)).filter((st) => st.actions.some((a) => a.startsWith('xray:')));
      expect(xray.flatMap((st) => st.actions).filter((a) => a.startsWith('xray:')).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
      expect(xray.flatMap((st) => st.resources)).toEqual(['*']);
    }
  });

  it('reads -c tracing, refusing other values in one line with an example', () => {
    expect(tracingChoice(undefined)).toBe(false);
    expect(tracingChoice('off')).toBe(false);
    expect(tracingChoice('active')).toBe(true);
    expect(() => tracingChoice('on')).toThrow(/^tracing: "on" is not "active" or "off"\. Example: -c tracing=active$/);
  });
});
