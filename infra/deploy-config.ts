/**
 * The deployment's view of the typed config file: the same file, parsed and validated by the same
 * `loadConfig` the functions and local mode run, plus the checks that only matter on AWS Lambda.
 *
 * A bad file fails the synth with the key named (`config: slack.botToken: ...`), before anything
 * is bundled or deployed. What travels to the functions is the document itself, as compact JSON
 * (`CHATOPS_CONFIG_JSON`): the functions parse it again with the same schema, so they see exactly
 * what local mode would see for this file.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type FileConfig, loadConfig, type SecretRef } from '../lib/config';
import { SECRET_NAME_PREFIX } from '../lib/secrets/types';

/** The three functions of the deployment. */
export type FunctionRole = 'slack' | 'worker' | 'audit' | 'outbox';

/** A `{ secretId }` reference in the config, where it is, and which functions read it. */
export interface ConfigSecret {
  /** The config key, as errors name it: `slack.botToken`, `clusters.0.apiKey`. */
  readonly key: string;
  /** A Secrets Manager secret name, or its (partial or complete) ARN. */
  readonly secretId: string;
  readonly readBy: readonly FunctionRole[];
}

export interface DeployConfig {
  /** The validated file, as the functions will parse it. */
  readonly file: FileConfig;
  /** The document the functions receive (`CHATOPS_CONFIG_JSON`), CA paths pointing into the bundle. */
  readonly json: string;
  /** Files copied into every function bundle: path inside the bundle -> absolute source path. */
  readonly bundledFiles: ReadonlyMap<string, string>;
  /** Every secret the config references, each once per config key. */
  readonly secrets: readonly ConfigSecret[];
  /** The file the config came from. */
  readonly source: string;
}

/**
 * The worker's timeout. It never waits inside an invocation (an allowlist propagation wait is the
 * request waiting in the table, driven on by the reconciler), so one job is a few API calls.
 */
export const WORKER_TIMEOUT_MS = 2 * 60_000;

/** Directory inside each bundle that holds the CA files the config names. */
export const BUNDLED_CA_DIR = 'certs';

const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$/;

/**
 * Reads, validates and checks the config file for a Lambda deployment.
 * @throws ConfigError with a one-line message naming the key.
 */
export function loadDeployConfig(configPath: string | undefined): DeployConfig {
  if (configPath === undefined || configPath === '') {
    throw new ConfigError('CHATOPS_CONFIG is not set: point it at the config file to deploy (see infra/example.config.yml).', 'CHATOPS_CONFIG');
  }
  // The very loader the functions run: same parse, same defaults, same error messages.
  const config = loadConfig({ CHATOPS_CONFIG: configPath });
  const source = path.resolve(configPath);
  // loadConfig has parsed this text already, so this parse cannot fail.
  const document = parseYaml(readFileSync(source, 'utf8')) as unknown;
  const { file, json, bundledFiles, secrets } = prepare(config, document, config.baseDir);
  return { file, json, bundledFiles, secrets, source };
}

/** The checks and the transport form, for a document already parsed by `loadConfig`. */
function prepare(file: FileConfig, document: unknown, baseDir: string): Omit<DeployConfig, 'source'> {
  checkDeployable(file);
  const secrets = collectSecrets(file);
  checkSecretNames(file, secrets);
  const transported = structuredClone(document) as Document;
  const bundledFiles = bundleCaFiles(file, transported, baseDir);
  return { file, json: JSON.stringify(transported), bundledFiles, secrets };
}

// ---------------------------------------------------------------------------------------------
// What cannot work on Lambda

function fail(key: string, message: string): never {
  throw new ConfigError(`config: ${key}: ${message}`, key);
}

function checkDeployable(file: FileConfig): void {
  if (file.secrets.store !== 'aws') fail('secrets.store', 'must be "aws" on Lambda (a function has no disk to keep a secrets file on).');
  if (file.secrets.endpoint !== undefined) fail('secrets.endpoint', 'is for local stand-ins; on AWS the functions use the regional Secrets Manager endpoint.');
  if (file.state.endpoint !== undefined) fail('state.endpoint', 'is for the local DynamoDB emulator; on AWS the stack creates the table.');
  if (file.queue.kind !== 'sqs') fail('queue.kind', 'must be "sqs" on Lambda (the stack creates the FIFO queue).');
  if (file.queue.endpoint !== undefined) fail('queue.endpoint', 'is for local stand-ins; on AWS the stack creates the queue.');
  if (file.slack.botUserId === undefined) fail('slack.botUserId', 'is required on Lambda (it spares auth.test on every cold start); copy it from the app\'s "App Home" or auth.test.');
  if (file.slack.botId === undefined) fail('slack.botId', 'is required on Lambda (it spares auth.test on every cold start); auth.test returns it as bot_id.');

  const [hours, minutes] = file.audit.reportAt.split(':').map(Number);
  if (hours === undefined || minutes === undefined || hours > 23 || minutes > 59) fail('audit.reportAt', `"${file.audit.reportAt}" is not a time of day like 09:00.`);
  if (!isTimeZone(file.audit.timeZone)) fail('audit.timeZone', `"${file.audit.timeZone}" is not an IANA time zone like UTC or Europe/Paris.`);

  file.clusters.forEach((cluster, i) => {
    if (cluster.backend === 'sql' && cluster.hba.kind === 'pg-hba-file') {
      fail(`clusters.${i}.hba.kind`, 'pg-hba-file edits a file on the database host: it works only where the bot runs there (local mode); use cockroach-setting.');
    }
  });
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Secrets: by reference only

/** Every secret reference in the config, with the functions that resolve it. */
function collectSecrets(file: FileConfig): ConfigSecret[] {
  const found: Array<{ key: string; ref: SecretRef; readBy: FunctionRole[] }> = [
    // The slack function verifies every request with it; nothing else needs it.
    { key: 'slack.signingSecret', ref: file.slack.signingSecret, readBy: ['slack'] },
    { key: 'slack.botToken', ref: file.slack.botToken, readBy: ['slack', 'worker', 'audit'] },
  ];
  file.clusters.forEach((cluster, i) => {
    // Cluster credentials: the worker applies requests, the audit reads allowlists and users.
    if (cluster.backend === 'cloud') {
      found.push({ key: `clusters.${i}.apiKey`, ref: cluster.apiKey, readBy: ['worker', 'audit'] });
      if (cluster.adminSql) found.push({ key: `clusters.${i}.adminSql.password`, ref: cluster.adminSql.password, readBy: ['worker', 'audit'] });
    } else {
      found.push({ key: `clusters.${i}.connection.password`, ref: cluster.connection.password, readBy: ['worker', 'audit'] });
    }
  });
  return found.map(({ key, ref, readBy }) => {
    if ('secretId' in ref) return { key, secretId: ref.secretId, readBy };
    // Anything else would put the value itself in the function's environment, i.e. the template.
    const kind = 'env' in ref ? '{ env }' : 'file' in ref ? '{ file }' : '{ value }';
    return fail(key, `on AWS a secret is referenced by { secretId: <Secrets Manager name or ARN> }, not ${kind}: the value would end up in the template.`);
  });
}

function checkSecretNames(file: FileConfig, secrets: readonly ConfigSecret[]): void {
  const userPrefixes = file.clusters.map((c) => `${SECRET_NAME_PREFIX}${c.alias}/`);
  for (const { key, secretId } of secrets) {
    if (!SECRET_NAME.test(secretId) && !SECRET_ARN.test(secretId)) {
      fail(key, `"${secretId}" is neither a Secrets Manager secret name (letters, digits, /_+=.@-) nor a secretsmanager ARN.`);
    }
    const name = secretNameOf(secretId);
    const clash = userPrefixes.find((prefix) => name.startsWith(prefix));
    // The worker may write and delete every secret under a cluster's user prefix.
    if (clash) fail(key, `"${name}" is inside ${clash}, where the bot keeps SQL users' passwords (and may overwrite or delete them); choose a name outside it.`);
  }
}

/** The name part of a secret id: the id itself, or what follows `:secret:` in an ARN. */
export function secretNameOf(secretId: string): string {
  const marker = secretId.indexOf(':secret:');
  return secretId.startsWith('arn:') && marker >= 0 ? secretId.slice(marker + ':secret:'.length) : secretId;
}

// ---------------------------------------------------------------------------------------------
// CA files: copied into the bundle, paths rewritten to point there

type Document = { clusters?: Array<Record<string, unknown> & { connection?: Record<string, unknown>; adminSql?: Record<string, unknown> }> };

/**
 * The functions read `caFile` paths relative to their working directory (/var/task) when the
 * config arrives inline. Each CA named by the config is copied into the bundle under
 * `certs/<content hash>.pem`, and the transported document points there.
 */
function bundleCaFiles(file: FileConfig, document: Document, baseDir: string): Map<string, string> {
  const bundled = new Map<string, string>();
  const place = (key: string, target: Record<string, unknown> | undefined, caFile: string | undefined): void => {
    if (caFile === undefined || target === undefined) return;
    const source = path.resolve(baseDir, caFile);
    let pem: string;
    try {
      pem = readFileSync(source, 'utf8');
    } catch {
      // The usual cause: the config was copied elsewhere without its CA file (paths are from the file's folder).
      return fail(key, `cannot read ${source} (a relative caFile is read from the config file's folder, ${baseDir}). Example: caFile: certs/${path.basename(caFile)} next to the config, or an absolute path.`);
    }
    // A CA certificate is public; anything else (a key, a client certificate bundle) must not ship.
    if (/PRIVATE KEY/.test(pem)) fail(key, `${source} contains a private key; caFile must hold CA certificates only.`);
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) fail(key, `${source} is not a PEM certificate.`);
    const inBundle = `${BUNDLED_CA_DIR}/${createHash('sha256').update(pem).digest('hex').slice(0, 16)}.pem`;
    bundled.set(inBundle, source);
    target.caFile = inBundle;
  };
  file.clusters.forEach((cluster, i) => {
    const raw = document.clusters?.[i];
    if (cluster.backend === 'cloud') {
      place(`clusters.${i}.adminSql.caFile`, raw?.adminSql, cluster.adminSql?.caFile);
    } else {
      place(`clusters.${i}.connection.caFile`, raw?.connection, cluster.connection.caFile);
      place(`clusters.${i}.caFile`, raw, cluster.caFile);
    }
  });
  return bundled;
}
