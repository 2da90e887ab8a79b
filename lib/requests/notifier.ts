/**
 * How the request layer talks to people, without knowing it is Slack. `SlackNotifier`
 * (lib/slack) renders these views as Block Kit and chooses response_url or DM.
 */
import { type ConnectionDetails, type OpaqueRule } from '../cluster-admin/types';
import { type Prose } from '../prose';
import { type AccessOverview, type HomeNotice } from './home';
import { type ChatRequest, type DmReceipt, type ExtendSubject, type ManagedEntry, type ManagedUser } from './types';

export type Tone = 'info' | 'success' | 'warning' | 'error';

/** What happened to a request, for its requester. */
export type RequesterUpdate =
  | { readonly kind: 'progress'; readonly text: Prose }
  | { readonly kind: 'applied'; readonly text: Prose; readonly notes?: readonly Prose[] }
  | { readonly kind: 'failed'; readonly text: Prose }
  | { readonly kind: 'approved'; readonly by: string }
  | { readonly kind: 'denied'; readonly by: string; readonly reason?: string }
  | { readonly kind: 'expired' }
  /** Admission refused it; nothing was changed. `example`: a command that would be accepted (without the command name). */
  | { readonly kind: 'refused'; readonly reason: Prose; readonly example?: string };

export interface AllowlistRow {
  readonly cidr: string;
  readonly sql: boolean;
  readonly ui: boolean;
  readonly name?: string;
  /** Present when the bot applied it. */
  readonly managed?: ManagedEntry;
}

/** A reply to a command that needed the cluster. */
export type View =
  | { readonly kind: 'text'; readonly text: Prose; readonly tone?: Tone }
  | { readonly kind: 'allowlist'; readonly cluster: string; readonly rows: readonly AllowlistRow[]; readonly propagating: boolean; readonly cap: number; readonly mayAdmit?: readonly OpaqueRule[] }
  /** `mayAdmit`: rules the backend cannot judge (self-hosted HBA lines), shown as "may admit this address". */
  | { readonly kind: 'check'; readonly cluster: string; readonly ip: string; readonly covering: readonly AllowlistRow[]; readonly mayAdmit?: readonly OpaqueRule[] }
  | { readonly kind: 'users'; readonly cluster: string; readonly users: readonly { readonly name: string; readonly managed?: ManagedUser }[] };

export interface ReplyTarget {
  readonly user: string;
  /** Slack's response_url, when the reply answers a command typed within the last 30 minutes. */
  readonly responseUrl?: string;
}

export interface ConnectionDelivery {
  /** Slack user id of the recipient (the user's owner). */
  readonly recipient: string;
  readonly cluster: string;
  readonly details: ConnectionDetails;
  readonly secretName: string;
  /** Only in `dm` delivery mode; absent in `secret-reference` mode. */
  readonly password?: string;
  readonly why: 'created' | 'rotated' | 'requested';
  readonly notes: readonly Prose[];
  /** Put this format first. */
  readonly format?: string;
}

/** A temporary entry or user that expires soon, for its holder. */
export interface ExpiryReminder {
  readonly holder: string;
  readonly cluster: string;
  readonly subject: ExtendSubject;
  readonly expiresAt: string;
  /** What "Extend" asks for: this long from the click (policy-bound, like `extend`). */
  readonly extendByMs: number;
}

export interface Notifier {
  /** Publishes a person's Home tab ("My access"); `notice` is the answer to what they just did. */
  publishHome(overview: AccessOverview, notice?: HomeNotice): Promise<void>;
  /** DMs the holder of a temporary entry or user that it expires soon, with Extend and Let it expire. */
  remindExpiry(reminder: ExpiryReminder): Promise<void>;
  tellRequester(request: ChatRequest, update: RequesterUpdate): Promise<void>;
  /** Posts the approvers' card, or updates it in place when `request.card` is set. */
  showApprovalCard(request: ChatRequest): Promise<{ readonly channel: string; readonly ts: string } | undefined>;
  /** A line to the approvers' channel (e.g. a break-glass change). */
  notifyApprovers(request: ChatRequest, text: Prose): Promise<void>;
  /** DMs connection details; a receipt when the DM carries a password (deleted after the TTL). */
  /**
   * DMs the connection details. A DM that carries a password is recorded before the password is
   * in it: an empty message is posted, `record` is given its receipt (the caller writes it, so the
   * sweep deletes the DM after its TTL), and only then is the message filled in. A crash at any
   * point leaves no password DM unrecorded. Returns the receipt (undefined when no password).
   */
  deliverConnection(delivery: ConnectionDelivery, options: { record(receipt: DmReceipt): Promise<void> }): Promise<DmReceipt | undefined>;
  reply(target: ReplyTarget, view: View): Promise<void>;
  deleteMessage(channel: string, ts: string): Promise<void>;
}
