/**
 * What binds a Slack payload to this bot's world, checked before any use case sees it:
 *
 * - the workspace: the payload's team (and Enterprise Grid org, when one is configured) is the one
 *   the bot serves, and its user is a user id (`U…`/`W…`), never a user group (`S…`) or anything
 *   else. An app installed in two workspaces gets validly signed requests from both; only one is
 *   ours.
 * - the message: a click comes from a message in a channel (`container`, `channel`, `message`
 *   all present and naming the same message) and from a block (`block_id`) of it. The use cases
 *   then check that this message and block are the card or finding the button's value names.
 * - `response_url`: used only under the configured prefix (`https://hooks.slack.com/`); anything
 *   else is ignored (the answer goes by DM), so a payload cannot make the bot POST elsewhere.
 *
 * A missing field is a refusal, never a skipped check.
 */

/** The workspace the bot serves. At least one of the two is set. */
export interface Workspace {
  readonly teamId?: string;
  readonly enterpriseId?: string;
}

/** Where a payload says it comes from, as Slack sent it (anything may be missing or mistyped). */
export interface PayloadOrigin {
  readonly teamId: unknown;
  readonly enterpriseId: unknown;
  /** `team.enterprise_id` of an interactive payload: when present, it must name the same org. */
  readonly teamEnterpriseId?: unknown;
  readonly userId: unknown;
  /** `user.team_id` of an interactive payload; slash commands have none (`undefined` = not checked). */
  readonly userTeamId?: unknown;
  readonly interactive: boolean;
}

const USER_ID = /^[UW][A-Z0-9]{2,}$/;

/** A Slack user id (`U…`, or `W…` on Enterprise Grid): not a user group (`S…`), bot or channel id. */
export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID.test(value);
}

/** Why a payload is not from the bot's workspace, or `undefined` when it is. */
export function originRefusal(origin: PayloadOrigin, workspace: Workspace): string | undefined {
  if (workspace.teamId === undefined && workspace.enterpriseId === undefined) return 'the bot does not know its workspace';
  if (workspace.teamId !== undefined) {
    if (typeof origin.teamId !== 'string' || origin.teamId === '') return 'no team id';
    if (origin.teamId !== workspace.teamId) return 'another team';
  }
  if (workspace.enterpriseId !== undefined) {
    if (typeof origin.enterpriseId !== 'string' || origin.enterpriseId === '') return 'no enterprise id';
    if (origin.enterpriseId !== workspace.enterpriseId) return 'another enterprise';
    if (origin.teamEnterpriseId !== undefined && origin.teamEnterpriseId !== workspace.enterpriseId) return "the team's enterprise is another";
  }
  if (!isUserId(origin.userId)) return 'not a user id';
  // On Grid a user of another workspace of the same org may click; elsewhere the user's team is ours.
  if (origin.interactive && workspace.enterpriseId === undefined && origin.userTeamId !== (workspace.teamId ?? origin.teamId)) return "the user's team is another";
  return undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function field(record: unknown, key: string): unknown {
  return typeof record === 'object' && record !== null ? (record as Record<string, unknown>)[key] : undefined;
}

/** A slash command's origin (form fields `team_id`, `enterprise_id`, `user_id`). */
export function commandOrigin(body: unknown): PayloadOrigin {
  return { teamId: field(body, 'team_id'), enterpriseId: field(body, 'enterprise_id'), userId: field(body, 'user_id'), interactive: false };
}

/** A block_actions or view_submission payload's origin (`team.id`, `enterprise.id`, `user.id`, `user.team_id`). */
export function interactionOrigin(body: unknown): PayloadOrigin {
  const user = field(body, 'user');
  const team = field(body, 'team');
  return {
    teamId: field(team, 'id'),
    enterpriseId: field(field(body, 'enterprise'), 'id'),
    teamEnterpriseId: field(team, 'enterprise_id'),
    userId: field(user, 'id'),
    userTeamId: field(user, 'team_id'),
    interactive: true,
  };
}

/** The channel message a click came from, and the block of it that holds the button. */
export interface ClickedMessage {
  readonly channel: string;
  readonly ts: string;
  readonly blockId: string;
  /** The message as Slack sent it back. */
  readonly message: Readonly<Record<string, unknown>>;
}

/**
 * The message a button was on: `container` (a message, not ephemeral), `channel` and `message`
 * must all be there and agree, and the action must name its block. A reason string otherwise.
 */
export function clickedMessage(body: unknown, action: unknown): ClickedMessage | string {
  const container = field(body, 'container');
  if (field(container, 'type') !== 'message') return 'not clicked on a message';
  if (field(container, 'is_ephemeral') === true) return 'clicked on an ephemeral message';
  const containerTs = str(field(container, 'message_ts'));
  const containerChannel = str(field(container, 'channel_id'));
  const channel = str(field(field(body, 'channel'), 'id'));
  const message = field(body, 'message');
  const ts = str(field(message, 'ts'));
  if (containerTs === undefined || containerChannel === undefined || channel === undefined || ts === undefined) return 'the message is not named';
  if (containerTs !== ts || containerChannel !== channel) return 'container and message disagree';
  const blockId = str(field(action, 'block_id'));
  if (blockId === undefined) return 'no block id';
  return { channel, ts, blockId, message: message as Record<string, unknown> };
}

/**
 * `url` when it may be posted to: a well-formed URL under `prefix` (same scheme, host and port,
 * path under the prefix's, no credentials), as written and once normalised. `undefined` otherwise.
 */
export function allowedResponseUrl(url: unknown, prefix: string): string | undefined {
  if (typeof url !== 'string' || url === '' || !url.startsWith(prefix)) return undefined;
  let parsed: URL;
  let base: URL;
  try {
    parsed = new URL(url);
    base = new URL(prefix);
  } catch {
    return undefined;
  }
  if (parsed.username !== '' || parsed.password !== '') return undefined;
  if (parsed.protocol !== base.protocol || parsed.host !== base.host || !parsed.pathname.startsWith(base.pathname)) return undefined;
  return parsed.href.startsWith(prefix) ? parsed.href : undefined;
}
