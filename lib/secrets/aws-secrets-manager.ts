/**
 * `SecretStore` on AWS Secrets Manager (SDK v3).
 *
 * Every SDK error is translated here, once, into the secrets error family; nothing above this file
 * sees an SDK exception. Messages are written here too, never copied from AWS, so no SDK text (and
 * no secret value) reaches a user or a log line through them.
 */
import {
  CreateSecretCommand,
  type CreateSecretCommandInput,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InternalServiceError,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  type ListSecretsCommandOutput,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { type Logger, silentLogger } from '../log';
import { idempotencyToken, parseDatabaseSecret, resolveDeletion, serializeDatabaseSecret, toDatabaseSecret } from './common';
import {
  SecretAccessDeniedError,
  SecretExistsError,
  SecretInvalidError,
  SecretNotFoundError,
  SecretStoreBackendError,
  SecretStoreError,
  SecretStoreUnavailableError,
} from './errors';
import {
  assertValidSecretName,
  type CreateSecretOptions,
  type DatabaseSecret,
  type DeleteSecretOptions,
  type PutSecretOptions,
  type SecretStore,
  type SecretSummary,
  secretTagRecord,
} from './types';
import { AWS_SDK } from '../retry-policies';

/** Options for the client `AwsSecretStore` builds when it is not handed one. */
export interface SecretsManagerClientOptions {
  readonly region?: string;
  /** Override the service endpoint (a stand-in in tests, a local emulator); default: AWS's for the region. */
  readonly endpoint?: string;
  /** Default: the SDK's provider chain (the Lambda role). */
  readonly credentials?: SecretsManagerClientConfig['credentials'];
  /** Attempts per call, first included, in the SDK's standard retry mode. Default 3. */
  readonly maxAttempts?: number;
  /** Milliseconds to establish a connection. Default 2000. */
  readonly connectionTimeoutMs?: number;
  /** Milliseconds for one attempt's request and response. Default 5000. */
  readonly requestTimeoutMs?: number;
}

/**
 * A Secrets Manager client that gives up quickly: the standard retry mode (exponential backoff with
 * jitter, throttling-aware, retry quota) with few attempts and per-attempt timeouts, because a
 * Lambda invocation waiting on it has a deadline and SQS will redeliver the job anyway.
 */
export function createSecretsManagerClient({
  region,
  endpoint,
  credentials,
  maxAttempts = AWS_SDK.maxAttempts,
  connectionTimeoutMs = AWS_SDK.connectionTimeoutMs,
  requestTimeoutMs = AWS_SDK.requestTimeoutMs,
}: SecretsManagerClientOptions = {}): SecretsManagerClient {
  return new SecretsManagerClient({
    ...(region !== undefined && { region }),
    ...(endpoint !== undefined && { endpoint }),
    ...(credentials !== undefined && { credentials }),
    retryMode: 'standard',
    maxAttempts,
    requestHandler: { connectionTimeout: connectionTimeoutMs, requestTimeout: requestTimeoutMs, throwOnRequestTimeout: true },
  });
}

export interface AwsSecretStoreOptions extends SecretsManagerClientOptions {
  /** A ready client (shared, or configured elsewhere). When given, the client options above are ignored. */
  readonly client?: SecretsManagerClient;
  /** Customer-managed KMS key for new secrets; default: the account's `aws/secretsmanager` key. */
  readonly kmsKeyId?: string;
  readonly logger?: Logger;
}

// Pages of ListSecrets: 100 is the service maximum; the page cap only stops a server that keeps
// answering with a NextToken from looping forever (it is 100,000 secrets).
const LIST_PAGE_SIZE = 100;
const MAX_LIST_PAGES = 1_000;

/** Error names (AWS-wide, not modelled in this SDK) meaning "who you are may not do this". */
const ACCESS_DENIED_NAMES = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);
/** KMS refused to encrypt or decrypt: almost always the key policy, which an operator must fix. */
const KMS_FAILURE_NAMES = new Set(['DecryptionFailure', 'EncryptionFailure']);
const UNAVAILABLE_NAMES = new Set(['ThrottlingException', 'ServiceUnavailable', 'RequestTimeout', 'TimeoutError', 'AbortError']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The port's operations, as named in log lines. */
export type SecretStoreOperation = 'create' | 'put' | 'get' | 'delete' | 'list' | 'restore';

export class AwsSecretStore implements SecretStore {
  private readonly client: SecretsManagerClient;
  private readonly ownsClient: boolean;
  private readonly kmsKeyId: string | undefined;
  private readonly logger: Logger;

  constructor({ client, kmsKeyId, logger = silentLogger(), ...clientOptions }: AwsSecretStoreOptions = {}) {
    this.client = client ?? createSecretsManagerClient(clientOptions);
    this.ownsClient = client === undefined;
    this.kmsKeyId = kmsKeyId;
    this.logger = logger;
  }

  async create(name: string, value: DatabaseSecret, { tags, description, idempotencyKey }: CreateSecretOptions): Promise<void> {
    assertValidSecretName(name);
    const input: CreateSecretCommandInput = {
      Name: name,
      SecretString: serializeDatabaseSecret(toDatabaseSecret(value, name)),
      Tags: Object.entries(secretTagRecord(tags)).map(([Key, Value]) => ({ Key, Value })),
      ...(description !== undefined && { Description: description }),
      ...(this.kmsKeyId !== undefined && { KmsKeyId: this.kmsKeyId }),
      // Without a key the SDK still sends a random token, so its own retries are idempotent;
      // with one, a retry of the whole job is too.
      ...(idempotencyKey !== undefined && { ClientRequestToken: idempotencyToken('create', name, idempotencyKey) }),
    };
    try {
      await this.client.send(new CreateSecretCommand(input));
    } catch (error) {
      // Secrets Manager answers a create over a name scheduled for deletion with InvalidRequest.
      if (error instanceof InvalidRequestException && (await this.isScheduledForDeletion(name))) {
        throw this.logged(
          new SecretExistsError(`Secret ${name} already exists and is scheduled for deletion: restore it or wait until it is purged.`, true, { cause: error }),
          'create',
          name,
        );
      }
      throw this.translate(error, 'create', name);
    }
    this.logger.debug({ secretName: name, operation: 'create' }, 'secret created');
  }

  async put(name: string, value: DatabaseSecret, { idempotencyKey }: PutSecretOptions = {}): Promise<void> {
    assertValidSecretName(name);
    try {
      await this.client.send(
        new PutSecretValueCommand({
          SecretId: name,
          SecretString: serializeDatabaseSecret(toDatabaseSecret(value, name)),
          ...(idempotencyKey !== undefined && { ClientRequestToken: idempotencyToken('put', name, idempotencyKey) }),
        }),
      );
    } catch (error) {
      if (error instanceof InvalidRequestException && (await this.isScheduledForDeletion(name))) {
        throw this.logged(new SecretNotFoundError(`Secret ${name} is scheduled for deletion: restore it first.`, true, { cause: error }), 'put', name);
      }
      throw this.translate(error, 'put', name);
    }
    this.logger.debug({ secretName: name, operation: 'put' }, 'secret version stored');
  }

  async get(name: string): Promise<DatabaseSecret | undefined> {
    assertValidSecretName(name);
    let secretString: string | undefined;
    try {
      const output = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
      secretString = output.SecretString;
    } catch (error) {
      // Missing, or marked for deletion ("You can't perform this operation on the secret because
      // it was marked for deletion."): both are "no secret" to a reader.
      if (error instanceof ResourceNotFoundException || error instanceof InvalidRequestException) return undefined;
      throw this.translate(error, 'get', name);
    }
    if (secretString === undefined) {
      throw this.logged(new SecretInvalidError(`Secret ${name} holds binary data, not a database secret.`), 'get', name);
    }
    return parseDatabaseSecret(secretString, name);
  }

  async delete(name: string, options?: DeleteSecretOptions): Promise<void> {
    assertValidSecretName(name);
    const deletion = resolveDeletion(options);
    try {
      await this.client.send(
        new DeleteSecretCommand({
          SecretId: name,
          ...(deletion.force ? { ForceDeleteWithoutRecovery: true } : { RecoveryWindowInDays: deletion.days }),
        }),
      );
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return;
      // Deleting again what is already scheduled: the outcome the caller wants is under way.
      if (error instanceof InvalidRequestException && (await this.isScheduledForDeletion(name))) {
        this.logger.info({ secretName: name, operation: 'delete' }, 'secret already scheduled for deletion');
        return;
      }
      throw this.translate(error, 'delete', name);
    }
    this.logger.info({ secretName: name, operation: 'delete', ...deletion }, 'secret deletion requested');
  }

  async list(prefix: string): Promise<SecretSummary[]> {
    assertValidSecretName(prefix, { allowEmpty: true });
    const summaries: SecretSummary[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      let output: ListSecretsCommandOutput;
      try {
        output = await this.client.send(
          new ListSecretsCommand({
            ...(prefix !== '' && { Filters: [{ Key: 'name', Values: [prefix] }] }),
            IncludePlannedDeletion: true,
            MaxResults: LIST_PAGE_SIZE,
            ...(nextToken !== undefined && { NextToken: nextToken }),
          }),
        );
      } catch (error) {
        throw this.translate(error, 'list', prefix);
      }
      for (const entry of output.SecretList ?? []) {
        // The service documents its name filter as a prefix match; check again anyway, so the port
        // promises exactly this prefix whatever the service's matching rules (case, word
        // splitting) turn out to be.
        if (entry.Name === undefined || !entry.Name.startsWith(prefix)) continue;
        summaries.push({
          name: entry.Name,
          tags: Object.fromEntries((entry.Tags ?? []).flatMap((t) => (t.Key === undefined ? [] : [[t.Key, t.Value ?? '']]))),
          ...(entry.CreatedDate !== undefined && { createdAt: entry.CreatedDate }),
          ...(entry.DeletedDate !== undefined && { deletedAt: entry.DeletedDate }),
        });
      }
      nextToken = output.NextToken;
      if (nextToken === undefined || nextToken === '') return summaries;
    }
    throw this.logged(new SecretStoreBackendError(`Listing secrets under ${prefix} did not end after ${MAX_LIST_PAGES} pages.`), 'list', prefix);
  }

  async restore(name: string): Promise<void> {
    assertValidSecretName(name);
    try {
      await this.client.send(new RestoreSecretCommand({ SecretId: name }));
    } catch (error) {
      throw this.translate(error, 'restore', name);
    }
    this.logger.info({ secretName: name, operation: 'restore' }, 'secret restored');
  }

  /** Releases the HTTP connections of a client this store created (a client passed in is the caller's). */
  close(): void {
    if (this.ownsClient) this.client.destroy();
  }

  /** Whether the secret exists and is scheduled for deletion; any failure to tell counts as no. */
  private async isScheduledForDeletion(name: string): Promise<boolean> {
    try {
      const output = await this.client.send(new DescribeSecretCommand({ SecretId: name }));
      return output.DeletedDate !== undefined;
    } catch {
      return false;
    }
  }

  private translate(error: unknown, operation: SecretStoreOperation, name: string): SecretStoreError {
    return this.logged(translateError(error, operation, name), operation, name, error);
  }

  private logged(error: SecretStoreError, operation: SecretStoreOperation, name: string, original: unknown = error.cause): SecretStoreError {
    // The SDK puts $metadata (status, request id, attempts) on service and transport errors alike.
    const metadata = (original as { $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number } } | undefined)?.$metadata;
    // Answers the caller expects and handles (exists, not found, bad input) are not warnings.
    const level = error.code === 'already_exists' || error.code === 'not_found' || error.code === 'invalid' ? 'info' : 'warn';
    this.logger[level](
      {
        secretName: name,
        operation,
        code: error.code,
        awsError: original instanceof Error ? original.name : undefined,
        httpStatus: metadata?.httpStatusCode,
        requestId: metadata?.requestId,
        attempts: metadata?.attempts,
      },
      error.message,
    );
    return error;
  }
}

const DESCRIBE: Record<SecretStoreOperation, string> = {
  create: 'create secret',
  put: 'store a new version of secret',
  get: 'read secret',
  delete: 'delete secret',
  list: 'list secrets under',
  restore: 'restore secret',
};

/** One SDK (or network) error to one family error; exported for tests of the mapping table. */
export function translateError(error: unknown, operation: SecretStoreOperation, name: string): SecretStoreError {
  if (error instanceof SecretStoreError) return error;
  const action = `${DESCRIBE[operation]} ${name}`;
  const options = { cause: error };
  const errorName = error instanceof Error ? error.name : '';
  if (error instanceof ResourceExistsException) {
    return operation === 'create'
      ? new SecretExistsError(`Could not ${action}: it already exists.`, false, options)
      : new SecretExistsError(`Could not ${action}: that idempotency key was already used with another value.`, false, options);
  }
  if (error instanceof ResourceNotFoundException) {
    return new SecretNotFoundError(`Could not ${action}: it does not exist${operation === 'restore' ? ' or was already purged' : ''}.`, false, options);
  }
  if (error instanceof InvalidParameterException) {
    return new SecretInvalidError(`Secrets Manager refused to ${action}: a parameter is invalid.`, options);
  }
  if (ACCESS_DENIED_NAMES.has(errorName)) {
    return new SecretAccessDeniedError(`Access denied: not allowed to ${action}; check the function's IAM role and credentials.`, options);
  }
  if (KMS_FAILURE_NAMES.has(errorName)) {
    return new SecretAccessDeniedError(`Could not ${action}: KMS refused the key; check the key policy.`, options);
  }
  if (isUnavailable(error)) {
    return new SecretStoreUnavailableError(`Secrets Manager is unavailable: could not ${action}; try again shortly.`, options);
  }
  return new SecretStoreBackendError(`Secrets Manager could not ${action} (${errorName || 'unknown error'}).`, options);
}

function isUnavailable(error: unknown): boolean {
  if (error instanceof InternalServiceError) return true;
  if (!(error instanceof Error)) return false;
  if (UNAVAILABLE_NAMES.has(error.name)) return true;
  if (error instanceof SecretsManagerServiceException) {
    return error.$fault === 'server' || (error.$metadata.httpStatusCode ?? 0) >= 500;
  }
  // No service answer at all: a socket error from the HTTP handler...
  const { code, $metadata } = error as { code?: unknown; $metadata?: { attempts?: unknown; httpStatusCode?: unknown } };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  // ...or one the SDK's retry loop wrapped (it wraps errors that are not `instanceof Error` in its
  // realm, dropping `code`): it made attempts and never got an HTTP status back.
  return typeof $metadata?.attempts === 'number' && $metadata.httpStatusCode === undefined;
}
