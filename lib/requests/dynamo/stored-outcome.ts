/**
 * A request's stored `outcome`, across the change of its format.
 *
 * Since 0.1 (issue 14) an outcome is stored as `Prose` (attribute `outcomeProse`): a list of the
 * bot's words and marked values. Requests written before carry a string of Slack mrkdwn the bot
 * had built itself (attribute `outcome`: code spans, `<@U…>` mentions, `& < >` escaped). Such a
 * record is read into prose here,
 * once, so nothing above the store ever sees markup: spans become code, mentions people and
 * channels, and the escapes are undone (every renderer escapes again for its own medium).
 *
 * Anything else found in the attribute (a hand-edited item) is not trusted as prose: it is
 * dropped, so the request reads as having no outcome rather than failing to load.
 */
import { isProse, type Prose, type ProsePart } from '../../prose';

/** A backtick code span, a user mention, or a channel mention (with or without its `|name`). */
const MARKUP = /`([^`]*)`|<@([UW][A-Z0-9]+)>|<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>/g;

export function storedOutcome(value: unknown): Prose | undefined {
  if (typeof value === 'string') return fromLegacyMrkdwn(value);
  return isProse(value) ? value : undefined;
}

/** A legacy mrkdwn outcome as prose. Exported for its test. */
export function fromLegacyMrkdwn(text: string): Prose {
  const parts: ProsePart[] = [];
  let at = 0;
  for (const match of text.matchAll(MARKUP)) {
    if (match.index > at) parts.push(unescape(text.slice(at, match.index)));
    const [, code, person, channel] = match;
    if (code !== undefined) parts.push({ code: unescape(code) });
    else if (person !== undefined) parts.push({ person });
    else if (channel !== undefined) parts.push({ channel });
    at = match.index + match[0].length;
  }
  if (at < text.length) parts.push(unescape(text.slice(at)));
  return parts;
}

function unescape(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
