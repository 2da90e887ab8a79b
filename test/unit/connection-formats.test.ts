import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContext, runInContext, runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { parse as parseConnectionString } from 'pg-connection-string';
import {
  CONNECTION_FORMAT_IDS,
  type ConnectionParams,
  allConnectionFormats,
  cockroachSqlCommand,
  connectionFormat,
  connectionParamsFor,
  encodeUrlComponent,
  goString,
  jdbcUrl,
  jsString,
  nodePostgresSnippet,
  passwordRenderings,
  pgxSnippet,
  postgresUrl,
  psqlCommand,
  psycopg2Snippet,
  pythonString,
  shellQuote,
  sqlalchemySnippet,
  sqlalchemyUrl,
} from '../../lib/cluster-admin/connection-formats';
import { slackText } from '../support/prose';
import { InvalidInputError } from '../../lib/cluster-admin/errors';

const AWKWARD_PASSWORDS = [
  'p@ss:w/rd?#&%',
  `quotes'"both`,
  'back\\slash\\',
  '$$dollar$$',
  'with some spaces ',
  'ünïcödé-密码-😀',
  '%41',
  'a+b+c',
  "!'()*~",
  '`backtick`',
  '$(touch /tmp/pwned)${HOME}',
  "it'\\''s",
  'line1\nline2\ttab\r',
  '--cluster=x&sslmode=disable',
  '\u200b\u202eright-to-left',
  '\u2028\u0085\u007f',
];
const AWKWARD_USERS = ['maxroach', 'app.reader-1', 'o\'brien@corp:x', 'max roach', 'ü'];

/** A real file: pg-connection-string reads `sslrootcert` when it parses. */
const certDir = mkdtempSync(join(tmpdir(), 'connection-formats-'));
const CA_PATH = join(certDir, "certs dir", "it's root+ca.crt");
mkdirSync(join(certDir, 'certs dir'));
writeFileSync(CA_PATH, 'TEST CA PEM');
afterAll(() => rmSync(certDir, { recursive: true, force: true }));

function params(overrides: Partial<ConnectionParams> = {}): ConnectionParams {
  return {
    host: 'free-tier.gcp-us-central1.cockroachlabs.cloud',
    port: 26257,
    database: 'defaultdb',
    user: 'maxroach',
    password: 'fake-password',
    ...overrides,
  };
}

/** Runs a command line through a real shell with the program stubbed to print its arguments. */
function shellArgs(shell: 'bash' | 'sh', commandLine: string, program: string): string[] {
  const script = `${program}() { printf '%s\\0' "$@"; }\n${commandLine}`;
  const result = spawnSync(shell, ['-c', script], { encoding: 'utf8' });
  expect(result.status).toBe(0);
  return result.stdout.split('\0').slice(0, -1);
}

/** Decodes a Go or Python double-quoted literal by rewriting its escapes into JSON's. */
function decodeDoubleQuotedLiteral(literal: string, language: 'go' | 'python'): string {
  expect(literal).toMatch(/^"([^"\\\n\r]|\\.)*"$/su);
  const json = literal.replace(/\\(x[0-9A-Fa-f]{2}|U[0-9A-Fa-f]{8}|u[0-9A-Fa-f]{4}|[\s\S])/g, (_match, esc: string) => {
    if (esc.startsWith('x')) {
      const value = parseInt(esc.slice(1), 16);
      // In Go `\xNN` is a raw byte: above 0x7f it would not be the code point we meant.
      if (language === 'go') expect(value).toBeLessThan(0x80);
      return `\\u00${esc.slice(1)}`;
    }
    if (esc.startsWith('U')) return JSON.stringify(String.fromCodePoint(parseInt(esc.slice(1), 16))).slice(1, -1);
    if (esc.startsWith('u')) {
      // Neither Go nor Python joins `\uD8xx\uDCxx` into one character.
      expect(parseInt(esc.slice(1), 16) & 0xf800).not.toBe(0xd800);
      return `\\${esc}`;
    }
    expect(['\\', '"']).toContain(esc);
    return `\\${esc}`;
  });
  return JSON.parse(json) as string;
}

/** The one double-quoted literal in `text` after `prefix`. */
function literalAfter(text: string, prefix: string): string {
  const start = text.indexOf(prefix);
  expect(start).toBeGreaterThanOrEqual(0);
  const match = /^"([^"\\]|\\.)*"/s.exec(text.slice(start + prefix.length));
  expect(match).not.toBeNull();
  return match?.[0] ?? '';
}

/** Evaluates the node-postgres snippet with `pg` and `fs` stubbed; returns the Client config. */
function evaluateNodePostgres(snippet: string): Record<string, unknown> {
  const configs: unknown[] = [];
  class Client {
    constructor(config: unknown) {
      configs.push(config);
    }
  }
  const modules: Record<string, unknown> = {
    pg: { Client },
    fs: { readFileSync: (path: string) => ({ toString: () => `PEM from ${path}` }) },
  };
  runInNewContext(snippet, { require: (name: string) => modules[name] });
  expect(configs).toHaveLength(1);
  return configs[0] as Record<string, unknown>;
}

function expectUrlRoundTrip(url: string, p: ConnectionParams): void {
  const parsed = parseConnectionString(url);
  expect(parsed.user).toBe(p.user);
  expect(parsed.password).toBe(p.password);
  expect(parsed.host).toBe(p.host);
  expect(parsed.port).toBe(String(p.port));
  expect(parsed.database).toBe(p.database);
  expect(parsed.sslmode).toBe('verify-full');
  expect(parsed.sslrootcert).toBe(p.sslrootcert);
  const whatwg = new URL(url);
  expect(decodeURIComponent(whatwg.username)).toBe(p.user);
  expect(decodeURIComponent(whatwg.password)).toBe(p.password);
  expect(whatwg.hostname).toBe(p.host);
  expect(whatwg.searchParams.get('sslmode')).toBe('verify-full');
  expect(whatwg.searchParams.get('sslrootcert')).toBe(p.sslrootcert ?? null);
}

const cases = [
  ...AWKWARD_PASSWORDS.map((password) => params({ password })),
  ...AWKWARD_USERS.map((user) => params({ user, password: 'p@ss:w/rd?#&%' })),
  params({ host: '203.0.113.7', database: 'my db', sslrootcert: CA_PATH, password: "p@ss'w\"rd" }),
  params({ sslrootcert: CA_PATH, options: '--cluster=routing-id', applicationName: 'chatops app' }),
];

describe('connection URL', () => {
  it.each(cases.map((p) => [JSON.stringify(p.password), JSON.stringify(p.user), p] as const))(
    'round-trips password %s and user %s through pg-connection-string and WHATWG URL',
    (_password, _user, p) => {
      expectUrlRoundTrip(postgresUrl(p), p);
    },
  );

  it('percent-encodes the characters encodeURIComponent leaves alone that break userinfo parsers', () => {
    expect(encodeUrlComponent("!'()*")).toBe('%21%27%28%29%2A');
    expect(postgresUrl(params({ password: "a!'()*b" }))).toContain(':a%21%27%28%29%2Ab@');
  });

  it('encodes `+` so form-decoding parsers do not turn it into a space', () => {
    expect(postgresUrl(params({ password: 'a+b' }))).toContain(':a%2Bb@');
    expect(jdbcUrl(params({ password: 'a+b' }))).toContain('password=a%2Bb');
  });

  it('writes the exact URL for a plain cluster-CA connection', () => {
    expect(postgresUrl(params({ sslrootcert: '/home/max/.postgresql/root.crt' }))).toBe(
      'postgresql://maxroach:fake-password@free-tier.gcp-us-central1.cockroachlabs.cloud:26257/defaultdb?sslmode=verify-full&sslrootcert=/home/max/.postgresql/root.crt',
    );
  });

  it('passes options and application_name, encoded, for legacy serverless routing', () => {
    const url = postgresUrl(params({ options: '--cluster=routing-id', applicationName: 'chatops app' }));
    expect(url).toContain('&options=--cluster%3Drouting-id&application_name=chatops%20app');
    const parsed = parseConnectionString(url);
    expect(parsed.options).toBe('--cluster=routing-id');
    expect(parsed.application_name).toBe('chatops app');
  });

  it('accepts an IPv4 host', () => {
    expect(new URL(postgresUrl(params({ host: '10.0.0.5' }))).hostname).toBe('10.0.0.5');
  });
});

describe('shell commands', () => {
  it.each(cases.map((p) => [JSON.stringify(p.password), p] as const))(
    'psql and cockroach sql get the URL as exactly one argument in bash and sh (password %s)',
    (_password, p) => {
      for (const shell of ['bash', 'sh'] as const) {
        expect(shellArgs(shell, psqlCommand(p), 'psql')).toEqual([postgresUrl(p)]);
        expect(shellArgs(shell, cockroachSqlCommand(p), 'cockroach')).toEqual(['sql', '--url', postgresUrl(p)]);
      }
      const [url] = shellArgs('bash', psqlCommand(p), 'psql');
      expectUrlRoundTrip(url ?? '', p);
    },
  );

  it('quotes any string so the shell passes it through untouched', () => {
    const awkward = [...AWKWARD_PASSWORDS, '', "'", "''", 'a b\nc', '!!', '*', '~', '#no comment', '; rm -rf /'];
    for (const value of awkward) {
      expect(shellArgs('bash', `printargs ${shellQuote(value)}`, 'printargs')).toEqual([value]);
    }
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('psycopg2 keyword parameters', () => {
  it.each(cases.map((p) => [JSON.stringify(p.password), p] as const))('decode to the original values (password %s)', (_password, p) => {
    const snippet = psycopg2Snippet(p);
    expect(decodeDoubleQuotedLiteral(literalAfter(snippet, 'password='), 'python')).toBe(p.password);
    expect(decodeDoubleQuotedLiteral(literalAfter(snippet, 'user='), 'python')).toBe(p.user);
    expect(decodeDoubleQuotedLiteral(literalAfter(snippet, 'dbname='), 'python')).toBe(p.database);
    expect(snippet).toContain(`port=${p.port},`);
    expect(snippet).toContain('sslmode="verify-full",');
  });

  it('escapes quotes, backslashes and non-ASCII as Python string escapes', () => {
    expect(pythonString(`a"b\\c`)).toBe(`"a\\"b\\\\c"`);
    expect(pythonString('é😀\n')).toBe('"\\xE9\\U0001F600\\x0A"');
  });
});

describe('SQLAlchemy', () => {
  it.each(cases.map((p) => [JSON.stringify(p.password), p] as const))(
    'create_engine gets a cockroachdb:// URL that round-trips (password %s)',
    (_password, p) => {
      const snippet = sqlalchemySnippet(p);
      const url = decodeDoubleQuotedLiteral(literalAfter(snippet, 'create_engine('), 'python');
      expect(url).toBe(sqlalchemyUrl(p));
      expect(url.startsWith('cockroachdb://')).toBe(true);
      expectUrlRoundTrip(url, p);
    },
  );
});

describe('JDBC', () => {
  it.each(cases.map((p) => [JSON.stringify(p.password), p] as const))('query parameters decode to the original values (password %s)', (_password, p) => {
    const url = jdbcUrl(p);
    expect(url.startsWith(`jdbc:postgresql://${p.host}:${p.port}/`)).toBe(true);
    // pgjdbc splits on `?`, `&` and the first `=`, then URL-decodes (form semantics): URLSearchParams does the same.
    const query = new URLSearchParams(url.slice(url.indexOf('?') + 1));
    expect(query.get('user')).toBe(p.user);
    expect(query.get('password')).toBe(p.password);
    expect(query.get('sslmode')).toBe('verify-full');
    expect(query.get('sslrootcert')).toBe(p.sslrootcert ?? null);
    expect(query.get('ApplicationName')).toBe(p.applicationName ?? null);
    expect(decodeURIComponent(url.slice(url.indexOf('/', 'jdbc:postgresql://'.length) + 1, url.indexOf('?')))).toBe(p.database);
  });
});

describe('Go pgx', () => {
  it.each(cases.map((p) => [JSON.stringify(p.password), p] as const))('the Go literal decodes to a URL that round-trips (password %s)', (_password, p) => {
    const snippet = pgxSnippet(p);
    const url = decodeDoubleQuotedLiteral(literalAfter(snippet, 'pgx.Connect(ctx, '), 'go');
    expect(url).toBe(postgresUrl(p));
    expectUrlRoundTrip(url, p);
  });

  it('escapes with Go rules: \\x for ASCII only, \\u and \\U for the rest', () => {
    expect(goString('é😀\t"\\')).toBe('"\\u00E9\\U0001F600\\x09\\"\\\\"');
    for (const value of AWKWARD_PASSWORDS) expect(decodeDoubleQuotedLiteral(goString(value), 'go')).toBe(value);
  });
});

describe('node-postgres', () => {
  it.each(cases.map((p) => [JSON.stringify(p.password), p] as const))('the config object evaluates to the original values (password %s)', (_password, p) => {
    const config = evaluateNodePostgres(nodePostgresSnippet(p));
    expect(config).toEqual({
      host: p.host,
      port: p.port,
      database: p.database,
      user: p.user,
      password: p.password,
      ssl: p.sslrootcert === undefined ? { rejectUnauthorized: true } : { rejectUnauthorized: true, ca: `PEM from ${p.sslrootcert}` },
      ...(p.options === undefined ? {} : { options: p.options }),
      ...(p.applicationName === undefined ? {} : { application_name: p.applicationName }),
    });
  });

  it('writes JavaScript literals a JavaScript parser reads back', () => {
    for (const value of [...AWKWARD_PASSWORDS, "'", '\\', '😀']) {
      expect(runInNewContext(jsString(value)) as unknown).toBe(value);
    }
  });
});

describe('every format', () => {
  it('lists all formats in DM order with labels and text', () => {
    const formats = allConnectionFormats(params());
    expect(formats.map((f) => f.id)).toEqual([...CONNECTION_FORMAT_IDS]);
    for (const format of formats) {
      expect(format.label).not.toBe('');
      expect(format.text).toContain('maxroach');
      expect(connectionFormat(format.id, params())).toEqual(format);
    }
  });

  it.each([
    ['system roots', params({ password: 'p@ss' })],
    ['a cluster CA', params({ password: 'p@ss', sslrootcert: CA_PATH })],
  ])('pins verify-full and never offers a weaker sslmode (%s)', (_what, p) => {
    for (const format of allConnectionFormats(p)) {
      expect(format.text).not.toMatch(/sslmode\W+(disable|require|prefer|allow)\b/);
      expect(format.text).not.toMatch(/rejectUnauthorized:\s*false/);
      // node-postgres has no sslmode: verify-full is rejectUnauthorized plus Node's default hostname check.
      expect(format.text).toMatch(format.id === 'node-postgres' ? /rejectUnauthorized: true/ : /sslmode(=|=")verify-full/);
    }
  });

  it('mentions sslrootcert in every format exactly when it is given', () => {
    const path = '/etc/crdb/ca.crt';
    for (const format of allConnectionFormats(params({ sslrootcert: path }))) {
      const expected: Partial<Record<string, string>> = { 'node-postgres': `ca: fs.readFileSync('${path}')`, psycopg2: `sslrootcert="${path}"` };
      expect(format.text).toContain(expected[format.id] ?? `sslrootcert=${path}`);
    }
    for (const format of allConnectionFormats(params())) {
      expect(format.text).not.toContain('sslrootcert');
      expect(format.text).not.toContain('readFileSync');
    }
  });

  it('hints at the libpq root.crt default only when the CA is system-trusted', () => {
    expect(slackText(connectionFormat('psql', params()).hint)).toContain('sslrootcert=system');
    expect(connectionFormat('psql', params({ sslrootcert: '/ca.crt' })).hint).toBeUndefined();
    expect(slackText(connectionFormat('jdbc', params()).hint)).toContain('DefaultJavaSSLFactory');
  });

  it('escapes backticks in code literals so a snippet survives a Slack code block', () => {
    for (const format of allConnectionFormats(params({ password: '```' }))) {
      expect(format.text).not.toContain('```');
    }
  });

  it('spells the password only in forms passwordRenderings lists, so the log redactor can find them all', () => {
    for (const password of AWKWARD_PASSWORDS) {
      const forms = passwordRenderings(password).sort((a, b) => b.length - a.length);
      for (const format of allConnectionFormats(params({ password }))) {
        expect(forms.some((form) => format.text.includes(form))).toBe(true);
      }
    }
  });
});

describe('parameter checks', () => {
  it.each([
    ['a host with a slash', { host: 'evil.example/db?x=' }],
    ['a host with userinfo', { host: 'user@evil.example' }],
    ['an IPv6 host', { host: '2001:db8::1' }],
    ['a malformed IPv4 host', { host: '999.1.1.1' }],
    ['an empty host', { host: '' }],
    ['port 0', { port: 0 }],
    ['a fractional port', { port: 26257.5 }],
    ['an empty user', { user: '' }],
    ['an empty database', { database: '' }],
    ['an empty sslrootcert', { sslrootcert: '' }],
    ['a NUL in the password', { password: 'secret\0value' }],
    ['an unpaired surrogate in the password', { password: 'secret\ud800value' }],
  ])('refuses %s with InvalidInputError that never shows the password', (_what, overrides: Partial<ConnectionParams>) => {
    for (const id of CONNECTION_FORMAT_IDS) {
      let caught: unknown;
      try {
        connectionFormat(id, params({ password: 'secret-value', ...overrides }));
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(InvalidInputError);
      expect((caught as Error).message).not.toMatch(/secret/);
    }
  });
});

describe('connectionParamsFor', () => {
  const details = {
    cluster: 'prod-eu',
    host: 'prod-eu.example',
    port: 26257,
    database: 'defaultdb',
    user: 'maxroach',
    regions: [],
  };

  it('sets sslrootcert from a cluster CA', () => {
    const p = connectionParamsFor({ ...details, ca: { kind: 'cluster-ca', sslrootcert: '/ca.crt' } }, 'pw', { applicationName: 'app' });
    expect(p).toEqual({ host: 'prod-eu.example', port: 26257, database: 'defaultdb', user: 'maxroach', password: 'pw', sslrootcert: '/ca.crt', applicationName: 'app' });
  });

  it('leaves sslrootcert out for system roots', () => {
    expect(connectionParamsFor({ ...details, ca: { kind: 'system' } }, 'pw')).not.toHaveProperty('sslrootcert');
  });
});

describe('properties', () => {
  // Any code point but NUL, which no client can send (refusal is tested above).
  const sendable = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0'));
  const userSafe = fc.stringMatching(/^[a-z_][a-z0-9_.-]{0,30}$/);
  // One context for all runs: a fresh one per run would dominate the time.
  const jsContext = createContext({});

  it('any password and user-safe names round-trip through the URL, JDBC and every literal', () => {
    fc.assert(
      fc.property(sendable, userSafe, userSafe, fc.boolean(), (password, user, database, withCa) => {
        const p = params({ password, user, database, ...(withCa ? { sslrootcert: CA_PATH } : {}) });
        expectUrlRoundTrip(postgresUrl(p), p);
        expect(new URLSearchParams(jdbcUrl(p).split('?')[1]).get('password')).toBe(password);
        expect(decodeDoubleQuotedLiteral(pythonString(password), 'python')).toBe(password);
        expect(decodeDoubleQuotedLiteral(goString(password), 'go')).toBe(password);
        expect(runInContext(jsString(password), jsContext) as unknown).toBe(password);
      }),
      { numRuns: 2_000 },
    );
  });
});

/**
 * Cross-checks with the real parsers when the machine has them: Python's own parser for the
 * psycopg2 and SQLAlchemy snippets, and libpq's PQconninfoParse (what psql, psycopg2 and
 * `cockroach sql`-compatible tools share) for the URL.
 */
const PYTHON_CHECKER = String.raw`
import ast, ctypes, ctypes.util, json, re, sys
from urllib.parse import parse_qsl, unquote

class Opt(ctypes.Structure):
    _fields_ = [(n, ctypes.c_char_p) for n in ('keyword', 'envvar', 'compiled', 'val', 'label', 'dispchar')] + [('dispsize', ctypes.c_int)]

def libpq(uri):
    lib = ctypes.CDLL(ctypes.util.find_library('pq'))
    lib.PQconninfoParse.restype = ctypes.POINTER(Opt)
    lib.PQconninfoParse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
    lib.PQconninfoFree.argtypes = [ctypes.POINTER(Opt)]
    err = ctypes.c_char_p()
    opts = lib.PQconninfoParse(uri.encode('utf-8'), ctypes.byref(err))
    if not opts:
        return {'error': (err.value or b'').decode('utf-8', 'replace')}
    out, i = {}, 0
    while opts[i].keyword is not None:
        if opts[i].val is not None:
            out[opts[i].keyword.decode()] = opts[i].val.decode('utf-8')
        i += 1
    lib.PQconninfoFree(opts)
    return out

# sqlalchemy.engine.url._parse_url (2.0)
SQLA = re.compile(r"(?P<name>[\w\+]+)://(?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?(?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?(?:/(?P<database>[^\?]*))?(?:\?(?P<query>.*))?")

def first_call(source):
    call = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call))
    return [ast.literal_eval(a) for a in call.args], {k.arg: ast.literal_eval(k.value) for k in call.keywords}

def run(job):
    if job['kind'] == 'libpq':
        return libpq(job['text'])
    if job['kind'] == 'psycopg2':
        return first_call(job['text'])[1]
    url = first_call(job['text'])[0][0]
    c = SQLA.match(url).groupdict()
    return {'username': unquote(c['username']), 'password': unquote(c['password']), 'host': c['ipv4host'], 'port': int(c['port']), 'query': dict(parse_qsl(c['query']))}

jobs = json.loads(sys.stdin.buffer.read().decode('utf-8'))
sys.stdout.write(json.dumps([run(j) for j in jobs]))
`;

function pythonWithLibpq(): boolean {
  const probe = spawnSync('python3', ['-c', 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("pq") else 3)']);
  return probe.status === 0;
}

function runPython(jobs: ReadonlyArray<{ kind: 'libpq' | 'psycopg2' | 'sqlalchemy'; text: string }>): Array<Record<string, unknown>> {
  const result = spawnSync('python3', ['-c', PYTHON_CHECKER], { input: JSON.stringify(jobs), encoding: 'utf8' });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as Array<Record<string, unknown>>;
}

// Registered only where python3 and libpq exist; the checks above stand on their own elsewhere.
if (pythonWithLibpq()) {
  describe('real parsers (python3, libpq)', () => {
    it('libpq parses every URL back to the original connection parameters', () => {
      const results = runPython(cases.map((p) => ({ kind: 'libpq', text: postgresUrl(p) })));
      results.forEach((parsed, i) => {
        const p = cases[i] ?? params();
        expect(parsed).toMatchObject({
          user: p.user,
          password: p.password,
          host: p.host,
          port: String(p.port),
          dbname: p.database,
          sslmode: 'verify-full',
          ...(p.options === undefined ? {} : { options: p.options }),
          ...(p.applicationName === undefined ? {} : { application_name: p.applicationName }),
        });
        expect(parsed.sslrootcert).toBe(p.sslrootcert);
      });
    });

    it('Python reads the psycopg2 keywords back to the original values', () => {
      const results = runPython(cases.map((p) => ({ kind: 'psycopg2', text: psycopg2Snippet(p) })));
      results.forEach((kwargs, i) => {
        const p = cases[i] ?? params();
        expect(kwargs).toEqual({
          host: p.host,
          port: p.port,
          dbname: p.database,
          user: p.user,
          password: p.password,
          sslmode: 'verify-full',
          ...(p.sslrootcert === undefined ? {} : { sslrootcert: p.sslrootcert }),
          ...(p.options === undefined ? {} : { options: p.options }),
          ...(p.applicationName === undefined ? {} : { application_name: p.applicationName }),
        });
      });
    });

    it("SQLAlchemy's URL grammar reads the create_engine URL back to the original values", () => {
      const results = runPython(cases.map((p) => ({ kind: 'sqlalchemy', text: sqlalchemySnippet(p) })));
      results.forEach((url, i) => {
        const p = cases[i] ?? params();
        expect(url).toMatchObject({ username: p.user, password: p.password, host: p.host, port: p.port });
        expect(url.query).toMatchObject({ sslmode: 'verify-full', ...(p.sslrootcert === undefined ? {} : { sslrootcert: p.sslrootcert }) });
      });
    });

    it('libpq and Python agree with the property-based passwords too', () => {
      const passwords = fc.sample(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0')), { numRuns: 300, seed: 42 });
      const ps = passwords.map((password) => params({ password }));
      const parsed = runPython([
        ...ps.map((p) => ({ kind: 'libpq' as const, text: postgresUrl(p) })),
        ...ps.map((p) => ({ kind: 'psycopg2' as const, text: psycopg2Snippet(p) })),
      ]);
      expect(parsed.map((r) => r.password)).toEqual([...passwords, ...passwords]);
    });
  });
}
