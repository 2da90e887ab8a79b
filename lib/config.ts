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
// A namespace import lets esbuild drop the parts of zod the schema does not use (0.45 MB of the
// slack function's bundle with `import { z }`, which keeps every locale and schema type).
import * as z from 'zod';
import type * as Yaml from 'yaml';
import { DATABASE_PRIVILEGES, SCHEMA_PRIVILEGES } from './cluster-admin/types';

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

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration like 30m, 8h or 7d` });
    return z.NEVER;
  }
  return ms;
});

/** Where a secret value comes from. Values in the file are for local use only. */
const secretRef = z.union([
  z.object({ secretId: z.string().min(1) }).strict(),
  z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/) }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
  z.object({ value: z.string().min(1) }).strict(),
]);
export type SecretRef = z.infer<typeof secretRef>;

const userId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'a Slack user id like U012ABCDEF');
const principal = z.string().regex(/^[UWS][A-Z0-9]{2,}$/, 'a Slack user id (U…) or user-group id (S…)');
const channelId = z.string().regex(/^[CGD][A-Z0-9]{2,}$/, 'a Slack channel id like C012ABCDEF');
const alias = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and -');
const objectName = z.string().regex(/^[a-z_][a-z0-9_.-]{0,62}$/, 'a lowercase SQL name');
const ipv4Cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'an IPv4 CIDR like 203.0.113.0/24');

const grant = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('database'), database: objectName, privileges: z.array(z.enum(DATABASE_PRIVILEGES)).min(1) }).strict(),
  z.object({ kind: z.literal('schema'), schema: objectName, privileges: z.array(z.enum(SCHEMA_PRIVILEGES)).min(1) }).strict(),
  z.object({ kind: z.literal('role'), role: objectName.refine((r) => r !== 'admin', 'the bot never grants admin') }).strict(),
]);

/** An admin SQL connection (self-hosted clusters; optional for Cloud clusters, for least privilege). */
const sqlConnection = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(26257),
    database: objectName.default('defaultdb'),
    user: z.string().min(1),
    password: secretRef,
    /** PEM file of the cluster CA; omit for publicly trusted certificates. */
    caFile: z.string().optional(),
    tlsServerName: z.string().optional(),
  })
  .strict();

const policy = z
  .object({
    /** Entries broader than this prefix are high risk (quorum.high). */
    minPrefix: z.number().int().min(1).max(32).default(24),
    /** Whether `0.0.0.0/0` may be requested at all (then high risk). */
    allowOpen: z.boolean().default(false),
    /** Production: every change needs approval, even a single host. */
    approveAll: z.boolean().default(false),
    /** Single-host (/32) entries apply without approval unless approveAll. */
    autoApproveSingleHost: z.boolean().default(true),
    userCreateNeedsApproval: z.boolean().default(true),
    quorum: z
      .object({ elevated: z.number().int().min(1).max(5).default(1), high: z.number().int().min(1).max(5).default(2) })
      .strict()
      .default({ elevated: 1, high: 2 }),
    /** Applied when `--for` is omitted; absent = permanent entries. */
    defaultFor: duration.optional(),
    maxFor: duration.default(30 * UNIT_MS.d),
    /**
     * Cap on allowlist entries the audit warns about. Default: the plan's documented cap (CockroachDB
     * Cloud: 50 Basic/Standard, 20 Advanced on AWS, 200 Advanced on GCP/Azure); none for sql clusters.
     */
    allowlistCap: z.number().int().min(1).optional(),
    /** Users without a secret, admins the policy did not expect, etc. are reported; these admins are expected. */
    expectedAdmins: z.array(z.string()).default([]),
  })
  .strict();

const clusterCommon = {
  alias,
  description: z.string().optional(),
  approversChannel: channelId.optional(),
  auditChannel: channelId.optional(),
  approvers: z.array(principal).default([]),
  policy: policy.default(() => policy.parse({})),
  /** Grants every user the bot creates receives (least privilege). */
  grants: z.array(grant).default([]),
  defaultDatabase: objectName.default('defaultdb'),
};

const cloudCluster = z
  .object({
    ...clusterCommon,
    backend: z.literal('cloud'),
    clusterId: z.string().min(1),
    apiBaseUrl: z.url().default('https://cockroachlabs.cloud'),
    apiKey: secretRef,
    /** With it, users lose the `admin` role Cloud gives them and receive `grants` instead. */
    adminSql: sqlConnection.optional(),
  })
  .strict();

const sqlCluster = z
  .object({
    ...clusterCommon,
    backend: z.literal('sql'),
    dialect: z.enum(['postgres', 'cockroach']).default('cockroach'),
    connection: sqlConnection,
    hba: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('pg-hba-file'), path: z.string().min(1) }).strict(),
      z.object({ kind: z.literal('cockroach-setting') }).strict(),
    ]),
    /** Networks the bot's admin connection comes from; their rule is never removed. */
    adminSourceCidrs: z.array(ipv4Cidr).min(1).default(['127.0.0.1/32']),
    /** HBA auth method for entries; default scram-sha-256 (postgres) or password (cockroach). */
    authMethod: z.string().regex(/^[a-z0-9-]+$/).optional(),
    /** What users connect to, primary first. Default: the admin connection's host. */
    endpoints: z.array(z.object({ region: z.string().min(1), host: z.string().min(1) }).strict()).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    /** The CA users need (`sslrootcert`); omit for publicly trusted certificates. */
    caFile: z.string().optional(),
  })
  .strict();

const cluster = z.discriminatedUnion('backend', [cloudCluster, sqlCluster]);
export type ClusterConfig = z.infer<typeof cluster>;
export type CloudClusterConfig = z.infer<typeof cloudCluster>;
export type SqlClusterConfig = z.infer<typeof sqlCluster>;
export type ClusterPolicy = z.infer<typeof policy>;

const fileSchema = z
  .object({
    slack: z
      .object({
        command: z.string().regex(/^\/[a-z0-9_-]+$/).default('/crdb'),
        /** The bot's user id and bot id: given here so cold starts skip `auth.test`. */
        botUserId: userId.optional(),
        botId: z.string().regex(/^B[A-Z0-9]+$/).optional(),
        signingSecret: secretRef.default({ env: 'SLACK_SIGNING_SECRET' }),
        botToken: secretRef.default({ env: 'SLACK_BOT_TOKEN' }),
        apiUrl: z.url().default('https://slack.com/api/'),
      })
      .strict()
      .default(() => ({ command: '/crdb', signingSecret: { env: 'SLACK_SIGNING_SECRET' }, botToken: { env: 'SLACK_BOT_TOKEN' }, apiUrl: 'https://slack.com/api/' })),
    access: z
      .object({
        /** Who may make requests; empty = everyone in the workspace. */
        requesters: z.array(principal).default([]),
        /** May administer: any user's connection, revoke any entry, run the audit. */
        admins: z.array(principal).default([]),
        /** May apply at once with --break-glass --reason. */
        breakGlass: z.array(principal).default([]),
      })
      .strict()
      .default({ requesters: [], admins: [], breakGlass: [] }),
    delivery: z
      .object({
        passwordDelivery: z.enum(['dm', 'secret-reference']).default('dm'),
        /** DMs that carry a password are deleted after this long. */
        dmTtl: duration.default(60 * UNIT_MS.m),
      })
      .strict()
      .default({ passwordDelivery: 'dm', dmTtl: 60 * UNIT_MS.m }),
    requests: z
      .object({
        /** Pending requests expire after this long. */
        pendingTtl: duration.default(24 * UNIT_MS.h),
        /** How long `allow` waits for allowlist propagation before saying so. */
        propagationTimeout: duration.default(10 * UNIT_MS.m),
      })
      .strict()
      .default({ pendingTtl: 24 * UNIT_MS.h, propagationTimeout: 10 * UNIT_MS.m }),
    secrets: z
      .discriminatedUnion('store', [
        z.object({ store: z.literal('aws'), region: z.string().optional(), endpoint: z.url().optional(), kmsKeyId: z.string().optional(), recoveryWindowDays: z.number().int().min(7).max(30).default(7) }).strict(),
        z.object({ store: z.literal('file'), path: z.string().min(1), recoveryWindowDays: z.number().int().min(7).max(30).default(7) }).strict(),
      ])
      .default({ store: 'aws', recoveryWindowDays: 7 }),
    state: z
      .object({ tableName: z.string().min(3).default('crdb-chatops'), endpoint: z.url().optional(), region: z.string().optional() })
      .strict()
      .default({ tableName: 'crdb-chatops' }),
    queue: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('sqs'), url: z.url().optional(), endpoint: z.url().optional() }).strict(),
        z.object({ kind: z.literal('in-process') }).strict(),
      ])
      .default({ kind: 'sqs' }),
    audit: z
      .object({
        /** Daily report time and zone (EventBridge Scheduler cron). */
        reportAt: z.string().regex(/^\d{2}:\d{2}$/).default('09:00'),
        timeZone: z.string().default('UTC'),
        /** Remove expired entries even when the bot cannot prove it created them. */
        removeUnprovenExpired: z.boolean().default(false),
      })
      .strict()
      .default({ reportAt: '09:00', timeZone: 'UTC', removeUnprovenExpired: false }),
    clusters: z.array(cluster).min(1, 'at least one cluster is required'),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.clusters.forEach((c, i) => {
      if (seen.has(c.alias)) ctx.addIssue({ code: 'custom', path: ['clusters', i, 'alias'], message: `duplicate cluster alias "${c.alias}"` });
      seen.add(c.alias);
    });
  });

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
  const result = fileSchema.safeParse(document, { jitless: true });
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
