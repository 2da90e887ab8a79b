/**
 * The tokenizer: Slack's rewriting undone (HTML entities, smart quotes, autolinks, an em dash
 * typed for `--`), then the text split into words and quoted strings.
 */
import { shown } from './helpers';

// ---------------------------------------------------------------------------------------------
// Slack text: links, entities, quotes, dashes

export interface Token {
  readonly text: string;
  /** Started with a quote: never a flag, even if it starts with `--`. */
  readonly quoted: boolean;
}

/** Separators: `\s` covers tabs, NBSP and other Unicode spaces; zero-width spaces come from pastes. */
export const SPACE = /[\s\u200B\u2060]/;
const EDGE_SPACE = /^[\s\u200B\u2060]+|[\s\u200B\u2060]+$/g;
const DOUBLE_QUOTES = '"“”„‟';
const SINGLE_QUOTES = "'‘’‚‛";
/** macOS and Slack turn `--` into an em dash; some keyboards give an en dash or a minus sign. */
export const DASH_RUN = /^[-—–‒―−]+/;
const ODD_DASH = /[—–‒―−]/;

export type Failure = { readonly ok: false; readonly reason: string; readonly candidate?: string; readonly fallback?: string };

/**
 * Undoes Slack's formatting of command text: `<url|label>` and `<mailto:..|label>` become the
 * label, `&amp;` `&lt;` `&gt;` become `&` `<` `>`. Mentions (`<@U..>`, `<#C..>`, `<!here>`) are
 * refused: no value here is a Slack user or channel. One pass, so `&amp;lt;` stays `&lt;`.
 */
export function decodeSlackText(raw: string): { ok: true; text: string } | Failure {
  let mention: string | undefined;
  const text = raw.replace(/<([^<>]*)>|&(amp|lt|gt);/g, (whole, link: string | undefined, entity: string | undefined) => {
    if (entity !== undefined) return ENTITIES[entity] ?? whole;
    const inner = link ?? '';
    const bar = inner.indexOf('|');
    const label = decodeEntities(bar === -1 ? inner : inner.slice(bar + 1));
    if (/^[@#!]/.test(inner)) {
      // Shown as Slack shows it: `@bob`, `#general`, `@here`.
      const sigil = inner.startsWith('#') ? '#' : '@';
      const name = (bar === -1 ? inner.slice(1) : label).replace(/^[@#]/, '');
      mention ??= `${sigil}${name}`;
      return bar === -1 ? '' : name;
    }
    return label;
  });
  if (mention !== undefined) {
    const what = mention.startsWith('#') ? 'a channel link' : 'a Slack mention';
    return { ok: false, reason: `\`${shown(mention, 40)}\` is ${what}; type plain text instead.`, candidate: text };
  }
  return { ok: true, text };
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>' };

function decodeEntities(text: string): string {
  return text.replace(/&(amp|lt|gt);/g, (whole, entity: string) => ENTITIES[entity] ?? whole);
}

export function quoteFamily(ch: string | undefined): string | undefined {
  if (ch === undefined || ch === '') return undefined;
  if (DOUBLE_QUOTES.includes(ch)) return DOUBLE_QUOTES;
  if (SINGLE_QUOTES.includes(ch)) return SINGLE_QUOTES;
  return undefined;
}

/** The conventional closing quote for an opening one, for a corrected example. */
function closerFor(open: string): string {
  return ({ '“': '”', '„': '“', '‘': '’', '‚': '‘' } as Record<string, string>)[open] ?? open;
}

/**
 * Splits on whitespace. A quote opens a quoted value only at the start of a token or right after
 * `--flag=`, so apostrophes inside words (`don't`) are just letters; it closes at a quote of the same
 * family (straight or smart) followed by whitespace or the end, so `'it's'` is `it's`.
 */
export function tokenize(text: string): { ok: true; tokens: Token[] } | Failure {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (SPACE.test(text.charAt(i))) {
      i += 1;
      continue;
    }
    const start = i;
    let value = '';
    let quoted = false;
    while (i < text.length && !SPACE.test(text.charAt(i))) {
      const ch = text.charAt(i);
      const family = quoteFamily(ch);
      const opensQuote = family !== undefined && (i === start || (value.endsWith('=') && !value.slice(0, -1).includes('=') && DASH_RUN.test(value)));
      if (!opensQuote) {
        value += ch;
        i += 1;
        continue;
      }
      const close = findClosingQuote(text, i + 1, family);
      if (close === -1) return unterminatedQuote(text, start, i);
      // Space just inside quotes never means anything (`“ deploy ”`); trimming here keeps every kind consistent.
      value += text.slice(i + 1, close).replace(EDGE_SPACE, '');
      quoted = i === start;
      i = close + 1;
      break;
    }
    tokens.push({ text: quoted ? value : normaliseDashes(value), quoted });
  }
  return { ok: true, tokens };
}

function findClosingQuote(text: string, from: number, family: string): number {
  for (let j = from; j < text.length; j += 1) {
    if (family.includes(text.charAt(j)) && (j + 1 === text.length || SPACE.test(text.charAt(j + 1)))) return j;
  }
  return -1;
}

function unterminatedQuote(text: string, tokenStart: number, quoteAt: number): Failure {
  const open = text.charAt(quoteAt);
  const rest = text.slice(quoteAt);
  // Close before the next option if there is one: `--reason "fix it --for 8h` meant the reason to end there.
  const nextFlag = /\s+(?:--|[—–])\S/.exec(rest);
  const end = nextFlag ? quoteAt + nextFlag.index : text.trimEnd().length;
  const candidate = `${text.slice(0, end)}${closerFor(open)}${text.slice(end)}`;
  return { ok: false, reason: `The quote in \`${shown(text.slice(tokenStart), 30)}\` is never closed.`, candidate };
}

/** `—for` and `–for` are `--for`, as are `—-for` and other runs mixing dashes. */
function normaliseDashes(token: string): string {
  const run = DASH_RUN.exec(token)?.[0];
  return run !== undefined && ODD_DASH.test(run) ? `--${token.slice(run.length)}` : token;
}
