import { randomBytes } from 'node:crypto';
import { isRequestId, newRequestId, REQUEST_ID_LENGTH, requestIdTime } from '../../lib/requests/ids';

describe('request ids', () => {
  it('are 26 characters safe in button values and entry names', () => {
    const ids = Array.from({ length: 1_000 }, () => newRequestId());

    expect(ids.every((id) => id.length === REQUEST_ID_LENGTH && /^[A-Za-z0-9_-]+$/.test(id) && isRequestId(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('encode the time first, so later ids sort after earlier ones', () => {
    const earlier = newRequestId({ now: Date.UTC(2025, 0, 1) });
    const later = newRequestId({ now: Date.UTC(2025, 0, 1) + 1 });

    expect(earlier < later).toBe(true);
    expect(requestIdTime(later)?.toISOString()).toBe('2025-01-01T00:00:00.001Z');
  });

  it('match the ULID encoding of a known timestamp and randomness', () => {
    // The ULID spec's example timestamp 1469918176385 encodes as 01ARYZ6S41.
    const id = newRequestId({ now: 1_469_918_176_385, random: () => new Uint8Array(10).fill(0xff) });

    expect(id).toBe('01ARYZ6S41ZZZZZZZZZZZZZZZZ');
  });

  it('encode the 80 random bits as 16 base32 digits, most significant first (as the ULID spec reads them)', () => {
    const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    // The spec's reading: the 10 bytes as one 80-bit number, in base 32.
    const reference = (bytes: Uint8Array): string => {
      let n = 0n;
      for (const b of bytes) n = (n << 8n) | BigInt(b);
      let out = '';
      for (let i = 0; i < 16; i++, n >>= 5n) out = (alphabet[Number(n & 31n)] ?? '?') + out;
      return out;
    };
    const samples = [new Uint8Array([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32]), new Uint8Array(10), ...Array.from({ length: 200 }, () => randomBytes(10))];
    for (const bytes of samples) expect(newRequestId({ now: 0, random: () => bytes }).slice(10)).toBe(reference(bytes));
  });

  it('refuse a time 48 bits cannot hold', () => {
    expect(() => newRequestId({ now: 2 ** 48 })).toThrow(RangeError);
    expect(() => newRequestId({ now: -1 })).toThrow(RangeError);
  });

  it('are told apart from other text', () => {
    expect(isRequestId('01ARYZ6S41ZZZZZZZZZZZZZZZZ')).toBe(true);
    expect(isRequestId('01ARYZ6S41ZZZZZZZZZZZZZZZ')).toBe(false);
    expect(isRequestId('81ARYZ6S41ZZZZZZZZZZZZZZZZ')).toBe(false);
    expect(isRequestId('01ARYZ6S41ZZZZZZZZZZZZZZZU')).toBe(false);
    expect(requestIdTime('not an id')).toBeUndefined();
  });
});
