/**
 * The Home tab ("My access") and the expiry reminder DM as Block Kit, and the buttons on them.
 *
 * A button here is a shortcut for a command its clicker could type: its value names what it acts
 * on (cluster and network, user or request) and nothing else, and the click runs as the clicker
 * through the same intake, policy and approvals as the typed command. A forged value therefore
 * does no more than its sender could type; it is still parsed strictly (a configured cluster, a
 * canonical CIDR, a valid user name, a request id), and refused in one line otherwise.
 */
import { type Button, type ConfirmationDialog, type KnownBlock } from '@slack/types';
import { parseIpv4Network } from '../cluster-admin/network';
import { validateUserName } from '../cluster-admin/sql-names';
import { formatDuration } from '../config';
import { type AccessOverview } from '../requests/home';
import { type ExpiryReminder } from '../requests/notifier';
import { type ChatRequest, type ExtendSubject, type ManagedEntry, type ManagedUser } from '../requests/types';
import { accessWords, cardState, context, section, summary, type Message, when } from './blocks';
import { inlineCode, quoteLabel } from './text';

export const ACTION_HOME_REVOKE = 'home-revoke';
export const ACTION_HOME_EXTEND = 'home-extend';
export const ACTION_HOME_ROTATE = 'home-rotate';
export const ACTION_HOME_RESEND = 'home-resend';
export const ACTION_HOME_CANCEL = 'home-cancel';
export const ACTION_REMINDER_EXTEND = 'reminder-extend';
export const ACTION_REMINDER_LET_EXPIRE = 'reminder-let-expire';

/** Every Home tab action id: one listener takes them all. */
export const HOME_ACTION_IDS: readonly string[] = [ACTION_HOME_REVOKE, ACTION_HOME_EXTEND, ACTION_HOME_ROTATE, ACTION_HOME_RESEND, ACTION_HOME_CANCEL];

/** What a Home or reminder button asks for, once its value is checked. */
export type Shortcut =
  | { readonly kind: 'revoke'; readonly cluster: string; readonly cidr: string }
  | { readonly kind: 'extend'; readonly cluster: string; readonly subject: ExtendSubject }
  | { readonly kind: 'rotate'; readonly cluster: string; readonly user: string }
  | { readonly kind: 'resend'; readonly cluster: string; readonly user: string }
  | { readonly kind: 'cancel'; readonly requestId: string }
  | { readonly kind: 'let-expire'; readonly cluster: string; readonly subject: ExtendSubject; readonly expiresAt: string };

const REQUEST_ID = /^[0-9A-Za-z_-]{10,40}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

/** A button value: the cluster and subject (`e`: a CIDR, `u`: a user), or a request (`r`); `x`: the expiry a reminder was for. */
interface ButtonValue {
  readonly c?: string;
  readonly e?: string;
  readonly u?: string;
  readonly r?: string;
  readonly x?: string;
}

function subjectValue(cluster: string, subject: ExtendSubject): ButtonValue {
  return subject.type === 'entry' ? { c: cluster, e: subject.cidr } : { c: cluster, u: subject.user };
}

/**
 * The shortcut a click asks for, or a one-line reason it is refused. `clusters`: the configured
 * aliases. Nothing in the value is trusted: every field is checked as a typed command's would be.
 */
export function decodeShortcut(actionId: string, value: string | undefined, clusters: readonly string[]): Shortcut | { readonly refused: string } {
  const refused = { refused: 'That button is not one the bot made; nothing was changed.' };
  let raw: unknown;
  try {
    raw = JSON.parse(value ?? '');
  } catch {
    return refused;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return refused;
  const v = raw as Record<string, unknown>;
  const keys = Object.keys(v);
  if (keys.some((k) => !['c', 'e', 'u', 'r', 'x'].includes(k)) || keys.some((k) => typeof v[k] !== 'string')) return refused;
  const { c, e, u, r, x } = v as ButtonValue;
  if (actionId === ACTION_HOME_CANCEL) return r !== undefined && REQUEST_ID.test(r) && keys.length === 1 ? { kind: 'cancel', requestId: r } : refused;
  if (c === undefined || !clusters.includes(c)) return refused;
  let subject: ExtendSubject | undefined;
  if (e !== undefined && u === undefined) {
    try {
      const network = parseIpv4Network(e);
      // Only the canonical form the bot writes: no host bits, no spaces, no second spelling.
      if (network.cidr === e) subject = { type: 'entry', cidr: network.cidr };
    } catch {
      return refused;
    }
  } else if (u !== undefined && e === undefined) {
    try {
      if (validateUserName(u) === u) subject = { type: 'user', user: u };
    } catch {
      return refused;
    }
  }
  if (subject === undefined) return refused;
  switch (actionId) {
    case ACTION_HOME_REVOKE:
      return subject.type === 'entry' ? { kind: 'revoke', cluster: c, cidr: subject.cidr } : refused;
    case ACTION_HOME_ROTATE:
      return subject.type === 'user' ? { kind: 'rotate', cluster: c, user: subject.user } : refused;
    case ACTION_HOME_RESEND:
      return subject.type === 'user' ? { kind: 'resend', cluster: c, user: subject.user } : refused;
    case ACTION_HOME_EXTEND:
    case ACTION_REMINDER_EXTEND:
      return { kind: 'extend', cluster: c, subject };
    case ACTION_REMINDER_LET_EXPIRE:
      return x !== undefined && ISO_TIME.test(x) ? { kind: 'let-expire', cluster: c, subject, expiresAt: x } : refused;
    default:
      return refused;
  }
}

function button(actionId: string, text: string, value: ButtonValue, extra: Pick<Button, 'style' | 'confirm'> = {}): Button {
  return { type: 'button', action_id: actionId, text: { type: 'plain_text', text }, value: JSON.stringify(value), ...extra };
}

function confirm(title: string, text: string, yes: string): { confirm: ConfirmationDialog } {
  return { confirm: { title: { type: 'plain_text', text: title }, text: { type: 'mrkdwn', text }, confirm: { type: 'plain_text', text: yes }, deny: { type: 'plain_text', text: 'Back' }, style: 'danger' } };
}

/** At most this many rows per list; Slack's limit of a Home tab is 100 blocks (`MAX_BLOCKS`). */
const MAX_ROWS = 12;
const MAX_BLOCKS = 100;

function capped<T>(rows: readonly T[], more: (n: number) => string, render: (row: T) => KnownBlock[]): KnownBlock[] {
  const shown = rows.slice(0, MAX_ROWS).flatMap(render);
  return rows.length > MAX_ROWS ? [...shown, context(more(rows.length - MAX_ROWS))] : shown;
}

export interface HomeViewOptions {
  readonly command: string;
  /** What Extend asks for on a cluster. */
  readonly extendBy: (cluster: string) => number;
  readonly approversChannel: (cluster: string) => string | undefined;
}

/** The Home tab of `overview.user`. */
export function homeView(overview: AccessOverview, notice: string | undefined, o: HomeViewOptions): { type: 'home'; blocks: KnownBlock[] } {
  const blocks: KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: 'My access' } }];
  if (notice !== undefined) blocks.push(section(`:speech_balloon: ${notice}`), { type: 'divider' });
  if (overview.holdings.length === 0) {
    blocks.push(section(`You hold no allowlist entry or SQL user the bot made. Try \`${o.command} allow me\` or \`${o.command} user create <name>\`.`));
  }
  for (const holding of overview.holdings) {
    const { cluster } = holding;
    const by = formatDuration(o.extendBy(cluster));
    blocks.push(section(`*Cluster \`${cluster}\`*`));
    blocks.push(
      ...capped(holding.entries, (n) => `…and ${n} more entries: \`${o.command} allowlist --cluster ${cluster}\``, (entry) => entryRows(entry, by)),
      ...capped(holding.users, (n) => `…and ${n} more users: \`${o.command} users --cluster ${cluster}\``, (user) => userRows(user, by)),
    );
  }
  blocks.push({ type: 'divider' }, section(`*Your requests* (${overview.mine.length})`));
  blocks.push(...(overview.mine.length === 0 ? [context('Nothing waiting.')] : capped(overview.mine, (n) => `…and ${n} more: \`${o.command} requests\``, (r) => [ownRequestRow(r)])));
  if (overview.toDecide.length > 0) {
    blocks.push(section(`*Waiting for your approval* (${overview.toDecide.length})`));
    blocks.push(
      ...capped(overview.toDecide, (n) => `…and ${n} more: \`${o.command} requests\``, (r) => {
        const where = o.approversChannel(r.cluster);
        return [section(`${summary(r)} on \`${r.cluster}\` for <@${r.requester}>${where ? ` — decide on its card in <#${where}>` : ''}`)];
      }),
    );
  }
  const footer = context(`Updated ${when(overview.at)}. Every command: \`${o.command} help\`.`);
  if (blocks.length + 1 <= MAX_BLOCKS) return { type: 'home', blocks: [...blocks, footer] };
  // Many clusters, each with much: what fits, and where the rest is.
  const full = context(`There is more than a Home tab holds: \`${o.command} allowlist\`, \`${o.command} users\` and \`${o.command} requests\` list everything.`);
  return { type: 'home', blocks: [...blocks.slice(0, MAX_BLOCKS - 2), full, footer] };
}

function entryRows(entry: ManagedEntry, by: string): KnownBlock[] {
  const subject = { type: 'entry' as const, cidr: entry.cidr };
  const value = subjectValue(entry.cluster, subject);
  const line = `${inlineCode(entry.cidr)} · ${accessWords(entry)}${entry.label ? ` · ${quoteLabel(entry.label)}` : ''} · ${entry.expiresAt ? `expires ${when(entry.expiresAt)}` : 'permanent'}`;
  return [
    section(`:globe_with_meridians: ${line}`),
    {
      type: 'actions',
      block_id: `entry-${entry.cluster}-${entry.cidr}`.slice(0, 255),
      elements: [
        ...(entry.expiresAt ? [button(ACTION_HOME_EXTEND, `Extend ${by}`, value)] : []),
        button(ACTION_HOME_REVOKE, 'Revoke', value, { style: 'danger', ...confirm('Revoke this entry?', `${inlineCode(entry.cidr)} leaves the allowlist of \`${entry.cluster}\`: nothing connects from it any more.`, 'Revoke') }),
      ],
    },
  ];
}

function userRows(user: ManagedUser, by: string): KnownBlock[] {
  const value = subjectValue(user.cluster, { type: 'user', user: user.user });
  const line = `SQL user ${inlineCode(user.user)} · database ${inlineCode(user.database)} · ${user.expiresAt ? `expires ${when(user.expiresAt)}` : 'permanent'}`;
  return [
    section(`:bust_in_silhouette: ${line}`),
    {
      type: 'actions',
      block_id: `user-${user.cluster}-${user.user}`.slice(0, 255),
      elements: [
        button(ACTION_HOME_RESEND, 'Re-send connection details', value),
        button(ACTION_HOME_ROTATE, 'Rotate password', value, confirm('Rotate the password?', `${inlineCode(user.user)} on \`${user.cluster}\` gets a new password, sent to your DMs; the old one stops working at once.`, 'Rotate')),
        ...(user.expiresAt ? [button(ACTION_HOME_EXTEND, `Extend ${by}`, value)] : []),
      ],
    },
  ];
}

function ownRequestRow(request: ChatRequest): KnownBlock {
  const state = request.status === 'pending' ? `waiting for approval (${request.approvals.length} of ${request.quorum})` : request.step === 'propagating' ? 'waiting for the allowlist to propagate' : `${request.status}; the bot drives it on by itself`;
  const text = `${summary(request)} on \`${request.cluster}\` — ${state}\n_Request ${inlineCode(request.id)}_`;
  if (request.status !== 'pending') return section(text);
  return {
    type: 'section',
    text: { type: 'mrkdwn', text },
    accessory: button(ACTION_HOME_CANCEL, 'Cancel request', { r: request.id }, confirm('Cancel this request?', `${summary(request)} on \`${request.cluster}\` will not be applied; its approvers' card says so.`, 'Cancel request')),
  };
}

/** What a reminder is about, for people: "`203.0.113.7/32`" or "SQL user `maxroach`". */
function subjectText(subject: ExtendSubject): string {
  return subject.type === 'entry' ? `your allowlist entry ${inlineCode(subject.cidr)}` : `your SQL user ${inlineCode(subject.user)}`;
}

/** The DM a holder gets before a temporary entry or user expires. */
export function reminderMessage(reminder: ExpiryReminder): Message {
  const value = subjectValue(reminder.cluster, reminder.subject);
  const by = formatDuration(reminder.extendByMs);
  const text = `${subjectText(reminder.subject)} on \`${reminder.cluster}\` expires ${when(reminder.expiresAt)}.`;
  return {
    text: `Expires soon: ${text}`,
    blocks: [
      section(`:alarm_clock: ${text.charAt(0).toUpperCase()}${text.slice(1)}`),
      {
        type: 'actions',
        block_id: 'reminder',
        elements: [
          button(ACTION_REMINDER_EXTEND, `Extend by ${by}`, value, { style: 'primary' }),
          button(ACTION_REMINDER_LET_EXPIRE, 'Let it expire', { ...value, x: reminder.expiresAt }),
        ],
      },
      context(`Extend keeps it for ${by} from when you click, through the cluster's policy (and its approvers, where the policy says so).`),
    ],
  };
}

/** What a reminder says once its holder chose. */
export function reminderAnswered(text: string): Message {
  // `text` is the bot's own answer (mrkdwn it built, with what people typed escaped already).
  return { text, blocks: [section(text)] };
}

/** What "Let it expire" leaves in place of the reminder's buttons. */
export function letExpireText(shortcut: Extract<Shortcut, { kind: 'let-expire' }>): string {
  return `OK: ${subjectText(shortcut.subject)} on \`${shortcut.cluster}\` expires ${when(shortcut.expiresAt)}, as planned.`;
}

/** A Home tab's notice when a request of its person's moved: what, where, and how it stands. */
export function requestMovedLine(request: ChatRequest): string {
  const state = request.status === 'applied' && request.quorum === 0 ? 'Applied' : cardState(request);
  return `${state}: your request to ${summary(request)} on \`${request.cluster}\` (request ${inlineCode(request.id)}).`;
}
