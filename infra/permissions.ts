/**
 * Least privilege, written down once: which AWS actions each function calls, on which resources.
 *
 * Every action here is traced to the call that needs it (lib/requests/dynamo-store.ts,
 * lib/secrets/aws-secrets-manager.ts, lib/secrets/references.ts, lib/queue/sqs.ts). When
 * a function starts calling something new, add it here; test/infra/stack.test.ts pins the result.
 */
import { Arn, ArnFormat, type Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { MANAGED_BY, SECRET_NAME_PREFIX, TAG_CLUSTER, TAG_MANAGED_BY, TAG_OWNER } from '../lib/secrets/types';
import { type ConfigSecret, type FunctionRole, secretNameOf } from './deploy-config';

/**
 * State table item actions, by function. DynamoDB has no `TransactWriteItems` IAM action: a
 * transaction is authorised per item, by `PutItem`/`UpdateItem` (and `ConditionCheckItem`, which
 * the store never uses).
 *
 * - slack: write a new request (PutItem), read a repeated delivery's claim (GetItem), approve/deny
 *   (GetItem, then Update + Put in a transaction), append an event (PutItem), Keep an audit
 *   finding (PutItem), read requests, entries and users (GetItem, Query), and `allow me` links
 *   (PutItem; GetItem; UpdateItem to mark one used and note its request). It never deletes.
 * - worker: all of that, plus admission (claim a command's trigger id, take a rate token:
 *   PutItem, UpdateItem), managed entries/users and DM receipts removed (DeleteItem), and the
 *   audit's `/crdb audit` and Remove fixes, which it runs.
 * - audit: the sweep expires requests (GetItem, Update + Put), deletes due DM receipts, expired
 *   entries and users, stale acknowledgements (DeleteItem), appends trail events (PutItem), and
 *   reads the indexes (Query).
 * - outbox: none on items; it reads the table's stream (granted by its event source mapping).
 */
export const TABLE_ITEM_ACTIONS: Readonly<Record<FunctionRole, readonly string[]>> = {
  slack: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  worker: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
  audit: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
  outbox: [],
};

/** Who queries the table and both indexes (pending requests, due items, by requester): all but the outbox relay. */
export const TABLE_QUERY_ACTIONS: Readonly<Record<FunctionRole, readonly string[]>> = {
  slack: ['dynamodb:Query'],
  worker: ['dynamodb:Query'],
  audit: ['dynamodb:Query'],
  outbox: [],
};

/**
 * Secrets Manager actions on SQL users' secrets (`crdb-chatops/<cluster>/*`), by function.
 * - worker: rotate (PutSecretValue), read for `connect` and resumed jobs, delete and restore, and
 *   DescribeSecret to tell "scheduled for deletion"; creating one is `createUserSecretsStatement`.
 * - audit: deletes the secrets of expired temporary users and secrets without a user
 *   (DescribeSecret: the delete's "already scheduled" check). It never reads a password.
 * - slack: none; it never touches a user's password.
 */
export const USER_SECRET_ACTIONS: Readonly<Record<FunctionRole, readonly string[]>> = {
  slack: [],
  worker: [
    'secretsmanager:PutSecretValue',
    'secretsmanager:GetSecretValue',
    'secretsmanager:DescribeSecret',
    'secretsmanager:DeleteSecret',
    'secretsmanager:RestoreSecret',
  ],
  audit: ['secretsmanager:DescribeSecret', 'secretsmanager:DeleteSecret'],
  outbox: [],
};

/**
 * `ListSecrets` has no resource-level permissions (IAM requires `*`); it is read-only and returns
 * metadata, never values. The worker (`/crdb audit`) and the scheduled audit list the prefix.
 */
export const LISTS_SECRETS: Readonly<Record<FunctionRole, boolean>> = { slack: false, worker: true, audit: true, outbox: false };

/**
 * Who enqueues jobs: the outbox relay (each new request's `submit`), the slack function
 * (approvals, reads, audit Remove clicks, repeated deliveries) and the audit function, whose
 * reconciler drives on open requests nothing has moved (a `drive` job each). The worker runs jobs
 * and enqueues none.
 */
export const SENDS_JOBS: Readonly<Record<FunctionRole, boolean>> = { slack: true, worker: false, audit: true, outbox: true };

/**
 * KMS, when `secrets.kmsKeyId` is set: Secrets Manager encrypts with a data key it asks KMS for
 * on the caller's behalf (GenerateDataKey on create/put) and decrypts on read (Decrypt).
 */
export const KMS_ACTIONS: Readonly<Record<FunctionRole, readonly string[]>> = {
  slack: ['kms:Decrypt'],
  worker: ['kms:Decrypt', 'kms:GenerateDataKey'],
  audit: ['kms:Decrypt'],
  outbox: [],
};

// ---------------------------------------------------------------------------------------------
// Resources

/** Where the secrets live: `secrets.region` when set, else the stack's region. */
export interface SecretScope {
  readonly stack: Stack;
  readonly region?: string;
}

function secretArn({ stack, region }: SecretScope, resourceName: string): string {
  return stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME, ...(region ? { region } : {}) });
}

/**
 * The IAM resources that match a config secret. Secrets Manager appends `-` and six random
 * characters to every secret's ARN, so a name matches `name-??????` (exactly one secret, unlike
 * `name*`). An ARN may be complete (with the suffix) or partial (without): both forms are granted,
 * and each still matches exactly one secret.
 */
export function configSecretResources(scope: SecretScope, secretId: string): string[] {
  if (secretId.startsWith('arn:')) return [secretId, `${secretId}-??????`];
  return [secretArn(scope, `${secretNameOf(secretId)}-??????`)];
}

/** SQL users' secrets of one cluster: `crdb-chatops/<alias>/<user>`. */
export function userSecretResource(scope: SecretScope, clusterAlias: string): string {
  return secretArn(scope, `${SECRET_NAME_PREFIX}${clusterAlias}/*`);
}

/** The policy statement reading the config secrets a function resolves, if any. */
export function configSecretStatement(scope: SecretScope, secrets: readonly ConfigSecret[], role: FunctionRole): iam.PolicyStatement | undefined {
  const resources = [...new Set(secrets.filter((s) => s.readBy.includes(role)).flatMap((s) => configSecretResources(scope, s.secretId)))];
  if (resources.length === 0) return undefined;
  return new iam.PolicyStatement({ sid: 'ReadConfigSecrets', actions: ['secretsmanager:GetSecretValue'], resources });
}

/**
 * KMS key resources for `secrets.kmsKeyId`: a key id or key ARN names the key; an alias (name or
 * ARN) cannot be resolved offline, so any key of the account qualifies *if* it carries that alias.
 */
export function kmsKeyStatement(stack: Stack, kmsKeyId: string, region: string | undefined, actions: readonly string[]): iam.PolicyStatement {
  const viaService = { 'kms:ViaService': `secretsmanager.${region ?? stack.region}.amazonaws.com` };
  const keyArn = (resourceName: string): string => stack.formatArn({ service: 'kms', resource: 'key', resourceName, ...(region ? { region } : {}) });
  if (kmsKeyId.startsWith('arn:') && kmsKeyId.includes(':key/')) {
    return new iam.PolicyStatement({ sid: 'SecretsKmsKey', actions: [...actions], resources: [kmsKeyId], conditions: { StringEquals: viaService } });
  }
  const alias = kmsKeyId.startsWith('arn:') ? Arn.split(kmsKeyId, ArnFormat.SLASH_RESOURCE_NAME).resourceName : kmsKeyId.startsWith('alias/') ? kmsKeyId.slice('alias/'.length) : undefined;
  if (alias === undefined) {
    return new iam.PolicyStatement({ sid: 'SecretsKmsKey', actions: [...actions], resources: [keyArn(kmsKeyId)], conditions: { StringEquals: viaService } });
  }
  return new iam.PolicyStatement({
    sid: 'SecretsKmsKey',
    actions: [...actions],
    resources: [keyArn('*')],
    conditions: { StringEquals: viaService, 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': `alias/${alias}` } },
  });
}

/** Who creates users' secrets: the worker (`user create`). */
export const CREATES_USER_SECRETS: Readonly<Record<FunctionRole, boolean>> = { slack: false, worker: true, audit: false, outbox: false };

/**
 * Creating a user's secret (`CreateSecret`, and `TagResource` for the tags it is created with)
 * only with the bot's own tags: `managed-by = crdb-chatops`, the cluster's alias as
 * `crdb-chatops:cluster` (one statement per cluster, on that cluster's prefix), and no tag keys
 * but the bot's (lib/secrets/types.ts `secretTagRecord`). A secret the audit and the sweep would
 * trust is one the bot made.
 */
export function createUserSecretsStatements(scope: SecretScope, clusterAliases: readonly string[]): iam.PolicyStatement[] {
  return clusterAliases.map(
    (alias, i) =>
      new iam.PolicyStatement({
        sid: `CreateUserSecrets${i}`,
        actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
        resources: [userSecretResource(scope, alias)],
        conditions: {
          StringEquals: { [`aws:RequestTag/${TAG_MANAGED_BY}`]: MANAGED_BY, [`aws:RequestTag/${TAG_CLUSTER}`]: alias },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [TAG_OWNER, TAG_CLUSTER, TAG_MANAGED_BY] },
        },
      }),
  );
}

/**
 * Never `DeleteSecret` with `ForceDeleteWithoutRecovery`: every deletion the bot makes keeps the
 * recovery window (`secrets.recoveryWindowDays`, 7 to 30 days), so a wrong delete can be undone.
 * A Deny, so no other statement can lift it.
 */
export function noForcedSecretDeletionStatement(scope: SecretScope, clusterAliases: readonly string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'NoForcedSecretDeletion',
    effect: iam.Effect.DENY,
    actions: ['secretsmanager:DeleteSecret'],
    resources: clusterAliases.map((alias) => userSecretResource(scope, alias)),
    conditions: { Bool: { 'secretsmanager:ForceDeleteWithoutRecovery': 'true' } },
  });
}
