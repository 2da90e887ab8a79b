/**
 * An `allow me` link's record: what the person asked for in Slack, kept server-side so the link
 * itself carries nothing but its id (and its MAC, see token.ts).
 */

/** Links work this long after `/crdb allow me`. */
export const LINK_TTL_MS = 10 * 60_000;

export interface AllowMeLink {
  readonly id: string;
  /** Slack user id of who asked; the request is theirs. */
  readonly user: string;
  readonly cluster: string;
  /** For the page: what the entry opens, how long, why. */
  readonly access: { readonly sql: boolean; readonly ui: boolean };
  readonly forMs?: number;
  readonly reason?: string;
  /** Where the command was typed, and its response_url (never put in the link). */
  readonly channel?: string;
  readonly responseUrl?: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  /** Set once, when the link is confirmed. */
  readonly usedAt?: string;
  readonly usedFrom?: string;
  /** The request the confirmation made. */
  readonly requestId?: string;
}

export type UseLinkResult = { readonly ok: true; readonly link: AllowMeLink } | { readonly ok: false; readonly link: AllowMeLink | undefined };

export interface LinkStore {
  /** Records a new link (its id is fresh; a clash is an error). */
  putLink(link: AllowMeLink): Promise<void>;
  getLink(id: string): Promise<AllowMeLink | undefined>;
  /**
   * Marks the link used from `address`, once: only while unused and unexpired at `at`. Refused
   * otherwise, with the link as it is (undefined when there is none).
   */
  useLink(id: string, use: { readonly address: string; readonly at: Date }): Promise<UseLinkResult>;
  /** Notes the request a confirmation made. */
  setLinkRequest(id: string, requestId: string): Promise<void>;
}
