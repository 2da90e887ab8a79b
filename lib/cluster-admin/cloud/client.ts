/**
 * A typed CockroachDB Cloud API client for the calls the `cloud` backend makes: IP allowlist, SQL
 * users, cluster facts and connection parameters.
 *
 * Transport is `openapi-fetch`, typed by the `paths` generated from the official spec, so a path,
 * parameter or body that the spec does not have fails to compile. Around every call:
 *
 * - pacing: each HTTP request (retries included) takes a slot from the API key's pacer (10/s);
 * - a timeout per attempt (cockatiel `timeout`, which aborts the request's signal);
 * - retries (cockatiel `retry`) with exponential backoff and jitter, honouring `Retry-After`,
 *   only where repeating the request is safe (see `execute` and `createSqlUser`);
 * - errors translated once into the cluster-admin error family, with one-line messages that
 *   never carry the API key, a password or a raw response.
 */
import {
  ExponentialBackoff,
  handleWhen,
  retry,
  TaskCancelledError,
  timeout,
  TimeoutStrategy,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
} from 'cockatiel';
import createClient, { type Client } from 'openapi-fetch';
import {
  AlreadyExistsError,
  BackendError,
  ClusterAdminError,
  ConflictError,
  InvalidInputError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitedError,
  TimeoutError,
  UnauthenticatedError,
  UnavailableError,
} from '../errors';
import { silentLogger, type Logger } from '../../log';
import { METRIC, type Metrics, NO_METRICS } from '../../metrics';
import { type components, type paths } from './openapi.gen';
import { CloudApiPacers, type RequestPacer } from './pacer';
import { CLOUD_API } from '../../retry-policies';
import { code, prose, type Prose } from '../../prose';

/** The API version this client is written against (the spec's `info.version`), sent as `Cc-Version`. */
export const CLOUD_API_VERSION = '2024-09-16';
export const DEFAULT_CLOUD_API_BASE_URL = 'https://cockroachlabs.cloud';

export type CloudAllowlistEntry = components['schemas']['AllowlistEntry'];
export type CloudCluster = components['schemas']['Cluster'];
export type CloudConnectionString = components['schemas']['GetConnectionStringResponse'];
/** The `os` query parameter of the connection-string call (formats the CA path; Advanced only). */
export type CloudClientOs = 'MAC' | 'LINUX' | 'WINDOWS';

/** Which cluster a call is about: the Cloud id for the URL, the configured alias for messages. */
export interface CloudClusterRef {
  readonly clusterId: string;
  /** The alias the bot knows the cluster by, e.g. `prod-eu`; used in error messages. */
  readonly cluster: string;
}

export interface CloudApiRetryOptions {
  /** Attempts per call, the first included; default 4. 1 disables retries. */
  readonly maxAttempts?: number;
  /** First backoff delay; default 250 ms. Later delays grow exponentially, with jitter. */
  readonly baseDelayMs?: number;
  /** Cap on a computed backoff delay; default 8 s. */
  readonly maxDelayMs?: number;
  /**
   * A 429 whose `Retry-After` is longer than this is not waited for: the call fails at once with
   * `RateLimitedError.retryAfterMs`, so the caller can schedule it instead of holding a Lambda.
   * Default 30 s.
   */
  readonly maxRetryAfterMs?: number;
}

export interface CloudApiClientOptions {
  /** Service account API key (from Secrets Manager; the composition root fetches it). */
  readonly apiKey: string;
  /** Default `https://cockroachlabs.cloud`. */
  readonly baseUrl?: string;
  /** Per-attempt timeout; default 10 s. */
  readonly timeoutMs?: number;
  readonly retry?: CloudApiRetryOptions;
  /**
   * The registry of per-key pacers, shared by every client in the process. Default: a private
   * registry, which paces this client alone; pass the shared one so that all clients using the
   * same key share its 10 requests/s.
   */
  readonly pacers?: CloudApiPacers;
  /** Replaces `globalThis.fetch` (e.g. to add a proxy agent). */
  readonly fetch?: (request: Request) => Promise<Response>;
  readonly logger?: Logger;
  /** Counts each 429 answer (`CloudApiThrottled`, by cluster); default none. */
  readonly metrics?: Metrics;
  /** Clock for `Retry-After` dates; injectable for tests. */
  readonly now?: () => number;
}

/** One page of a list call. */
export interface CloudPageRequest {
  /** Opaque token from the previous page's `nextPage`. */
  readonly page?: string;
  readonly limit?: number;
}

export interface CloudAllowlistPage {
  readonly entries: readonly CloudAllowlistEntry[];
  readonly propagating: boolean;
  readonly nextPage?: string;
}

export interface CloudSqlUserPage {
  readonly names: readonly string[];
  readonly nextPage?: string;
}

/** What a new or updated allowlist entry looks like on the wire. */
export interface CloudAllowlistWrite {
  readonly cidrIp: string;
  readonly cidrMask: number;
  readonly sql: boolean;
  readonly ui: boolean;
  readonly name?: string;
}

/**
 * A non-2xx answer from the Cloud API. Kept as the `cause` of the domain error; it carries the
 * status, the server's `Status.message` (already scrubbed of the key and any password the call
 * sent) and the parsed `Retry-After`, never headers or the raw body.
 */
export class CloudHttpError extends Error {
  constructor(
    readonly status: number,
    /** `Status.message` from the body, one line, scrubbed. */
    readonly statusMessage: string | undefined,
    /** `Status.code` (a gRPC code) from the body. */
    readonly statusCode: number | undefined,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`Cloud API answered HTTP ${status}${statusMessage ? `: ${statusMessage}` : ''}`);
    this.name = 'CloudHttpError';
  }
}

/** The request failed below HTTP (connection refused or reset, DNS, TLS). */
export class CloudNetworkError extends Error {
  constructor(
    /** `ECONNRESET`, `ECONNREFUSED`, `UND_ERR_SOCKET`, ... when known. */
    readonly code: string | undefined,
    options: { cause: unknown },
  ) {
    super(`network error${code ? ` (${code})` : ''} talking to the Cloud API`, options);
    this.name = 'CloudNetworkError';
  }
}

/** Which Cloud roles may call what (from the spec's per-operation "Can be used by" lists). */
const ROLES = {
  read: 'Cluster Admin, Cluster Operator or Cluster Developer',
  allowlistWrite: 'Cluster Admin or Cluster Operator',
  sqlUserWrite: 'Cluster Admin (Cluster Operator is not enough to manage SQL users)',
} as const;

/** Everything `execute` needs to retry safely and to explain a failure. */
interface Operation {
  /** For logs, e.g. `listAllowlist`. */
  readonly name: string;
  readonly ref: CloudClusterRef;
  /** Completes "may not ..." / "could not ...", e.g. `change the IP allowlist`. */
  readonly action: string;
  readonly roles: string;
  /** What a 404 means: `cluster` for the cluster itself, or a phrase such as "Allowlist entry 203.0.113.0/24". */
  readonly subject: 'cluster' | Prose;
  /** Repeating the request after an unknown outcome cannot do harm. */
  readonly idempotent: boolean;
  /** How to report a 409. */
  readonly onConflict?: 'already_exists' | 'conflict';
  /** Values the call sent that must never reach a message (passwords). */
  readonly secrets?: readonly string[];
}

type ApiResult<T> = { data?: T; error?: unknown; response: Response };
type Send<T> = (signal: AbortSignal) => Promise<ApiResult<T>>;

/** Per-call bookkeeping shared with callers that resolve ambiguous outcomes themselves. */
interface CallState {
  /** Some attempt failed in a way that leaves open whether the server applied the request. */
  ambiguous: boolean;
}

const DEFAULT_PAGE_LIMIT = 500;
/** Guards against a server that keeps returning a next-page token. */
const MAX_PAGES = 1_000;

/**
 * CockroachDB Cloud API client. One per API key and base URL is enough; it holds no connection
 * state beyond what `fetch` pools, so it needs no closing.
 */
export class CloudApiClient {
  private readonly api: Client<paths>;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly pacer: RequestPacer;
  private readonly logger: Logger;
  private readonly metrics: Metrics;
  private readonly now: () => number;

  constructor({
    apiKey,
    baseUrl = DEFAULT_CLOUD_API_BASE_URL,
    timeoutMs = CLOUD_API.timeoutMs,
    retry: { maxAttempts = CLOUD_API.maxAttempts, baseDelayMs = CLOUD_API.baseDelayMs, maxDelayMs = CLOUD_API.maxDelayMs, maxRetryAfterMs = CLOUD_API.maxRetryAfterMs } = {},
    pacers = new CloudApiPacers(),
    fetch: fetchImpl = (request) => globalThis.fetch(request),
    logger = silentLogger(),
    metrics = NO_METRICS,
    now = Date.now,
  }: CloudApiClientOptions) {
    if (apiKey.trim() === '') throw new InvalidInputError('A Cloud API key is required.');
    if (!(maxAttempts >= 1)) throw new RangeError('retry.maxAttempts must be at least 1');
    this.apiKey = apiKey;
    this.timeoutMs = timeoutMs;
    this.maxAttempts = Math.floor(maxAttempts);
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.maxRetryAfterMs = maxRetryAfterMs;
    this.pacer = pacers.forKey(apiKey);
    this.logger = logger;
    this.metrics = metrics;
    this.now = now;
    this.api = createClient<paths>({
      baseUrl,
      headers: { Authorization: `Bearer ${apiKey}`, 'Cc-Version': CLOUD_API_VERSION, Accept: 'application/json' },
      // Errors thrown by fetch itself mean the request failed below HTTP; marking them here is the
      // one place that can tell them from a bug in our own code.
      fetch: async (request: Request) => {
        try {
          return await fetchImpl(request);
        } catch (error) {
          if (isAbort(error)) throw error;
          throw new CloudNetworkError(errorCode(error), { cause: error });
        }
      },
    });
  }

  // ---- IP allowlist ---------------------------------------------------------------------------

  /** One page of the allowlist, with the cluster's propagation flag. */
  async listAllowlistPage(ref: CloudClusterRef, { page, limit = DEFAULT_PAGE_LIMIT }: CloudPageRequest = {}): Promise<CloudAllowlistPage> {
    const data = await this.read(
      { name: 'listAllowlist', ref, action: 'read the IP allowlist', roles: ROLES.read, subject: 'cluster', idempotent: true },
      (signal) =>
        this.api.GET('/api/v1/clusters/{cluster_id}/networking/allowlist', {
          params: { path: { cluster_id: ref.clusterId }, query: { 'pagination.page': page, 'pagination.limit': limit } },
          signal,
        }),
    );
    return { entries: data.allowlist, propagating: data.propagating, ...nextPageOf(data.pagination) };
  }

  /**
   * Every allowlist entry, following `next_page` to the end. `propagating` is true when any page
   * said so: pages are read at slightly different moments, and "still propagating" is the safe
   * answer.
   */
  async listAllowlist(ref: CloudClusterRef, { limit = DEFAULT_PAGE_LIMIT }: { limit?: number } = {}): Promise<CloudAllowlistPage> {
    const entries: CloudAllowlistEntry[] = [];
    let propagating = false;
    await this.forEachPage(ref, 'allowlist', async (page) => {
      const result = await this.listAllowlistPage(ref, { page, limit });
      entries.push(...result.entries);
      propagating ||= result.propagating;
      return result.nextPage;
    });
    return { entries, propagating };
  }

  /**
   * Adds an entry: `PUT .../allowlist/{ip}/{mask}`. The spec documents this PUT as "add a new CIDR
   * address"; being addressed by path it is safe to repeat, unlike `POST .../allowlist`, so a
   * timeout or 5xx is simply retried. Should the server answer a repeat with 409 (the spec does not
   * say whether PUT replaces), the earlier attempt landed: that is success.
   *
   * @throws AlreadyExistsError when the entry existed before this call and the server refuses to
   * replace it.
   */
  async addAllowlistEntry(ref: CloudClusterRef, entry: CloudAllowlistWrite): Promise<void> {
    const cidr = `${entry.cidrIp}/${entry.cidrMask}`;
    const body = { sql: entry.sql, ui: entry.ui, ...(entry.name !== undefined ? { name: entry.name } : {}) };
    const state: CallState = { ambiguous: false };
    try {
      await this.execute(
        {
          name: 'addAllowlistEntry',
          ref,
          action: 'change the IP allowlist',
          roles: ROLES.allowlistWrite,
          subject: 'cluster',
          idempotent: true,
          onConflict: 'already_exists',
        },
        (signal) =>
          this.api.PUT('/api/v1/clusters/{cluster_id}/networking/allowlist/{cidr_ip}/{cidr_mask}', {
            params: { path: { cluster_id: ref.clusterId, cidr_ip: entry.cidrIp, cidr_mask: entry.cidrMask } },
            body,
            signal,
          }),
        state,
      );
    } catch (error) {
      if (!(error instanceof AlreadyExistsError)) throw error;
      if (state.ambiguous) return;
      throw new AlreadyExistsError(`Allowlist entry ${cidr} already exists on ${ref.cluster}.`, { cause: error.cause });
    }
  }

  /**
   * Updates an existing entry's name and flags: `PATCH .../allowlist/{ip}/{mask}` ("Update an IP
   * allowlist entry"). It sets absolute values, so repeating it is harmless.
   */
  async updateAllowlistEntry(ref: CloudClusterRef, entry: CloudAllowlistWrite): Promise<void> {
    const cidr = `${entry.cidrIp}/${entry.cidrMask}`;
    await this.execute(
      {
        name: 'updateAllowlistEntry',
        ref,
        action: 'change the IP allowlist',
        roles: ROLES.allowlistWrite,
        subject: prose`Allowlist entry ${cidr}`,
        idempotent: true,
        onConflict: 'conflict',
      },
      (signal) =>
        this.api.PATCH('/api/v1/clusters/{cluster_id}/networking/allowlist/{cidr_ip}/{cidr_mask}', {
          params: { path: { cluster_id: ref.clusterId, cidr_ip: entry.cidrIp, cidr_mask: entry.cidrMask } },
          // An absent name would leave the old one; the entry must end up exactly as asked.
          body: { sql: entry.sql, ui: entry.ui, name: entry.name ?? '' },
          signal,
        }),
    );
  }

  /**
   * Removes an entry. Resolves `true` when this call removed it, `false` when it was not there.
   * A 404 that follows an attempt with an unknown outcome means that attempt removed it: `true`.
   */
  async deleteAllowlistEntry(ref: CloudClusterRef, cidrIp: string, cidrMask: number): Promise<boolean> {
    const state: CallState = { ambiguous: false };
    try {
      await this.execute(
        {
          name: 'deleteAllowlistEntry',
          ref,
          action: 'change the IP allowlist',
          roles: ROLES.allowlistWrite,
          subject: prose`Allowlist entry ${cidrIp}/${cidrMask}`,
          idempotent: true,
        },
        (signal) =>
          this.api.DELETE('/api/v1/clusters/{cluster_id}/networking/allowlist/{cidr_ip}/{cidr_mask}', {
            params: { path: { cluster_id: ref.clusterId, cidr_ip: cidrIp, cidr_mask: cidrMask } },
            signal,
          }),
        state,
      );
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return state.ambiguous;
      throw error;
    }
  }

  // ---- SQL users ------------------------------------------------------------------------------

  async listSqlUsersPage(ref: CloudClusterRef, { page, limit = DEFAULT_PAGE_LIMIT }: CloudPageRequest = {}): Promise<CloudSqlUserPage> {
    const data = await this.read(
      { name: 'listSqlUsers', ref, action: 'list SQL users', roles: ROLES.read, subject: 'cluster', idempotent: true },
      (signal) =>
        this.api.GET('/api/v1/clusters/{cluster_id}/sql-users', {
          params: { path: { cluster_id: ref.clusterId }, query: { 'pagination.page': page, 'pagination.limit': limit } },
          signal,
        }),
    );
    return { names: data.users.map((user) => user.name), ...nextPageOf(data.pagination) };
  }

  /** Every SQL user name, all pages. */
  async listSqlUsers(ref: CloudClusterRef, { limit = DEFAULT_PAGE_LIMIT }: { limit?: number } = {}): Promise<string[]> {
    const names: string[] = [];
    await this.forEachPage(ref, 'SQL user list', async (page) => {
      const result = await this.listSqlUsersPage(ref, { page, limit });
      names.push(...result.names);
      return result.nextPage;
    });
    return names;
  }

  /**
   * Creates a SQL user (the Cloud API makes it a member of `admin`).
   *
   * `POST .../sql-users` is not idempotent, so it is never blindly repeated. When an attempt ends
   * without a clear answer (timeout, connection reset, 5xx), the user list decides: if the user
   * now exists, the POST landed; its password is set again (PUT, idempotent) so that it is surely
   * the one we hold, and the call succeeds. Otherwise the POST is sent once more. A 409 on that
   * second POST means the first one landed after all (the list had not caught up): same outcome.
   *
   * Caveat: a user that existed before an ambiguous first attempt is indistinguishable from one
   * that attempt created; either way it ends up with our password.
   *
   * @throws AlreadyExistsError when the user existed before this call (clear 409).
   */
  async createSqlUser(ref: CloudClusterRef, name: string, password: string): Promise<void> {
    const operation: Operation = {
      name: 'createSqlUser',
      ref,
      action: 'create SQL users',
      roles: ROLES.sqlUserWrite,
      subject: 'cluster',
      idempotent: false,
      onConflict: 'already_exists',
      secrets: [password],
    };
    const send: Send<components['schemas']['SQLUser']> = (signal) =>
      this.api.POST('/api/v1/clusters/{cluster_id}/sql-users', {
        params: { path: { cluster_id: ref.clusterId } },
        body: { name, password },
        signal,
      });
    let earlierAttemptAmbiguous = false;
    for (let post = 1; ; post++) {
      const state: CallState = { ambiguous: false };
      try {
        await this.execute(operation, send, state);
        return;
      } catch (error) {
        if (error instanceof AlreadyExistsError) {
          if (!earlierAttemptAmbiguous) {
            throw new AlreadyExistsError(prose`SQL user ${code(name)} already exists on ${ref.cluster}.`, { cause: error.cause });
          }
          this.logger.info({ cluster: ref.cluster, user: name }, 'create SQL user: the earlier attempt had created the user');
          await this.setSqlUserPassword(ref, name, password);
          return;
        }
        if (!state.ambiguous) throw error;
        this.logger.warn(
          { cluster: ref.cluster, user: name, attempt: post, code: error instanceof ClusterAdminError ? error.code : undefined },
          'create SQL user: outcome unknown; checking whether the user exists',
        );
        if ((await this.listSqlUsers(ref)).includes(name)) {
          await this.setSqlUserPassword(ref, name, password);
          return;
        }
        if (post >= 2) throw error;
        earlierAttemptAmbiguous = true;
      }
    }
  }

  /** Sets a SQL user's password. Idempotent (same password), so retried like a read. */
  async setSqlUserPassword(ref: CloudClusterRef, name: string, password: string): Promise<void> {
    await this.execute(
      {
        name: 'setSqlUserPassword',
        ref,
        action: 'change SQL user passwords',
        roles: ROLES.sqlUserWrite,
        subject: prose`SQL user ${code(name)}`,
        idempotent: true,
        secrets: [password],
      },
      (signal) =>
        this.api.PUT('/api/v1/clusters/{cluster_id}/sql-users/{name}/password', {
          params: { path: { cluster_id: ref.clusterId, name } },
          body: { password },
          signal,
        }),
    );
  }

  /**
   * Deletes a SQL user. Resolves `true` when this call deleted it, `false` when it did not exist.
   * A 404 after an attempt with an unknown outcome means that attempt deleted it: `true`.
   */
  async deleteSqlUser(ref: CloudClusterRef, name: string): Promise<boolean> {
    const state: CallState = { ambiguous: false };
    try {
      await this.execute(
        {
          name: 'deleteSqlUser',
          ref,
          action: 'delete SQL users',
          roles: ROLES.sqlUserWrite,
          subject: prose`SQL user ${code(name)}`,
          idempotent: true,
        },
        (signal) =>
          this.api.DELETE('/api/v1/clusters/{cluster_id}/sql-users/{name}', {
            params: { path: { cluster_id: ref.clusterId, name } },
            signal,
          }),
        state,
      );
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return state.ambiguous;
      throw error;
    }
  }

  // ---- Cluster facts --------------------------------------------------------------------------

  async getCluster(ref: CloudClusterRef): Promise<CloudCluster> {
    return this.read(
      { name: 'getCluster', ref, action: 'read cluster details', roles: ROLES.read, subject: 'cluster', idempotent: true },
      (signal) => this.api.GET('/api/v1/clusters/{cluster_id}', { params: { path: { cluster_id: ref.clusterId } }, signal }),
    );
  }

  /** The API's connection parameters for `sqlUser` and `database` (`os` is required for Advanced clusters). */
  async getConnectionString(
    ref: CloudClusterRef,
    { database, sqlUser, os }: { database: string; sqlUser: string; os?: CloudClientOs },
  ): Promise<CloudConnectionString> {
    return this.read(
      { name: 'getConnectionString', ref, action: 'read connection details', roles: ROLES.read, subject: 'cluster', idempotent: true },
      (signal) =>
        this.api.GET('/api/v1/clusters/{cluster_id}/connection-string', {
          params: { path: { cluster_id: ref.clusterId }, query: { database, sql_user: sqlUser, ...(os ? { os } : {}) } },
          signal,
        }),
    );
  }

  // ---- Machinery ------------------------------------------------------------------------------

  private async forEachPage(ref: CloudClusterRef, what: string, readPage: (page: string | undefined) => Promise<string | undefined>): Promise<void> {
    const seen = new Set<string>();
    let page: string | undefined;
    for (let count = 0; count < MAX_PAGES; count++) {
      page = await readPage(page);
      if (page === undefined) return;
      // A repeated token would loop forever; the server is misbehaving, so stop and say so.
      if (seen.has(page)) break;
      seen.add(page);
    }
    throw new BackendError(`The Cloud API kept paginating the ${what} on ${ref.cluster}; giving up.`);
  }

  /**
   * Runs one API call with pacing, a per-attempt timeout and retries. What is retried:
   * 429 always (the server refused before doing anything), waiting at least `Retry-After`;
   * a connection that was refused always (nothing was sent); 5xx, timeouts and dropped connections
   * only for idempotent operations, since their outcome is unknown.
   */
  private async execute<T>(operation: Operation, send: Send<T>, state: CallState = { ambiguous: false }): Promise<T | undefined> {
    const policy = retry(
      handleWhen((error) => this.shouldRetry(error, operation)),
      {
        maxAttempts: this.maxAttempts - 1,
        backoff: new RetryAfterBackoff(new ExponentialBackoff({ initialDelay: this.baseDelayMs, maxDelay: this.maxDelayMs })),
      },
    );
    const retryListener = policy.onRetry((event) => {
      this.logger.warn(
        {
          cluster: operation.ref.cluster,
          operation: operation.name,
          attempt: event.attempt,
          delayMs: Math.round(event.delay),
          reason: 'error' in event ? describeFailure(event.error) : 'unexpected result',
        },
        'Cloud API call failed; retrying',
      );
    });
    try {
      return await policy.execute(async () => {
        await this.pacer.acquire();
        try {
          return await this.attempt(operation, send);
        } catch (error) {
          if (isAmbiguous(error)) state.ambiguous = true;
          throw error;
        }
      });
    } catch (error) {
      const domainError = this.toDomainError(error, operation);
      // A 404 is often the expected answer (deleting what is already gone): not worth a warning.
      const level = domainError instanceof NotFoundError ? 'debug' : 'warn';
      this.logger[level](
        { cluster: operation.ref.cluster, operation: operation.name, code: domainError.code, reason: describeFailure(error) },
        'Cloud API call failed',
      );
      throw domainError;
    } finally {
      retryListener.dispose();
    }
  }

  /** `execute` for calls whose answer is needed: an empty 2xx body is a server fault. */
  private async read<T>(operation: Operation, send: Send<T>): Promise<T> {
    const data = await this.execute(operation, send);
    if (data === undefined) {
      throw new BackendError(`The Cloud API gave an empty answer when asked to ${operation.action} on ${operation.ref.cluster}.`);
    }
    return data;
  }

  /** One HTTP exchange; resolves with the parsed body of a 2xx (`undefined` when it had none). */
  private async attempt<T>(operation: Operation, send: Send<T>): Promise<T | undefined> {
    // Aggressive: the attempt fails at the deadline even if the response body is still trickling
    // in; the signal handed to fetch is aborted at the same moment, so nothing is left running.
    const perAttempt = timeout(this.timeoutMs, TimeoutStrategy.Aggressive);
    let result: ApiResult<T>;
    try {
      result = await perAttempt.execute((_context, signal) => send(signal));
    } catch (error) {
      // undici reports a connection that broke off while the body was being read as
      // `TypeError: terminated`; it is a network failure, not a bug of ours.
      if (error instanceof TypeError && error.message === 'terminated') {
        throw new CloudNetworkError(errorCode(error) ?? 'terminated', { cause: error });
      }
      throw error;
    }
    const { response } = result;
    if (response.ok) return result.data;
    if (response.status === 429) this.metrics.count(METRIC.cloudApiThrottled, { cluster: operation.ref.cluster });
    const status = readStatus(result.error);
    throw new CloudHttpError(
      response.status,
      status.message === undefined ? undefined : this.scrub(status.message, operation),
      status.code,
      parseRetryAfter(response.headers.get('retry-after'), this.now()),
    );
  }

  private shouldRetry(error: Error, operation: Operation): boolean {
    if (error instanceof CloudHttpError) {
      if (error.status === 429) return error.retryAfterMs === undefined || error.retryAfterMs <= this.maxRetryAfterMs;
      return error.status >= 500 && operation.idempotent;
    }
    if (isTimeout(error)) return operation.idempotent;
    if (error instanceof CloudNetworkError) return operation.idempotent || error.code === 'ECONNREFUSED';
    return false;
  }

  /** The one place raw failures become domain errors with one-line, secret-free messages. */
  private toDomainError(error: unknown, operation: Operation): ClusterAdminError {
    if (error instanceof ClusterAdminError) return error;
    const { ref, action } = operation;
    const options = { cause: error };
    if (isTimeout(error)) {
      return new TimeoutError(
        `The Cloud API did not answer within ${formatSeconds(this.timeoutMs)} when asked to ${action} on ${ref.cluster}; try again shortly.`,
        options,
      );
    }
    if (error instanceof CloudNetworkError) {
      return new UnavailableError(
        `Could not reach the Cloud API to ${action} on ${ref.cluster}${error.code ? ` (${error.code})` : ''}; try again in a few minutes.`,
        options,
      );
    }
    if (!(error instanceof CloudHttpError)) {
      return new BackendError(`Unexpected failure while asking the Cloud API to ${action} on ${ref.cluster}.`, options);
    }
    const detail = error.statusMessage ? `: ${error.statusMessage}` : '';
    switch (error.status) {
      case 400:
        return new InvalidInputError(`The Cloud API refused to ${action} on ${ref.cluster}${detail || ': invalid request'}.`, undefined, options);
      case 401:
        return new UnauthenticatedError(
          `The Cloud API key for ${ref.cluster} was rejected; create a new service account API key and update the configured secret.`,
          options,
        );
      case 403:
        return new PermissionDeniedError(
          `The Cloud API key for ${ref.cluster} may not ${action}: its service account needs the ${operation.roles} role on cluster ${ref.clusterId}.`,
          options,
        );
      case 404:
        return operation.subject === 'cluster'
          ? new NotFoundError(`Cloud cluster ${ref.clusterId} (${ref.cluster}) was not found${detail}; check the cluster id in the configuration.`, options)
          : new NotFoundError(prose`${operation.subject} was not found on ${ref.cluster} (cluster ${ref.clusterId})${detail}.`, options);
      case 409:
        return operation.onConflict === 'already_exists'
          ? new AlreadyExistsError(`It already exists on ${ref.cluster}${detail}.`, options)
          : new ConflictError(`The Cloud API reported a conflict on ${ref.cluster}${detail}; try again.`, options);
      case 429:
        return new RateLimitedError(
          `The Cloud API is rate limiting the key for ${ref.cluster}; try again${error.retryAfterMs !== undefined ? ` in ${formatSeconds(error.retryAfterMs)}` : ' shortly'}.`,
          error.retryAfterMs,
          options,
        );
      default:
        if (error.status >= 500) {
          return new UnavailableError(
            `The Cloud API could not ${action} on ${ref.cluster} (HTTP ${error.status}${detail}); try again in a few minutes.`,
            options,
          );
        }
        return new BackendError(`The Cloud API answered HTTP ${error.status} when asked to ${action} on ${ref.cluster}${detail}.`, options);
    }
  }

  /** A server message as one short line, without the key or any password this call sent. */
  private scrub(message: string, operation: Operation): string {
    let text = message;
    for (const secret of [this.apiKey, ...(operation.secrets ?? [])]) {
      if (secret !== '') text = text.split(secret).join('[REDACTED]');
    }
    text = text.replace(/\s+/g, ' ').trim();
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  }
}

/**
 * Exponential backoff with jitter (cockatiel's decorrelated jitter), except that when the last
 * failure carried `Retry-After`, the wait is at least that long.
 */
class RetryAfterBackoff implements IBackoffFactory<IRetryBackoffContext<unknown>> {
  constructor(private readonly inner: IBackoffFactory<unknown>) {}

  next(context: IRetryBackoffContext<unknown>): IBackoff<IRetryBackoffContext<unknown>> {
    const step = this.inner.next(context);
    const failure = 'error' in context.result ? context.result.error : undefined;
    const retryAfterMs = failure instanceof CloudHttpError ? failure.retryAfterMs : undefined;
    return {
      duration: retryAfterMs === undefined ? step.duration : Math.max(retryAfterMs, step.duration),
      next: (nextContext) => new RetryAfterBackoff(step).next(nextContext),
    };
  }
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function nextPageOf(pagination: components['schemas']['KeysetPaginationResponse'] | undefined): { nextPage?: string } {
  const next = pagination?.next_page;
  return next !== undefined && next !== '' ? { nextPage: next } : {};
}

/** `Status` fields from an error body of unknown shape. */
function readStatus(body: unknown): { message?: string; code?: number } {
  if (typeof body !== 'object' || body === null) return {};
  const { message, code } = body as { message?: unknown; code?: unknown };
  return {
    ...(typeof message === 'string' && message.trim() !== '' ? { message } : {}),
    ...(typeof code === 'number' ? { code } : {}),
  };
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

function isTimeout(error: unknown): boolean {
  return error instanceof TaskCancelledError || isAbort(error);
}

/** Whether the server may have applied the request even though we saw a failure. */
function isAmbiguous(error: unknown): boolean {
  if (error instanceof CloudHttpError) return error.status >= 500;
  if (error instanceof CloudNetworkError) return error.code !== 'ECONNREFUSED';
  return isTimeout(error);
}

function errorCode(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A short reason for logs: status, network code or "timeout"; never a body or header. */
function describeFailure(error: unknown): string {
  if (error instanceof CloudHttpError) return `HTTP ${error.status}`;
  if (error instanceof CloudNetworkError) return `network ${error.code ?? 'error'}`;
  if (isTimeout(error)) return 'timeout';
  if (error instanceof ClusterAdminError) return error.code;
  return error instanceof Error ? error.name : 'unknown';
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${seconds < 10 ? Number(seconds.toFixed(1)) : Math.round(seconds)} s`;
}
