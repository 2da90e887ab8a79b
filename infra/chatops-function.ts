/**
 * The house Lambda function: one place that fixes how every function of the bot is built and run.
 *
 * - Node.js 22 on arm64 (Graviton: cheaper per GB-second, and our code is pure JavaScript).
 * - Bundled locally with esbuild (never Docker, so `cdk synth` works offline) with the settings in
 *   ./bundling.ts, which bench/ builds with too: minified, with linked source maps and
 *   `--enable-source-maps`, so stack traces in the logs name our files.
 * - Everything bundled, the AWS SDK included: the runtime's SDK is whatever version Lambda ships
 *   that month, while our code is tested against the versions in package-lock.json (the DynamoDB
 *   client's `throwOnRequestTimeout`, `lib-dynamodb` matching `client-dynamodb` exactly). It is
 *   also faster: tree-shaken, the SDK is about 0.4 MB of the slack function's 0.9 MB, and
 *   `npm run bench` measured its cold start 15 ms shorter bundled than loading the SDK from
 *   node_modules as the runtime's would be (the bundle alone would be 0.5 MB).
 * - Its own log group with a retention period (not the deprecated `logRetention` custom resource),
 *   and its own role that may write only to that log group: no AWSLambdaBasicExecutionRole, whose
 *   `logs:*` statements apply to every log group of the account.
 * - The environment is checked against Lambda's 4 KB limit at synth time.
 */
import { type Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import path from 'node:path';
import { CHATOPS_ESBUILD, nodejsBundling } from './bundling';

/** Lambda's limit on a function's environment: the variables as one JSON object, in bytes. */
export const LAMBDA_ENV_LIMIT_BYTES = 4096;

/** What a deploy-time value (a queue URL, a table name) is assumed to take, at most, once resolved. */
const TOKEN_ALLOWANCE_BYTES = 256;

/** Names Lambda sets itself; a function may not define them. */
const RESERVED_ENV = /^(AWS_.*|LAMBDA_.*|_HANDLER|_X_AMZN_TRACE_ID|TZ|NODE_OPTIONS)$/;

export interface ChatopsFunctionProps {
  /** The handler module, relative to `projectRoot` (`handlers/slack.ts`); it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** The function's own variables. Lambda-reserved names (AWS_*, TZ, ...) are refused. */
  readonly environment: Readonly<Record<string, string>>;
  /** Default one month. */
  readonly logRetention?: logs.RetentionDays;
  /** Repository root: where package-lock.json and tsconfig.json are. */
  readonly projectRoot: string;
  /** Run in these subnets of this VPC, with this security group (none by default). */
  readonly network?: { readonly vpc: ec2.IVpc; readonly subnets: ec2.SubnetSelection; readonly securityGroup: ec2.ISecurityGroup };
  /** Reserved concurrent executions (none by default). */
  readonly reservedConcurrency?: number;
  /** X-Ray active tracing (off by default). */
  readonly tracing?: boolean;
  /** Extra files for the bundle: path inside the bundle -> absolute source path (CA certificates). */
  readonly bundledFiles?: ReadonlyMap<string, string>;
}

export class ChatopsFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ChatopsFunctionProps) {
    super(scope, id);
    const { entry, description, timeout, memorySize, environment, logRetention = logs.RetentionDays.ONE_MONTH, projectRoot, reservedConcurrency, tracing = false, network, bundledFiles = new Map<string, string>() } = props;

    const reserved = Object.keys(environment).filter((name) => RESERVED_ENV.test(name));
    if (reserved.length > 0) throw new Error(`${this.node.path}: ${reserved.join(', ')} are set by Lambda or by ChatopsFunction, not by a function's props.`);
    const fullEnvironment = { ...environment, NODE_OPTIONS: '--enable-source-maps' };
    assertEnvironmentFits(this.node.path, fullEnvironment);

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: logRetention, removalPolicy: RemovalPolicy.RETAIN });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${description} (crdb-chatops)`,
    });
    // The log group exists before the function, so Lambda never needs logs:CreateLogGroup.
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [this.logGroup.logGroupArn] }));

    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(projectRoot, entry),
      handler: 'handler',
      projectRoot,
      depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
      description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      timeout,
      memorySize,
      ...(reservedConcurrency !== undefined && { reservedConcurrentExecutions: reservedConcurrency }),
      // Active: Lambda samples and records each invocation's segment; the role gets the two X-Ray write actions.
      ...(tracing && { tracing: lambda.Tracing.ACTIVE }),
      ...(network && { vpc: network.vpc, vpcSubnets: network.subnets, securityGroups: [network.securityGroup] }),
      role: this.role,
      logGroup: this.logGroup,
      environment: fullEnvironment,
      bundling: {
        // Shared with bench/ (infra/bundling.ts), so the benchmarks measure what is deployed.
        ...nodejsBundling(projectRoot, CHATOPS_ESBUILD),
        ...(bundledFiles.size > 0 && { commandHooks: copyFilesHook(bundledFiles) }),
      },
    });
  }
}

/**
 * Fails the synth when the environment cannot fit Lambda's 4 KB, counting each unresolved
 * deploy-time value (a queue URL) at a generous fixed size.
 */
export function assertEnvironmentFits(where: string, environment: Readonly<Record<string, string>>): void {
  const measured = Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, Token.isUnresolved(v) ? 'x'.repeat(TOKEN_ALLOWANCE_BYTES) : v]));
  const bytes = Buffer.byteLength(JSON.stringify(measured), 'utf8');
  if (bytes > LAMBDA_ENV_LIMIT_BYTES) {
    const largest = Object.entries(measured).sort((a, b) => b[1].length - a[1].length)[0];
    throw new Error(
      `${where}: the environment would take about ${bytes} bytes, over Lambda's ${LAMBDA_ENV_LIMIT_BYTES}` +
        (largest ? `; the largest variable is ${largest[0]} (${Buffer.byteLength(largest[1], 'utf8')} bytes)` : '') +
        '. Shorten the config file (drop keys equal to their defaults, descriptions) or split clusters across deployments.',
    );
  }
}

/** Copies files into the bundle after esbuild ran (local bundling: a POSIX shell). */
function copyFilesHook(files: ReadonlyMap<string, string>) {
  const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
  return {
    beforeBundling: (): string[] => [],
    beforeInstall: (): string[] => [],
    afterBundling: (_inputDir: string, outputDir: string): string[] =>
      [...files].flatMap(([inBundle, source]) => {
        const target = path.posix.join(outputDir, inBundle);
        return [`mkdir -p ${quote(path.posix.dirname(target))}`, `cp ${quote(source)} ${quote(target)}`];
      }),
  };
}
