/**
 * Properties of the input validators over arbitrary text: every input gets either a valid result
 * or the standard refusal (InvalidInputError, one line, at most 200 characters, an example that
 * itself validates), never any other exception.
 *
 * Checks inside the properties are plain comparisons returning a problem description: 20,000
 * runs of jest `expect` matchers would cost seconds, the validators themselves milliseconds.
 */
import fc from 'fast-check';
import { InvalidInputError } from '../../lib/cluster-admin/errors';
import { parseCidr, parseIpv4Network } from '../../lib/cluster-admin/network';
import { suggestUserName, validateUserName } from '../../lib/cluster-admin/sql-names';

const RUNS = 20_000;
/** Any character a chat client could render as a line break. */
const LINE_BREAK = /[\n\r\v\f\u0085\u2028\u2029]/;

/** Runs the property; a check returns a description of what is wrong, or `undefined`. */
function assertProperty<T>(arbitrary: fc.Arbitrary<T>, check: (value: T) => string | undefined): void {
  fc.assert(
    fc.property(arbitrary, (value) => {
      const problem = check(value);
      if (problem !== undefined) throw new Error(problem);
    }),
    { numRuns: RUNS },
  );
}

/** Calls `fn`; a refusal must follow the contract, anything else thrown is a problem. */
function resultOrRefusal<T>(fn: () => T, validate: (example: string) => unknown): { value: T } | { problem?: string } {
  try {
    return { value: fn() };
  } catch (error) {
    if (!(error instanceof InvalidInputError)) return { problem: `threw ${String(error)}` };
    const { message, example } = error;
    if (LINE_BREAK.test(message)) return { problem: `message has a line break: ${JSON.stringify(message)}` };
    if (message.length > 200) return { problem: `message is ${message.length} characters long` };
    if (/\p{Cs}/u.test(message)) return { problem: `message has half a surrogate pair: ${JSON.stringify(message)}` };
    if (example === undefined) return { problem: `no example for ${JSON.stringify(message)}` };
    try {
      validate(example);
    } catch {
      return { problem: `example ${JSON.stringify(example)} does not validate` };
    }
    return {};
  }
}

// Fragments that make text look like an address: near misses are where parsers go wrong.
const ipFragment = fc.oneof(
  fc.constantFrom('.', '/', ':', '::', '0', '00', '01', '1', '25', '255', '256', '32', '33', '-1', ' ', '\n', '\t', 'x', '0x', 'ffff', '%', '١', '１', '\u2028', '`', '…'),
  fc.nat(999).map(String),
);
const ipIsh = fc.array(ipFragment, { maxLength: 14 }).map((parts) => parts.join(''));
const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.integer({ min: 0, max: 255 }).map((n) => `0${n}`));
const nearDottedQuad = fc
  .tuple(fc.array(octet, { minLength: 3, maxLength: 5 }), fc.option(fc.integer({ min: -2, max: 40 }).map(String)), fc.constantFrom('', ' ', '\n'))
  .map(([octets, prefix, pad]) => `${pad}${octets.join('.')}${prefix === null ? '' : `/${prefix}`}${pad}`);
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 }));

const nameFragment = fc.constantFrom('a', 'z', 'Z', '_', '-', '.', '0', '9', ' ', 'é', '"', "'", ';', '\n', '😀', '\u2028', 'pg_', 'crdb_internal', 'root', 'admin', 'public');
const nameIsh = fc.array(nameFragment, { maxLength: 70 }).map((parts) => parts.join(''));

function networkProblem(input: string): string | undefined {
  const outcome = resultOrRefusal(
    () => parseIpv4Network(input),
    (example) => parseIpv4Network(example),
  );
  if (!('value' in outcome)) return outcome.problem;
  const parsed = outcome.value;
  if (!/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/.test(parsed.cidr)) return `not a CIDR: ${parsed.cidr}`;
  if (parseIpv4Network(parsed.cidr).cidr !== parsed.cidr) return `normalisation of ${parsed.cidr} is not idempotent`;
  if (parseCidr(parsed.cidr).normalisedFrom !== undefined) return `${parsed.cidr} still has host bits`;
  if (parsed.size !== 2 ** (32 - parsed.prefixLength)) return `wrong size for ${parsed.cidr}`;
  return undefined;
}

function userNameProblem(input: string): string | undefined {
  const outcome = resultOrRefusal(
    () => validateUserName(input),
    (example) => validateUserName(example),
  );
  if (!('value' in outcome)) return outcome.problem;
  if (outcome.value !== input.trim()) return `returned ${JSON.stringify(outcome.value)} for ${JSON.stringify(input)}`;
  return undefined;
}

describe('parseIpv4Network over arbitrary text', () => {
  it.each([
    ['any Unicode text', anyText],
    ['text built from address fragments', ipIsh],
    ['near-miss dotted quads', nearDottedQuad],
  ])('returns an idempotently normalised network or the standard refusal (%s)', (_what, arbitrary) => {
    assertProperty(arbitrary, networkProblem);
  });

  it('normalises every valid dotted quad and prefix idempotently, noting host bits', () => {
    const valid = fc
      .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
      .map(([octets, prefix]) => `${octets.join('.')}/${prefix}`);
    assertProperty(valid, (input) => {
      const parsed = parseIpv4Network(input);
      const again = parseIpv4Network(parsed.cidr);
      if (again.cidr !== parsed.cidr || again.normalisedFrom !== undefined) return `re-parsing ${parsed.cidr} changed it`;
      // Canonical input (no leading zeros here) differs from its CIDR exactly when host bits were set.
      if ((parsed.normalisedFrom === undefined) !== (parsed.cidr === input)) return `normalisedFrom wrong for ${input}`;
      return undefined;
    });
  });
});

describe('validateUserName over arbitrary text', () => {
  it.each([
    ['any Unicode text', anyText],
    ['text built from name fragments', nameIsh],
  ])('returns the trimmed name or the standard refusal (%s)', (_what, arbitrary) => {
    assertProperty(arbitrary, userNameProblem);
  });

  it('suggests a name that validates for any input', () => {
    assertProperty(fc.oneof(anyText, nameIsh), (input) => {
      const suggestion = suggestUserName(input);
      try {
        validateUserName(suggestion);
        return undefined;
      } catch {
        return `suggestion ${JSON.stringify(suggestion)} for ${JSON.stringify(input)} does not validate`;
      }
    });
  });
});
