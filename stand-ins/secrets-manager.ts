/**
 * An HTTP stand-in for AWS Secrets Manager speaking its real wire protocol (AWS JSON 1.1), so the
 * real SDK client — serialisation, signing, retries, error parsing — runs against it unchanged.
 *
 * - `POST /` with `X-Amz-Target: secretsmanager.<Operation>` and
 *   `Content-Type: application/x-amz-json-1.1`; a SigV4 `Authorization` header must be present
 *   and well-formed (scoped to `secretsmanager`). The signature itself is not verified: tests use
 *   fake credentials (e.g. `AKIDTEST` / `test-secret`) and the SDK computes it.
 * - Operations: CreateSecret, PutSecretValue, GetSecretValue, DescribeSecret, DeleteSecret,
 *   RestoreSecret, ListSecrets, TagResource, UntagResource.
 * - Errors as the service sends them: HTTP 400 (500 for InternalServiceError) with
 *   `{"__type":"ResourceExistsException","message":"..."}` and `x-amzn-ErrorType`.
 * - ClientRequestToken is the VersionId, as in AWS: the same token with the same value is a
 *   successful no-op returning the same VersionId; with another value, ResourceExistsException.
 * - Scheduled deletion: DeletedDate plus a 7-30 day window on the stand-in's clock (`now`), after
 *   which the secret is purged; until then reads fail with InvalidRequestException.
 * - Fault injection: `failNext(n, fault)`, a seeded probability mode (`setFaultRate`), and a
 *   per-operation call log (`calls`, `callCount`) for assertions.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { close, listen } from './http';

export type SecretsManagerOperation =
  | 'CreateSecret'
  | 'PutSecretValue'
  | 'GetSecretValue'
  | 'DescribeSecret'
  | 'DeleteSecret'
  | 'RestoreSecret'
  | 'ListSecrets'
  | 'TagResource'
  | 'UntagResource';

/** An injected failure. Shorthands: an error type (`'ThrottlingException'`) or an HTTP status (`500`). */
export interface FaultSpec {
  /** The `__type` to answer with; default from `status` (500 InternalServiceError, 503 ServiceUnavailable, else ThrottlingException). */
  readonly type?: string;
  /** HTTP status; default 500 for InternalServiceError, 503 for ServiceUnavailable, 400 otherwise (as AWS JSON services do). */
  readonly status?: number;
  readonly message?: string;
  /** Only calls of this operation are failed (and consume the fault); default any. */
  readonly operation?: SecretsManagerOperation;
  /** Carry out the request, then answer with the error: a response lost after the work was done. */
  readonly afterApply?: boolean;
  /** Wait this long before answering. */
  readonly delayMs?: number;
}

export interface FaultRateOptions {
  /** Chance, 0 to 1, that a call fails. */
  readonly probability: number;
  /** Seed of the deterministic RNG, so a failing run can be replayed. */
  readonly seed: number;
  /** Faults picked from uniformly; default `[{ type: 'InternalServiceError' }]`. */
  readonly faults?: readonly (FaultSpec | string | number)[];
  /** Only these operations fail; default all. */
  readonly operations?: readonly SecretsManagerOperation[];
}

export interface RecordedCall {
  /** From `X-Amz-Target`, without the `secretsmanager.` prefix. */
  readonly operation: string;
  readonly input: Record<string, unknown>;
  readonly status: number;
  /** The error's `__type`, when the answer was an error. */
  readonly errorType?: string;
  /** Whether the error was injected. */
  readonly injected: boolean;
  readonly accessKeyId?: string;
}

export interface StandInSecret {
  readonly name: string;
  readonly arn: string;
  readonly description?: string;
  readonly kmsKeyId?: string;
  readonly tags: Record<string, string>;
  readonly versions: readonly { id: string; value: string | undefined; stages: readonly string[] }[];
  readonly deletedDate?: Date;
  readonly purgeDate?: Date;
}

export interface SecretsManagerStandInOptions {
  readonly region?: string;
  readonly accountId?: string;
  /** Access key ids accepted; others get UnrecognizedClientException. Default: any. */
  readonly accessKeyIds?: readonly string[];
  /** Largest page ListSecrets returns whatever MaxResults asks (the service's is 100). */
  readonly maxPageSize?: number;
  /** The stand-in's clock: creation dates, deletion windows, purges. */
  readonly now?: () => Date;
}

const JSON_11 = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'secretsmanager.';
const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const MAX_BODY = 1024 * 1024;
const DAY_MS = 24 * 60 * 60 * 1000;
const MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion.";
const NOT_FOUND = "Secrets Manager can't find the specified secret.";

class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

interface Version {
  readonly id: string;
  readonly value: string | undefined;
  stages: string[];
  readonly created: Date;
}

interface StoredSecret {
  readonly seq: number;
  readonly name: string;
  readonly arn: string;
  description?: string;
  kmsKeyId?: string;
  tags: Map<string, string>;
  readonly versions: Map<string, Version>;
  readonly created: Date;
  lastChanged: Date;
  deletedDate?: Date;
  purgeDate?: Date;
}

interface QueuedFault {
  remaining: number;
  readonly spec: FaultSpec;
}

type Input = Record<string, unknown>;

export class SecretsManagerStandIn {
  private readonly region: string;
  private readonly accountId: string;
  private readonly accessKeyIds: ReadonlySet<string> | undefined;
  private readonly maxPageSize: number;
  private readonly now: () => Date;
  private server: Server | undefined;
  private secrets = new Map<string, StoredSecret>();
  private seq = 0;
  private queued: QueuedFault[] = [];
  private rate: { probability: number; rng: () => number; faults: FaultSpec[]; operations?: ReadonlySet<string> } | undefined;
  private log: RecordedCall[] = [];

  constructor({ region = 'us-east-1', accountId = '123456789012', accessKeyIds, maxPageSize = 100, now = () => new Date() }: SecretsManagerStandInOptions = {}) {
    this.region = region;
    this.accountId = accountId;
    this.accessKeyIds = accessKeyIds === undefined ? undefined : new Set(accessKeyIds);
    this.maxPageSize = maxPageSize;
    this.now = now;
  }

  /** Listens on 127.0.0.1, on a free port. */
  async start(): Promise<{ endpoint: string }> {
    const server = createServer((req, res) => void this.handle(req, res));
    const port = await listen(server);
    this.server = server;
    return { endpoint: `http://127.0.0.1:${port}` };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await close(server);
  }

  /** The next `n` matching calls fail with `fault`. Queued faults are used in order. */
  failNext(n: number, fault: FaultSpec | string | number = {}): void {
    this.queued.push({ remaining: n, spec: toFaultSpec(fault) });
  }

  /** Fails each call with `probability`, drawing from a seeded RNG (after any `failNext` faults). */
  setFaultRate({ probability, seed, faults = [{ type: 'InternalServiceError' }], operations }: FaultRateOptions): void {
    this.rate = {
      probability,
      rng: mulberry32(seed),
      faults: faults.map(toFaultSpec),
      ...(operations !== undefined && { operations: new Set(operations) }),
    };
  }

  clearFaults(): void {
    this.queued = [];
    this.rate = undefined;
  }

  /** Calls received, in order, optionally only one operation's. */
  calls(operation?: SecretsManagerOperation): RecordedCall[] {
    return operation === undefined ? [...this.log] : this.log.filter((c) => c.operation === operation);
  }

  callCount(operation: SecretsManagerOperation): number {
    return this.calls(operation).length;
  }

  clearCalls(): void {
    this.log = [];
  }

  /** Forgets every secret, fault and call. */
  reset(): void {
    this.secrets = new Map();
    this.clearFaults();
    this.clearCalls();
  }

  /** The stored state of a secret (including values: this is a test double), for assertions. */
  secret(name: string): StandInSecret | undefined {
    this.purge();
    const s = this.secrets.get(name);
    if (s === undefined) return undefined;
    return {
      name: s.name,
      arn: s.arn,
      ...(s.description !== undefined && { description: s.description }),
      ...(s.kmsKeyId !== undefined && { kmsKeyId: s.kmsKeyId }),
      tags: Object.fromEntries(s.tags),
      versions: [...s.versions.values()].map((v) => ({ id: v.id, value: v.value, stages: [...v.stages] })),
      ...(s.deletedDate !== undefined && { deletedDate: s.deletedDate }),
      ...(s.purgeDate !== undefined && { purgeDate: s.purgeDate }),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = header(req, 'x-amz-target') ?? '';
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
    let input: Input = {};
    let accessKeyId: string | undefined;
    let injected = false;
    try {
      const body = await readBody(req);
      if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') throw new ApiError('UnknownOperationException', 'Only POST / is served.', 404);
      if (!(header(req, 'content-type') ?? '').startsWith(JSON_11)) throw new ApiError('SerializationException', `Expected Content-Type ${JSON_11}.`);
      accessKeyId = this.authenticate(req);
      input = parseInput(body);
      if (!target.startsWith(TARGET_PREFIX)) throw new ApiError('UnknownOperationException', `Unknown target ${target || '(none)'}.`);

      const fault = this.takeFault(operation);
      if (fault !== undefined) {
        injected = true;
        if (fault.afterApply === true) this.dispatch(operation, input);
        if (fault.delayMs !== undefined) await delay(fault.delayMs);
        throw faultError(fault, operation, input);
      }
      const output = this.dispatch(operation, input);
      this.record({ operation, input, status: 200, injected, accessKeyId });
      send(res, 200, output);
    } catch (error) {
      const apiError = error instanceof ApiError ? error : new ApiError('InternalServiceError', 'The stand-in failed.', 500);
      this.record({ operation, input, status: apiError.status, errorType: apiError.type, injected, accessKeyId });
      send(res, apiError.status, { __type: apiError.type, message: apiError.message }, apiError.type);
    }
  }

  private record(call: RecordedCall): void {
    this.log.push(call);
  }

  /** Checks for a well-formed SigV4 header scoped to this service; returns the access key id. */
  private authenticate(req: IncomingMessage): string {
    const authorization = header(req, 'authorization');
    if (authorization === undefined) throw new ApiError('MissingAuthenticationTokenException', 'Missing Authentication Token');
    const match = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([a-z0-9-]+)\/secretsmanager\/aws4_request, ?SignedHeaders=[^,\s]+, ?Signature=[0-9a-f]{64}$/.exec(authorization);
    if (match === null || header(req, 'x-amz-date') === undefined) {
      throw new ApiError('IncompleteSignatureException', 'Authorization header requires a SigV4 Credential scoped to secretsmanager, SignedHeaders and Signature.');
    }
    const accessKeyId = match[1] ?? '';
    if (this.accessKeyIds !== undefined && !this.accessKeyIds.has(accessKeyId)) {
      throw new ApiError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    return accessKeyId;
  }

  private takeFault(operation: string): FaultSpec | undefined {
    const queued = this.queued.find((q) => q.remaining > 0 && (q.spec.operation === undefined || q.spec.operation === operation));
    if (queued !== undefined) {
      queued.remaining -= 1;
      this.queued = this.queued.filter((q) => q.remaining > 0);
      return queued.spec;
    }
    const rate = this.rate;
    if (rate === undefined || (rate.operations !== undefined && !rate.operations.has(operation))) return undefined;
    if (rate.rng() >= rate.probability) return undefined;
    return rate.faults[Math.floor(rate.rng() * rate.faults.length)];
  }

  private dispatch(operation: string, input: Input): Input {
    this.purge();
    switch (operation) {
      case 'CreateSecret':
        return this.createSecret(input);
      case 'PutSecretValue':
        return this.putSecretValue(input);
      case 'GetSecretValue':
        return this.getSecretValue(input);
      case 'DescribeSecret':
        return this.describeSecret(input);
      case 'DeleteSecret':
        return this.deleteSecret(input);
      case 'RestoreSecret':
        return this.restoreSecret(input);
      case 'ListSecrets':
        return this.listSecrets(input);
      case 'TagResource':
        return this.tagResource(input);
      case 'UntagResource':
        return this.untagResource(input);
      default:
        throw new ApiError('UnknownOperationException', `The stand-in does not implement ${operation}.`);
    }
  }

  private createSecret(input: Input): Input {
    const name = requiredString(input, 'Name');
    if (!NAME.test(name)) {
      throw new ApiError('InvalidParameterException', 'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!');
    }
    const value = optionalString(input, 'SecretString');
    const token = clientRequestToken(input);
    const existing = this.secrets.get(name);
    if (existing !== undefined) {
      if (existing.deletedDate !== undefined) {
        throw new ApiError('InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.");
      }
      const version = token === undefined ? undefined : existing.versions.get(token);
      if (version !== undefined && version.value === value) return { ARN: existing.arn, Name: existing.name, VersionId: version.id };
      throw new ApiError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    }
    const now = this.now();
    const secret: StoredSecret = {
      seq: ++this.seq,
      name,
      arn: `arn:aws:secretsmanager:${this.region}:${this.accountId}:secret:${name}-${randomSuffix()}`,
      tags: new Map(parseTags(input.Tags).map((t) => [t.Key, t.Value])),
      versions: new Map(),
      created: now,
      lastChanged: now,
    };
    const description = optionalString(input, 'Description');
    if (description !== undefined) secret.description = description;
    const kmsKeyId = optionalString(input, 'KmsKeyId');
    if (kmsKeyId !== undefined) secret.kmsKeyId = kmsKeyId;
    let versionId: string | undefined;
    if (value !== undefined) {
      versionId = token ?? randomUUID();
      secret.versions.set(versionId, { id: versionId, value, stages: ['AWSCURRENT'], created: now });
    }
    this.secrets.set(name, secret);
    return { ARN: secret.arn, Name: name, ...(versionId !== undefined && { VersionId: versionId }) };
  }

  private putSecretValue(input: Input): Input {
    const secret = this.live(requiredString(input, 'SecretId'));
    const value = optionalString(input, 'SecretString');
    if (value === undefined) throw new ApiError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
    const token = clientRequestToken(input) ?? randomUUID();
    const earlier = secret.versions.get(token);
    if (earlier !== undefined) {
      if (earlier.value === value) return { ARN: secret.arn, Name: secret.name, VersionId: earlier.id, VersionStages: [...earlier.stages] };
      throw new ApiError('ResourceExistsException', "You can't modify an existing version, you can only create a new version.");
    }
    const now = this.now();
    for (const version of secret.versions.values()) {
      if (version.stages.includes('AWSCURRENT')) version.stages = ['AWSPREVIOUS'];
      else version.stages = version.stages.filter((s) => s !== 'AWSPREVIOUS');
    }
    secret.versions.set(token, { id: token, value, stages: ['AWSCURRENT'], created: now });
    secret.lastChanged = now;
    return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: ['AWSCURRENT'] };
  }

  private getSecretValue(input: Input): Input {
    const secret = this.live(requiredString(input, 'SecretId'));
    const versionId = optionalString(input, 'VersionId');
    const stage = optionalString(input, 'VersionStage') ?? (versionId === undefined ? 'AWSCURRENT' : undefined);
    const version = [...secret.versions.values()].find((v) => (versionId === undefined || v.id === versionId) && (stage === undefined || v.stages.includes(stage)));
    if (version === undefined) {
      throw new ApiError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${versionId === undefined ? `staging label: ${stage}` : `VersionId: ${versionId}`}`);
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...(version.value !== undefined && { SecretString: version.value }),
      VersionStages: [...version.stages],
      CreatedDate: epochSeconds(version.created),
    };
  }

  private describeSecret(input: Input): Input {
    const secret = this.find(requiredString(input, 'SecretId'));
    return {
      ...this.summary(secret),
      VersionIdsToStages: Object.fromEntries([...secret.versions.values()].filter((v) => v.stages.length > 0).map((v) => [v.id, [...v.stages]])),
    };
  }

  private deleteSecret(input: Input): Input {
    const secret = this.find(requiredString(input, 'SecretId'));
    const force = input.ForceDeleteWithoutRecovery === true;
    const window = input.RecoveryWindowInDays;
    if (force && window !== undefined) {
      throw new ApiError('InvalidParameterException', "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
    }
    const days = window ?? 30;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 7 || days > 30) {
      throw new ApiError('InvalidParameterException', 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    }
    const now = this.now();
    if (force) {
      this.secrets.delete(secret.name);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(now) };
    }
    if (secret.deletedDate !== undefined) {
      throw new ApiError('InvalidRequestException', "You can't perform this operation on the secret because it was already scheduled for deletion.");
    }
    secret.deletedDate = now;
    secret.purgeDate = new Date(now.getTime() + days * DAY_MS);
    return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(secret.purgeDate) };
  }

  private restoreSecret(input: Input): Input {
    const secret = this.find(requiredString(input, 'SecretId'));
    delete secret.deletedDate;
    delete secret.purgeDate;
    return { ARN: secret.arn, Name: secret.name };
  }

  private listSecrets(input: Input): Input {
    const maxResults = input.MaxResults ?? 100;
    if (typeof maxResults !== 'number' || !Number.isInteger(maxResults) || maxResults < 1 || maxResults > 100) {
      throw new ApiError('InvalidParameterException', 'MaxResults must be between 1 and 100.');
    }
    const descending = input.SortOrder === 'desc';
    const after = decodeToken(input.NextToken);
    const filters = parseFilters(input.Filters);
    const matching = [...this.secrets.values()]
      .filter((s) => input.IncludePlannedDeletion === true || s.deletedDate === undefined)
      .filter((s) => filters.every((f) => f(s)))
      .sort((a, b) => (descending ? b.seq - a.seq : a.seq - b.seq))
      .filter((s) => after === undefined || (descending ? s.seq < after : s.seq > after));
    const page = matching.slice(0, Math.min(maxResults, this.maxPageSize));
    const last = page[page.length - 1];
    return {
      SecretList: page.map((s) => this.summary(s)),
      ...(matching.length > page.length && last !== undefined && { NextToken: Buffer.from(JSON.stringify({ after: last.seq })).toString('base64') }),
    };
  }

  private tagResource(input: Input): Input {
    const secret = this.find(requiredString(input, 'SecretId'));
    for (const tag of parseTags(input.Tags)) secret.tags.set(tag.Key, tag.Value);
    return {};
  }

  private untagResource(input: Input): Input {
    const secret = this.find(requiredString(input, 'SecretId'));
    const keys = input.TagKeys;
    if (!Array.isArray(keys)) throw new ApiError('InvalidParameterException', 'TagKeys is required.');
    for (const key of keys) if (typeof key === 'string') secret.tags.delete(key);
    return {};
  }

  private summary(s: StoredSecret): Input {
    return {
      ARN: s.arn,
      Name: s.name,
      ...(s.description !== undefined && { Description: s.description }),
      ...(s.kmsKeyId !== undefined && { KmsKeyId: s.kmsKeyId }),
      Tags: [...s.tags].map(([Key, Value]) => ({ Key, Value })),
      CreatedDate: epochSeconds(s.created),
      LastChangedDate: epochSeconds(s.lastChanged),
      ...(s.deletedDate !== undefined && { DeletedDate: epochSeconds(s.deletedDate) }),
    };
  }

  /** A secret by name or full ARN, scheduled for deletion or not. */
  private find(secretId: string): StoredSecret {
    const secret = this.secrets.get(secretId) ?? [...this.secrets.values()].find((s) => s.arn === secretId);
    if (secret === undefined) throw new ApiError('ResourceNotFoundException', NOT_FOUND);
    return secret;
  }

  /** A secret that is not scheduled for deletion. */
  private live(secretId: string): StoredSecret {
    const secret = this.find(secretId);
    if (secret.deletedDate !== undefined) throw new ApiError('InvalidRequestException', MARKED_FOR_DELETION);
    return secret;
  }

  /** Removes secrets whose recovery window has ended on the stand-in's clock. */
  private purge(): void {
    const now = this.now().getTime();
    for (const [name, s] of this.secrets) if (s.purgeDate !== undefined && s.purgeDate.getTime() <= now) this.secrets.delete(name);
  }
}

function toFaultSpec(fault: FaultSpec | string | number): FaultSpec {
  if (typeof fault === 'string') return { type: fault };
  if (typeof fault === 'number') return { status: fault };
  return fault;
}

function faultError({ type, status, message }: FaultSpec, operation: string, input: Input): ApiError {
  const errorType = type ?? (status === undefined || status === 500 ? 'InternalServiceError' : status === 503 ? 'ServiceUnavailable' : 'ThrottlingException');
  const errorStatus = status ?? (errorType === 'InternalServiceError' ? 500 : errorType === 'ServiceUnavailable' ? 503 : 400);
  const resource = typeof input.SecretId === 'string' ? input.SecretId : typeof input.Name === 'string' ? input.Name : '*';
  const defaults: Record<string, string> = {
    InternalServiceError: 'An error occurred on the server side.',
    ServiceUnavailable: 'Service unavailable.',
    ThrottlingException: 'Rate exceeded',
    AccessDeniedException: `User: arn:aws:sts::123456789012:assumed-role/crdb-chatops-test/session is not authorized to perform: secretsmanager:${operation} on resource: ${resource} because no identity-based policy allows the secretsmanager:${operation} action`,
  };
  return new ApiError(errorType, message ?? defaults[errorType] ?? `Injected ${errorType}.`, errorStatus);
}

function send(res: ServerResponse, status: number, body: Input, errorType?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': JSON_11,
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': randomUUID(),
    ...(errorType !== undefined && { 'x-amzn-ErrorType': errorType }),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY) throw new ApiError('SerializationException', 'Request body too large.');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseInput(body: string): Input {
  if (body === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ApiError('SerializationException', 'Request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ApiError('SerializationException', 'Request body must be a JSON object.');
  return parsed as Input;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function requiredString(input: Input, key: string): string {
  const value = input[key];
  if (typeof value !== 'string' || value === '') throw new ApiError('InvalidParameterException', `${key} is required.`);
  return value;
}

function optionalString(input: Input, key: string): string | undefined {
  const value = input[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ApiError('InvalidParameterException', `${key} must be a string.`);
  return value;
}

function clientRequestToken(input: Input): string | undefined {
  const token = optionalString(input, 'ClientRequestToken');
  if (token !== undefined && (token.length < 32 || token.length > 64)) {
    throw new ApiError('InvalidParameterException', 'ClientRequestToken must be 32 to 64 characters.');
  }
  return token;
}

function parseTags(tags: unknown): { Key: string; Value: string }[] {
  if (tags === undefined) return [];
  if (!Array.isArray(tags)) throw new ApiError('InvalidParameterException', 'Tags must be a list.');
  return tags.map((tag: unknown) => {
    const { Key, Value } = (tag ?? {}) as { Key?: unknown; Value?: unknown };
    if (typeof Key !== 'string' || Key === '' || Key.length > 128) throw new ApiError('InvalidParameterException', 'A tag Key must be 1-128 characters.');
    if (Value !== undefined && (typeof Value !== 'string' || Value.length > 256)) throw new ApiError('InvalidParameterException', 'A tag Value must be at most 256 characters.');
    return { Key, Value: Value ?? '' };
  });
}

type SecretFilter = (s: StoredSecret) => boolean;

/** Filters as the service applies them: values within a filter OR, filters AND, `!` negates. */
function parseFilters(filters: unknown): SecretFilter[] {
  if (filters === undefined) return [];
  if (!Array.isArray(filters)) throw new ApiError('InvalidParameterException', 'Filters must be a list.');
  return filters.map((filter: unknown): SecretFilter => {
    const { Key, Values } = (filter ?? {}) as { Key?: unknown; Values?: unknown };
    if (!Array.isArray(Values) || Values.length === 0 || !Values.every((v): v is string => typeof v === 'string')) {
      throw new ApiError('InvalidParameterException', 'A filter needs a list of Values.');
    }
    const field = filterField(Key);
    const positive = Values.filter((v) => !v.startsWith('!'));
    const negative = Values.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
    return (s) => {
      const fields = field(s);
      const matches = (prefix: string): boolean => fields.some((f) => f.startsWith(prefix));
      return (positive.length === 0 || positive.some(matches)) && !negative.some(matches);
    };
  });
}

function filterField(key: unknown): (s: StoredSecret) => string[] {
  switch (key) {
    case 'name':
      return (s) => [s.name];
    case 'description':
      return (s) => (s.description === undefined ? [] : [s.description]);
    case 'tag-key':
      return (s) => [...s.tags.keys()];
    case 'tag-value':
      return (s) => [...s.tags.values()];
    default:
      throw new ApiError('InvalidParameterException', `The stand-in does not support filter key ${String(key)}.`);
  }
}

function decodeToken(token: unknown): number | undefined {
  if (token === undefined) return undefined;
  if (typeof token === 'string') {
    try {
      const { after } = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { after?: unknown };
      if (typeof after === 'number') return after;
    } catch {
      // fall through to the service's error
    }
  }
  throw new ApiError('InvalidNextTokenException', 'The NextToken value is invalid.');
}

function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}

function randomSuffix(): string {
  return randomUUID().replace(/-/g, '').slice(0, 6);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A small seeded PRNG (mulberry32): deterministic fault sequences for a given seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
