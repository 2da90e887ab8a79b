/**
 * cdk-nag's AwsSolutions rules against the stack, as `npm run synth` runs them: no finding is left
 * unsuppressed, and every suppression is one of the accepted ones in infra/nag.ts, on the resource
 * and permission it names, with its reason.
 */
import { type Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks, type INagLogger, type NagLoggerComplianceData, type NagLoggerErrorData, type NagLoggerSuppressedData, type NagLoggerSuppressedErrorData } from 'cdk-nag';
import { ChatopsStack } from '../../infra/chatops-stack';
import { loadDeployConfig } from '../../infra/deploy-config';
import { EXAMPLE_CONFIG, projectApp } from './support';

interface Findings {
  open: string[];
  errors: string[];
  suppressed: { rule: string; path: string; finding: string; reason: string }[];
}

/** Runs the pack over every construct of the stack (no synth: nothing is bundled or written). */
function nag(stack: Stack): Findings {
  const findings: Findings = { open: [], errors: [], suppressed: [] };
  const path = (d: NagLoggerComplianceData): string => d.resource.node.path;
  const logger: INagLogger = {
    onCompliance: () => undefined,
    onNotApplicable: () => undefined,
    onNonCompliance: (d) => void findings.open.push(`${d.ruleId} ${path(d)} ${d.findingId}`),
    onSuppressed: (d: NagLoggerSuppressedData) => void findings.suppressed.push({ rule: d.ruleId, path: path(d), finding: d.findingId, reason: d.suppressionReason }),
    onError: (d: NagLoggerErrorData) => void findings.errors.push(`${d.ruleId} ${path(d)}: ${d.errorMessage}`),
    onSuppressedError: (d: NagLoggerSuppressedErrorData) => void findings.errors.push(`${d.ruleId} ${path(d)}: ${d.errorMessage}`),
  };
  const checks = new AwsSolutionsChecks({ additionalLoggers: [logger], reports: false });
  for (const construct of stack.node.findAll()) checks.visit(construct);
  return findings;
}

describe('cdk-nag AwsSolutions', () => {
  const stack = new ChatopsStack(projectApp(), 'CrdbChatops', { config: loadDeployConfig(EXAMPLE_CONFIG), alarmEmail: 'oncall@example.com' });
  const findings = nag(stack);

  it('leaves no finding open and no rule unable to run', () => {
    expect(findings.open).toEqual([]);
    expect(findings.errors).toEqual([]);
  });

  it('accepts only the reviewed findings, each with a reason', () => {
    const accepted = [...new Set(findings.suppressed.map((s) => `${s.rule} ${s.path.replace(/\/Resource$/, '')}`))].sort();
    expect(accepted).toEqual([
      'AwsSolutions-IAM5 CrdbChatops/Audit/Role/DefaultPolicy',
      'AwsSolutions-IAM5 CrdbChatops/Outbox/Role/DefaultPolicy',
      expect.stringMatching(/^AwsSolutions-IAM5 CrdbChatops\/SchedulerRoleForTarget-[0-9a-f]+\/DefaultPolicy$/),
      'AwsSolutions-IAM5 CrdbChatops/Worker/Role/DefaultPolicy',
      'AwsSolutions-L1 CrdbChatops/Audit/Function',
      'AwsSolutions-L1 CrdbChatops/Outbox/Function',
      'AwsSolutions-L1 CrdbChatops/Slack/Function',
      'AwsSolutions-L1 CrdbChatops/Worker/Function',
      'AwsSolutions-SQS3 CrdbChatops/AuditFailures',
    ]);
    for (const s of findings.suppressed) expect(s.reason.length).toBeGreaterThan(60);
    // Wildcards are accepted one by one: the secrets prefixes, the two actions IAM cannot scope, the scheduler's versions.
    const wildcards = [...new Set(findings.suppressed.filter((s) => s.rule === 'AwsSolutions-IAM5').map((s) => s.finding))].sort();
    expect(wildcards).toEqual([
      'Resource::*',
      expect.stringMatching(/^Resource::<AuditFunction[0-9A-F]+\.Arn>:\*$/),
      'Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:crdb-chatops/onprem/*',
      'Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:crdb-chatops/prod-eu/*',
    ]);
  });

  it('would report a new wildcard (the suppressions are not blanket)', () => {
    const other = new ChatopsStack(projectApp(), 'Wider', { config: loadDeployConfig(EXAMPLE_CONFIG) });
    other.worker.role.addToPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: ['arn:aws:sqs:*:*:*'] }));
    expect(nag(other).open).toEqual([expect.stringMatching(/^AwsSolutions-IAM5 Wider\/Worker\/Role\/DefaultPolicy\/Resource Resource::arn:aws:sqs:\*:\*:\*$/)]);
  });
});

describe('cdk-nag AwsSolutions, functions in a VPC', () => {
  it.each([
    ['a new VPC', { kind: 'new' } as const],
    ['existing subnets', { kind: 'existing', vpcId: 'vpc-0abc1234def567890', subnetIds: ['subnet-0abc1234'], availabilityZones: ['eu-west-1a'] } as const],
  ])('leaves no finding open with %s', (_what, network) => {
    const stack = new ChatopsStack(projectApp(), 'InVpc', { config: loadDeployConfig(EXAMPLE_CONFIG), network });
    const findings = nag(stack);
    expect(findings.open).toEqual([]);
    expect(findings.errors).toEqual([]);
  });
});

describe('cdk-nag AwsSolutions, with X-Ray tracing', () => {
  it('leaves no finding open; the X-Ray `*` is accepted on the function roles only, with its reason', () => {
    const findings = nag(new ChatopsStack(projectApp(), 'Traced', { config: loadDeployConfig(EXAMPLE_CONFIG), tracing: true }));
    expect(findings.open).toEqual([]);
    expect(findings.errors).toEqual([]);
    const xray = findings.suppressed.filter((s) => s.reason.includes('X-Ray'));
    expect([...new Set(xray.map((s) => s.path.replace(/\/Resource$/, '')))].sort()).toEqual(['Traced/Audit/Role/DefaultPolicy', 'Traced/Outbox/Role/DefaultPolicy', 'Traced/Slack/Role/DefaultPolicy', 'Traced/Worker/Role/DefaultPolicy']);
  });
});
