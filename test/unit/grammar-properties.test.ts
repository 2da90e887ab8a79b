/**
 * Properties of the `/crdb` grammar over generated input:
 * (a) any text gets either a command or the standard refusal (one line of reason, at most 200
 *     characters, and an example that itself parses), never an exception;
 * (b) every valid command line generated from the definitions, in any flag order and spelling,
 *     parses to exactly the command it describes.
 *
 * Checks inside the properties are plain comparisons returning a problem description: 20,000 runs
 * of jest matchers would cost seconds, the parser itself milliseconds.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { CONNECTION_FORMAT_IDS } from '../../lib/cluster-admin/connection-formats';
import { parseIpv4Network } from '../../lib/cluster-admin/network';
import { COMMAND_DEFINITIONS, type CommandDefinition, type FlagSpec, type ValueKind, parseCommand } from '../../lib/slack/grammar';

const RUNS = 20_000;
/** Any character a chat client could render as a line break. */
const LINE_BREAK = /[\n\r\v\f\u0085\u2028\u2029]/;
const COMMAND_NAMES = new Set<string>(COMMAND_DEFINITIONS.map((d) => d.name));

function assertProperty<T>(arbitrary: fc.Arbitrary<T>, check: (value: T) => string | undefined): void {
  fc.assert(
    fc.property(arbitrary, (value) => {
      const problem = check(value);
      if (problem !== undefined) throw new Error(problem);
    }),
    { numRuns: RUNS },
  );
}

/** What Slack does to `&`, `<` and `>` in command text. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// ---------------------------------------------------------------------------------------------
// (a) arbitrary text

function contractProblem(text: string, commandName: string): string | undefined {
  let result: ReturnType<typeof parseCommand>;
  try {
    result = parseCommand(text, { commandName });
  } catch (error) {
    return `threw ${String(error)} for ${JSON.stringify(text)}`;
  }
  if (result.ok) {
    if (!COMMAND_NAMES.has(result.command.name)) return `unknown command ${result.command.name}`;
    const badNote = result.notes.find((note) => LINE_BREAK.test(note));
    return badNote === undefined ? undefined : `note has a line break: ${JSON.stringify(badNote)}`;
  }
  const { reason, example } = result;
  const input = JSON.stringify(text);
  if (reason.length === 0) return `empty reason for ${input}`;
  if (LINE_BREAK.test(reason)) return `reason has a line break: ${JSON.stringify(reason)} for ${input}`;
  if (reason.length > 200) return `reason is ${reason.length} characters long for ${input}`;
  if (LINE_BREAK.test(example)) return `example has a line break: ${JSON.stringify(example)} for ${input}`;
  if (!example.startsWith(`${commandName} `)) return `example ${JSON.stringify(example)} lacks the command name for ${input}`;
  const again = parseCommand(example, { commandName });
  if (!again.ok) return `example ${JSON.stringify(example)} for ${input} does not parse: ${again.reason}`;
  const retyped = parseCommand(slackEscape(example), { commandName });
  if (!retyped.ok) return `example ${JSON.stringify(example)} for ${input} does not parse as Slack sends it: ${retyped.reason}`;
  return undefined;
}

const commandWords = COMMAND_DEFINITIONS.flatMap((d) => d.words);
const flagWords = COMMAND_DEFINITIONS.flatMap((d) => d.flags.flatMap((f) => (f.type === 'choice' ? f.choices.map((c) => c.name) : [f.key])));
const fragment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...commandWords, 'alow', 'usr', 'make', 'list', 'remove', 'ALLOW', 'User', '/crdb', '/db', 'help', '?') },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('--', '-', '—', '–', '−', '---', ''), fc.constantFrom(...flagWords, 'fro', 'db', 'console', 'help', 'h', '', 'zzz')).map(([d, f]) => `${d}${f}`) },
  { weight: 1, arbitrary: fc.constantFrom('=', '==', '=""', '="', '=“') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('203.0.113.7', '34.1.2.3/24', '10.1.2.3', '0.0.0.0/0', '2001:db8::1', '::', '1.2.3.4:26257', '1.2.3.4,', '01.2.3.4', '1.2.3', '256.1.1.1', '1.2.3.4/33', '127.0.0.1/8'),
  },
  { weight: 2, arbitrary: fc.constantFrom('"', "'", '“', '”', '‘', '’', '„', '"deploy hotfix"', '“fix it”', "'it's'", '"', '""') },
  { weight: 2, arbitrary: fc.constantFrom('8h', '30m', '7d', '0h', '8', '8 hours', 'hours', '1.5h', '99999999999999999999999d', 'forever', '8H') },
  { weight: 2, arbitrary: fc.constantFrom('maxroach', 'Bob', 'root', 'pg_x', 'app.reader', 'prod', 'Prod_EU', 'us-east1', 'psql', 'JDBC', 'psycopg', 'x'.repeat(70)) },
  { weight: 2, arbitrary: fc.constantFrom('&amp;', '&lt;', '&gt;', '&amp;lt;', '<http://app.reader|app.reader>', '<mailto:a@b.c|a@b.c>', '<@U123|bob>', '<@U1>', '<#C1|ops>', '<!here>', '<', '>', '<|>', '&') },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
);
const separator = fc.constantFrom(' ', ' ', ' ', '', '  ', '\t', '\u00a0', '\n', '\u200b', '\u2028', ' \u3000 ');
const grammarIsh = fc.array(fc.tuple(fragment, separator), { maxLength: 12 }).map((parts) => parts.map(([f, s]) => f + s).join(''));
const loneSurrogates = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 }), loneSurrogates);

describe('parseCommand over arbitrary text', () => {
  it.each([
    ['any Unicode text', anyText],
    ['text assembled from grammar fragments', grammarIsh],
  ])('returns a command or a one-line refusal whose example parses (%s)', (_what, arbitrary) => {
    assertProperty(fc.tuple(arbitrary, fc.constantFrom('/crdb', '/db')), ([text, commandName]) => contractProblem(text, commandName));
  });
});

// ---------------------------------------------------------------------------------------------
// (b) valid commands generated from the definitions

/** A value as typed (before Slack's escaping) and what the parser should make of it. */
interface Generated {
  readonly raw: string;
  readonly expected: unknown;
}

const octet = fc.integer({ min: 0, max: 255 });
const dottedQuad = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const sqlName = fc
  .stringMatching(/^[a-z_][a-z0-9_.-]{0,30}$/)
  .filter((n) => !['public', 'none', 'node', 'root', 'admin'].includes(n) && !n.startsWith('pg_') && !n.startsWith('crdb_internal'));
const alias = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,30}$/);
/** Printable text with the characters that stress quoting, escaping and dash handling; no double quotes. */
const proseChar = fc.constantFrom(...'aZ0 -_.,:/@#()&<>=*|`\'’é日—'.split(''), '😀', ' ');
const prose = (max: number) =>
  fc
    .array(proseChar, { minLength: 1, maxLength: max })
    .map((chars) => chars.join('').trim())
    .filter((text) => text !== '' && Array.from(text).length <= max);
const same = (text: string): Generated => ({ raw: text, expected: text });

const KIND_VALUES: { readonly [K in ValueKind]: fc.Arbitrary<Generated> } = {
  network: fc.tuple(dottedQuad, fc.option(fc.integer({ min: 0, max: 32 }), { nil: undefined })).map(([ip, prefix]) => {
    const raw = prefix === undefined ? ip : `${ip}/${prefix}`;
    return { raw, expected: parseIpv4Network(raw) };
  }),
  ipv4: fc.tuple(dottedQuad, fc.boolean()).map(([ip, slash32]) => ({ raw: slash32 ? `${ip}/32` : ip, expected: ip })),
  cidr: fc.tuple(dottedQuad, fc.integer({ min: 0, max: 32 })).map(([ip, prefix]) => ({ raw: `${ip}/${prefix}`, expected: parseIpv4Network(`${ip}/${prefix}`).cidr })),
  user: sqlName.map(same),
  database: fc.stringMatching(/^[a-z_][a-z0-9_.-]{0,30}$/).map(same),
  duration: fc.tuple(fc.integer({ min: 1, max: 9999 }), fc.constantFrom(['m', 60_000] as const, ['h', 3_600_000] as const, ['d', 86_400_000] as const)).map(([n, [unit, ms]]) => ({ raw: `${n}${unit}`, expected: n * ms })),
  cluster: alias.map(same),
  region: alias.map(same),
  label: prose(48).map(same),
  reason: prose(80).map(same),
  format: fc.tuple(fc.constantFrom(...CONNECTION_FORMAT_IDS), fc.boolean()).map(([id, upper]) => ({ raw: upper ? id.toUpperCase() : id, expected: id })),
  topic: fc.tuple(fc.constantFrom(...COMMAND_DEFINITIONS.map((d) => d.name)), fc.boolean()).map(([name, upper]) => ({ raw: upper ? name.toUpperCase() : name, expected: name })),
};

type Quote = 'none' | '"' | "'" | '“' | '‘';
const QUOTES: Record<Exclude<Quote, 'none'>, readonly [string, string, string]> = {
  '"': ['"', '"', '"“”„‟'],
  "'": ["'", "'", "'‘’‚‛"],
  '“': ['“', '”', '"“”„‟'],
  '‘': ['‘', '’', "'‘’‚‛"],
};

/** Quoted when it must be (spaces, a leading quote or dash), otherwise as the style says. */
function typed(raw: string, quote: Quote): string {
  const needsQuotes = /\s/.test(raw) || /^["“”„‟'‘’‚‛\-—–]/.test(raw);
  if (quote === 'none' && !needsQuotes) return raw;
  const [open, close, family] = QUOTES[quote === 'none' ? '"' : quote];
  // A value holding this family's quotes might close early: double quotes never appear in generated values.
  if ([...raw].some((ch) => family.includes(ch))) return `"${raw}"`;
  return `${open}${raw}${close}`;
}

interface FlagStyle {
  readonly dash: string;
  readonly upper: boolean;
  readonly inline: boolean;
  readonly quote: Quote;
  readonly slot: number;
}

const quoteStyle = fc.constantFrom<Quote>('none', 'none', '"', "'", '“', '‘');
const flagStyle: fc.Arbitrary<FlagStyle> = fc.record({
  dash: fc.constantFrom('--', '--', '—', '–'),
  upper: fc.boolean(),
  inline: fc.boolean(),
  quote: quoteStyle,
  slot: fc.nat(),
});
const space = fc.constantFrom(' ', ' ', '  ', '\t', '\u00a0', ' \u00a0', '\n');

type FlagValue = boolean | string | Generated | undefined;

function flagValueArbitrary(flag: FlagSpec): fc.Arbitrary<FlagValue> {
  if (flag.type === 'switch') return fc.boolean();
  if (flag.type === 'choice') return fc.option(fc.constantFrom(...flag.choices.map((c) => c.name)), { nil: undefined });
  return fc.option(KIND_VALUES[flag.kind], { nil: undefined });
}

interface ValidCase {
  readonly text: string;
  /** The command's name (not its definition: counterexamples stay readable). */
  readonly name: string;
  readonly values: Readonly<Record<string, unknown>>;
}

function validCase(definition: CommandDefinition): fc.Arbitrary<ValidCase> {
  const positionals = definition.positionals.map((p) => (p.required ? KIND_VALUES[p.kind] : fc.option(KIND_VALUES[p.kind], { nil: undefined })));
  const flagCount = definition.flags.length;
  const indices = definition.flags.map((_f, i) => i);
  return fc
    .record({
      positionals: fc.tuple(...positionals),
      positionalQuotes: fc.array(quoteStyle, { minLength: positionals.length, maxLength: positionals.length }),
      flags: fc.tuple(...definition.flags.map(flagValueArbitrary)),
      styles: fc.array(flagStyle, { minLength: flagCount, maxLength: flagCount }),
      order: fc.shuffledSubarray(indices, { minLength: flagCount, maxLength: flagCount }),
      spaces: fc.array(space, { minLength: 40, maxLength: 40 }),
      prefix: fc.boolean(),
      upperWords: fc.boolean(),
      edges: fc.tuple(fc.constantFrom('', ' ', '\u00a0\t'), fc.constantFrom('', ' ', '\n')),
    })
    .map((g) => {
      const flagValues: FlagValue[] = [...g.flags];
      // A switch that requires another flag is only valid with it: without, generate it off.
      definition.flags.forEach((flag, i) => {
        if (flag.type === 'switch' && flag.requires !== undefined && flagValues[i] === true) {
          const required = definition.flags.findIndex((f) => f.key === flag.requires);
          if (flagValues[required] === undefined) flagValues[i] = false;
        }
      });
      const slots: string[][] = definition.positionals.map(() => []);
      const trailing: string[] = [];
      const values: Record<string, unknown> = {};
      for (const index of g.order) {
        const flag = definition.flags[index];
        const style = g.styles[index];
        const value = flagValues[index];
        if (flag === undefined || style === undefined || value === undefined || value === false) continue;
        const text = flagText(flag, value, style, g.spaces[index] ?? ' ');
        values[flag.key] = typeof value === 'object' ? value.expected : value;
        const slot = style.slot % (definition.positionals.length + 1);
        (slots[slot] ?? trailing).push(text);
      }
      const parts: string[] = [];
      definition.positionals.forEach((p, i) => {
        parts.push(...(slots[i] ?? []));
        const value = g.positionals[i];
        if (value === undefined) return;
        parts.push(typed(value.raw, g.positionalQuotes[i] ?? 'none'));
        values[p.key] = value.expected;
      });
      parts.push(...trailing);
      const words = definition.words.map((w) => (g.upperWords ? w.toUpperCase() : w));
      const all = [...(g.prefix ? ['/crdb'] : []), ...words, ...parts];
      const joined = all.map((part, i) => (i === 0 ? part : `${g.spaces[(i + 13) % g.spaces.length] ?? ' '}${part}`)).join('');
      return { text: slackEscape(`${g.edges[0]}${joined}${g.edges[1]}`), name: definition.name, values };
    });
}

function flagText(flag: FlagSpec, value: Exclude<FlagValue, undefined | false>, style: FlagStyle, gap: string): string {
  const name = flag.type === 'choice' && typeof value === 'string' ? value : flag.key;
  const spelled = `${style.dash}${style.upper ? name.toUpperCase() : name}`;
  if (typeof value !== 'object') return spelled;
  const shown = typed(value.raw, style.quote);
  return style.inline ? `${spelled}=${shown}` : `${spelled}${gap}${shown}`;
}

/** The oracle: what each command should look like, written out independently of the definitions' `build`. */
function expectedCommand(name: string, v: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const access = v.access ?? 'sql';
  const breakGlass = v['break-glass'] === true;
  const byName: Record<string, Record<string, unknown>> = {
    help: { topic: v.topic },
    clusters: {},
    allow: { network: v.network, access: { sql: access !== 'ui', ui: access !== 'sql' }, forMs: v.for, label: v.name, cluster: v.cluster, reason: v.reason, breakGlass },
    'allow me': { access: { sql: access !== 'ui', ui: access !== 'sql' }, forMs: v.for, cluster: v.cluster, reason: v.reason },
    allowlist: { cluster: v.cluster },
    check: { ip: v.ip, cluster: v.cluster },
    revoke: { cidr: v.cidr, cluster: v.cluster, reason: v.reason, breakGlass },
    'user create': { user: v.user, database: v.database, forMs: v.for, cluster: v.cluster, reason: v.reason, breakGlass },
    'user rotate': { user: v.user, cluster: v.cluster },
    extend: { cidr: v.cidr, forMs: v.for, cluster: v.cluster, reason: v.reason },
    'user extend': { user: v.user, forMs: v.for, cluster: v.cluster, reason: v.reason },
    'user delete': { user: v.user, cluster: v.cluster, reason: v.reason, breakGlass },
    users: { cluster: v.cluster },
    connect: { user: v.user, database: v.database, region: v.region, format: v.format, cluster: v.cluster },
    requests: {},
    audit: { cluster: v.cluster },
  };
  const fields = byName[name] ?? { unexpected: true };
  return Object.fromEntries(Object.entries({ name, ...fields }).filter(([, value]) => value !== undefined));
}

describe('parseCommand over valid commands generated from the definitions', () => {
  it('covers every defined command', () => {
    expect(COMMAND_DEFINITIONS.map((d) => expectedCommand(d.name, {}).unexpected)).toEqual(COMMAND_DEFINITIONS.map(() => undefined));
  });

  it('parses every flag order, spelling, quoting and spacing to the command described', () => {
    const anyValid = fc.constantFrom(...COMMAND_DEFINITIONS).chain(validCase);
    assertProperty(anyValid, ({ text, name, values }) => {
      const result = parseCommand(text);
      if (!result.ok) return `${JSON.stringify(text)} was refused: ${result.reason}`;
      const expected = expectedCommand(name, values);
      if (!isDeepStrictEqual(result.command, expected)) return `${JSON.stringify(text)} parsed to ${JSON.stringify(result.command)}, expected ${JSON.stringify(expected)}`;
      const network = values.network as ReturnType<typeof parseIpv4Network> | undefined;
      const noted = result.notes.some((note) => note.includes('has host bits set'));
      if (network !== undefined && noted !== (network.normalisedFrom !== undefined)) return `host-bits note wrong for ${JSON.stringify(text)}`;
      return undefined;
    });
  });
});
