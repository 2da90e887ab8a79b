/**
 * cdk-nag's AwsSolutions rules run on every synth (infra/app.ts) and in the infra tests
 * (test/infra/nag.test.ts): a new finding fails both. The findings below are accepted, each on
 * exactly the resource and the permission it names, with the reason in the suppression itself (it
 * is printed in cdk-nag's report next to the finding).
 */
import { type CfnElement } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { type IConstruct } from 'constructs';
import { type ChatopsStack } from './chatops-stack';
import { type DeployConfig } from './deploy-config';

/** How cdk-nag names a resource of a policy statement (`Resource::<arn pattern>`). */
const secretsArn = (alias: string): string => `Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:crdb-chatops/${alias}/*`;

const RUNTIME_PINNED =
  'The runtime is the one the bundles are built for (esbuild target node22, infra/bundling.ts) and the CI tests; it moves with that target on purpose, not with the newest runtime CDK knows.';

export function suppressAcceptedFindings(stack: ChatopsStack, config: DeployConfig): void {
  const aliases = config.file.clusters.map((c) => c.alias);
  const suppress = (construct: IConstruct, id: string, reason: string, appliesTo?: string[]): void =>
    NagSuppressions.addResourceSuppressions(construct, [{ id, reason, ...(appliesTo && { appliesTo }) }], true);

  for (const fn of [stack.slack, stack.worker, stack.audit, stack.outbox]) suppress(fn.function, 'AwsSolutions-L1', RUNTIME_PINNED);

  // `Resource::*` on a function role: each role's reasons, joined into its one suppression (cdk-nag
  // keeps the first reason given for a finding).
  const wildcards = new Map<IConstruct, string[]>();
  const wildcard = (fn: { role: IConstruct }, reason: string): void => void wildcards.set(fn.role, [...(wildcards.get(fn.role) ?? []), reason]);

  for (const fn of [stack.worker, stack.audit]) {
    suppress(
      fn.role,
      'AwsSolutions-IAM5',
      "Users' password secrets are named crdb-chatops/<cluster>/<user> when a user is created, so the role gets that cluster's prefix (CreateSecret only with the bot's tags for the cluster, DeleteSecret never forced; infra/permissions.ts).",
      aliases.map(secretsArn),
    );
    wildcard(fn, 'secretsmanager:ListSecrets supports no resource-level permissions: `*` is the only resource IAM accepts.');
  }
  wildcard(stack.outbox, 'dynamodb:ListStreams supports no resource-level permissions (granted by the event source mapping); the stream reads are on the table stream only.');

  // The scheduler's role (made by the LambdaInvoke target) may invoke the audit function's versions.
  const schedulerRoles = stack.node.children.filter((c) => c.node.id.startsWith('SchedulerRoleForTarget'));
  for (const role of schedulerRoles) {
    suppress(role, 'AwsSolutions-IAM5', "EventBridge Scheduler's target role, made by the CDK: lambda:InvokeFunction on the audit function and its versions (`<arn>:*`), nothing else.", [
      `Resource::<${stack.getLogicalId(stack.audit.function.node.defaultChild as CfnElement)}.Arn>:*`,
    ]);
  }

  const functions = [stack.slack, stack.worker, stack.audit, stack.outbox];
  if (stack.network) {
    for (const fn of functions) {
      wildcard(fn, "Lambda places the function in the VPC with its own role; ec2:DescribeNetworkInterfaces supports no resource-level permissions, and the network interfaces do not exist before Lambda creates them (AWS's own AWSLambdaVPCAccessExecutionRole uses `*` too).");
    }
  }
  if (stack.tracing) {
    for (const fn of functions) {
      wildcard(fn, 'X-Ray active tracing (-c tracing=active): xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions (AWSXRayDaemonWriteAccess uses `*` too).');
    }
  }
  for (const [role, reasons] of wildcards) suppress(role, 'AwsSolutions-IAM5', reasons.join(' '), ['Resource::*']);

  suppress(stack.auditFailures, 'AwsSolutions-SQS3', "This queue is itself the audit function's failure destination (Lambda's on-failure record); a dead-letter queue behind it would hold nothing.");
}
