/**
 * Passwords for the SQL users the bot creates.
 *
 * base64url of CSPRNG bytes: every character carries exactly 6 random bits, so there is no modulo
 * bias (nothing is reduced `% alphabet.length`), and the alphabet (A-Z a-z 0-9 - _) needs no
 * escaping in connection URLs, JDBC strings or shell single quotes.
 */
import { randomBytes } from 'node:crypto';

/** Shortest password `generatePassword` makes: 32 characters, 192 bits of entropy. */
export const MIN_PASSWORD_LENGTH = 32;
/** Longest: far above any use, it only guards against a typo turning into a huge allocation. */
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * A random password of `length` characters from the base64url alphabet.
 * @throws RangeError when `length` is not an integer from 32 to 1024.
 */
export function generatePassword(length = MIN_PASSWORD_LENGTH): string {
  if (!Number.isInteger(length) || length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) {
    throw new RangeError(`Password length must be an integer from ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH}.`);
  }
  // ceil(length * 6 / 8) bytes cover the first `length` characters entirely with random bits;
  // only a character past them could hold padding bits, and it is cut off.
  const bytes = randomBytes(Math.ceil((length * 3) / 4));
  return bytes.toString('base64url').slice(0, length);
}
