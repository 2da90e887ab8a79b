/**
 * Echoing what a requester typed inside a one-line refusal. Input can hold anything a Slack
 * message can: line breaks, control and bidi characters, backticks that would end the inline
 * code span around it, astral characters a naive slice would cut in half.
 */

/** Line breaks, control, format (bidi, zero-width) characters and backticks. */
const UNSHOWABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}`]+/gu;
/** Half a surrogate pair: no character at all, and invalid in the JSON Slack is sent. */
const LONE_SURROGATE = /\p{Cs}/gu;

/**
 * `text` as one line of at most `max` code points (plus `…` when cut), safe inside backticks.
 * Cuts on code point boundaries, never inside a surrogate pair; a lone half of one (which no
 * UTF-8 text holds, but a JavaScript string can) is shown as U+FFFD.
 */
export function shownInput(text: string, max: number): string {
  const oneLine = text.replace(UNSHOWABLE, ' ').replace(LONE_SURROGATE, '\ufffd');
  const codePoints = Array.from(oneLine);
  return codePoints.length > max ? `${codePoints.slice(0, max).join('')}…` : oneLine;
}
