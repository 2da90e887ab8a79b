import { generatePassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../../lib/secrets/password';

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

describe('generatePassword', () => {
  it('makes 32 url-safe characters by default', () => {
    const password = generatePassword();

    expect(password).toHaveLength(32);
    expect(password).toMatch(BASE64URL);
  });

  it('makes passwords of the asked length, including lengths that do not fill whole bytes', () => {
    for (const length of [32, 33, 34, 35, 40, 63, 64, 100, MAX_PASSWORD_LENGTH]) {
      const password = generatePassword(length);
      expect(password).toHaveLength(length);
      expect(password).toMatch(BASE64URL);
    }
  });

  it('never repeats a password across 10,000', () => {
    const passwords = Array.from({ length: 10_000 }, () => generatePassword());

    expect(new Set(passwords).size).toBe(passwords.length);
    expect(passwords.every((p) => p.length === 32 && BASE64URL.test(p))).toBe(true);
  });

  it('uses all 64 characters about evenly, at every position (no modulo bias)', () => {
    const samples = 4_000;
    const counts = new Map<string, number>();
    const lastCharacters = new Set<string>();
    for (let i = 0; i < samples; i++) {
      const password = generatePassword(33);
      for (const c of password) counts.set(c, (counts.get(c) ?? 0) + 1);
      lastCharacters.add(password.at(-1) ?? '');
    }

    // 132,000 characters: 2,062.5 expected per symbol, standard deviation about 45. Bounds at
    // +-15% are about 6.9 deviations out: a fair generator fails them less than once in a billion
    // runs, while a skew of a fifth (what `byte % 62` gives its first 8 symbols) fails every time.
    const expected = (samples * 33) / 64;
    expect([...counts.keys()].sort()).toEqual([...ALPHABET].sort());
    for (const count of counts.values()) {
      expect(count).toBeGreaterThan(expected * 0.85);
      expect(count).toBeLessThan(expected * 1.15);
    }
    // The 33rd character comes from a partly used byte; it must still range over the whole alphabet.
    expect(lastCharacters.size).toBe(64);
  });

  it('refuses lengths below 32, above the maximum, or not whole', () => {
    for (const length of [0, 16, MIN_PASSWORD_LENGTH - 1, MAX_PASSWORD_LENGTH + 1, 32.5, Number.NaN]) {
      expect(() => generatePassword(length)).toThrow(RangeError);
    }
  });
});
