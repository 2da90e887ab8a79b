/**
 * Fuzzing: property-based tests (fast-check, fixed seeds so a failure replays) over the `/crdb`
 * grammar and the network and SQL user name validators, well over 100,000 generated inputs in all.
 *
 * - Grammar: mutated valid command lines, token soup from the grammar's own vocabulary and Slack's
 *   markup, arbitrary Unicode (lone surrogates included) and long inputs up to Slack's 4,000
 *   characters. Every input gets a parse or the standard refusal (one line of reason, at most
 *   200 characters, and an example that itself parses, as typed and as Slack delivers it); no
 *   exception escapes; what parses is well-formed (a canonical CIDR, a valid user name, ...).
 * - Networks and user names: every input gets a value or an `InvalidInputError` with a one-line
 *   reason and an example that validates; and a differential oracle written independently here
 *   (plain string and bit arithmetic) agrees on what is accepted and what it normalises to.
 *
 * - The whole app: generated commands typed as a requester through the signed Slack path (every
 *   change needs approval on both clusters here, so nothing reaches a cluster): every one is
 *   answered within the ack, none with the generic failure, none logged as an error.
 *
 * The counts of inputs each property ran are printed for the README.
 */
import fc from 'fast-check';
import { InvalidInputError } from '../../lib/cluster-admin/errors';
import { parseCidr, parseIpv4Address, parseIpv4Network } from '../../lib/cluster-admin/network';
import { validateUserName } from '../../lib/cluster-admin/sql-names';
import { COMMAND_DEFINITIONS, parseCommand, type ParseResult } from '../../lib/slack/grammar';
import { type Harness, startHarness, USERS } from '../support/app-harness';
import { bodyText, captureLogs, printFigures } from './support';

/** Any character a chat client could render as a line break. */
const LINE_BREAK = /[\n\r\v\f\u0085\u2028\u2029]/;
const COMMAND_NAMES = new Set<string>(COMMAND_DEFINITIONS.map((d) => d.name));
const counts: Record<string, number> = {};
let slowestParseMs = 0;

afterAll(() => {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  printFigures('fuzzing (fast-check, fixed seeds)', { ...counts, 'total generated inputs': total, 'slowest single parse (ms)': Math.ceil(slowestParseMs) });
});

/** Runs a property `runs` times; `check` returns what is wrong, or undefined. Counts the inputs. */
function assertProperty<T>(name: string, arbitrary: fc.Arbitrary<T>, runs: number, seed: number, check: (value: T) => string | undefined): void {
  counts[name] = 0;
  fc.assert(
    fc.property(arbitrary, (value) => {
      counts[name] = (counts[name] ?? 0) + 1;
      const problem = check(value);
      if (problem !== undefined) throw new Error(problem);
    }),
    { numRuns: runs, seed },
  );
}

function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// ---------------------------------------------------------------------------------------------
// The grammar's contract

function parseTimed(text: string, commandName: string): ParseResult {
  const started = performance.now();
  try {
    return parseCommand(text, { commandName });
  } finally {
    slowestParseMs = Math.max(slowestParseMs, performance.now() - started);
  }
}

/** What is wrong with how `text` was parsed, or undefined. */
function grammarProblem(text: string, commandName = '/crdb'): string | undefined {
  const input = JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}…` : text);
  let result: ParseResult;
  try {
    result = parseTimed(text, commandName);
  } catch (error) {
    return `threw ${String(error)} for ${input}`;
  }
  if (result.ok) return commandProblem(result, input);
  const { reason, example } = result;
  if (reason.length === 0) return `empty reason for ${input}`;
  if (LINE_BREAK.test(reason)) return `reason has a line break: ${JSON.stringify(reason)} for ${input}`;
  if (reason.length > 200) return `reason is ${reason.length} characters for ${input}`;
  if (/\p{Cs}/u.test(reason)) return `reason has half a surrogate pair: ${JSON.stringify(reason)}`;
  if (LINE_BREAK.test(example)) return `example has a line break: ${JSON.stringify(example)} for ${input}`;
  if (!example.startsWith(`${commandName} `)) return `example ${JSON.stringify(example)} lacks the command name for ${input}`;
  const again = parseCommand(example, { commandName });
  if (!again.ok) return `example ${JSON.stringify(example)} for ${input} does not parse: ${again.reason}`;
  const retyped = parseCommand(slackEscape(example), { commandName });
  if (!retyped.ok) return `example ${JSON.stringify(example)} for ${input} does not parse as Slack delivers it: ${retyped.reason}`;
  return undefined;
}

/** A parsed command is well-formed: known name, one-line notes, values that validate on their own. */
function commandProblem(result: Extract<ParseResult, { ok: true }>, input: string): string | undefined {
  const { command, notes } = result;
  if (!COMMAND_NAMES.has(command.name)) return `unknown command ${command.name} for ${input}`;
  const badNote = notes.find((note) => LINE_BREAK.test(note) || note.length > 300);
  if (badNote !== undefined) return `bad note ${JSON.stringify(badNote)} for ${input}`;
  try {
    switch (command.name) {
      case 'allow':
        if (parseCidr(command.network.cidr).cidr !== command.network.cidr) return `non-canonical ${command.network.cidr} for ${input}`;
        if (!command.access.sql && !command.access.ui) return `no access for ${input}`;
        break;
      case 'revoke':
        parseCidr(command.cidr);
        break;
      case 'check':
        if (parseIpv4Address(command.ip) !== command.ip) return `non-canonical ip ${command.ip} for ${input}`;
        break;
      case 'user create':
      case 'user rotate':
      case 'user delete':
        if (validateUserName(command.user) !== command.user) return `user ${command.user} not canonical for ${input}`;
        break;
      case 'connect':
        if (command.user !== undefined && validateUserName(command.user) !== command.user) return `user ${command.user} not canonical for ${input}`;
        break;
      default:
        break;
    }
  } catch (error) {
    return `parsed value does not validate (${String(error)}) for ${input}`;
  }
  const forMs = 'forMs' in command ? command.forMs : undefined;
  if (forMs !== undefined && !(Number.isSafeInteger(forMs) && forMs > 0)) return `bad duration ${forMs} for ${input}`;
  return undefined;
}

// Building blocks of hostile input.
const SEEDS = COMMAND_DEFINITIONS.flatMap((d) => d.examples);
const VOCABULARY = [
  ...new Set([
    ...COMMAND_DEFINITIONS.flatMap((d) => d.words),
    ...COMMAND_DEFINITIONS.flatMap((d) => d.flags.flatMap((f) => (f.type === 'choice' ? f.choices.map((c) => `--${c.name}`) : [`--${f.key}`, `--${f.key}=`]))),
    ...COMMAND_DEFINITIONS.flatMap((d) => d.positionals.map((p) => p.example)),
  ]),
];
const SLACK_MARKUP = ['&amp;', '&lt;', '&gt;', '&amp;lt;', '<@U0ALICE>', '<@U0ALICE|alice>', '<#C0GENERAL|general>', '<!here>', '<!channel>', '<!subteam^S0APPROVERS>', '<http://1.2.3.4|1.2.3.4>', '<mailto:a@b.c|a@b.c>', '<https://x.y/?a=1&amp;b=2>', '<', '>', '<|>', '<>'];
const ODD_CHARS = [
  '"', "'", '“', '”', '‘', '’', '„', '«', '»', '—', '–', '−', '‐', '=', '/', '\\', '`', '```', '*', '_', '~', '|', '%', '$', '$$', ';', '--', '-', '\t', '\n', '\r\n',
  '\u00a0', '\u200b', '\u200d', '\u2028', '\u2029', '\u202e', '\u2066', '\ufeff', '\u3000', '\u0000', '\u0007', '\u001b[31m', '１２３', '٣', 'ǅ', 'ß', 'İ', 'ﬁ', '𝟘', '😀', '👩‍💻', '\ud800', '\udfff',
  '0.0.0.0/0', '255.255.255.255', '1.2.3.4/33', '01.2.3.4', '0x7f.0.0.1', '::1', '2001:db8::/32', '999999999999999999999d', '-8h', '0m', '8H', '1e3h', 'NaN', 'Infinity',
  'root', 'admin', 'pg_x', 'crdb_internal_x', 'x'.repeat(64), 'Robert"); DROP TABLE users;--', "o'brien", '$(reboot)', '${jndi:ldap://x}', '{{7*7}}', '%s%s%n',
];
const piece = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...VOCABULARY) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_CHARS) },
  { weight: 2, arbitrary: fc.constantFrom(...SLACK_MARKUP) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
);

type Mutation = { readonly op: 'insert' | 'delete' | 'replace-token' | 'duplicate-token' | 'swap-tokens' | 'upper' | 'escape' | 'quote' | 'truncate'; readonly at: number; readonly span: number; readonly piece: string };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('insert', 'insert', 'delete', 'replace-token', 'replace-token', 'duplicate-token', 'swap-tokens', 'upper', 'escape', 'quote', 'truncate'),
  at: fc.nat(),
  span: fc.integer({ min: 1, max: 12 }),
  piece,
});

function mutate(line: string, m: Mutation): string {
  const at = line.length === 0 ? 0 : m.at % (line.length + 1);
  const tokens = line.split(' ');
  const t = tokens.length === 0 ? 0 : m.at % tokens.length;
  const u = (m.at + m.span) % Math.max(tokens.length, 1);
  switch (m.op) {
    case 'insert':
      return line.slice(0, at) + m.piece + line.slice(at);
    case 'delete':
      return line.slice(0, at) + line.slice(at + m.span);
    case 'replace-token':
      tokens[t] = m.piece;
      return tokens.join(' ');
    case 'duplicate-token':
      tokens.splice(t, 0, tokens[t] ?? m.piece);
      return tokens.join(' ');
    case 'swap-tokens': {
      const a = tokens[t] ?? '';
      tokens[t] = tokens[u] ?? '';
      tokens[u] = a;
      return tokens.join(' ');
    }
    case 'upper':
      return line.slice(0, at) + line.slice(at, at + m.span).toUpperCase() + line.slice(at + m.span);
    case 'escape':
      return slackEscape(line);
    case 'quote':
      return `${line.slice(0, at)}${m.piece.slice(0, 1) || '"'}${line.slice(at)}`;
    case 'truncate':
      return line.slice(0, at);
  }
}

const mutatedCommand = fc
  .tuple(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.boolean())
  .map(([seed, mutations, prefixed]) => mutations.reduce(mutate, prefixed ? `/crdb ${seed}` : seed));
const separator = fc.constantFrom(' ', ' ', ' ', '', '  ', '\t', '\n', '\u00a0', '\u200b', '=', '\u3000');
const tokenSoup = fc.array(fc.tuple(piece, separator), { maxLength: 16 }).map((parts) => parts.map(([p, s]) => p + s).join(''));
const loneSurrogates = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const anyUnicode = fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), fc.string({ unit: 'grapheme', maxLength: 60 }), loneSurrogates);
/** Up to Slack's 4,000 characters: long runs of one hostile piece, or a long valid-looking line. */
const longInput = fc.oneof(
  fc.tuple(fc.constantFrom('"', '“', "'", '-', '—', ' ', '<', '&amp;', '=', '\\', 'a', '1.', '--for ', '<@U1|', 'allow '), fc.integer({ min: 200, max: 4_000 })).map(([p, n]) => p.repeat(Math.ceil(n / p.length)).slice(0, n)),
  fc.tuple(fc.constantFrom(...SEEDS), fc.integer({ min: 20, max: 400 })).map(([seed, n]) => `${seed} --reason "${'x '.repeat(n)}`),
  fc.array(piece, { minLength: 100, maxLength: 600 }).map((parts) => parts.join(' ').slice(0, 4_000)),
);

describe('the /crdb grammar over generated input', () => {
  it('answers 40,000 mutated valid command lines with a parse or a one-line refusal whose example parses', () => {
    assertProperty('grammar: mutated command lines', mutatedCommand, 40_000, 7101, (text) => grammarProblem(text));
  });

  it('answers 40,000 lines of token soup (grammar words, Slack markup, odd characters) the same way', () => {
    assertProperty('grammar: token soup', fc.tuple(tokenSoup, fc.constantFrom('/crdb', '/db')), 40_000, 7102, ([text, name]) => grammarProblem(text, name));
  });

  it('answers 15,000 arbitrary Unicode strings (lone surrogates included) the same way', () => {
    assertProperty('grammar: arbitrary Unicode', anyUnicode, 15_000, 7103, (text) => grammarProblem(text));
  });

  it('answers 1,500 long inputs (up to 4,000 characters) the same way, none slowly', () => {
    assertProperty('grammar: long inputs', longInput, 1_500, 7104, (text) => grammarProblem(text));
    // A guard against catastrophic backtracking (the ack has 3 s), not a benchmark: parses take microseconds.
    expect(slowestParseMs).toBeLessThan(1_000);
  });

  it('answers the same input the same way every time', () => {
    assertProperty('grammar: determinism', fc.oneof(mutatedCommand, tokenSoup), 3_000, 7105, (text) => {
      const a = JSON.stringify(parseCommand(text));
      const b = JSON.stringify(parseCommand(text));
      return a === b ? undefined : `${JSON.stringify(text)} parsed two ways: ${a} / ${b}`;
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Networks: the standard refusal, and a differential oracle

/** The oracle: a strict dotted quad, optional `/0`-`/32` (one or two digits), host bits cleared. */
function oracleNetwork(input: string): string | undefined {
  const text = input.trim();
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const prefix = slash === -1 ? '32' : text.slice(slash + 1);
  const parts = address.split('.');
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    if (part.length < 1 || part.length > 3 || [...part].some((c) => c < '0' || c > '9')) return undefined;
    if (part.length > 1 && part[0] === '0') return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    octets.push(n);
  }
  if (prefix.length < 1 || prefix.length > 2 || [...prefix].some((c) => c < '0' || c > '9')) return undefined;
  const bits = Number(prefix);
  if (bits > 32) return undefined;
  const value = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - bits);
  const network = value - (value % size);
  const quad = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.');
  return `${quad}/${bits}`;
}

/** The standard refusal: an InvalidInputError, one line, at most 200 characters, a valid example. */
function refusalProblem(error: unknown, validate: (example: string) => unknown, input: string): string | undefined {
  if (!(error instanceof InvalidInputError)) return `threw ${String(error)} for ${JSON.stringify(input)}`;
  if (LINE_BREAK.test(error.message) || error.message.length > 200 || /\p{Cs}/u.test(error.message)) return `bad message ${JSON.stringify(error.message)}`;
  if (error.example === undefined) return `no example for ${JSON.stringify(error.message)}`;
  try {
    validate(error.example);
  } catch {
    return `example ${JSON.stringify(error.example)} does not validate (for ${JSON.stringify(input)})`;
  }
  return undefined;
}

function networkProblem(input: string): string | undefined {
  const expected = oracleNetwork(input);
  let cidr: string;
  try {
    cidr = parseIpv4Network(input).cidr;
  } catch (error) {
    const problem = refusalProblem(error, parseIpv4Network, input);
    if (problem !== undefined) return problem;
    // IPv6 and near misses are refused; the oracle must agree that it is not a dotted quad.
    return expected === undefined ? undefined : `refused ${JSON.stringify(input)}, which is ${expected}`;
  }
  if (expected !== cidr) return `accepted ${JSON.stringify(input)} as ${cidr}; the oracle says ${String(expected)}`;
  return undefined;
}

const decimal = fc.oneof(fc.integer({ min: 0, max: 255 }).map(String), fc.integer({ min: 0, max: 999 }).map(String), fc.constantFrom('00', '01', '007', '0255', '256', '-1', '+1', '1e2', '0x1f', '１', '٣', ''));
const quadish = fc
  .tuple(fc.array(decimal, { minLength: 2, maxLength: 6 }), fc.constantFrom('.', '.', '.', ',', '..', '。'), fc.option(fc.oneof(fc.integer({ min: 0, max: 40 }).map(String), fc.constantFrom('', '032', '08', '-1', ' 24', '24 ', '/24', '3 2')), { nil: undefined }), fc.constantFrom('', ' ', '\t', '\u00a0', '\n', '\u2028'))
  .map(([parts, dot, prefix, pad]) => `${pad}${parts.join(dot)}${prefix === undefined ? '' : `/${prefix}`}${pad}`);
const validQuad = fc
  .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.option(fc.integer({ min: 0, max: 32 }), { nil: undefined }))
  .map(([o, p]) => `${o.join('.')}${p === undefined ? '' : `/${p}`}`);
const ipv6ish = fc.constantFrom('::', '::1', '2001:db8::1', '2001:db8::/32', 'fe80::1%eth0', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8', '1.2.3.4:26257', '[::1]');

describe('IPv4 network validation over generated input', () => {
  it('agrees with an independent oracle on 25,000 near-miss, valid and IPv6-ish networks, refusing the standard way', () => {
    assertProperty('networks: near misses, valid, IPv6', fc.oneof(quadish, validQuad, ipv6ish), 25_000, 7201, networkProblem);
  });

  it('refuses or accepts 10,000 arbitrary strings the same way', () => {
    assertProperty('networks: arbitrary text', anyUnicode, 10_000, 7202, networkProblem);
  });
});

// ---------------------------------------------------------------------------------------------
// SQL user names: the standard refusal, and a differential oracle

const RESERVED = new Set(['public', 'none', 'node', 'root', 'admin']);

/** The oracle: CockroachDB's rules as the README states them, written out character by character. */
function oracleUserName(input: string): string | undefined {
  const name = input.trim();
  if (name === '' || Buffer.byteLength(name, 'utf8') > 63) return undefined;
  const first = name[0] ?? '';
  if (!((first >= 'a' && first <= 'z') || first === '_')) return undefined;
  for (const c of name) if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c === '_' || c === '.' || c === '-')) return undefined;
  if (RESERVED.has(name) || name.startsWith('pg_') || name.startsWith('crdb_internal')) return undefined;
  return name;
}

function userNameProblem(input: string): string | undefined {
  const expected = oracleUserName(input);
  let name: string;
  try {
    name = validateUserName(input);
  } catch (error) {
    const problem = refusalProblem(error, validateUserName, input);
    if (problem !== undefined) return problem;
    return expected === undefined ? undefined : `refused ${JSON.stringify(input)}, which the oracle accepts`;
  }
  return expected === name ? undefined : `accepted ${JSON.stringify(input)} as ${JSON.stringify(name)}; the oracle says ${JSON.stringify(expected)}`;
}

const nameChar = fc.constantFrom(...'abcxyz_09.-'.split(''), 'A', 'Z', ' ', '"', "'", ';', '\\', '\n', '\u00a0', 'é', 'ı', 'ſ', 'K', '😀', '\u0000', '\u200b');
const nameish = fc.oneof(
  fc.array(nameChar, { maxLength: 80 }).map((c) => c.join('')),
  fc.tuple(fc.constantFrom('', 'pg_', 'crdb_internal', 'root', 'admin', 'public', 'none', 'node', '_', '9', '-', '.'), fc.stringMatching(/^[a-z0-9_.-]{0,70}$/)).map(([p, s]) => p + s),
);

describe('SQL user name validation over generated input', () => {
  it('agrees with an independent oracle on 20,000 name-like strings, refusing the standard way', () => {
    assertProperty('user names: name-like', nameish, 20_000, 7301, userNameProblem);
  });

  it('refuses or accepts 5,000 arbitrary strings the same way', () => {
    assertProperty('user names: arbitrary text', anyUnicode, 5_000, 7302, userNameProblem);
  });
});

// ---------------------------------------------------------------------------------------------
// The whole app's ack path

describe('the Slack function over generated commands', () => {
  const logs = captureLogs({ level: 'info' });
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({
      logger: logs.logger,
      // Every change waits for an approver, so no generated command can touch a cluster.
      config: (doc) => {
        for (const cluster of doc.clusters as Array<Record<string, unknown>>) cluster.policy = { ...(cluster.policy as object), approveAll: true, autoApproveSingleHost: false };
      },
    });
  });

  afterAll(() => h.stop());

  it('answers 1,000 generated commands within the ack, none with the generic failure or an error', async () => {
    const inputs = fc.sample(fc.oneof(mutatedCommand, tokenSoup), { numRuns: 1_000, seed: 7401 });
    counts['app: generated commands'] = inputs.length;
    const problems: string[] = [];
    for (const text of inputs) {
      const result = await h.command(USERS.alice, text);
      const answer = bodyText(result.response);
      if (!result.acknowledged) problems.push(`not acknowledged (${result.response.statusCode}, ${Math.round(result.elapsedMs)} ms): ${JSON.stringify(text)}`);
      else if (/Something went wrong/.test(answer)) problems.push(`generic failure for ${JSON.stringify(text)}`);
    }
    await h.settle();
    // What admission said afterwards (on the response_urls) is never the generic failure either.
    for (const post of h.slack.responses().filter((p) => p.status === 200)) {
      if (/Something went wrong/.test(JSON.stringify(post.body))) problems.push(`generic failure after the ack: ${JSON.stringify(post.body).slice(0, 200)}`);
    }
    expect(problems).toEqual([]);
    expect(logs.records().filter((r) => r.level === 'error')).toEqual([]);
    // Nothing was applied: every accepted change is waiting for approval, or was refused at
    // admission (a revoke of an entry the bot did not add) and told so.
    const requests = await h.runtime.store.listByRequester(USERS.alice, 2_000);
    expect(requests.filter((r) => r.status !== 'pending' && !(r.status === 'refused' && r.step === 'told'))).toEqual([]);
  });
});
