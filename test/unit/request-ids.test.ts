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
