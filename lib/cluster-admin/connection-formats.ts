/**
 * Ready-to-paste connection strings and snippets, one pure function per client.
 *
 * Every format pins `sslmode=verify-full` (or its equivalent) and has no fallback to a weaker
 * mode. Values are encoded for the syntax they land in (URL percent-encoding, shell quoting,
 * Python / Go / JavaScript string literals) so that any password, however awkward, reaches the
 * driver byte for byte. Non-ASCII and non-printable characters are escaped in code literals
 * rather than pasted raw: a zero-width or bidi character in a DM is invisible, an escape is not.
 */
import { InvalidInputError } from './errors';
import { parseIpv4Address } from './network';
import { type ConnectionDetails } from './types';
import { code, prose, type Prose } from '../prose';

/** Everything a client needs to open one connection. */
export interface ConnectionParams {
  /** DNS name or IPv4 address. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /**
   * Path of the cluster CA certificate on the client's machine, for clusters with their own CA.
   * Absent: the server certificate is publicly trusted and checked against system roots.
   * Taken literally: no client expands `~` or `$HOME` here, so configure an absolute path.
   */
  readonly sslrootcert?: string;
  /** libpq `options`, e.g. `--cluster=<routing-id>` for legacy serverless clusters. */
  readonly options?: string;
  /** `application_name`, shown in the cluster's session and statement views. */
  readonly applicationName?: string;
}

/** Stable identifiers, usable as `/crdb connect --format <id>`; also the DM order. */
export const CONNECTION_FORMAT_IDS = [
  'cockroach-sql',
  'url',
  'psql',
  'psycopg2',
  'sqlalchemy',
  'jdbc',
  'pgx',
  'node-postgres',
] as const;
export type ConnectionFormatId = (typeof CONNECTION_FORMAT_IDS)[number];

/** What the text is, for a code block's language tag. */
export type SnippetLanguage = 'shell' | 'text' | 'python' | 'go' | 'javascript';

/** One rendered connection format for the DM. */
export interface ConnectionFormat {
  readonly id: ConnectionFormatId;
  /** Human label, e.g. `Python (psycopg2)`. */
  readonly label: string;
  readonly language: SnippetLanguage;
  /** The string or snippet to paste. Contains the password. */
  readonly text: string;
  /** One line of advice: what to install, or what the client needs for TLS. */
  readonly hint?: Prose;
}

const SSLMODE = 'verify-full';
const EXAMPLE_HOST = 'free-tier.gcp-us-central1.cockroachlabs.cloud';

/** RFC 1123 labels; `_` allowed because internal DNS names sometimes carry it. */
const DNS_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
/** NUL cannot cross libpq's C strings; an unpaired surrogate has no UTF-8 form to send. */
const UNSENDABLE = /[\0\p{Cs}]/u;

// libpq and pgjdbc fall back to ~/.postgresql/root.crt when sslrootcert is absent, unlike Go and Node.
const LIBPQ_SYSTEM_ROOTS_HINT = prose`libpq reads ~/.postgresql/root.crt when no sslrootcert is given; with libpq 16 or newer, add sslrootcert=system to use the operating system trust store instead.`;

/**
 * Percent-encodes a URL component: `encodeURIComponent` plus `!'()*`, which it leaves alone but
 * some drivers' userinfo parsers do not.
 */
export function encodeUrlComponent(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Query values: as components, but `/` stays readable (legal in a query) so paths look like paths. */
function encodeQueryValue(value: string): string {
  return encodeUrlComponent(value).replace(/%2F/g, '/');
}

/**
 * Quotes one shell word for POSIX shells: single quotes, each inner `'` written as `'\''`.
 * Nothing is special inside single quotes, so no expansion, globbing or history can touch it.
 */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A Python 3 `str` literal (double quotes); non-printable-ASCII as `\xNN`, `\uNNNN`, `\UNNNNNNNN`. */
export function pythonString(value: string): string {
  return `"${escapeCodePoints(value, '"', (cp) => {
    if (cp < 0x100) return `\\x${hex(cp, 2)}`;
    return cp < 0x10000 ? `\\u${hex(cp, 4)}` : `\\U${hex(cp, 8)}`;
  })}"`;
}

/**
 * A Go interpreted string literal. `\xNN` is a raw byte in Go, so only ASCII uses it; other code
 * points use `\u` / `\U`, which Go encodes as UTF-8.
 */
export function goString(value: string): string {
  return `"${escapeCodePoints(value, '"', (cp) => {
    if (cp < 0x80) return `\\x${hex(cp, 2)}`;
    return cp < 0x10000 ? `\\u${hex(cp, 4)}` : `\\U${hex(cp, 8)}`;
  })}"`;
}

/** A JavaScript string literal (single quotes); astral code points as `\u{...}`. */
export function jsString(value: string): string {
  return `'${escapeCodePoints(value, "'", (cp) => {
    if (cp < 0x100) return `\\x${hex(cp, 2)}`;
    return cp < 0x10000 ? `\\u${hex(cp, 4)}` : `\\u{${cp.toString(16).toUpperCase()}}`;
  })}'`;
}

/**
 * Printable ASCII stays as is except the backslash, the quote and the backtick (so a snippet
 * can sit in a Slack code block); everything else goes through `escape`.
 */
function escapeCodePoints(value: string, quote: string, escape: (codePoint: number) => string): string {
  let out = '';
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '\\' || ch === quote) out += `\\${ch}`;
    else if (cp >= 0x20 && cp < 0x7f && ch !== '`') out += ch;
    else out += escape(cp);
  }
  return out;
}

function hex(n: number, width: number): string {
  return n.toString(16).toUpperCase().padStart(width, '0');
}

/**
 * Checks what the formats rely on. Messages never include the password.
 * @throws InvalidInputError naming the bad field.
 */
function checkParams(params: ConnectionParams): void {
  const { host, port } = params;
  const hostOk = /^[\d.]+$/.test(host) ? isStrictIpv4(host) : DNS_NAME.test(host);
  if (!hostOk) {
    throw new InvalidInputError('The connection host must be a DNS name or an IPv4 address.', EXAMPLE_HOST);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidInputError('The connection port must be a whole number from 1 to 65535.', '26257');
  }
  const required = { user: params.user, database: params.database, password: params.password };
  const optional = { sslrootcert: params.sslrootcert, options: params.options, applicationName: params.applicationName };
  for (const [field, value] of Object.entries({ ...required, ...optional })) {
    if (value === undefined && field in optional) continue;
    if (value === undefined || value === '') {
      throw new InvalidInputError(`The connection ${field} must not be empty.`);
    }
    if (UNSENDABLE.test(value)) {
      throw new InvalidInputError(`The connection ${field} contains a NUL or unpaired surrogate character, which no PostgreSQL client can send.`);
    }
  }
}

function isStrictIpv4(host: string): boolean {
  try {
    parseIpv4Address(host);
    return true;
  } catch {
    return false;
  }
}

/** The libpq-style query parameters shared by the URL formats, in a stable order. */
function urlQuery(params: ConnectionParams, applicationNameKey = 'application_name'): string[] {
  const pairs: Array<[string, string | undefined]> = [
    ['sslmode', SSLMODE],
    ['sslrootcert', params.sslrootcert],
    ['options', params.options],
    [applicationNameKey, params.applicationName],
  ];
  return pairs.flatMap(([key, value]) => (value === undefined ? [] : [`${key}=${encodeQueryValue(value)}`]));
}

function urlWithScheme(scheme: string, params: ConnectionParams): string {
  checkParams(params);
  const userinfo = `${encodeUrlComponent(params.user)}:${encodeUrlComponent(params.password)}`;
  return `${scheme}://${userinfo}@${params.host}:${params.port}/${encodeUrlComponent(params.database)}?${urlQuery(params).join('&')}`;
}

/**
 * `postgresql://user:password@host:port/database?sslmode=verify-full[&sslrootcert=...]`, the
 * form libpq, `cockroach sql`, pgx and node-postgres all read.
 */
export function postgresUrl(params: ConnectionParams): string {
  return urlWithScheme('postgresql', params);
}

/** `cockroach sql --url '<url>'`. */
export function cockroachSqlCommand(params: ConnectionParams): string {
  return `cockroach sql --url ${shellQuote(postgresUrl(params))}`;
}

/** `psql '<url>'`: libpq takes a URL wherever it takes a database name. */
export function psqlCommand(params: ConnectionParams): string {
  return `psql ${shellQuote(postgresUrl(params))}`;
}

/** `psycopg2.connect(...)` with keyword parameters, one per line. */
export function psycopg2Snippet(params: ConnectionParams): string {
  checkParams(params);
  const keywords: Array<[string, string | number | undefined]> = [
    ['host', params.host],
    ['port', params.port],
    ['dbname', params.database],
    ['user', params.user],
    ['password', params.password],
    ['sslmode', SSLMODE],
    ['sslrootcert', params.sslrootcert],
    ['options', params.options],
    ['application_name', params.applicationName],
  ];
  const lines = keywords.flatMap(([key, value]) =>
    value === undefined ? [] : [`    ${key}=${typeof value === 'number' ? String(value) : pythonString(value)},`],
  );
  return ['import psycopg2', '', 'conn = psycopg2.connect(', ...lines, ')'].join('\n');
}

/**
 * `cockroachdb://...` for the sqlalchemy-cockroachdb dialect (psycopg2 underneath, which takes the
 * query parameters as libpq keywords).
 */
export function sqlalchemyUrl(params: ConnectionParams): string {
  return urlWithScheme('cockroachdb', params);
}

/** `create_engine("cockroachdb://...")`. */
export function sqlalchemySnippet(params: ConnectionParams): string {
  return ['from sqlalchemy import create_engine', '', `engine = create_engine(${pythonString(sqlalchemyUrl(params))})`].join('\n');
}

/**
 * `jdbc:postgresql://host:port/database?sslmode=verify-full&...&user=...&password=...`.
 * pgjdbc takes credentials only as query parameters (it URL-decodes them, `+` as a space, hence
 * `+` is always encoded) and calls the application name `ApplicationName`.
 */
export function jdbcUrl(params: ConnectionParams): string {
  checkParams(params);
  const query = [
    ...urlQuery(params, 'ApplicationName'),
    `user=${encodeQueryValue(params.user)}`,
    `password=${encodeQueryValue(params.password)}`,
  ];
  return `jdbc:postgresql://${params.host}:${params.port}/${encodeUrlComponent(params.database)}?${query.join('&')}`;
}

/** `conn, err := pgx.Connect(ctx, "<url>")` (github.com/jackc/pgx/v5). */
export function pgxSnippet(params: ConnectionParams): string {
  return [
    `conn, err := pgx.Connect(ctx, ${goString(postgresUrl(params))})`,
    'if err != nil {',
    '\tlog.Fatal(err)',
    '}',
    'defer conn.Close(ctx)',
  ].join('\n');
}

/**
 * `new Client({...})` for node-postgres. The config object rather than a connection string:
 * it states the TLS settings (`rejectUnauthorized: true`, the CA) in plain sight.
 */
export function nodePostgresSnippet(params: ConnectionParams): string {
  checkParams(params);
  const ssl =
    params.sslrootcert === undefined
      ? ['  ssl: { rejectUnauthorized: true },']
      : ['  ssl: {', '    rejectUnauthorized: true,', `    ca: fs.readFileSync(${jsString(params.sslrootcert)}).toString(),`, '  },'];
  return [
    ...(params.sslrootcert === undefined ? [] : ["const fs = require('fs');"]),
    "const { Client } = require('pg');",
    '',
    'const client = new Client({',
    `  host: ${jsString(params.host)},`,
    `  port: ${params.port},`,
    `  database: ${jsString(params.database)},`,
    `  user: ${jsString(params.user)},`,
    `  password: ${jsString(params.password)},`,
    ...ssl,
    ...(params.options === undefined ? [] : [`  options: ${jsString(params.options)},`]),
    ...(params.applicationName === undefined ? [] : [`  application_name: ${jsString(params.applicationName)},`]),
    '});',
  ].join('\n');
}

/** One format by id, e.g. for `/crdb connect --format psql`. */
export function connectionFormat(id: ConnectionFormatId, params: ConnectionParams): ConnectionFormat {
  const systemRoots = params.sslrootcert === undefined;
  switch (id) {
    case 'cockroach-sql':
      return { id, label: 'CockroachDB SQL shell', language: 'shell', text: cockroachSqlCommand(params), hint: prose`Needs the ${code('cockroach')} binary.` };
    case 'url':
      return { id, label: 'Connection URL', language: 'text', text: postgresUrl(params), ...(systemRoots ? { hint: LIBPQ_SYSTEM_ROOTS_HINT } : {}) };
    case 'psql':
      return { id, label: 'psql', language: 'shell', text: psqlCommand(params), ...(systemRoots ? { hint: LIBPQ_SYSTEM_ROOTS_HINT } : {}) };
    case 'psycopg2':
      return {
        id,
        label: 'Python (psycopg2)',
        language: 'python',
        text: psycopg2Snippet(params),
        hint: prose`pip install psycopg2-binary${systemRoots ? prose`. ${LIBPQ_SYSTEM_ROOTS_HINT}` : ''}`,
      };
    case 'sqlalchemy':
      return {
        id,
        label: 'Python (SQLAlchemy)',
        language: 'python',
        text: sqlalchemySnippet(params),
        hint: prose`pip install sqlalchemy-cockroachdb psycopg2-binary${systemRoots ? prose`. ${LIBPQ_SYSTEM_ROOTS_HINT}` : ''}`,
      };
    case 'jdbc':
      return {
        id,
        label: 'Java (JDBC)',
        language: 'text',
        text: jdbcUrl(params),
        ...(systemRoots
          ? {
              hint: prose`pgjdbc reads ~/.postgresql/root.crt when no sslrootcert is given; to use the Java trust store instead, add &sslfactory=org.postgresql.ssl.DefaultJavaSSLFactory.`,
            }
          : {}),
      };
    case 'pgx':
      return { id, label: 'Go (pgx)', language: 'go', text: pgxSnippet(params), hint: prose`import "github.com/jackc/pgx/v5"` };
    case 'node-postgres':
      return { id, label: 'Node.js (node-postgres)', language: 'javascript', text: nodePostgresSnippet(params), hint: prose`npm install pg` };
  }
}

/**
 * Every format, in DM order.
 * @throws InvalidInputError when a parameter cannot be expressed safely (bad host or port, empty
 *   field, NUL or unpaired surrogate); the message never contains the password.
 */
export function allConnectionFormats(params: ConnectionParams): ConnectionFormat[] {
  return CONNECTION_FORMAT_IDS.map((id) => connectionFormat(id, params));
}

/** Connection parameters for `details`: a cluster CA becomes `sslrootcert`, system roots leave it out. */
export function connectionParamsFor(
  details: ConnectionDetails,
  password: string,
  extras: Pick<ConnectionParams, 'options' | 'applicationName'> = {},
): ConnectionParams {
  return {
    host: details.host,
    port: details.port,
    database: details.database,
    user: details.user,
    password,
    ...(details.ca.kind === 'cluster-ca' ? { sslrootcert: details.ca.sslrootcert } : {}),
    ...extras,
  };
}

/**
 * Every way `password` is spelled in the formats above (raw, percent-encoded, each literal's
 * body). Register them all with the log redactor: a URL-encoded or escaped password is still
 * the password.
 */
export function passwordRenderings(password: string): string[] {
  const forms = [
    password,
    encodeUrlComponent(password),
    encodeQueryValue(password),
    pythonString(password).slice(1, -1),
    goString(password).slice(1, -1),
    jsString(password).slice(1, -1),
  ];
  return [...new Set(forms)].filter((form) => form !== '');
}
