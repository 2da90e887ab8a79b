/**
 * Helpers for CDK stack tests: the app context the CLI would use (cdk.json), config files written
 * on the fly, and IAM statements rendered as readable strings (`${Table.Arn}/index/gsi1`).
 */
import { App, type CfnElement, type Stack } from 'aws-cdk-lib';
import { type Template } from 'aws-cdk-lib/assertions';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { tempDir } from '../support/temp-dirs';

export const ROOT = path.resolve(__dirname, '../..');
export const EXAMPLE_CONFIG = path.join(ROOT, 'infra/example.config.yml');

/** An App with the feature flags from cdk.json, as `cdk synth` runs it; output in a temp dir. */
export function projectApp(): App {
  const { context } = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return new App({ context, outdir: tempDir('cdk-test-') });
}

/** Writes a config document (YAML) to a temp dir, next to copies of `files`; returns its path. */
export function writeConfig(document: unknown, files: Record<string, string> = {}): string {
  const dir = tempDir('chatops-config-');
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  const file = path.join(dir, 'chatops.yml');
  writeFileSync(file, stringify(document));
  return file;
}

/** A minimal deployable document; override parts with spreads. */
export function deployableDocument(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    slack: {
      botUserId: 'U0TESTBOT',
      botId: 'B0TESTBOT',
      signingSecret: { secretId: 'crdb-chatops/slack-signing-secret' },
      botToken: { secretId: 'crdb-chatops/slack-bot-token' },
    },
    clusters: [{ alias: 'prod-eu', backend: 'cloud', clusterId: 'abc', apiKey: { secretId: 'crdb-chatops/cloud-api-key' } }],
    ...overrides,
  };
}

/** `${LogicalId.Arn}`-style rendering of CloudFormation intrinsics. */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const [key, arg] = Object.entries(value)[0] ?? [];
    if (key === 'Ref') return `\${${String(arg)}}`;
    if (key === 'Fn::GetAtt' && Array.isArray(arg)) return `\${${arg.map(String).join('.')}}`;
    if (key === 'Fn::Join' && Array.isArray(arg)) {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map(render).join(separator);
    }
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

export interface Statement {
  readonly sid?: string;
  readonly effect: string;
  readonly actions: string[];
  readonly resources: string[];
  readonly conditions?: unknown;
}

export interface RawStatement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

export function normalise(statement: RawStatement): Statement {
  const list = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);
  return {
    ...(statement.Sid !== undefined && { sid: statement.Sid }),
    effect: statement.Effect,
    actions: list(statement.Action).sort(),
    resources: list(statement.Resource).map(render).sort(),
    ...(statement.Condition !== undefined && { conditions: statement.Condition }),
  };
}

/** Every statement of every identity policy in the template (AWS::IAM::Policy, ManagedPolicy, inline). */
export function allStatements(template: Template): Array<{ where: string; statement: Statement }> {
  const found: Array<{ where: string; statement: Statement }> = [];
  const collect = (where: string, document: { Statement: RawStatement[] } | undefined): void => {
    for (const statement of document?.Statement ?? []) found.push({ where, statement: normalise(statement) });
  };
  type Document = { Statement: RawStatement[] };
  for (const [id, r] of Object.entries(resourcesOfType(template, 'AWS::IAM::Policy'))) collect(id, r.Properties.PolicyDocument as Document);
  for (const [id, r] of Object.entries(resourcesOfType(template, 'AWS::IAM::ManagedPolicy'))) collect(id, r.Properties.PolicyDocument as Document);
  for (const [id, r] of Object.entries(resourcesOfType(template, 'AWS::IAM::Role'))) {
    for (const policy of (r.Properties.Policies ?? []) as Array<{ PolicyDocument: Document }>) collect(id, policy.PolicyDocument);
  }
  return found;
}

/** The statements of the policies attached to one role. */
export function roleStatements(template: Template, roleLogicalId: string): Statement[] {
  return Object.values(resourcesOfType(template, 'AWS::IAM::Policy'))
    .filter((r) => (r.Properties.Roles as unknown[]).some((ref) => render(ref) === `\${${roleLogicalId}}`))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: RawStatement[] }).Statement.map(normalise));
}

/** A resource of the template, typed enough to read without `any`. */
export interface ResourceJson {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

export interface TemplateJson {
  readonly Resources: Record<string, ResourceJson>;
  readonly Outputs: Record<string, { Value: unknown; Description?: string }>;
}

export function templateJson(template: Template): TemplateJson {
  return template.toJSON() as TemplateJson;
}

/** The resources of one type, by logical id. */
export function resourcesOfType(template: Template, type: string): Record<string, ResourceJson> {
  return Object.fromEntries(Object.entries(templateJson(template).Resources).filter(([, r]) => r.Type === type));
}

/** One resource by logical id; throws when missing. */
export function resourceOf(template: Template, id: string | undefined): ResourceJson {
  const resource = id === undefined ? undefined : templateJson(template).Resources[id];
  if (resource === undefined) throw new Error(`no resource ${id ?? '(undefined)'} in the template`);
  return resource;
}

export function logicalId(stack: Stack, element: unknown): string {
  return stack.getLogicalId(element as CfnElement);
}
