/** Small helpers the grammar's modules share. */
import { shownInput } from '../../cluster-admin/display';

/** Any line break, Unicode's included: a reason or an echoed value is one line. */
export const LINE_BREAK = /[\n\r\v\f\u0085\u2028\u2029]/g;
/** How much of a reason or an echoed value a refusal shows. */
export const MAX_REASON_LENGTH = 200;

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Command words, flag names and format ids are keywords: case- and width-insensitive (`ＡＬＬＯＷ`). */
export function keyword(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

export function shown(text: string, max: number): string {
  return shownInput(text, max);
}

/** At most `max` code points. */
export function cut(text: string, max: number): string {
  return Array.from(text).slice(0, max).join('');
}

/** Collapses a reason to one line of at most 200 UTF-16 units, cutting on a code point boundary. */
export function oneLine(text: string): string {
  const flat = text.replace(LINE_BREAK, ' ');
  if (flat.length <= MAX_REASON_LENGTH) return flat;
  let out = '';
  for (const ch of flat) {
    if (out.length + ch.length > MAX_REASON_LENGTH - 1) break;
    out += ch;
  }
  return `${out}…`;
}

/** Drops keys whose value is undefined, so optional fields are absent rather than present-but-undefined. */
export function compact<T extends object>(value: T): T {
  // Object.entries loses the key types; the filtered object has a subset of T's (optional) keys.
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The candidate closest to `word` by edit distance (adjacent transpositions count one), if close
 * enough to be a typo: one edit for short words, two for words of five or more characters.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const limit = word.length >= 5 ? 2 : 1;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    if (Math.abs(candidate.length - word.length) > limit) continue;
    const distance = editDistance(word, candidate);
    if (distance < bestDistance && distance < Math.max(candidate.length, 2)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance over UTF-16 units (candidates are ASCII). */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i += 1) d[i * cols] = i;
  for (let j = 0; j < cols; j += 1) d[j] = j;
  for (let i = 1; i < rows; i += 1) {
    for (let j = 1; j < cols; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, at(i - 2, j - 2) + 1);
      d[i * cols + j] = value;
    }
  }
  return at(a.length, b.length);
}
