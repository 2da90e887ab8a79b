/**
 * Block Kit and mrkdwn as terminal text, close to what the Slack client shows: mentions and
 * channel links become names, dates their fallback text, `&lt;`-style escapes their characters,
 * emoji codes emoji, code blocks indented lines (ready to copy), buttons `[n Label]`.
 */
import { type SlackBlock } from '../../stand-ins/slack';

/** Names for the ids mrkdwn refers to. */
export interface Directory {
  userName(id: string): string;
  channelName(id: string): string;
  groupName(id: string): string;
}

export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  italic(text: string): string;
  accent(text: string): string;
  warn(text: string): string;
}

const ansi = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;

/** ANSI styles, or the identity when `color` is off (pipes, NO_COLOR, tests). */
export function createStyle(color: boolean): Style {
  if (!color) {
    const plain = (text: string) => text;
    return { bold: plain, dim: plain, italic: plain, accent: plain, warn: plain };
  }
  return { bold: ansi(1, 22), dim: ansi(2, 22), italic: ansi(3, 23), accent: ansi(36, 39), warn: ansi(33, 39) };
}

/** A button as rendered; the console numbers it so `click n` can press it. */
export interface RenderedButton {
  readonly blockId: string;
  readonly actionId: string;
  readonly label: string;
  /** Block Kit's `confirm` dialog: Slack asks before the click counts. */
  readonly confirm?: { readonly title: string; readonly text: readonly string[]; readonly confirm: string };
}

export interface RenderOptions {
  readonly directory: Directory;
  readonly style: Style;
  /** Assigns the button's number. */
  readonly button: (button: RenderedButton) => number;
}

const EMOJI: Readonly<Record<string, string>> = {
  white_check_mark: '✅',
  heavy_check_mark: '✔️',
  warning: '⚠️',
  no_entry: '⛔',
  no_entry_sign: '🚫',
  information_source: 'ℹ️',
  hourglass: '⌛',
  hourglass_flowing_sand: '⏳',
  raised_hand: '✋',
  key: '🔑',
  lock: '🔒',
  wastebasket: '🗑️',
  x: '❌',
  alarm_clock: '⏰',
  boom: '💥',
  gear: '⚙️',
  rotating_light: '🚨',
  mag: '🔍',
  bust_in_silhouette: '👤',
  busts_in_silhouette: '👥',
  clipboard: '📋',
  memo: '📝',
  tada: '🎉',
  link: '🔗',
  globe_with_meridians: '🌐',
  shield: '🛡️',
  bell: '🔔',
  '+1': '👍',
  '-1': '👎',
};

function unescapeEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Mentions, links, dates and entities in one stretch of prose. */
function prose(text: string, { directory, style }: Pick<RenderOptions, 'directory' | 'style'>): string {
  const resolved = text
    .replace(/<@([UW][A-Z0-9]+)(?:\|[^>]*)?>/g, (_, id: string) => style.bold(`@${directory.userName(id)}`))
    .replace(/<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>/g, (_, id: string, label?: string) => style.bold(`#${label || directory.channelName(id)}`))
    .replace(/<!subteam\^([A-Z0-9]+)(?:\|([^>]*))?>/g, (_, id: string, label?: string) => style.bold(label || `@${directory.groupName(id)}`))
    .replace(/<!date\^[^|>]*\|([^>]*)>/g, '$1')
    .replace(/<!(here|channel|everyone)(?:\|[^>]*)?>/g, '@$1')
    .replace(/<((?:https?|mailto):[^|>]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/<((?:https?|mailto):[^>]+)>/g, '$1')
    .replace(/:([a-z0-9_+-]+):/g, (whole, name: string) => EMOJI[name] ?? whole)
    .replace(/(^|[\s(>])\*([^*\n]+)\*(?=$|[\s).,:;!?<])/g, (_, before: string, inner: string) => `${before}${style.bold(inner)}`)
    .replace(/(^|[\s(>])_([^_\n]+)_(?=$|[\s).,:;!?<])/g, (_, before: string, inner: string) => `${before}${style.italic(inner)}`);
  return unescapeEntities(resolved);
}

/**
 * mrkdwn as lines. Code blocks (```…```) become lines indented by four spaces, their content
 * untouched but for Slack's three escapes, so a connection string copies as is.
 */
export function renderMrkdwn(text: string, options: Pick<RenderOptions, 'directory' | 'style'>): string[] {
  const lines: string[] = [];
  let current = '';
  text.split('```').forEach((part, index) => {
    if (index % 2 === 1) {
      if (current.trim() !== '') lines.push(current.trimEnd());
      current = '';
      const code = unescapeEntities(part).replace(/^\n/, '').replace(/\n$/, '');
      for (const line of code.split('\n')) lines.push(`    ${line}`);
      return;
    }
    const [first = '', ...rest] = prose(part, options).split('\n');
    current += first;
    for (const line of rest) {
      lines.push(current);
      current = line;
    }
  });
  if (current !== '') lines.push(current);
  return lines;
}

interface TextObject {
  readonly type?: unknown;
  readonly text?: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function textOf(value: unknown, options: RenderOptions): string[] {
  if (!isObject(value)) return [];
  const { type, text } = value as TextObject;
  if (typeof text !== 'string') return [];
  return type === 'plain_text' ? text.split('\n') : renderMrkdwn(text, options);
}

function buttonLabel(element: Record<string, unknown>, blockId: string, options: RenderOptions): string {
  const label = textOf(element.text, options).join(' ') || String(element.action_id);
  const dialog = isObject(element.confirm) ? element.confirm : undefined;
  const confirm = dialog && {
    title: textOf(dialog.title, options).join(' '),
    text: textOf(dialog.text, options),
    confirm: textOf(dialog.confirm, options).join(' ') || 'Confirm',
  };
  const n = options.button({ blockId, actionId: String(element.action_id), label, ...(confirm ? { confirm } : {}) });
  const text = `[${n} ${label}${confirm ? ' …' : ''}]`;
  return element.style === 'danger' ? options.style.warn(text) : options.style.accent(text);
}

function elementLabel(element: unknown, blockId: string, options: RenderOptions): string {
  if (!isObject(element)) return '';
  if (element.type === 'button') return buttonLabel(element, blockId, options);
  const placeholder = textOf(element.placeholder, options).join(' ');
  return `[${String(element.type)}${placeholder ? `: ${placeholder}` : ''}]`;
}

/** One block as lines. */
function renderBlock(block: SlackBlock, options: RenderOptions): string[] {
  const { style } = options;
  const blockId = typeof block.block_id === 'string' ? block.block_id : '';
  switch (block.type) {
    case 'header':
      return [style.bold(`== ${textOf(block.text, options).join(' ')} ==`)];
    case 'section': {
      const lines = textOf(block.text, options);
      if (Array.isArray(block.fields)) {
        for (const field of block.fields) {
          // Fields are written "*Label*\nvalue": show them as "Label: value".
          const [label = '', ...value] = textOf(field, options);
          if (value.length === 0) lines.push(label);
          else {
            const [first = '', ...more] = value;
            lines.push(`${label}: ${first}`, ...more);
          }
        }
      }
      if (block.accessory !== undefined) lines.push(elementLabel(block.accessory, blockId, options));
      return lines;
    }
    case 'context': {
      const parts = Array.isArray(block.elements)
        ? block.elements.map((e) => (isObject(e) && e.type === 'image' ? `[${typeof e.alt_text === 'string' ? e.alt_text : 'image'}]` : textOf(e, options).join('\n')))
        : [];
      return parts.join('  ').split('\n').map((line) => (line.startsWith('    ') ? line : style.dim(line)));
    }
    case 'actions':
      return [Array.isArray(block.elements) ? block.elements.map((e) => elementLabel(e, blockId, options)).join('  ') : ''];
    case 'divider':
      return [style.dim('-----')];
    case 'input': {
      const label = textOf(block.label, options).join(' ');
      return [`${label}${block.optional === true ? ' (optional)' : ''}: ______`];
    }
    case 'image':
      return [`[image: ${typeof block.alt_text === 'string' ? block.alt_text : ''}]`];
    default:
      return [style.dim(`[${block.type} block]`)];
  }
}

/** A message's body: its blocks, or its text when it has none. */
export function renderMessageBody(message: { readonly text?: string; readonly blocks?: readonly SlackBlock[] }, options: RenderOptions): string[] {
  if (message.blocks === undefined || message.blocks.length === 0) return renderMrkdwn(message.text ?? '', options);
  return message.blocks.flatMap((block) => renderBlock(block, options));
}
