/**
 * The SecretStore port: where SQL users' passwords live. Adapters: `AwsSecretStore` (AWS Secrets
 * Manager) and `FileSecretStore` (one 0600 JSON file, local mode). Both honour the same contract
 * (test/contracts/secret-store-contract.ts), including scheduled deletion with a recovery window.
 */
import { SecretInvalidError } from './errors';

/** Engines the bot writes; AWS's database-secret convention names the engine in `engine`. */
export type DatabaseEngine = 'cockroachdb' | 'postgres';

/**
 * A secret's value: AWS's database-secret JSON shape (so AWS tooling and rotation templates read
 * it) plus `cluster`, the bot's alias for the cluster the user lives on.
 */
export interface DatabaseSecret {
  readonly engine: DatabaseEngine;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly dbname: string;
  readonly cluster: string;
  /**
   * The request that last wrote this value (create or rotate). A resumed job recognises its own
   * write by it and reuses the password instead of generating another.
   */
  readonly requestId?: string;
}

/** Tag keys on every secret the bot creates; the audit matches secrets to users through them. */
export const TAG_OWNER = 'crdb-chatops:owner';
export const TAG_CLUSTER = 'crdb-chatops:cluster';
export const TAG_MANAGED_BY = 'managed-by';
export const MANAGED_BY = 'crdb-chatops';

/** Every secret name the bot creates starts with this (IAM policies are scoped to it). */
export const SECRET_NAME_PREFIX = 'crdb-chatops/';

/** What the caller says about a new secret; the store adds `managed-by: crdb-chatops` itself. */
export interface SecretTags {
  /** Slack user id of the person the SQL user was created for. */
  readonly owner: string;
  /** The bot's cluster alias. */
  readonly cluster: string;
}

export interface CreateSecretOptions {
  readonly tags: SecretTags;
  readonly description?: string;
  /**
   * Makes a retried create of the same request (an SQS redelivery, a resumed job) land as the same
   * version instead of failing with `SecretExistsError`: same key and same value succeed, same key
   * and another value fail. Use the request or job id.
   */
  readonly idempotencyKey?: string;
}

export interface PutSecretOptions {
  /** As for `create`: a retried rotation with the same key and value is the same version. */
  readonly idempotencyKey?: string;
}

export interface DeleteSecretOptions {
  /** Days the secret stays restorable, 7 to 30 (Secrets Manager's bounds). Default 7. */
  readonly recoveryWindowDays?: number;
  /** Delete now, with no recovery window. Not combinable with `recoveryWindowDays`. */
  readonly force?: boolean;
}

/** One secret as `list` reports it: metadata only, never the value. */
export interface SecretSummary {
  readonly name: string;
  /** Every tag on the secret, raw, so the audit also sees secrets someone else tagged. */
  readonly tags: Readonly<Record<string, string>>;
  readonly createdAt?: Date;
  /** When deletion was requested; present only for secrets scheduled for deletion. */
  readonly deletedAt?: Date;
}

/**
 * Stores database secrets by name. Methods throw only `SecretStoreError` subclasses.
 * A secret scheduled for deletion is invisible to `get`, refused by `put`, still listed (with
 * `deletedAt`), and holds its name against `create` until `restore` or the purge.
 */
export interface SecretStore {
  /** Creates a secret. @throws SecretExistsError when the name is taken (also by a secret scheduled for deletion). */
  create(name: string, value: DatabaseSecret, options: CreateSecretOptions): Promise<void>;
  /** Stores a new version as the current one. @throws SecretNotFoundError when missing or scheduled for deletion. */
  put(name: string, value: DatabaseSecret, options?: PutSecretOptions): Promise<void>;
  /** The current value, or `undefined` when the secret is missing or scheduled for deletion. */
  get(name: string): Promise<DatabaseSecret | undefined>;
  /** Schedules deletion (or deletes now with `force`). A secret already gone, or already scheduled, is success. */
  delete(name: string, options?: DeleteSecretOptions): Promise<void>;
  /** Every secret whose name starts with `prefix` (all pages), including those scheduled for deletion. */
  list(prefix: string): Promise<SecretSummary[]>;
  /** Cancels a scheduled deletion; a live secret is left as is. @throws SecretNotFoundError when there is nothing to restore. */
  restore?(name: string): Promise<void>;
}

const CLUSTER_ALIAS = /^[a-z0-9-]+$/;
const MAX_CLUSTER_ALIAS = 63;
// Secrets Manager allows ASCII letters, digits and /_+=.@- in names; `/` is our separator, so a
// user part may not contain it. SQL user names (lowercase, digits, _ - .) fit inside this.
const USER_PART = /^[A-Za-z0-9_+=.@-]+$/;
const STORE_NAME = /^[A-Za-z0-9/_+=.@-]+$/;
const MAX_SECRET_NAME = 512;

/**
 * The secret name for a SQL user on a cluster: `crdb-chatops/<cluster>/<user>`.
 * @throws SecretInvalidError when the cluster alias is not `[a-z0-9-]+` or the user contains
 * a character Secrets Manager forbids, or `/`.
 */
export function secretName(cluster: string, user: string): string {
  if (cluster.length === 0 || cluster.length > MAX_CLUSTER_ALIAS || !CLUSTER_ALIAS.test(cluster)) {
    throw new SecretInvalidError(`Cluster alias must be 1-${MAX_CLUSTER_ALIAS} lowercase letters, digits or '-'.`);
  }
  if (user.length === 0 || !USER_PART.test(user)) {
    throw new SecretInvalidError("A user name in a secret name may only contain letters, digits and _+=.@- (no '/').");
  }
  const name = `${SECRET_NAME_PREFIX}${cluster}/${user}`;
  if (name.length > MAX_SECRET_NAME) throw new SecretInvalidError(`A secret name is at most ${MAX_SECRET_NAME} characters.`);
  return name;
}

/** The cluster and user a bot-made secret name stands for, or `undefined` for any other name. */
export function parseSecretName(name: string): { cluster: string; user: string } | undefined {
  if (!name.startsWith(SECRET_NAME_PREFIX)) return undefined;
  const [cluster, user, ...rest] = name.slice(SECRET_NAME_PREFIX.length).split('/');
  if (cluster === undefined || user === undefined || rest.length > 0) return undefined;
  if (!CLUSTER_ALIAS.test(cluster) || !USER_PART.test(user)) return undefined;
  return { cluster, user };
}

/**
 * Checks a name (or, with `allowEmpty`, a list prefix) against Secrets Manager's character rules.
 * Both adapters call it so a name the AWS store would refuse is refused locally too.
 * @throws SecretInvalidError
 */
export function assertValidSecretName(name: string, { allowEmpty = false }: { allowEmpty?: boolean } = {}): void {
  if (name === '' && allowEmpty) return;
  if (name.length === 0 || name.length > MAX_SECRET_NAME || !STORE_NAME.test(name)) {
    throw new SecretInvalidError(`A secret name must be 1-${MAX_SECRET_NAME} characters of letters, digits and /_+=.@-.`);
  }
}

/** The AWS tag set for a new secret: owner, cluster, and `managed-by: crdb-chatops`. */
export function secretTagRecord(tags: SecretTags): Record<string, string> {
  return { [TAG_OWNER]: tags.owner, [TAG_CLUSTER]: tags.cluster, [TAG_MANAGED_BY]: MANAGED_BY };
}
