/**
 * Text is data: the one place that makes a hostile string (a reason, a label, a role name from a
 * cluster, an entry name from the Cloud API) safe to put in Slack mrkdwn, and that renders the
 * domain's `Prose` (lib/prose.ts) as mrkdwn (`mrkdwn`).
 *
 * - `escapeText`: Slack's three control characters (`& < >`), so nobody can write `<!channel>`,
 *   `<@U…>` or a disguised link `<https://evil|click>`. Every hostile string goes through it.
 * - `inlineCode` / `quoteLabel` / `quoteReason`: also neutralise what escaping cannot: a backtick
 *   that would close a code span, `*`/`_`/`~` that would format, line breaks that would start a
 *   line that looks like one of the card's own fields, bidi and zero-width characters; and cap the
 *   length. They return mrkdwn ready to splice in (already escaped).
 * - `plainCode` / `plainQuote`: the same without `& < >` escaping, for text that is escaped as a
 *   whole later (audit findings are plain text their renderer escapes once).
 *
 * Mentions the bot builds itself (`<@U…>` from validated ids) are not passed through here.
 */
import { type Prose } from '../prose';

/** Slack's three control characters; everything a user or a cluster supplied goes through this. */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Default cap of a label or name shown inline. */
export const LABEL_MAX = 64;
/** Default cap of a value shown as inline code (role names, CIDRs, secret names). */
export const CODE_MAX = 128;
/** Default cap of a free-text reason. */
export const REASON_MAX = 300;

/** Line breaks, controls, bidi overrides and zero-width characters (not emoji's joiner): each becomes a space. */
const INVISIBLE = /(?!\u200d)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
/** A backtick closes a code span; U+02CB looks like one and does not. */
const BACKTICK = /`/g;
const LOOKALIKE_BACKTICK = '\u02cb';

function flatten(text: string): string {
  return text.replace(INVISIBLE, ' ');
}

function cap(text: string, max: number): string {
  const chars = [...text];
  return chars.length > max ? `${chars.slice(0, Math.max(1, max - 1)).join('')}…` : text;
}

/**
 * `*`, `~` and a `_` at a word's edge format in mrkdwn; each becomes a look-alike that does not
 * (`alice_laptop` keeps its underscore: Slack does not format inside a word).
 */
function unformat(text: string): string {
  return text
    .replace(BACKTICK, LOOKALIKE_BACKTICK)
    .replace(/\*/g, '\u2217')
    .replace(/~/g, '\u223c')
    .replace(/(?<![\p{L}\p{N}])_|_(?![\p{L}\p{N}])/gu, '\u02cd');
}

/** A code span, not yet `& < >`-escaped: for plain text that is escaped as a whole later. */
export function plainCode(value: string, max = CODE_MAX): string {
  const body = cap(flatten(value), max).replace(BACKTICK, LOOKALIKE_BACKTICK);
  return `\`${body === '' || body.trim() === '' ? '\u00a0' : body}\``;
}

/** A visibly quoted label (“…”), not yet `& < >`-escaped: for plain text escaped as a whole later. */
export function plainQuote(value: string, max = LABEL_MAX): string {
  return `“${unformat(cap(flatten(value), max).replace(/[“”]/g, '"'))}”`;
}

/** `value` as inline code that a backtick inside it cannot break out of; escaped, capped. */
export function inlineCode(value: string, max = CODE_MAX): string {
  return escapeText(plainCode(value, max));
}

/** A label (entry name, `--name`) visibly quoted, unformatted, one line, capped, escaped. */
export function quoteLabel(value: string, max = LABEL_MAX): string {
  return escapeText(plainQuote(value, max));
}

/** A free-text reason: one line, unformatted, capped, escaped (not quoted: it stands in its own place). */
export function quoteReason(value: string, max = REASON_MAX): string {
  return escapeText(unformat(cap(flatten(value), max)));
}

/** A Slack user (`U…`/`W…`), user group (`S…`) or channel (`C…`/`G…`/`D…`) id: nothing else becomes a mention. */
const SLACK_ID = /^[A-Z][A-Z0-9]{2,20}$/;
/** Values in prose are ids, CIDRs, names and commands; a longer one is cut. */
const PROSE_CODE_MAX = 200;
const PROSE_LABEL_MAX = 80;

/**
 * The domain's prose as mrkdwn: the bot's words escaped (`& < >`), values as code spans nothing
 * breaks out of, labels quoted, free text flattened, and people and channels as mentions (only
 * for a well-formed id; anything else is shown as escaped text). The bot's own words hold no
 * backtick (test/unit/slack-markup-boundary.test.ts), so one in a word part came from a value
 * spliced in as words (a server's error message): it becomes a look-alike and opens no code span.
 *
 * `{ escaped: false }`: the same marks without the `& < >` escaping, for text that is escaped as
 * a whole later (the grammar's refusal reasons); people and channels are then shown as ids.
 */
export function mrkdwn(prose: Prose, { escaped = true }: { escaped?: boolean } = {}): string {
  const escape = escaped ? escapeText : (text: string) => text;
  return prose
    .map((part) => {
      if (typeof part === 'string') return escape(part.replace(BACKTICK, LOOKALIKE_BACKTICK));
      if ('code' in part) return escape(plainCode(part.code, PROSE_CODE_MAX));
      if ('label' in part) return escape(plainQuote(part.label, PROSE_LABEL_MAX));
      if ('said' in part) return escape(unformat(cap(flatten(part.said), REASON_MAX)));
      if ('person' in part) return escaped && SLACK_ID.test(part.person) ? `<@${part.person}>` : escape(part.person);
      return escaped && SLACK_ID.test(part.channel) ? `<#${part.channel}>` : escape(part.channel);
    })
    .join('');
}
