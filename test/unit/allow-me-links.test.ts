/** The `allow me` link token and the address a page request is credited to. */
import { LinkKey } from '../../lib/links/token';
import { sourceAddress } from '../../lib/links/source-address';

describe('LinkKey', () => {
  const key = new LinkKey('a-signing-secret');

  it('verifies what it issued, and nothing changed in any character', () => {
    const { id, token } = key.issue();
    expect(key.verify(token)).toBe(id);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < token.length; i++) {
      if (token[i] === '.') continue;
      const other = alphabet[(alphabet.indexOf(token[i] ?? 'A') + 1) % alphabet.length] ?? 'A';
      expect(key.verify(`${token.slice(0, i)}${other}${token.slice(i + 1)}`)).toBeUndefined();
    }
    expect(key.verify(`${token}=`)).toBeUndefined();
    expect(key.verify(token.split('.')[0] ?? '')).toBeUndefined();
  });

  it("refuses another key's token (another bot, or a rotated signing secret)", () => {
    expect(key.verify(new LinkKey('another-secret').issue().token)).toBeUndefined();
  });

  it('binds the form token to the link and the address', () => {
    const { id } = key.issue();
    const form = key.formToken(id, '203.0.113.7');
    expect(key.checkFormToken(id, '203.0.113.7', form)).toBe(true);
    expect(key.checkFormToken(id, '203.0.113.8', form)).toBe(false);
    expect(key.checkFormToken(key.issue().id, '203.0.113.7', form)).toBe(false);
    expect(key.checkFormToken(id, '203.0.113.7', '')).toBe(false);
  });
});

describe('sourceAddress', () => {
  it("is the connection's own address when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(sourceAddress('198.51.100.7', '203.0.113.66', [])).toEqual({ ok: true, address: '198.51.100.7', family: 'ipv4' });
    expect(sourceAddress('2001:db8::1', undefined, [])).toEqual({ ok: true, address: '2001:db8::1', family: 'ipv6' });
    expect(sourceAddress('::ffff:198.51.100.7', undefined, [])).toEqual({ ok: true, address: '198.51.100.7', family: 'ipv4' });
  });

  it('behind trusted proxies: the last address none of them added', () => {
    const proxies = ['10.0.0.0/8', '2001:db8:ffff::/48'];
    expect(sourceAddress('10.1.2.3', '203.0.113.5', proxies)).toMatchObject({ address: '203.0.113.5' });
    // A client that sends its own X-Forwarded-For cannot choose the address: only the right-most untrusted hop counts.
    expect(sourceAddress('10.1.2.3', '192.0.2.1, 203.0.113.5, 10.9.9.9', proxies)).toMatchObject({ address: '203.0.113.5' });
    expect(sourceAddress('10.1.2.3', 'not-an-ip, 203.0.113.5', proxies)).toMatchObject({ address: '203.0.113.5' });
    expect(sourceAddress('10.1.2.3', '203.0.113.5, garbage', proxies)).toEqual({ ok: false });
    expect(sourceAddress('10.1.2.3', undefined, proxies)).toEqual({ ok: false });
    expect(sourceAddress('10.1.2.3', '10.4.4.4', proxies)).toEqual({ ok: false });
  });

  it('refuses what is not an address', () => {
    expect(sourceAddress('', undefined, [])).toEqual({ ok: false });
    expect(sourceAddress('localhost', undefined, [])).toEqual({ ok: false });
  });
});
