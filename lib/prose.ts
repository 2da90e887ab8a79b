/**
 * What the bot says to people, as data: the domain builds `Prose` (its own words, and the values
 * it quotes, each marked as what it is), and each edge renders it: lib/slack as mrkdwn (with
 * mentions and code spans), lib/links as HTML, logs and the audit trail as plain text.
 *
 *     prose`${code(cidr)} was removed from the allowlist of ${code(cluster)}, as ${person(actor)} asked.`
 *
 * So no module outside lib/slack writes Slack markup, and a hostile value (a role name read from a
 * cluster, an entry name from the Cloud API, a label someone typed) is a marked part that every
 * renderer makes safe for its medium, never text spliced into markup.
 *
 * A plain string part is the bot's own words. Strings interpolated into `prose` become the bot's
 * own words too, so a value anyone else supplied goes in through `code`, `label` or `said`.
 *
 * No imports: everything below the edges may use it.
 */

/** One piece of what the bot says. */
export type ProsePart =
  /** The bot's own words. */
  | string
  /** A value to read exactly or copy: a CIDR, a cluster, a role name, a request id, a command. */
  | { readonly code: string }
  /** A name someone gave (an entry's label), shown quoted. */
  | { readonly label: string }
  /** Free text someone wrote (a reason), shown as they wrote it, on one line. */
  | { readonly said: string }
  /** A person, by Slack user id. */
  | { readonly person: string }
  /** A channel, by Slack channel id. */
  | { readonly channel: string };

/** A sentence or a few: parts in order. */
export type Prose = readonly ProsePart[];

export const code = (value: string): ProsePart => ({ code: value });
export const label = (value: string): ProsePart => ({ label: value });
export const said = (value: string): ProsePart => ({ said: value });
export const person = (id: string): ProsePart => ({ person: id });
export const channel = (id: string): ProsePart => ({ channel: id });

/** What `prose` takes between its words: a part, other prose, or a number. */
export type ProseValue = ProsePart | Prose | number | undefined;

/**
 * Prose from a template: the literal text is the bot's words; each value is a marked part, other
 * prose (spliced in), a string (the bot's words), a number, or `undefined` (nothing).
 */
export function prose(strings: TemplateStringsArray, ...values: readonly ProseValue[]): Prose {
  const parts: ProsePart[] = [];
  strings.forEach((text, i) => {
    push(parts, text);
    if (i < values.length) {
      const value = values[i];
      if (value === undefined) return;
      if (typeof value === 'number') push(parts, String(value));
      else if (isProse(value)) value.forEach((part) => push(parts, part));
      else push(parts, value);
    }
  });
  return parts;
}

/** `text` as prose: a string is the bot's own words. */
export function asProse(text: string | Prose): Prose {
  return typeof text === 'string' ? (text === '' ? [] : [text]) : text;
}

/** Prose pieces joined with `separator` (the bot's words) between them. */
export function joinProse(pieces: readonly (string | Prose)[], separator: string): Prose {
  const parts: ProsePart[] = [];
  pieces.forEach((piece, i) => {
    if (i > 0) push(parts, separator);
    asProse(piece).forEach((part) => push(parts, part));
  });
  return parts;
}

export function isProse(value: unknown): value is Prose {
  return Array.isArray(value) && value.every(isProsePart);
}

export function isProsePart(value: unknown): value is ProsePart {
  if (typeof value === 'string') return true;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  if (keys.length !== 1) return false;
  const [key] = keys;
  return (key === 'code' || key === 'label' || key === 'said' || key === 'person' || key === 'channel') && typeof (value as Record<string, unknown>)[key] === 'string';
}

/**
 * Prose as plain text, for logs, the audit trail and error messages: values as they are, labels
 * in quotes, people and channels by id. Not escaped: a renderer for a markup escapes it there.
 */
export function plainText(text: string | Prose): string {
  return asProse(text)
    .map((part) => {
      if (typeof part === 'string') return part;
      if ('code' in part) return part.code;
      if ('label' in part) return `“${part.label}”`;
      if ('said' in part) return part.said;
      if ('person' in part) return `@${part.person}`;
      return `#${part.channel}`;
    })
    .join('');
}

/** Appends a part, merging the bot's words with the words before them and dropping empty ones. */
function push(parts: ProsePart[], part: ProsePart): void {
  if (typeof part !== 'string') {
    parts.push(part);
    return;
  }
  if (part === '') return;
  const last = parts[parts.length - 1];
  if (typeof last === 'string') parts[parts.length - 1] = last + part;
  else parts.push(part);
}
