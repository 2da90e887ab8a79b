/**
 * Block Kit views. Pure functions from domain objects to `{ text, blocks }`; `text` is the
 * notification/fallback line. Anything a person typed (reasons, labels) is escaped, so nobody can
 * smuggle `<!channel>` or a fake link into a card.
 */
import { type KnownBlock } from '@slack/types';
import { type ClusterReport } from '../audit/auditor';
import { describeFix, encodeFindingRef, type Finding, RULE_TITLES, type Severity } from '../audit/findings';
import { countBySeverity } from '../audit/rules';
import { type SweepAction } from '../audit/sweep';
import { allConnectionFormats, CONNECTION_FORMAT_IDS, connectionFormat, connectionParamsFor, type ConnectionFormat, type ConnectionFormatId } from '../cluster-admin/connection-formats';
import { formatDuration } from '../config';
import { describe as describeRequest } from '../requests/intake';
import { type AllowlistRow, type ConnectionDelivery, type RequesterUpdate, type View } from '../requests/notifier';
import { type ChatRequest, isWithdrawn } from '../requests/types';
import { type Prose } from '../prose';
import { escapeText, inlineCode, mrkdwn, quoteLabel, quoteReason } from './text';

export { escapeText, inlineCode, quoteLabel, quoteReason };

export interface Message {
  readonly text: string;
  readonly blocks: KnownBlock[];
}

export const ACTION_APPROVE = 'crdb_approve';
export const ACTION_DENY = 'crdb_deny';
export const VIEW_DENY = 'crdb_deny_reason';
export const ACTION_AUDIT_REMOVE = 'crdb_audit_remove';
export const ACTION_AUDIT_KEEP = 'crdb_audit_keep';
/** On a request that does not finish: drive it on now. */
export const ACTION_AUDIT_RETRY = 'crdb_audit_retry';

const SECTION_LIMIT = 2900;

export function section(text: string): KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: text.length > SECTION_LIMIT ? `${text.slice(0, SECTION_LIMIT)}…` : text } };
}

export function context(text: string): KnownBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text }] };
}

/** Splits lines into sections under Slack's 3,000-character limit. */
function sections(lines: readonly string[]): KnownBlock[] {
  const out: KnownBlock[] = [];
  let current = '';
  for (const line of lines) {
    if (current.length + line.length + 1 > SECTION_LIMIT && current !== '') {
      out.push(section(current));
      current = '';
    }
    current = current === '' ? line : `${current}\n${line}`;
  }
  if (current !== '') out.push(section(current));
  return out;
}

/** A long mrkdwn text as sections under Slack's per-block limit. */
export function markdownMessage(text: string): Message {
  return { text: text.split('\n')[0]?.slice(0, 200) ?? '', blocks: sections(text.split('\n')) };
}

export function textMessage(text: string, tone: 'info' | 'success' | 'warning' | 'error' = 'info'): Message {
  const icon = { info: ':information_source:', success: ':white_check_mark:', warning: ':warning:', error: ':no_entry:' }[tone];
  return { text, blocks: [section(`${icon} ${text}`)] };
}

/** A refusal: one line of reason and a corrected example. */
export function refusalMessage(reason: string, example?: string): Message {
  const text = example ? `${reason}\nTry: \`${example}\`` : reason;
  return { text, blocks: [section(`:no_entry: ${reason}`), ...(example ? [context(`Try: \`${escapeText(example)}\``)] : [])] };
}

/** What an allowlist entry opens, in words. */
export function accessWords({ sql, ui }: { readonly sql: boolean; readonly ui: boolean }): string {
  return sql && ui ? 'SQL + DB Console' : ui ? 'DB Console' : 'SQL';
}

/** A time as Slack shows it in the reader's time zone, with UTC as the fallback text. */
export function when(iso: string): string {
  const seconds = Math.floor(Date.parse(iso) / 1000);
  return `<!date^${seconds}^{date_short_pretty} {time}|${iso.slice(0, 16).replace('T', ' ')} UTC>`;
}


/** What a request does, for people: "allow `203.0.113.7/32` (SQL) for 8h". */
export function summary(request: Pick<ChatRequest, 'params' | 'cluster'>): string {
  const p = request.params;
  switch (p.kind) {
    case 'allow': {
      const access = accessWords(p.allow);
      return `allow ${inlineCode(p.allow.cidr)} (${access})${p.allow.forMs ? ` for ${formatDuration(p.allow.forMs)}` : ''}${p.allow.label ? ` ${quoteLabel(p.allow.label)}` : ''}`;
    }
    case 'revoke':
      return `revoke ${inlineCode(p.revoke.cidr)}`;
    case 'user-create':
      return `create SQL user ${inlineCode(p.userCreate.user)} (database ${inlineCode(p.userCreate.database)})${p.userCreate.forMs ? ` for ${formatDuration(p.userCreate.forMs)}` : ''}`;
    case 'user-rotate':
      return `rotate the password of ${inlineCode(p.user.user)}`;
    case 'user-delete':
      return `delete SQL user ${inlineCode(p.user.user)}`;
    case 'extend':
      return `keep ${p.extend.subject.type === 'entry' ? inlineCode(p.extend.subject.cidr) : `SQL user ${inlineCode(p.extend.subject.user)}`} for ${formatDuration(p.extend.forMs)} more`;
  }
}

/** The ephemeral answer to a command that created a request. */
export function acceptedMessage(request: ChatRequest, notes: readonly string[], approversChannel?: string, { byDm = false }: { byDm?: boolean } = {}): Message {
  const what = `${summary(request)} on \`${request.cluster}\``;
  const noteLines = notes.map((n) => `• ${n}`);
  if (request.status === 'pending' || (request.status === 'received' && request.quorum > 0)) {
    const where = approversChannel ? ` in <#${approversChannel}>` : '';
    const text = `This needs ${request.quorum} approval${request.quorum === 1 ? '' : 's'}${where}: ${what}. I'll tell you when it is decided.`;
    return { text, blocks: [section(`:raised_hand: ${text}`), ...(noteLines.length ? [context(noteLines.join('\n'))] : []), context(`Request \`${request.id}\``)] };
  }
  // A request with nowhere to answer but a DM (a Home tab button) says so.
  const text = `Working on it: ${what}. ${byDm ? "I'll DM you how it ends." : "I'll report back here."}`;
  return { text, blocks: [section(`:hourglass_flowing_sand: ${text}`), ...(noteLines.length ? [context(noteLines.join('\n'))] : []), context(`Request \`${request.id}\`${request.breakGlass ? ' · break-glass' : ''}`)] };
}

/** The ephemeral answer to `allow me`: the one-time link, and what opening it does. */
export function allowMeLinkMessage(url: string, cluster: string, ttlMs: number): Message {
  const minutes = Math.round(ttlMs / 60_000);
  const text = `Open this link in a browser on the machine to allow on \`${cluster}\`: ${url} (it works once, for ${minutes} minutes; it is yours alone, do not share it).`;
  return {
    text,
    blocks: [
      section(`:link: <${url}|Open this link> in a browser *on the machine you want to allow* on \`${cluster}\`.`),
      context(`The page shows the public address it sees before anything changes; Confirm makes the request as you. The link works once, for ${minutes} minutes, and is yours alone: do not share it.`),
    ],
  };
}

export function duplicateMessage(request: ChatRequest): Message {
  return textMessage(`Already received: request \`${request.id}\` (${summary(request)} on \`${request.cluster}\`) is ${request.status}.`);
}

const STATUS_LINE: Record<ChatRequest['status'], string> = {
  received: ':inbox_tray: Received, being checked',
  refused: ':no_entry_sign: Refused',
  pending: ':hourglass: Waiting for approval',
  approved: ':white_check_mark: Approved, applying',
  applying: ':gear: Applying',
  applied: ':white_check_mark: Applied',
  denied: ':x: Denied',
  expired: ':alarm_clock: Expired without a decision',
  failed: ':boom: Failed',
};

/** The block holding a card's Approve / Deny: a click counts only from the block of the request it names. */
export function decisionBlockId(requestId: string): string {
  return `${DECISION_BLOCK_PREFIX}${requestId}`;
}

const DECISION_BLOCK_PREFIX = 'decide-';

/** The request whose card block this is, from the block's id. */
export function requestIdOfDecisionBlock(blockId: string): string | undefined {
  return blockId.startsWith(DECISION_BLOCK_PREFIX) ? blockId.slice(DECISION_BLOCK_PREFIX.length) : undefined;
}

/** What a kind of request does, in words (card headers): never the internal kind name. */
const KIND_WORDS: Record<ChatRequest['params']['kind'], string> = {
  allow: 'allow a network',
  revoke: 'revoke a network',
  'user-create': 'create SQL user',
  'user-rotate': 'rotate a password',
  'user-delete': 'delete SQL user',
  extend: 'extend access',
};

/** How a card's header and notification text begin, by status: a decided card says so. */
const CARD_STATE: Record<ChatRequest['status'], string> = {
  received: 'Approval needed',
  pending: 'Approval needed',
  approved: 'Approved, applying',
  applying: 'Approved, applying',
  applied: 'Approved and applied',
  denied: 'Denied',
  expired: 'Expired',
  failed: 'Failed',
  refused: 'Refused',
};

/** How a request stands, in the words its card's header begins with ("Approved and applied", "Cancelled by its requester"). */
export function cardState(request: Pick<ChatRequest, 'status' | 'decidedBy' | 'requester' | 'denyReason'>): string {
  return isWithdrawn(request) ? 'Cancelled by its requester' : CARD_STATE[request.status];
}

/** The approvers' card: posted once, then updated in place as the request moves. */
export function approvalCard(request: ChatRequest, mentions: readonly string[] = []): Message {
  const what = summary(request);
  const state = cardState(request);
  const title = `${state}: ${what} on ${request.cluster}`;
  const fields = [
    `*Requester*\n<@${request.requester}>`,
    `*Cluster*\n\`${request.cluster}\``,
    `*What*\n${what}`,
    `*Risk*\n${request.risk}${request.quorum > 1 ? ` (needs ${request.quorum} approvals)` : ''}`,
  ];
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: `${state}: ${KIND_WORDS[request.params.kind]} on ${request.cluster}`.slice(0, 150) } },
    { type: 'section', fields: fields.map((f) => ({ type: 'mrkdwn', text: f })) },
    section(`*Reason*\n${request.reason ? `>${quoteReason(request.reason)}` : '_none given_'}`),
  ];
  if (request.flags.length > 0) blocks.push(section(request.flags.map((f) => `:warning: ${escapeText(f.text)}`).join('\n')));
  const approvals = request.approvals.map((a) => `<@${a.by}>`).join(', ');
  let status = `${STATUS_LINE[request.status]}`;
  if (request.status === 'pending') status += ` · ${request.approvals.length} of ${request.quorum} approvals${approvals ? ` (${approvals})` : ''} · expires ${when(request.expiresAt)}`;
  if (isWithdrawn(request)) status = `:leftwards_arrow_with_hook: Cancelled by <@${request.requester}>, its requester, before a decision`;
  else if (request.status === 'denied') status += ` by <@${request.decidedBy ?? '?'}>${request.denyReason ? `: ${quoteReason(request.denyReason)}` : ''}`;
  if (['approved', 'applying', 'applied', 'failed'].includes(request.status) && approvals) status += ` · approved by ${approvals}`;
  if (request.outcome && (request.status === 'applied' || request.status === 'failed')) status += `\n${mrkdwn(request.outcome)}`;
  blocks.push(section(status));
  if (request.status === 'pending') {
    blocks.push({
      type: 'actions',
      block_id: decisionBlockId(request.id),
      elements: [
        {
          type: 'button',
          action_id: ACTION_APPROVE,
          style: 'primary',
          text: { type: 'plain_text', text: 'Approve' },
          value: request.id,
          // A high-risk change is approved in two clicks: Slack asks first.
          ...(request.risk === 'high'
            ? {
                confirm: {
                  title: { type: 'plain_text', text: 'Approve a high-risk change?' },
                  text: { type: 'mrkdwn', text: confirmText(request, what) },
                  confirm: { type: 'plain_text', text: 'Approve' },
                  deny: { type: 'plain_text', text: 'Back' },
                  style: 'danger',
                },
              }
            : {}),
        },
        { type: 'button', action_id: ACTION_DENY, style: 'danger', text: { type: 'plain_text', text: 'Deny' }, value: request.id },
      ],
    });
    if (mentions.length) blocks.push(context(`Approvers: ${mentions.join(' ')}`));
  }
  blocks.push(context(`Request \`${request.id}\` · ${escapeText(describeRequest(request))}`));
  return { text: title, blocks };
}

/** The Approve confirmation of a high-risk card: what, where, for whom, and its warnings while they fit Slack's 300 characters. */
function confirmText(request: ChatRequest, what: string): string {
  const base = `${what} on \`${request.cluster}\`, for <@${request.requester}>.`;
  const withFlags = [base, ...request.flags.map((f) => `• ${escapeText(f.text)}`)].join('\n');
  return withFlags.length <= 300 ? withFlags : base.slice(0, 300);
}

/** The modal asking a denier for an optional reason. */
export function denyReasonModal(request: ChatRequest): { type: 'modal'; callback_id: string; private_metadata: string; title: { type: 'plain_text'; text: string }; submit: { type: 'plain_text'; text: string }; close: { type: 'plain_text'; text: string }; blocks: KnownBlock[] } {
  return {
    type: 'modal',
    callback_id: VIEW_DENY,
    private_metadata: request.id,
    title: { type: 'plain_text', text: 'Deny request' },
    submit: { type: 'plain_text', text: 'Deny' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      section(`Deny <@${request.requester}>'s request to ${summary(request)} on \`${request.cluster}\`?`),
      {
        type: 'input',
        block_id: 'reason',
        optional: true,
        label: { type: 'plain_text', text: 'Reason (shown to the requester)' },
        element: { type: 'plain_text_input', action_id: 'reason', max_length: 300 },
      },
    ],
  };
}

export function requesterUpdateMessage(request: ChatRequest, update: RequesterUpdate, command = '/crdb'): Message {
  const what = `${summary(request)} on \`${request.cluster}\``;
  switch (update.kind) {
    case 'refused':
      return refusalMessage(mrkdwn(update.reason), update.example === undefined ? undefined : `${command} ${update.example}`);
    case 'progress':
      return textMessage(mrkdwn(update.text));
    case 'approved':
      return textMessage(`<@${update.by}> approved your request to ${what}. Applying it now.`, 'success');
    case 'denied':
      if (isWithdrawn(request)) return textMessage(`You cancelled your request to ${what}; nothing was changed.`);
      return textMessage(`<@${update.by}> denied your request to ${what}${update.reason ? `: ${quoteReason(update.reason)}` : '.'}`, 'warning');
    case 'expired':
      return textMessage(`Your request to ${what} expired without a decision. Ask again if you still need it.`, 'warning');
    case 'failed':
      return textMessage(`Your request to ${what} failed: ${mrkdwn(update.text)}`, 'error');
    case 'applied': {
      const message = textMessage(mrkdwn(update.text), 'success');
      return update.notes?.length ? { text: message.text, blocks: [...message.blocks, context(update.notes.map((n) => `• ${mrkdwn(n)}`).join('\n'))] } : message;
    }
  }
}

// Slack code blocks have no syntax highlighting, so the language is not named.
function formatBlock(format: ConnectionFormat): KnownBlock[] {
  return [section(`*${format.label}*\n\`\`\`${format.text}\`\`\``), ...(format.hint ? [context(mrkdwn(format.hint))] : [])];
}

/** The placeholder in `secret-reference` mode, where the DM never holds the password. */
export const PASSWORD_PLACEHOLDER = 'PASSWORD';

/**
 * The DM with everything needed to connect. In `dm` mode it holds the password and says it will
 * be deleted after `dmTtlMs`; in `secret-reference` mode it names the secret instead.
 */
export function connectionMessage(delivery: ConnectionDelivery, { dmTtlMs, command }: { dmTtlMs: number; command: string }): Message {
  const { details, password } = delivery;
  const params = connectionParamsFor(details, password ?? PASSWORD_PLACEHOLDER);
  const asked = delivery.format !== undefined && (CONNECTION_FORMAT_IDS as readonly string[]).includes(delivery.format) ? (delivery.format as ConnectionFormatId) : undefined;
  // One format leads: the one asked for, else the URL (with sslrootcert where needed). The others
  // are in the message's thread (`connectionFormatsThread`), without the password.
  const lead = connectionFormat(asked ?? 'url', params);
  const intro = { created: 'Your new SQL user is ready.', rotated: 'Your password was rotated; the old one no longer works.', requested: 'Here are your connection details.' }[delivery.why];
  const regions = details.regions.length > 1 ? details.regions.map((r) => `\`${r.region}\`: \`${r.host}\`${r.primary ? ' (primary)' : ''}`).join(', ') : undefined;
  const facts = [
    `*Cluster*\n\`${delivery.cluster}\``,
    `*Host*\n\`${details.host}\`${details.region ? ` (${details.region})` : ''}`,
    `*Port*\n\`${details.port}\``,
    `*Database*\n\`${details.database}\``,
    `*User*\n\`${details.user}\``,
    password !== undefined ? `*Password*\n\`${password}\`` : `*Password*\nin Secrets Manager: \`${delivery.secretName}\``,
  ];
  const blocks: KnownBlock[] = [section(`:key: ${intro}`), ...formatBlock(lead), { type: 'section', fields: facts.map((text) => ({ type: 'mrkdwn', text })) }];
  if (regions) blocks.push(context(`Regions: ${regions}`));
  if (password === undefined) {
    blocks.push(
      section(
        `Fetch the password with the AWS CLI, then put it where the snippets below say \`${PASSWORD_PLACEHOLDER}\`:\n\`\`\`aws secretsmanager get-secret-value --secret-id ${delivery.secretName} --query SecretString --output text | jq -r .password\`\`\``,
      ),
    );
  }
  const ca = details.ca;
  if (ca.kind === 'system') {
    blocks.push(context('TLS: `sslmode=verify-full` against your system\'s trusted roots; no certificate to download.'));
  } else if (ca.downloadUrl) {
    blocks.push(section(`*CA certificate* (\`sslmode=verify-full\` checks the server against it):\n\`\`\`curl --create-dirs -o "${ca.sslrootcert}" '${ca.downloadUrl}'\`\`\``));
  } else if (ca.pem) {
    blocks.push(
      section(
        `*CA certificate*: the connection strings expect it at \`${ca.sslrootcert}\`${ca.pem.length < 2500 ? `; on another machine, save this there:\n\`\`\`${ca.pem.trim()}\`\`\`` : '.'}`,
      ),
    );
  } else {
    blocks.push(context(`TLS: \`sslmode=verify-full\` with the cluster CA at \`${ca.sslrootcert}\`.`));
  }
  if (asked === undefined) blocks.push(context(`Other formats (${OTHER_FORMATS_LABEL}) are in this message's thread, with \`${PASSWORD_PLACEHOLDER}\` where the password goes.`));
  if (delivery.notes.length) blocks.push(context(delivery.notes.map((n) => `• ${mrkdwn(n)}`).join('\n')));
  if (password !== undefined) {
    blocks.push(context(`:wastebasket: This message is deleted in ${formatDuration(dmTtlMs)} because it holds a password. \`${command} connect ${details.user} --cluster ${delivery.cluster}\` sends it again.`));
  }
  // The notification line never carries the password.
  return { text: `${intro} Connection details for ${details.user} on ${delivery.cluster}.`, blocks: blocks.slice(0, 50) };
}

const OTHER_FORMATS_LABEL = 'cockroach sql, psql, Python, Java, Go, Node.js';

/**
 * The thread reply under a connection DM: every other format, with `PASSWORD` in place of the
 * password, so the password is in the DM once and the thread holds nothing to delete.
 */
export function connectionFormatsThread(delivery: ConnectionDelivery): Message {
  const params = connectionParamsFor(delivery.details, PASSWORD_PLACEHOLDER);
  const formats = allConnectionFormats(params).filter((f) => f.id !== 'url');
  return {
    text: `Other ways to connect as ${delivery.details.user} on ${delivery.cluster}.`,
    blocks: [context(`Replace \`${PASSWORD_PLACEHOLDER}\` with the password from the message above.`), ...formats.flatMap(formatBlock)].slice(0, 50),
  };
}

/** Rules the bot cannot judge, each with the bot's reason: any of them may admit anyone. */
function mayAdmitBlocks(rules: Extract<View, { kind: 'check' }>['mayAdmit'], what: string): KnownBlock[] {
  if (rules === undefined || rules.length === 0) return [];
  const lines = rules.map((r) => `:warning: ${escapeText(r.where)} ${what}: it ${mrkdwn(r.reason)}. ${inlineCode(r.rule, 200)}`);
  return [section(`*${rules.length === 1 ? 'A rule' : `${rules.length} rules`} the bot cannot check:*`), ...sections(lines)];
}

function rowLine(row: AllowlistRow): string {
  const access = [row.sql && 'SQL', row.ui && 'UI'].filter(Boolean).join('+') || 'none';
  const who = row.managed ? ` · <@${row.managed.requester}>` : ' · _not added by the bot_';
  const until = row.managed?.expiresAt ? ` · until ${when(row.managed.expiresAt)}` : '';
  const label = row.managed?.label ?? (row.managed ? undefined : row.name);
  return `${inlineCode(row.cidr)} ${access}${label ? ` ${quoteLabel(label)}` : ''}${who}${until}`;
}

export function viewMessage(view: View): Message {
  switch (view.kind) {
    case 'text':
      return textMessage(mrkdwn(view.text), view.tone);
    case 'allowlist': {
      const head = `*Allowlist of \`${view.cluster}\`*: ${view.rows.length} of ${view.cap} entries${view.propagating ? ' · :hourglass: a change is propagating' : ''}`;
      const lines = view.rows.length === 0 ? ['_No entries: nobody can connect yet._'] : view.rows.map(rowLine);
      const opaque = mayAdmitBlocks(view.mayAdmit, 'may admit any address');
      return { text: `Allowlist of ${view.cluster}: ${view.rows.length} entries`, blocks: [section(head), ...opaque, ...sections(lines)].slice(0, 50) };
    }
    case 'check': {
      const opaque = mayAdmitBlocks(view.mayAdmit, 'may admit this address');
      if (view.covering.length === 0 && opaque.length > 0) {
        return { text: `${view.ip} may be allowed on ${view.cluster}`, blocks: [section(`:warning: No allowlist entry covers \`${view.ip}\` on \`${view.cluster}\`, but:`), ...opaque].slice(0, 50) };
      }
      if (view.covering.length === 0) {
        return textMessage(`\`${view.ip}\` is *not* allowed on \`${view.cluster}\`: no allowlist entry covers it.`, 'warning');
      }
      const lines = view.covering.map(rowLine);
      return {
        text: `${view.ip} is allowed on ${view.cluster}`,
        blocks: [section(`:white_check_mark: \`${view.ip}\` is allowed on \`${view.cluster}\` by ${view.covering.length === 1 ? 'this entry' : 'these entries'}:`), ...sections(lines), ...opaque].slice(0, 50),
      };
    }
    case 'users': {
      // Role names come from the cluster: hostile, like anything else it says.
      const lines = view.users.length === 0 ? ['_No SQL users._'] : view.users.map((u) => (u.managed ? `${inlineCode(u.name)} · owner <@${u.managed.owner}> · database ${inlineCode(u.managed.database)}${u.managed.expiresAt ? ` · until ${when(u.managed.expiresAt)}` : ''}` : `${inlineCode(u.name)} · _not managed by the bot_`));
      return { text: `SQL users on ${view.cluster}`, blocks: [section(`*SQL users on \`${view.cluster}\`*`), ...sections(lines)].slice(0, 50) };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Audit

/** Two blocks per finding: 20 findings, a summary and a context line stay under Slack's 50 blocks. */
const FINDINGS_PER_MESSAGE = 20;
/** The most severe findings a report shows with buttons; the logs hold every one. */
export const MAX_FINDINGS_SHOWN = 100;
const SEVERITY_ICON: Record<Severity, string> = { high: ':red_circle:', medium: ':large_orange_circle:', low: ':white_circle:' };

function findingBlockId(fingerprint: string): string {
  return `finding-${fingerprint}`;
}

const FINDING_ACTIONS_PREFIX = 'finding-actions-';

function findingActionsId(fingerprint: string): string {
  return `${FINDING_ACTIONS_PREFIX}${fingerprint}`;
}

/** The fingerprint of the finding whose Remove / Keep block this is, from the block's id. */
export function fingerprintOfActionsBlock(blockId: string | undefined): string | undefined {
  return blockId?.startsWith(FINDING_ACTIONS_PREFIX) === true ? blockId.slice(FINDING_ACTIONS_PREFIX.length) : undefined;
}

/** A finding: its line, then Remove (when it has a fix, with a confirmation) and Keep. */
function findingBlocks(finding: Finding): KnownBlock[] {
  const value = encodeFindingRef(finding);
  const who = finding.person ? ` · <@${finding.person}>` : '';
  const elements = [
    ...(finding.fix
      ? [
          {
            type: 'button' as const,
            action_id: ACTION_AUDIT_REMOVE,
            style: 'danger' as const,
            // The same fix button; for a request that does not finish, its fix is to cancel it.
            text: { type: 'plain_text' as const, text: finding.fix.kind === 'cancel-request' ? 'Cancel request' : 'Remove' },
            value,
            confirm: {
              title: { type: 'plain_text' as const, text: finding.fix.kind === 'cancel-request' ? 'Cancel the request?' : 'Remove?' },
              text: { type: 'mrkdwn' as const, text: mrkdwn(describeFix(finding.fix, finding.cluster)) },
              confirm: { type: 'plain_text' as const, text: finding.fix.kind === 'cancel-request' ? 'Cancel request' : 'Remove' },
              deny: { type: 'plain_text' as const, text: finding.fix.kind === 'cancel-request' ? 'Keep waiting' : 'Cancel' },
              style: 'danger' as const,
            },
          },
        ]
      : []),
    ...(finding.fix?.kind === 'cancel-request' ? [{ type: 'button' as const, action_id: ACTION_AUDIT_RETRY, text: { type: 'plain_text' as const, text: 'Retry now' }, value }] : []),
    { type: 'button' as const, action_id: ACTION_AUDIT_KEEP, text: { type: 'plain_text' as const, text: 'Keep' }, value },
  ];
  return [
    { type: 'section', block_id: findingBlockId(finding.fingerprint), text: { type: 'mrkdwn', text: `${SEVERITY_ICON[finding.severity]} *${RULE_TITLES[finding.rule]}* · ${mrkdwn(finding.text)}${who}`.slice(0, SECTION_LIMIT) } },
    { type: 'actions', block_id: findingActionsId(finding.fingerprint), elements },
  ];
}

/**
 * One cluster's report: the first message carries the summary and the most severe findings, the
 * rest follow in its thread, 20 findings a message, at most `MAX_FINDINGS_SHOWN` in all.
 */
export function auditReportMessages(report: ClusterReport): Message[] {
  const { cluster, findings } = report;
  const counts = countBySeverity(findings);
  const kept = report.kept > 0 ? ` · ${report.kept} kept earlier, not shown` : '';
  const headline =
    findings.length === 0
      ? `:white_check_mark: *Audit of \`${cluster}\`*: no findings${kept}.`
      : `:mag: *Audit of \`${cluster}\`*: ${findings.length} finding${findings.length === 1 ? '' : 's'} · ${counts.high} high, ${counts.medium} medium, ${counts.low} low${kept}.`;
  const facts = `${report.entries} allowlist entries${report.cap !== undefined ? ` (cap ${report.cap})` : ''} · ${report.users} SQL users · ${when(report.at)} · ${report.requestedBy ? `run by <@${report.requestedBy}>` : 'daily report'} · Keep: not reported again until it changes · approvers only`;
  const shown = findings.slice(0, MAX_FINDINGS_SHOWN);
  const messages: Message[] = [];
  for (let start = 0; start === 0 || start < shown.length; start += FINDINGS_PER_MESSAGE) {
    const chunk = shown.slice(start, start + FINDINGS_PER_MESSAGE);
    const head: KnownBlock[] = start === 0 ? [section(headline), context(facts)] : [context(`Audit of \`${cluster}\`: findings ${start + 1}–${start + chunk.length} of ${findings.length}`)];
    const text = start === 0 ? `Audit of ${cluster}: ${findings.length} finding${findings.length === 1 ? '' : 's'} (${counts.high} high)` : `Audit of ${cluster}: findings ${start + 1}–${start + chunk.length}`;
    messages.push({ text, blocks: [...head, ...chunk.flatMap(findingBlocks)] });
  }
  const rest = findings.length - shown.length;
  const last = messages[messages.length - 1];
  if (rest > 0 && last !== undefined) {
    last.blocks.push(context(`…and ${rest.toLocaleString('en-US')} more, less severe: every finding is in the logs as \`audit.finding\`, and the next report shows them once these are removed or kept.`));
  }
  return messages;
}

/**
 * The report message after a click: the finding's buttons give way to what happened. `blocks` are
 * the message's blocks as Slack sent them with the click.
 */
export function findingResolvedBlocks(blocks: readonly KnownBlock[], fingerprint: string, text: string): KnownBlock[] {
  const id = findingActionsId(fingerprint);
  return blocks.map((block) => (block.block_id === id ? { type: 'context', block_id: id, elements: [{ type: 'mrkdwn', text }] } : block));
}

function sweepLine(action: SweepAction): string {
  switch (action.kind) {
    case 'entry-removed':
      return `• Removed expired ${inlineCode(action.cidr)} (asked by <@${action.requester}>, expired ${when(action.expiresAt)})${action.proven ? '' : ' — not provably the bot\'s; removed because `audit.removeUnprovenExpired` is on'}`;
    case 'entry-kept':
      return `• :warning: Left expired ${inlineCode(action.cidr)} (asked by <@${action.requester}>): the bot cannot prove it created the entry on the allowlist — ${mrkdwn(action.reason)}. The daily report offers to remove it.`;
    case 'record-dropped':
      return `• Expired ${inlineCode(action.cidr)} was already gone; the bot's record was dropped`;
    case 'user-dropped':
      return `• ${action.existed ? 'Dropped' : 'Forgot'} expired SQL user ${inlineCode(action.user)} (owner <@${action.owner}>, expired ${when(action.expiresAt)}); its secret is scheduled for deletion`;
    case 'request-expired':
      return `• Expired pending request \`${action.requestId}\` (nobody decided in time)`;
    case 'failed':
      return `• :no_entry: Could not handle ${inlineCode(action.subject)}: ${mrkdwn(action.error)} The next sweep tries again.`;
  }
}

/**
 * The bot could not audit a cluster: said in its audit channel, so a missing report is never
 * silent. `reason` is user-safe but may quote a backend's words: rendered safe. `ref` finds the log line.
 */
export function auditFailureMessage(cluster: string, reason: Prose, ref: string): Message {
  const text = `The audit of ${cluster} could not run: ${mrkdwn(reason)} (reference ${ref}). The bot's operators are alerted; the next scheduled run tries again.`;
  return {
    text,
    blocks: [section(`:warning: *The audit of \`${cluster}\` could not run:* ${mrkdwn(reason)}`), context(`Reference \`${ref}\`: the bot's operators are alerted; the next scheduled run tries again.`)],
  };
}

/** What one expiry sweep did on a cluster. */
export function auditSweepMessage(cluster: string, actions: readonly SweepAction[]): Message {
  return {
    text: `Expiry sweep on ${cluster}: ${actions.length} action${actions.length === 1 ? '' : 's'}`,
    blocks: [section(`:broom: *Expiry sweep on \`${cluster}\`*`), ...sections(actions.map(sweepLine))].slice(0, 50),
  };
}
