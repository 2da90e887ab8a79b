/**
 * Typed, validated configuration, parsed once at the composition root.
 *
 * The config file (YAML or JSON; `CHATOPS_CONFIG` names its path, or `CHATOPS_CONFIG_JSON` holds it
 * inline) describes clusters, people and policy. A few environment variables override deployment
 * facts (endpoints, table and queue names). Secrets are never in the file: only references to
 * them (`secretId` in Secrets Manager, an environment variable, or a local file).
 *
 * Nothing below the composition root reads `process.env`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
// zod's mini build, as a namespace: esbuild keeps only the schema types and checks used here. The
// English messages are the one locale loaded (mini loads none: every issue would read "Invalid input").
import * as z from 'zod/mini';
// The English locale alone (`z.locales` would bring all 64). Its CommonJS build: this file is one.
import en from 'zod/v4/locales/en.cjs';
import type * as Yaml from 'yaml';
import { DATABASE_PRIVILEGES, SCHEMA_PRIVILEGES } from './cluster-admin/types';
import ipaddr from 'ipaddr.js';

z.config(en());

/** Thrown with a one-line message naming the bad key. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly key?: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

// ---------------------------------------------------------------------------------------------
// Building blocks

const DURATION = /^(\d+)\s*(m|h|d)$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `30m`, `8h`, `7d` → milliseconds; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  const ms = Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return ms > 0 ? ms : undefined;
}

/** The inverse of `parseDuration`: 7d, 8h, 90m. */
export function formatDuration(ms: number): string {
  if (ms % UNIT_MS.d === 0) return `${ms / UNIT_MS.d}d`;
  if (ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h}h`;
  return `${Math.round(ms / UNIT_MS.m)}m`;
}

const duration = z.pipe(
  z.string(),
  z.transform((text: string, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.issues.push({ code: 'custom', message: `"${text}" is not a duration like 30m, 8h or 7d`, input: text });
      return z.NEVER;
    }
    return ms;
  }),
);

// zod's mini build: the same validator as `zod`, with checks as functions instead of methods, so a
// Lambda cold start neither compiles nor constructs what the schema does not use.
const text = (min = 1) => z.string().check(z.minLength(min));
const matching = (pattern: RegExp, message?: string) => z.string().check(z.regex(pattern, message));
const integer = (min: number, max?: number) => z.int().check(z.gte(min), ...(max === undefined ? [] : [z.lte(max)]));
const list = <T extends z.core.SomeType>(item: T) => z._default(z.array(item), []);
const portNumber = integer(1, 65535);

/** Where a secret value comes from. Values in the file are for local use only. */
const secretRef = z.union([
  z.strictObject({ secretId: text() }),
  z.strictObject({ env: matching(/^[A-Z_][A-Z0-9_]*$/) }),
  z.strictObject({ file: text() }),
  z.strictObject({ value: text() }),
]);
export type SecretRef = z.infer<typeof secretRef>;

const userId = matching(/^[UW][A-Z0-9]{2,}$/, 'a Slack user id like U012ABCDEF');
const principal = matching(/^[UWS][A-Z0-9]{2,}$/, 'a Slack user id (U…) or user-group id (S…)');
const channelId = matching(/^[CGD][A-Z0-9]{2,}$/, 'a Slack channel id like C012ABCDEF');
const alias = matching(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and -');
const objectName = matching(/^[a-z_][a-z0-9_.-]{0,62}$/, 'a lowercase SQL name');
/** An IPv4 or IPv6 network in CIDR form. */
const anyCidr = text().check(
  z.refine((value) => {
    try {
      ipaddr.parseCIDR(value);
      return true;
    } catch {
      return false;
    }
  }, 'must be a CIDR like 10.0.0.0/8 or 2001:db8::/32'),
);
const ipv4Cidr = matching(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'an IPv4 CIDR like 203.0.113.0/24');

const grant = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('database'), database: objectName, privileges: z.array(z.enum(DATABASE_PRIVILEGES)).check(z.minLength(1)) }),
  z.strictObject({ kind: z.literal('schema'), schema: objectName, privileges: z.array(z.enum(SCHEMA_PRIVILEGES)).check(z.minLength(1)) }),
  z.strictObject({ kind: z.literal('role'), role: objectName.check(z.refine((r) => r !== 'admin', 'the bot never grants admin')) }),
]);

/** An admin SQL connection (self-hosted clusters; optional for Cloud clusters, for least privilege). */
const sqlConnection = z.strictObject({
  host: text(),
  port: z._default(portNumber, 26257),
  database: z._default(objectName, 'defaultdb'),
  user: text(),
  password: secretRef,
  /** PEM file of the cluster CA; omit for publicly trusted certificates. */
  caFile: z.optional(z.string()),
  tlsServerName: z.optional(z.string()),
});

const policy = z.strictObject({
  /** Entries broader than this prefix are high risk (quorum.high). */
  minPrefix: z._default(integer(1, 32), 24),
  /** Whether `0.0.0.0/0` may be requested at all (then high risk). */
  allowOpen: z._default(z.boolean(), false),
  /** Production: every change needs approval, even a single host. */
  approveAll: z._default(z.boolean(), false),
  /** Single-host (/32) entries apply without approval unless approveAll. */
  autoApproveSingleHost: z._default(z.boolean(), true),
  userCreateNeedsApproval: z._default(z.boolean(), true),
  quorum: z._default(z.strictObject({ elevated: z._default(integer(1, 5), 1), high: z._default(integer(1, 5), 2) }), { elevated: 1, high: 2 }),
  /** Applied when `--for` is omitted; absent = permanent entries. */
  defaultFor: z.optional(duration),
  maxFor: z._default(duration, 30 * UNIT_MS.d),
  /**
   * Cap on allowlist entries the audit warns about. Default: the plan's documented cap (CockroachDB
   * Cloud: 50 Basic/Standard, 20 Advanced on AWS, 200 Advanced on GCP/Azure); none for sql clusters.
   */
  allowlistCap: z.optional(integer(1)),
  /** Users without a secret, admins the policy did not expect, etc. are reported; these admins are expected. */
  expectedAdmins: list(z.string()),
  /**
   * The broadest the whole allowlist may ever be, as a prefix length: with 16, all entries
   * together (break-glass included) admit at most 65,536 addresses. Absent: no ceiling beyond
   * `allowOpen`.
   */
  maxBreadth: z.optional(integer(0, 32)),
  /** Risks whose requests must carry `--reason`, e.g. [high] or [elevated, high]. */
  requireReason: list(z.enum(['low', 'elevated', 'high'])),
  /** Allowlist entries and users must be temporary: a request without `--for` (and no defaultFor) is refused. */
  requireFor: z._default(z.boolean(), false),
});

const clusterCommon = {
  alias,
  description: z.optional(z.string()),
  approversChannel: z.optional(channelId),
  auditChannel: z.optional(channelId),
  approvers: list(principal),
  policy: z._default(policy, () => z.parse(policy, {}, { jitless: true })),
  /** Grants every user the bot creates receives (least privilege). */
  grants: list(grant),
  defaultDatabase: z._default(objectName, 'defaultdb'),
};

const cloudCluster = z.strictObject({
  ...clusterCommon,
  backend: z.literal('cloud'),
  clusterId: text(),
  apiBaseUrl: z._default(z.url(), 'https://cockroachlabs.cloud'),
  apiKey: secretRef,
  /** With it, users lose the `admin` role Cloud gives them and receive `grants` instead. */
  adminSql: z.optional(sqlConnection),
});

const sqlCluster = z.strictObject({
  ...clusterCommon,
  backend: z.literal('sql'),
  dialect: z._default(z.enum(['postgres', 'cockroach']), 'cockroach'),
  connection: sqlConnection,
  hba: z.discriminatedUnion('kind', [z.strictObject({ kind: z.literal('pg-hba-file'), path: text() }), z.strictObject({ kind: z.literal('cockroach-setting') })]),
  /** Networks the bot's admin connection comes from; their rule is never removed. */
  adminSourceCidrs: z._default(z.array(ipv4Cidr).check(z.minLength(1)), ['127.0.0.1/32']),
  /** HBA auth method for entries; default scram-sha-256 (postgres) or password (cockroach). */
  authMethod: z.optional(matching(/^[a-z0-9-]+$/)),
  /** What users connect to, primary first. Default: the admin connection's host. */
  endpoints: z.optional(z.array(z.strictObject({ region: text(), host: text() }))),
  port: z.optional(portNumber),
  /** The CA users need (`sslrootcert`); omit for publicly trusted certificates. */
  caFile: z.optional(z.string()),
});

const cluster = z.discriminatedUnion('backend', [cloudCluster, sqlCluster]);
export type ClusterConfig = z.infer<typeof cluster>;
export type CloudClusterConfig = z.infer<typeof cloudCluster>;
export type SqlClusterConfig = z.infer<typeof sqlCluster>;
export type ClusterPolicy = z.infer<typeof policy>;

const recoveryWindowDays = z._default(integer(7, 30), 7);

/** Where Slack's response_urls live (`https://hooks.slack.com/commands/…`, `…/actions/…`). */
export const RESPONSE_URL_PREFIX = 'https://hooks.slack.com/';

const fileSchema = z
  .strictObject({
    slack: z._default(
      z.strictObject({
        command: z._default(matching(/^\/[a-z0-9_-]+$/), '/crdb'),
        /** The bot's user id and bot id: given here so cold starts skip `auth.test`. */
        botUserId: z.optional(userId),
        botId: z.optional(matching(/^B[A-Z0-9]+$/)),
        signingSecret: z._default(secretRef, { env: 'SLACK_SIGNING_SECRET' }),
        botToken: z._default(secretRef, { env: 'SLACK_BOT_TOKEN' }),
        apiUrl: z._default(z.url(), 'https://slack.com/api/'),
        /**
         * The workspace (and Enterprise Grid org) the bot serves: commands and clicks from any
         * other are refused. Unset: the bot token's own workspace, from `auth.test` on first use.
         */
        teamId: z.optional(matching(/^T[A-Z0-9]{2,}$/, 'a Slack team id like T012ABCDEF')),
        enterpriseId: z.optional(matching(/^E[A-Z0-9]{2,}$/, 'a Slack enterprise id like E012ABCDEF')),
        /** A `response_url` is used only under this prefix; any other is ignored and the answer goes by DM. */
        responseUrlPrefix: z._default(matching(/^https?:\/\/[^/?#@\\]+\/[^?#@\\]*$/, 'an http(s) URL prefix ending in a path, like https://hooks.slack.com/'), RESPONSE_URL_PREFIX),
      }),
      () => ({ command: '/crdb', signingSecret: { env: 'SLACK_SIGNING_SECRET' }, botToken: { env: 'SLACK_BOT_TOKEN' }, apiUrl: 'https://slack.com/api/', responseUrlPrefix: RESPONSE_URL_PREFIX }),
    ),
    access: z._default(
      z.strictObject({
        /** Who may make requests; empty = everyone in the workspace. */
        requesters: list(principal),
        /** May administer: any user's connection, revoke any entry, run the audit. */
        admins: list(principal),
        /** May apply at once with --break-glass --reason. */
        breakGlass: list(principal),
      }),
      { requesters: [], admins: [], breakGlass: [] },
    ),
    links: z._default(
      z.strictObject({
        /**
         * Where `allow me` links point: the bot's public endpoint (a custom domain in front of the
         * Function URL). Default: the Function URL the command came through; local mode: its own
         * endpoint.
         */
        baseUrl: z.optional(matching(/^https?:\/\/[^/?#@\\\s]+$/, 'an http(s) origin without a path, like https://chatops.example.com')),
        /**
         * Proxies in front of the endpoint (CIDRs) whose `X-Forwarded-For` is believed; the address
         * authorized is the last one they did not add. Default none: the connection's own address.
         */
        trustedProxies: list(anyCidr),
      }),
      { trustedProxies: [] },
    ),
    delivery: z._default(
      z.strictObject({
        passwordDelivery: z._default(z.enum(['dm', 'secret-reference']), 'dm'),
        /** DMs that carry a password are deleted after this long. */
        dmTtl: z._default(duration, 60 * UNIT_MS.m),
      }),
      { passwordDelivery: 'dm', dmTtl: 60 * UNIT_MS.m },
    ),
    requests: z._default(
      z.strictObject({
        /** Pending requests expire after this long. */
        pendingTtl: z._default(duration, 24 * UNIT_MS.h),
        /** How long `allow` waits for allowlist propagation before saying so. */
        propagationTimeout: z._default(duration, 10 * UNIT_MS.m),
        /** An open request nothing has moved on for this long is driven on by the reconciler. */
        reconcileAfter: z._default(duration, UNIT_MS.m),
        /** Per requester: change requests per window, and requests pending at once. */
        rateLimit: z._default(
          z.strictObject({ max: z._default(integer(1), 10), window: z._default(duration, 10 * UNIT_MS.m), maxPending: z._default(integer(1), 5) }),
          { max: 10, window: 10 * UNIT_MS.m, maxPending: 5 },
        ),
        /**
         * Per requester: lookups (`allowlist`, `check`, `users`, `connect`) per window. They call the
         * cluster, and on Cloud clusters share the API key's 10 requests/s with everyone.
         */
        readRateLimit: z._default(z.strictObject({ max: z._default(integer(1), 30), window: z._default(duration, UNIT_MS.m) }), { max: 30, window: UNIT_MS.m }),
        /**
         * The holder of a temporary entry or user is DMed this long before it expires, with
         * "Extend" and "Let it expire"; `off` sends none.
         */
        remindBefore: z._default(z.union([z.literal('off'), duration]), 15 * UNIT_MS.m),
      }),
      {
        pendingTtl: 24 * UNIT_MS.h,
        propagationTimeout: 10 * UNIT_MS.m,
        reconcileAfter: UNIT_MS.m,
        rateLimit: { max: 10, window: 10 * UNIT_MS.m, maxPending: 5 },
        readRateLimit: { max: 30, window: UNIT_MS.m },
        remindBefore: 15 * UNIT_MS.m,
      },
    ),
    secrets: z._default(
      z.discriminatedUnion('store', [
        z.strictObject({ store: z.literal('aws'), region: z.optional(z.string()), endpoint: z.optional(z.url()), kmsKeyId: z.optional(z.string()), recoveryWindowDays }),
        z.strictObject({ store: z.literal('file'), path: text(), recoveryWindowDays }),
      ]),
      { store: 'aws', recoveryWindowDays: 7 },
    ),
    state: z._default(z.strictObject({ tableName: z._default(text(3), 'crdb-chatops'), endpoint: z.optional(z.url()), region: z.optional(z.string()) }), { tableName: 'crdb-chatops' }),
    queue: z._default(
      z.discriminatedUnion('kind', [z.strictObject({ kind: z.literal('sqs'), url: z.optional(z.url()), endpoint: z.optional(z.url()) }), z.strictObject({ kind: z.literal('in-process') })]),
      { kind: 'sqs' },
    ),
    audit: z._default(
      z.strictObject({
        /** Daily report time and zone (EventBridge Scheduler cron). */
        reportAt: z._default(matching(/^\d{2}:\d{2}$/), '09:00'),
        timeZone: z._default(z.string(), 'UTC'),
        /** Remove expired entries even when the bot cannot prove it created them. */
        removeUnprovenExpired: z._default(z.boolean(), false),
        /** How often the expiry sweep runs (the scheduler on AWS, a timer in local mode). */
        sweepEvery: z._default(duration, 15 * UNIT_MS.m),
      }),
      { reportAt: '09:00', timeZone: 'UTC', removeUnprovenExpired: false, sweepEvery: 15 * UNIT_MS.m },
    ),
    clusters: z.array(cluster).check(z.minLength(1, 'at least one cluster is required')),
  })
  .check(
    z.superRefine((config, ctx) => {
      const seen = new Set<string>();
      config.clusters.forEach((c, i) => {
        if (seen.has(c.alias)) ctx.addIssue({ code: 'custom', path: ['clusters', i, 'alias'], message: `duplicate cluster alias "${c.alias}"` });
        seen.add(c.alias);
      });
    }),
  );

export type FileConfig = z.infer<typeof fileSchema>;

/** The whole configuration: the file plus deployment facts from the environment. */
export interface Config extends FileConfig {
  readonly logLevel: string;
  readonly port: number;
  readonly awsRegion?: string;
  /** Directory relative file references resolve against. */
  readonly baseDir: string;
}

function formatIssue(issue: z.core.$ZodIssue): ConfigError {
  const key = issue.path.map(String).join('.') || '(root)';
  return new ConfigError(`config: ${key}: ${issue.message}`, key);
}

/** Validates a parsed config document. @throws ConfigError naming the first bad key. */
export function parseConfigDocument(document: unknown): FileConfig {
  // Parsed once per process: compiling zod's fast path (`new Function`) would cost more at a cold
  // start (about 7 ms) than it saves on a single parse.
  const result = z.safeParse(fileSchema, document, { jitless: true });
  if (!result.success) {
    const first = result.error.issues[0];
    throw first ? formatIssue(first) : new ConfigError('config: invalid');
  }
  return result.data;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Loads and validates the configuration once.
 * @throws ConfigError with a one-line message naming the missing or bad key.
 */
export function loadConfig(env: Env = process.env): Config {
  let document: unknown;
  let baseDir = process.cwd();
  if (env.CHATOPS_CONFIG_JSON) {
    try {
      document = JSON.parse(env.CHATOPS_CONFIG_JSON);
    } catch {
      throw new ConfigError('CHATOPS_CONFIG_JSON is not valid JSON.', 'CHATOPS_CONFIG_JSON');
    }
  } else if (env.CHATOPS_CONFIG) {
    const file = path.resolve(env.CHATOPS_CONFIG);
    baseDir = path.dirname(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new ConfigError(`CHATOPS_CONFIG: cannot read ${file}.`, 'CHATOPS_CONFIG');
    }
    document = parseConfigFile(text, file);
  } else {
    throw new ConfigError('CHATOPS_CONFIG is not set: point it at a config file (see README, "Configuration").', 'CHATOPS_CONFIG');
  }
  return applyEnv(parseConfigDocument(document), env, baseDir);
}

/**
 * A config file's document: JSON as it is, anything else as YAML. `yaml` is required only for a
 * YAML file: the Lambda functions read CHATOPS_CONFIG_JSON and are bundled without it (a stub that
 * throws when used stands in; infra/bundling.ts), so their cold start does not compile a parser
 * they never run.
 */
function parseConfigFile(text: string, file: string): unknown {
  if (/^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // Not JSON after all ("[" can open a YAML flow sequence too): YAML decides, and reports the line.
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose (see above)
  const { parse: parseYaml } = require('yaml') as typeof Yaml;
  try {
    return parseYaml(text);
  } catch (error) {
    // A Lambda bundle's stub for yaml (a YAML file where only JSON is bundled): its own message says so.
    if (error instanceof Error && error.name === 'UnbundledPackageError') throw error;
    const line = (error as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line;
    throw new ConfigError(`CHATOPS_CONFIG: ${file} is not valid YAML/JSON${line ? ` (line ${line})` : ''}.`, 'CHATOPS_CONFIG');
  }
}

/** Deployment facts from the environment override the file (CDK and local mode set them). */
export function applyEnv(file: FileConfig, env: Env, baseDir = process.cwd()): Config {
  const port = env.PORT === undefined ? 3000 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT: "${env.PORT}" is not a port number.`, 'PORT');
  const secrets = file.secrets.store === 'aws' && env.SECRETS_MANAGER_ENDPOINT ? { ...file.secrets, endpoint: env.SECRETS_MANAGER_ENDPOINT } : file.secrets;
  const queue = file.queue.kind === 'sqs' ? { ...file.queue, ...(env.QUEUE_URL ? { url: env.QUEUE_URL } : {}), ...(env.SQS_ENDPOINT ? { endpoint: env.SQS_ENDPOINT } : {}) } : file.queue;
  return {
    ...file,
    slack: { ...file.slack, ...(env.SLACK_API_URL ? { apiUrl: env.SLACK_API_URL } : {}) },
    secrets,
    queue,
    state: {
      ...file.state,
      ...(env.TABLE_NAME ? { tableName: env.TABLE_NAME } : {}),
      ...(env.DYNAMODB_ENDPOINT ? { endpoint: env.DYNAMODB_ENDPOINT } : {}),
    },
    logLevel: env.LOG_LEVEL ?? 'info',
    port,
    ...(env.AWS_REGION ? { awsRegion: env.AWS_REGION } : {}),
    baseDir,
  };
}

export function findCluster(config: Pick<Config, 'clusters'>, alias: string): ClusterConfig | undefined {
  return config.clusters.find((c) => c.alias === alias);
}
