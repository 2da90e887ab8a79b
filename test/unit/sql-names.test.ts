import { InvalidInputError } from '../../lib/cluster-admin/errors';
import { quoteIdent, suggestUserName, validateObjectName, validateUserName } from '../../lib/cluster-admin/sql-names';

/** Any character a chat client could render as a line break. */
const LINE_BREAK = /[\n\r\v\f\u0085\u2028\u2029]/;

/** Runs `fn`, expecting the standard refusal: InvalidInputError, one line, an example that `validate` accepts. */
function expectRefused(fn: () => unknown, validate: (example: string) => unknown = validateUserName): InvalidInputError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidInputError);
  const error = caught as InvalidInputError;
  expect(error.message).not.toMatch(LINE_BREAK);
  expect(error.message.length).toBeLessThanOrEqual(200);
  expect(error.example).toEqual(expect.any(String));
  expect(() => validate(error.example ?? '')).not.toThrow();
  return error;
}

describe('validateUserName', () => {
  it.each(['maxroach', '_svc', 'app.reader-1', 'a', 'a'.repeat(63), 'pgx', 'rooted', 'crdb_app'])('accepts %s', (name) => {
    expect(validateUserName(name)).toBe(name);
  });

  it('trims surrounding whitespace', () => {
    expect(validateUserName('  maxroach\n')).toBe('maxroach');
  });

  it('refuses uppercase and suggests the lowercased name', () => {
    expect(expectRefused(() => validateUserName('MaxRoach')).example).toBe('maxroach');
  });

  it('refuses a leading digit and suggests the name without it', () => {
    expect(expectRefused(() => validateUserName('1reader')).example).toBe('reader');
  });

  it('refuses spaces and suggests underscores', () => {
    expect(expectRefused(() => validateUserName('max roach')).example).toBe('max_roach');
  });

  it.each([
    ['a single quote', "max'roach"],
    ['a double quote', '"'],
    ['SQL injection', ';DROP TABLE users'],
    ['a quoted identifier', '"maxroach"'],
    ['a multibyte letter', 'josé'],
    ['an emoji', 'max😀'],
    ['a line break', 'max\nroach'],
    ['a Unicode line separator', 'max\u2028roach'],
    ['a right-to-left override', 'max\u202eroach'],
    ['a backtick', 'max`roach'],
    ['nothing', ''],
    ['only whitespace', ' \t '],
    ['only punctuation', '...---'],
  ])('refuses %s with a one-line reason and an example that validates', (_what, input) => {
    expectRefused(() => validateUserName(input));
  });

  it('refuses a 64-byte name and suggests one that fits', () => {
    const error = expectRefused(() => validateUserName('a'.repeat(64)));
    expect(error.message).toContain('63 bytes');
    expect(error.example).toBe('a'.repeat(63));
  });

  it('counts bytes, not characters: 32 two-byte letters are too long', () => {
    expect(expectRefused(() => validateUserName('é'.repeat(32))).message).toContain('63 bytes');
  });

  it.each(['root', 'admin', 'public', 'none', 'node'])('refuses the reserved name %s and suggests %s_app', (name) => {
    const error = expectRefused(() => validateUserName(name));
    expect(error.message).toContain('reserved');
    expect(error.example).toBe(`${name}_app`);
  });

  it.each([
    ['pg_x', 'x'],
    ['crdb_internal_x', '_x'],
    ['pg_', 'maxroach'],
    ['pg_root', 'maxroach'],
  ])('refuses the reserved prefix in %s and suggests %s', (name, example) => {
    const error = expectRefused(() => validateUserName(name));
    expect(error.message).toContain('reserved');
    expect(error.example).toBe(example);
  });

  // Regression: the 40-character cut could split a surrogate pair, leaving half an emoji in the message.
  it('never cuts a character in half when shortening the echoed name', () => {
    const error = expectRefused(() => validateUserName(`${'a'.repeat(39)}😀😀`));
    expect(error.message).not.toMatch(/\p{Cs}/u);
    expect(error.message).toContain('😀…');
  });
});

describe('validateObjectName', () => {
  it('accepts a database name, reserved names included', () => {
    expect(validateObjectName('defaultdb', 'database')).toBe('defaultdb');
    expect(validateObjectName('admin', 'role')).toBe('admin');
  });

  it.each<['database' | 'role', string]>([
    ['database', 'Bad Name'],
    ['role', 'x"; DROP ROLE admin; --'],
    ['database', 'a'.repeat(64)],
    ['role', ''],
  ])('refuses the %s name %j with a one-line reason and an example that validates', (what, input) => {
    expectRefused(
      () => validateObjectName(input, what),
      (example) => validateObjectName(example, what),
    );
  });
});

describe('suggestUserName', () => {
  it.each(['MaxRoach', '123', '', 'ROOT', 'pg_catalog', 'Ärger', '😀😀😀', 'a'.repeat(100)])('turns %j into a name that validates', (input) => {
    expect(() => validateUserName(suggestUserName(input))).not.toThrow();
  });
});

describe('quoteIdent', () => {
  it('wraps a name in double quotes', () => {
    expect(quoteIdent('maxroach')).toBe('"maxroach"');
  });

  it('doubles embedded double quotes', () => {
    expect(quoteIdent('a"b""c')).toBe('"a""b""""c"');
    expect(quoteIdent('"; DROP TABLE users; --')).toBe('"""; DROP TABLE users; --"');
  });
});
