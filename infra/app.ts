/**
 * The CDK app (`npm run synth`, `npm run deploy`): reads the config file named by CHATOPS_CONFIG,
 * validates it with the same loader the functions run, and builds the stack.
 *
 * Deployment options (CDK context, `-c key=value`, or cdk.json):
 * - `stackName` (default `CrdbChatops`): deploy several bots to one account under different names;
 * - `alarmEmail`: subscribe an address to the alarms; or `alarmTopicArn`: an existing SNS topic;
 * - `slackReservedConcurrency` (default 100): concurrency reserved for and capping the public slack
 *   function, or `none`;
 * - `vpc=new` (a VPC with a NAT gateway and a fixed egress IP), or `vpcId`, `subnetIds` and
 *   `availabilityZones` (comma-separated, one zone per subnet) to run in your private subnets;
 * - `logRetentionDays` (default 30): how long the functions' log groups keep lines, one of the
 *   periods CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, …);
 * - `tracing=active`: X-Ray active tracing on every function (default off);
 * - `tableRemoval` (default `retain`): `destroy` lets `cdk destroy` delete the state table (a
 *   throwaway stack: no deletion protection); `tableRecoveryDays` (default 35): its point-in-time
 *   recovery window, 1–35 days.
 * Every synth runs cdk-nag's AwsSolutions checks; accepted findings are in infra/nag.ts.
 * LOG_LEVEL (environment) sets the functions' log level (default `info`).
 */
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ConfigError } from '../lib/config';
import { ChatopsStack, DEFAULT_SLACK_RESERVED_CONCURRENCY } from './chatops-stack';
import { existingNetwork, type NetworkChoice } from './network';
import { loadDeployConfig } from './deploy-config';

function main(): void {
  const app = new App();
  const context = (key: string): string | undefined => {
    const value: unknown = app.node.tryGetContext(key);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const alarmEmail = context('alarmEmail');
  const alarmTopicArn = context('alarmTopicArn');
  const reserved = context('slackReservedConcurrency');
  const retention = context('logRetentionDays');
  new ChatopsStack(app, context('stackName') ?? 'CrdbChatops', {
    config: loadDeployConfig(process.env.CHATOPS_CONFIG),
    ...(process.env.LOG_LEVEL ? { logLevel: process.env.LOG_LEVEL } : {}),
    ...(alarmEmail !== undefined && { alarmEmail }),
    ...(alarmTopicArn !== undefined && { alarmTopicArn }),
    slackReservedConcurrency: reservedConcurrency(reserved),
    network: networkChoice(context),
    ...(retention !== undefined && { logRetention: logRetentionDays(retention) }),
    tracing: tracingChoice(context('tracing')),
    table: tableChoice(context),
  });
  // cdk-nag's AwsSolutions rules: a finding not accepted in infra/nag.ts fails the synth.
  Aspects.of(app).add(new AwsSolutionsChecks());
  app.synth();
}

/** `-c slackReservedConcurrency=<n>|none`. */
export function reservedConcurrency(value: string | undefined): number | null {
  if (value === undefined) return DEFAULT_SLACK_RESERVED_CONCURRENCY;
  if (value === 'none') return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`slackReservedConcurrency: "${value}" is not a whole number of at least 1 or "none". Example: -c slackReservedConcurrency=50`);
  return n;
}

/** `-c vpc=new`, or `-c vpcId=… -c subnetIds=a,b -c availabilityZones=x,y`; default none. */
export function networkChoice(context: (key: string) => string | undefined): NetworkChoice {
  const list = (key: string): string[] => (context(key) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const vpc = context('vpc');
  const vpcId = context('vpcId');
  if (vpc !== undefined && vpc !== 'new') throw new ConfigError(`vpc: "${vpc}" is not "new". Example: -c vpc=new, or -c vpcId=vpc-0abc1234def567890 -c subnetIds=subnet-0abc1234,subnet-0def5678 -c availabilityZones=eu-west-1a,eu-west-1b`);
  if (vpc === 'new' && vpcId !== undefined) throw new ConfigError('vpc: give -c vpc=new or -c vpcId=…, not both.');
  if (vpc === 'new') return { kind: 'new' };
  if (vpcId === undefined) return { kind: 'none' };
  return existingNetwork(vpcId, list('subnetIds'), list('availabilityZones'));
}

/** `-c tableRemoval=retain|destroy`, `-c tableRecoveryDays=<1–35>`; default retained, 35 days. */
export function tableChoice(context: (key: string) => string | undefined): { removal: 'retain' | 'destroy'; recoveryDays: number } {
  const removal = context('tableRemoval') ?? 'retain';
  if (removal !== 'retain' && removal !== 'destroy') throw new ConfigError(`tableRemoval: "${removal}" is not "retain" or "destroy". Example: -c tableRemoval=destroy (a throwaway stack only)`);
  const days = context('tableRecoveryDays') ?? '35';
  const recoveryDays = Number(days);
  if (!/^\d+$/.test(days) || recoveryDays < 1 || recoveryDays > 35) throw new ConfigError(`tableRecoveryDays: "${days}" is not a whole number of days from 1 to 35. Example: -c tableRecoveryDays=7`);
  return { removal, recoveryDays };
}

/** `-c tracing=active|off`; default off. */
export function tracingChoice(value: string | undefined): boolean {
  if (value === undefined || value === 'off') return false;
  if (value === 'active') return true;
  throw new ConfigError(`tracing: "${value}" is not "active" or "off". Example: -c tracing=active`);
}

/** `-c logRetentionDays=<days>`: one of the periods CloudWatch Logs offers. */
export function logRetentionDays(value: string): logs.RetentionDays {
  const days = Number(value);
  const offered = Object.values(logs.RetentionDays).filter((d): d is logs.RetentionDays => typeof d === 'number' && Number(d) > 0);
  const period = offered.find((d) => Number(d) === days);
  if (period === undefined) throw new ConfigError(`logRetentionDays: "${value}" is not a period CloudWatch Logs offers (${offered.join(', ')}). Example: -c logRetentionDays=90`);
  return period;
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    // A bad config is the common failure: one line naming the key, not a stack trace.
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}
