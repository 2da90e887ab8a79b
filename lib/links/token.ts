/**
 * The token of an `allow me` link: a random id and its HMAC, nothing else. The id names a link
 * record (who asked, for which cluster, with which options); the MAC lets the endpoint refuse a
 * changed or foreign link before reading anything. The link carries no secret beyond itself: it
 * grants one confirmation of what its record says, once, for 10 minutes.
 *
 * The MAC key is derived (HKDF-SHA256) from the Slack signing secret the bot already keeps in the
 * secret store, for this one purpose: no new secret to provision, and rotating the signing secret
 * voids every open link.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

const ID_BYTES = 16;
const MAC_BYTES = 16;
const TOKEN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})$/;

export class LinkKey {
  private readonly key: Buffer;

  constructor(signingSecret: string) {
    if (signingSecret === '') throw new Error('allow-me links need the Slack signing secret to derive their key');
    this.key = Buffer.from(hkdfSync('sha256', signingSecret, Buffer.alloc(0), 'crdb-chatops allow-me link v1', 32));
  }

  /** A new link token: `<id>.<mac>`, both base64url. */
  issue(): { id: string; token: string } {
    const id = randomBytes(ID_BYTES).toString('base64url');
    return { id, token: `${id}.${this.mac('link', id)}` };
  }

  /** The id of a token this key issued; undefined for anything else (changed, foreign, malformed). */
  verify(token: string): string | undefined {
    const match = TOKEN.exec(token);
    if (match === null) return undefined;
    const [, id = '', mac = ''] = match;
    return equal(mac, this.mac('link', id)) ? id : undefined;
  }

  /**
   * The confirm form's CSRF field: binds the form to its link and to the address it showed, so a
   * POST confirms exactly what the page said, and nothing else can forge one.
   */
  formToken(id: string, address: string): string {
    return this.mac('form', `${id}|${address}`);
  }

  checkFormToken(id: string, address: string, presented: string): boolean {
    return equal(presented, this.formToken(id, address));
  }

  private mac(purpose: string, value: string): string {
    return createHmac('sha256', this.key).update(`${purpose}:${value}`).digest().subarray(0, MAC_BYTES).toString('base64url');
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
