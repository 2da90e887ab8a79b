/**
 * Block Kit as the Slack platform treats it when an app posts blocks: parse them (form posts carry
 * them as JSON text), refuse what Slack refuses, and fill in the ids Slack fills in.
 *
 * The checks are the hard limits that bite real apps (a CA certificate in one section is over
 * 3000 characters; button values over 2000; duplicate block ids), not a full schema: a message
 * the emulator accepts may still be refused by Slack for rarer reasons.
 */
import { randomBytes } from 'node:crypto';
import { type SlackBlock } from './model';

/** Slack's answer to bad blocks: `invalid_blocks_format` (not an array of objects) or `invalid_blocks`. */
export class BlockKitError extends Error {
  constructor(
    readonly error: 'invalid_blocks' | 'invalid_blocks_format',
    readonly messages: readonly string[],
  ) {
    super(`${error}: ${messages.join('; ')}`);
    this.name = 'BlockKitError';
  }
}

export interface ParseBlocksOptions {
  /** 50 for messages, 100 for modals. */
  readonly maxBlocks: number;
}

type Json = Record<string, unknown>;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A short random id like the ones Slack assigns to blocks and elements posted without one. */
export function generatedBlockId(): string {
  return Array.from(randomBytes(5), (b) => ALNUM[b % ALNUM.length]).join('');
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function textOf(value: unknown): { type?: unknown; text?: unknown } | undefined {
  return isObject(value) ? value : undefined;
}

/**
 * Parses `blocks` as received (array or JSON text). Returns `undefined` when absent; throws
 * `BlockKitError` as Slack would answer. The result is a deep copy with ids filled in.
 */
export function parseBlocks(raw: unknown, { maxBlocks }: ParseBlocksOptions): SlackBlock[] | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new BlockKitError('invalid_blocks_format', ['[ERROR] blocks is not valid JSON [json-pointer:/blocks]']);
    }
  }
  if (!Array.isArray(value) || !value.every(isObject)) {
    throw new BlockKitError('invalid_blocks_format', ['[ERROR] blocks must be an array of objects [json-pointer:/blocks]']);
  }
  const blocks = structuredClone(value);
  const errors = validateBlocks(blocks, maxBlocks);
  if (errors.length > 0) throw new BlockKitError('invalid_blocks', errors);
  return blocks.map(fillIds);
}

function validateBlocks(blocks: readonly Json[], maxBlocks: number): string[] {
  const errors: string[] = [];
  const error = (message: string, pointer: string): void => void errors.push(`[ERROR] ${message} [json-pointer:${pointer}]`);
  if (blocks.length > maxBlocks) error(`no more than ${maxBlocks} items allowed`, '/blocks');
  const blockIds = new Set<string>();
  blocks.forEach((block, i) => {
    const at = `/blocks/${i}`;
    if (typeof block.type !== 'string') return error('missing required field: type', at);
    if (block.block_id !== undefined) {
      if (typeof block.block_id !== 'string' || block.block_id.length > 255) error('must be a string of at most 255 characters', `${at}/block_id`);
      else if (blockIds.has(block.block_id)) error(`duplicate block_id ${block.block_id}`, `${at}/block_id`);
      else blockIds.add(block.block_id);
    }
    switch (block.type) {
      case 'section': {
        const text = textOf(block.text);
        if (text === undefined && !Array.isArray(block.fields)) error('must provide either text or fields', at);
        if (typeof text?.text === 'string' && text.text.length > 3000) error('must be less than 3001 characters', `${at}/text/text`);
        if (Array.isArray(block.fields)) {
          if (block.fields.length > 10) error('no more than 10 items allowed', `${at}/fields`);
          block.fields.forEach((field, j) => {
            const t = textOf(field)?.text;
            if (typeof t === 'string' && t.length > 2000) error('must be less than 2001 characters', `${at}/fields/${j}/text`);
          });
        }
        if (isObject(block.accessory)) validateElement(block.accessory, `${at}/accessory`, error);
        break;
      }
      case 'header': {
        const text = textOf(block.text);
        if (text?.type !== 'plain_text') error('must be a plain_text object', `${at}/text`);
        if (typeof text?.text === 'string' && text.text.length > 150) error('must be less than 151 characters', `${at}/text/text`);
        break;
      }
      case 'actions': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length === 0) error('must provide at least 1 item', `${at}/elements`);
        if (elements.length > 25) error('no more than 25 items allowed', `${at}/elements`);
        const actionIds = new Set<string>();
        elements.forEach((element, j) => {
          if (!isObject(element)) return error('must be an object', `${at}/elements/${j}`);
          validateElement(element, `${at}/elements/${j}`, error);
          if (typeof element.action_id === 'string') {
            if (actionIds.has(element.action_id)) error(`duplicate action_id ${element.action_id}`, `${at}/elements/${j}/action_id`);
            actionIds.add(element.action_id);
          }
        });
        break;
      }
      case 'context': {
        if (Array.isArray(block.elements) && block.elements.length > 10) error('no more than 10 items allowed', `${at}/elements`);
        break;
      }
      default:
        break;
    }
  });
  return errors;
}

function validateElement(element: Json, at: string, error: (message: string, pointer: string) => void): void {
  if (typeof element.action_id === 'string' && element.action_id.length > 255) error('must be less than 256 characters', `${at}/action_id`);
  if (element.type !== 'button') return;
  const text = textOf(element.text);
  if (text?.type !== 'plain_text') error('must be a plain_text object', `${at}/text`);
  if (typeof text?.text === 'string' && text.text.length > 75) error('must be less than 76 characters', `${at}/text/text`);
  if (typeof element.value === 'string' && element.value.length > 2000) error('must be less than 2001 characters', `${at}/value`);
  if (typeof element.url === 'string' && element.url.length > 3000) error('must be less than 3001 characters', `${at}/url`);
  if (element.style !== undefined && element.style !== 'primary' && element.style !== 'danger') error('must be one of primary, danger', `${at}/style`);
}

/** Slack gives every block a `block_id` and every interactive element an `action_id`. */
function fillIds(block: Json): SlackBlock {
  const withId: Json = { ...block, block_id: typeof block.block_id === 'string' ? block.block_id : generatedBlockId() };
  const fill = (element: unknown): unknown =>
    isObject(element) && element.type !== 'image' && typeof element.action_id !== 'string' ? { ...element, action_id: generatedBlockId() } : element;
  if (withId.type === 'actions' && Array.isArray(withId.elements)) withId.elements = withId.elements.map(fill);
  if (withId.type === 'section' && withId.accessory !== undefined) withId.accessory = fill(withId.accessory);
  if (withId.type === 'input' && withId.element !== undefined) withId.element = fill(withId.element);
  return withId as SlackBlock;
}

/** A button found in a message's blocks, with the block that holds it. */
export interface FoundButton {
  readonly blockId: string;
  readonly element: Readonly<Json> & { readonly action_id: string };
}

/** Interactive elements of the blocks: action blocks' elements and section accessories. */
export function interactiveElements(blocks: readonly SlackBlock[]): { blockId: string; element: Json }[] {
  const found: { blockId: string; element: Json }[] = [];
  for (const block of blocks) {
    const blockId = typeof block.block_id === 'string' ? block.block_id : '';
    if (block.type === 'actions' && Array.isArray(block.elements)) {
      for (const element of block.elements) if (isObject(element)) found.push({ blockId, element });
    }
    if (block.type === 'section' && isObject(block.accessory)) found.push({ blockId, element: block.accessory });
  }
  return found;
}

/** The button with this `action_id` (and `block_id`, when given), or `undefined`. */
export function findButton(blocks: readonly SlackBlock[], actionId: string, blockId?: string): FoundButton | undefined {
  const match = interactiveElements(blocks).find(
    ({ blockId: id, element }) => element.type === 'button' && element.action_id === actionId && (blockId === undefined || id === blockId),
  );
  return match === undefined ? undefined : { blockId: match.blockId, element: match.element as FoundButton['element'] };
}
