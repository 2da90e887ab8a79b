/**
 * The analyser: tokens matched against the definitions into a fully typed, normalised command with
 * user-facing notes, or a one-line reason plus a complete corrected command line that itself
 * parses. It never throws on user input and never half-succeeds.
 */
import { DEFAULT_COMMAND_NAME, type ParseOptions, type ParseResult } from './commands';
import { FREE_TEXT_KINDS, KIND_CHECKS, UNIT_WORDS, canonicalDuration } from './values';
import { keyword, LINE_BREAK, nearest, oneLine, shown } from './helpers';
import { type Failure, type Token, decodeSlackText, tokenize } from './tokenizer';
import { COMMAND_DEFINITIONS, COMMAND_SYNONYMS, type CommandDefinition, FIRST_WORDS, type FlagSpec, type ParsedCommand, SUBCOMMAND_SYNONYMS, findCommandDefinition, renderToken, renderValue } from './definitions';

// ---------------------------------------------------------------------------------------------
// Parsing

interface ArgItem {
  readonly type: 'arg';
  readonly value: string;
}

interface FlagItem {
  readonly type: 'flag';
  /** As typed, without dashes: kept for unknown flags so the example shows what was there. */
  readonly spelled: string;
  /** Lowercased, NFKC: what lookups use. */
  readonly name: string;
  readonly singleDash: boolean;
  readonly spec?: FlagSpec;
  /** For a choice flag: which choice. */
  readonly choice?: string;
  readonly value?: string;
  /** Written `--flag=value`. */
  readonly inline: boolean;
}

type Item = ArgItem | FlagItem;

type Analysis = { readonly ok: true; readonly command: ParsedCommand; readonly notes: readonly string[] } | Failure;

const HELP_FLAGS = new Set(['--help', '-h', '-help', '-?']);
const MAX_REPAIRS = 8;
const COMMAND_NAME = /^\/[a-z0-9_-]+$/;

/**
 * Parses the text of a slash command (as Slack sends it: HTML-escaped, possibly with links, smart
 * quotes and autocorrected dashes). A leading command name (`/crdb allow ...`) is accepted, so a
 * corrected example can be pasted back as is. Never throws on any text.
 * @throws RangeError only when `options.commandName` is not a slash command name (a configuration bug).
 */
export function parseCommand(text: string, options: ParseOptions = {}): ParseResult {
  const commandName = options.commandName ?? DEFAULT_COMMAND_NAME;
  if (!COMMAND_NAME.test(commandName)) throw new RangeError(`Not a slash command name: ${JSON.stringify(commandName)}`);
  const analysis = analyse(text, commandName);
  if (analysis.ok) return { ok: true, command: analysis.command, notes: analysis.notes };
  return { ok: false, reason: oneLine(analysis.reason), example: correctedExample(analysis, commandName) };
}

/**
 * Repairs one problem at a time: each refusal proposes the input with its problem fixed, and the
 * proposal is analysed again until it parses. `alow 10.0.0.1/8 --fro 8 hours` becomes
 * `allow 10.0.0.1/8 --for 8h` over three steps. Anything unrepairable falls back to the command's
 * own first example, or to `help`.
 */
function correctedExample(failure: Failure, commandName: string): string {
  let candidate = failure.candidate;
  let fallback = failure.fallback;
  for (let step = 0; candidate !== undefined && step < MAX_REPAIRS; step += 1) {
    const next = analyse(candidate, commandName);
    if (next.ok && next.command.name === 'help') {
      // Help parses from almost anything (`-h` in a stray fragment, a free-form topic): show a clean one.
      const topic = next.command.topic === undefined ? undefined : findCommandDefinition(next.command.topic)?.name;
      return topic === undefined ? `${commandName} help` : `${commandName} help ${topic}`;
    }
    if (next.ok) {
      const line = canonicalLine(candidate, commandName);
      if (line !== undefined && usableExample(line, commandName)) return line;
      break;
    }
    fallback ??= next.fallback;
    candidate = next.candidate;
  }
  const fromDefinition = fallback === undefined ? undefined : `${commandName} ${fallback}`;
  return fromDefinition !== undefined && usableExample(fromDefinition, commandName) ? fromDefinition : `${commandName} help`;
}

/**
 * A candidate repaired from raw text (an unterminated quote, a mention) keeps the requester's
 * spacing and may lack the command name: re-render it the way every other example looks.
 */
function canonicalLine(text: string, commandName: string): string | undefined {
  const decoded = decodeSlackText(text);
  if (!decoded.ok) return undefined;
  const tokenized = tokenize(decoded.text);
  if (!tokenized.ok) return undefined;
  const [first, ...rest] = tokenized.tokens;
  const tokens = first !== undefined && keyword(first.text) === commandName ? rest : tokenized.tokens;
  if (tokens.length === 0) return `${commandName} help`;
  // Command words as the definitions spell them (`ALLOW` -> `allow`); everything else as typed.
  const words = tokens.slice(0, 2).map((t) => keyword(t.text));
  const definition = findCommandDefinition(words.join(' ')) ?? findCommandDefinition(words[0] ?? '');
  const wordCount = definition?.words.length ?? 0;
  return [commandName, ...(definition?.words ?? []), ...tokens.slice(wordCount).map(renderToken)].join(' ');
}

/** One line, and it parses both as shown and as Slack would deliver it once retyped. */
function usableExample(example: string, commandName: string): boolean {
  if (new RegExp(LINE_BREAK.source).test(example)) return false;
  if (!analyse(example, commandName).ok) return false;
  return !/[<>&]/.test(example) || analyse(slackEscape(example), commandName).ok;
}

function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function analyse(input: string, commandName: string): Analysis {
  const decoded = decodeSlackText(input);
  if (!decoded.ok) return decoded;
  const tokenized = tokenize(decoded.text);
  if (!tokenized.ok) return tokenized;
  let tokens = tokenized.tokens;
  if (tokens[0] !== undefined && keyword(tokens[0].text) === commandName) tokens = tokens.slice(1);
  if (tokens.length === 0) return { ok: true, command: { name: 'help' }, notes: [] };
  // `--help` anywhere asks for help on whatever command precedes it.
  if (tokens.some((t) => !t.quoted && HELP_FLAGS.has(keyword(t.text)))) {
    const words = tokens.filter((t) => !t.text.startsWith('-')).map((t) => keyword(t.text));
    const definition = findCommandDefinition(words.slice(0, 2).join(' ')) ?? findCommandDefinition(words[0] ?? '');
    return { ok: true, command: definition ? { name: 'help', topic: definition.name } : { name: 'help' }, notes: [] };
  }
  const resolved = resolveCommand(tokens, commandName);
  if (!resolved.ok) return resolved;
  return analyseArguments(resolved.definition, resolved.rest, commandName);
}

function resolveCommand(tokens: readonly Token[], commandName: string): { ok: true; definition: CommandDefinition; rest: readonly Token[] } | Failure {
  const [firstToken, secondToken, thirdToken] = tokens;
  const first = keyword(firstToken?.text ?? '');
  const render = (name: string, rest: readonly Token[]): string => [commandName, name, ...rest.map(renderToken)].join(' ');
  const group = COMMAND_DEFINITIONS.filter((d) => d.words[0] === first);
  // A two-word command that shares its first word with a one-word command (`allow me`, `allow`):
  // its exact second word, unquoted, wins.
  const second = secondToken !== undefined && !secondToken.quoted ? keyword(secondToken.text) : undefined;
  const twoWord = second === undefined ? undefined : group.find((d) => d.words.length === 2 && d.words[1] === second);
  if (twoWord !== undefined && group.some((d) => d.words.length === 1)) return { ok: true, definition: twoWord, rest: tokens.slice(2) };
  const single = group.find((d) => d.words.length === 1);
  if (single) {
    // `users create bob`: a plural (or a typo) of a group word followed by one of its subcommands.
    const second = secondToken === undefined ? undefined : keyword(secondToken.text);
    const meant = single.positionals.length === 0 ? COMMAND_DEFINITIONS.find((d) => d.words.length === 2 && d.words[1] === second && nearest(first, [d.words[0] ?? '']) !== undefined) : undefined;
    if (meant !== undefined) {
      return { ok: false, reason: `\`${first} ${second ?? ''}\` is not a command; did you mean \`${meant.name}\`?`, candidate: render(meant.name, tokens.slice(2)), fallback: single.examples[0] ?? 'help' };
    }
    return { ok: true, definition: single, rest: tokens.slice(1) };
  }

  if (group.length > 0) {
    const subcommands = group.map((d) => d.words[1] ?? '');
    const list = subcommands.map((s) => `\`${s}\``).join(', ');
    const fallback = group[0]?.examples[0];
    const withFallback = (failure: Failure): Failure => (fallback === undefined ? failure : { ...failure, fallback });
    if (secondToken === undefined) return withFallback({ ok: false, reason: `\`${first}\` needs a subcommand: ${list}.` });
    const second = keyword(secondToken.text);
    const exact = group.find((d) => d.words[1] === second);
    if (exact) return { ok: true, definition: exact, rest: tokens.slice(2) };
    const synonym = SUBCOMMAND_SYNONYMS[first]?.[second];
    const typo = nearest(second, subcommands);
    const meant = synonym ?? (typo === undefined ? undefined : `${first} ${typo}`);
    if (meant !== undefined) {
      return withFallback({
        ok: false,
        reason: `\`${first} ${shown(secondToken.text, 30)}\` is not a command; did you mean \`${meant}\`?`,
        candidate: render(meant, tokens.slice(2)),
      });
    }
    // `user bob create`: the words in the wrong order.
    const third = thirdToken === undefined ? undefined : keyword(thirdToken.text);
    const swapped = third === undefined ? undefined : (SUBCOMMAND_SYNONYMS[first]?.[third] ?? (subcommands.includes(third) ? `${first} ${third}` : undefined));
    return withFallback({
      ok: false,
      reason: `\`${shown(secondToken.text, 30)}\` is not a \`${first}\` subcommand; use ${list}.`,
      ...(swapped === undefined ? {} : { candidate: render(swapped, [secondToken, ...tokens.slice(3)]) }),
    });
  }

  const synonym = COMMAND_SYNONYMS[first];
  const typo = nearest(first, FIRST_WORDS);
  const meant = synonym ?? typo;
  const typed = shown(firstToken?.text ?? '', 30);
  if (typed.trim() === '') return { ok: false, reason: `Start with a command; see \`${commandName} help\`.` };
  if (meant === undefined) return { ok: false, reason: `\`${typed}\` is not a ${commandName} command; see \`${commandName} help\`.` };
  return {
    ok: false,
    reason: `\`${typed}\` is not a ${commandName} command; did you mean \`${meant}\`?`,
    candidate: render(meant, tokens.slice(1)),
  };
}

function lookupFlag(definition: CommandDefinition, name: string): { spec: FlagSpec; choice?: string } | undefined {
  for (const spec of definition.flags) {
    if (spec.type === 'choice') {
      const choice = spec.choices.find((c) => c.name === name);
      if (choice) return { spec, choice: choice.name };
    } else if (spec.key === name) {
      return { spec };
    }
  }
  return undefined;
}

function toItems(definition: CommandDefinition, tokens: readonly Token[]): Item[] {
  const items: Item[] = [];
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i];
    if (token === undefined) break;
    if (token.quoted || !token.text.startsWith('-')) {
      items.push({ type: 'arg', value: token.text });
      continue;
    }
    const singleDash = !token.text.startsWith('--');
    const body = token.text.slice(singleDash ? 1 : 2);
    const eq = body.indexOf('=');
    const spelled = eq === -1 ? body : body.slice(0, eq);
    const name = keyword(spelled);
    const found = lookupFlag(definition, name);
    let value = eq === -1 ? undefined : body.slice(eq + 1);
    const next = tokens[i + 1];
    // Only a known value flag takes the next token: for an unknown flag we cannot tell.
    if (found?.spec.type === 'value' && value === undefined && next !== undefined && (next.quoted || !next.text.startsWith('-'))) {
      value = next.text;
      i += 1;
    }
    items.push({
      type: 'flag',
      spelled,
      name,
      singleDash,
      inline: eq !== -1,
      ...(found ? { spec: found.spec } : {}),
      ...(found?.choice === undefined ? {} : { choice: found.choice }),
      ...(value === undefined ? {} : { value }),
    });
  }
  return items;
}

function renderItem(item: Item): string {
  if (item.type === 'arg') return renderValue(item.value);
  const name = item.spec ? `--${item.choice ?? item.spec.key}` : `${item.singleDash ? '-' : '--'}${item.spelled}`;
  if (item.value === undefined) return name;
  return item.inline ? `${name}=${renderValue(item.value)}` : `${name} ${renderValue(item.value)}`;
}

function analyseArguments(definition: CommandDefinition, tokens: readonly Token[], commandName: string): Analysis {
  const items = toItems(definition, tokens);
  const fallback = definition.examples[0];
  const fail = (reason: string, repaired?: readonly Item[]): Failure => ({
    ok: false,
    reason,
    ...(repaired === undefined ? {} : { candidate: [commandName, definition.name, ...repaired.map(renderItem)].join(' ') }),
    ...(fallback === undefined ? {} : { fallback }),
  });
  const replaced = (index: number, ...with_: Item[]): Item[] => [...items.slice(0, index), ...with_, ...items.slice(index + 1)];

  const structural = checkFlags(definition, items, replaced);
  if (structural) return fail(structural.reason, structural.repaired);

  const slots = definition.positionals;
  const args = items.filter((item): item is ArgItem => item.type === 'arg');
  const restSlot = slots.some((s) => s.rest === true);
  if (!restSlot && args.length > slots.length) {
    const unquoted = unquotedFreeText(items, args.length - slots.length);
    if (unquoted) return fail(unquoted.reason, unquoted.repaired);
    const extra = args[slots.length];
    const extras = new Set(args.slice(slots.length));
    const takes =
      slots.length === 0
        ? definition.flags.length === 0
          ? 'takes no arguments'
          : 'takes only options'
        : `takes one ${slots.map((s) => `\`<${s.display}>\``).join(' and ')}`;
    return fail(`\`${shown(extra?.value ?? '', 30)}\` is extra: \`${definition.name}\` ${takes}.`, items.filter((item) => !(item.type === 'arg' && extras.has(item))));
  }
  const missing = slots.findIndex((slot, index) => slot.required && args[index] === undefined);
  const missingSlot = slots[missing];
  if (missingSlot) {
    const lastArg = items.findLastIndex((item) => item.type === 'arg');
    const at = lastArg + 1;
    return fail(`\`${definition.name}\` needs ${missingSlot.noun}, like \`${missingSlot.example}\`.`, [
      ...items.slice(0, at),
      { type: 'arg', value: missingSlot.example },
      ...items.slice(at),
    ]);
  }

  const collected = collectValues(definition, items, replaced);
  if (!collected.ok) return fail(collected.reason, collected.repaired);

  for (const [index, item] of items.entries()) {
    if (item.type !== 'flag' || item.spec?.type !== 'switch' || item.spec.requires === undefined) continue;
    const required = item.spec.requires;
    if (items.some((other) => other.type === 'flag' && other.spec?.key === required)) continue;
    const requiredSpec = definition.flags.find((f) => f.key === required);
    const value = requiredSpec?.type === 'value' ? requiredSpec.example : undefined;
    const addition: FlagItem = { type: 'flag', spelled: required, name: required, singleDash: false, inline: false, ...(requiredSpec ? { spec: requiredSpec } : {}), ...(value === undefined ? {} : { value }) };
    return fail(`\`--${item.spec.key}\` needs \`--${required} "..."\` saying why.`, replaced(index, item, addition));
  }

  return { ok: true, command: definition.build(collected.values), notes: collected.notes };
}

type Repair = { readonly reason: string; readonly repaired?: readonly Item[] };

/** Unknown, misspelled, valueless, repeated and conflicting flags, left to right. */
function checkFlags(definition: CommandDefinition, items: readonly Item[], replaced: (index: number, ...with_: Item[]) => Item[]): Repair | undefined {
  const seen = new Map<string, FlagItem>();
  for (const [index, item] of items.entries()) {
    if (item.type !== 'flag') continue;
    const typed = `${item.singleDash ? '-' : '--'}${shown(item.spelled, 30)}`;
    if (item.name === '') return { reason: `\`${typed}\` on its own is not an option.`, repaired: replaced(index) };
    const spec = item.spec;
    if (spec === undefined) return unknownFlag(definition, item, typed, replaced(index, ...suggestedFlag(definition, item)));
    const canonical = `--${item.choice ?? spec.key}`;
    if (item.singleDash) return { reason: `Options start with two dashes: \`${canonical}\`.`, repaired: replaced(index, { ...item, singleDash: false }) };
    if (spec.type !== 'value' && item.value !== undefined) {
      const { value: _dropped, ...bare } = item;
      return { reason: `\`${canonical}\` takes no value.`, repaired: replaced(index, { ...bare, inline: false }) };
    }
    if (spec.type === 'value') {
      if (item.value === undefined || item.value.trim() === '') {
        const { value: _empty, ...bare } = item;
        const hint = spec.example === undefined ? '' : `, like \`${canonical} ${renderValue(spec.example)}\``;
        return {
          reason: `\`${canonical}\` needs a value${hint}.`,
          repaired: spec.example === undefined ? replaced(index) : replaced(index, { ...bare, value: spec.example }),
        };
      }
      const next = items[index + 1];
      // `--for 8 hours`: the unit became a word of its own.
      if (spec.kind === 'duration' && !item.inline && next?.type === 'arg' && /^\d+(?:[.,]\d+)?$/.test(item.value) && UNIT_WORDS[keyword(next.value)] !== undefined) {
        const fix = canonicalDuration(`${item.value}${keyword(next.value)}`);
        if (fix !== undefined) {
          return {
            reason: `Write durations without a space, like \`${canonical} ${fix}\`.`,
            repaired: [...items.slice(0, index), { ...item, value: fix }, ...items.slice(index + 2)],
          };
        }
      }
    }
    const previous = seen.get(spec.key);
    if (previous !== undefined) {
      if (spec.type === 'choice' && previous.choice !== item.choice && previous.choice !== undefined && item.choice !== undefined) {
        const merged = spec.merge(previous.choice, item.choice);
        const previousIndex = items.indexOf(previous);
        const repaired = items.flatMap((other, i) => (i === index ? [] : i === previousIndex ? [{ ...previous, choice: merged }] : [other]));
        const hint = merged === previous.choice || merged === item.choice ? `use \`--${merged}\` alone` : `use \`--${merged}\``;
        return { reason: `\`--${previous.choice}\` and \`--${item.choice}\` cannot be combined; ${hint}.`, repaired };
      }
      return { reason: `\`${canonical}\` is given twice.`, repaired: replaced(index) };
    }
    seen.set(spec.key, item);
  }
  return undefined;
}

/** The same flag with the name it was probably meant to have, or nothing (drop it). */
function suggestedFlag(definition: CommandDefinition, item: FlagItem): Item[] {
  const meant = meantFlag(definition, item.name);
  if (meant === undefined) return [];
  const found = lookupFlag(definition, meant);
  if (!found) return [];
  return [{ ...item, name: meant, spelled: meant, singleDash: false, spec: found.spec, ...(found.choice === undefined ? {} : { choice: found.choice }) }];
}

function meantFlag(definition: CommandDefinition, name: string): string | undefined {
  for (const spec of definition.flags) {
    if (spec.type === 'choice') {
      const choice = spec.choices.find((c) => c.aliases?.includes(name));
      if (choice) return choice.name;
    } else if (spec.aliases?.includes(name)) {
      return spec.key;
    }
  }
  const names = definition.flags.flatMap((spec) => (spec.type === 'choice' ? spec.choices.map((c) => c.name) : [spec.key]));
  return nearest(name, names);
}

function unknownFlag(definition: CommandDefinition, item: FlagItem, typed: string, repaired: readonly Item[]): Repair {
  const meant = meantFlag(definition, item.name);
  if (meant !== undefined) return { reason: `\`${typed}\` is not an option of \`${definition.name}\`; did you mean \`--${meant}\`?`, repaired };
  if (definition.flags.length === 0) return { reason: `\`${definition.name}\` takes no options.`, repaired };
  const elsewhere = COMMAND_DEFINITIONS.some((d) => lookupFlag(d, item.name) !== undefined);
  if (elsewhere) return { reason: `\`${definition.name}\` has no \`--${item.name}\` option.`, repaired };
  return { reason: `\`${typed}\` is not an option of \`${definition.name}\`.`, repaired };
}

/** `--reason deploy the hotfix` left `the hotfix` as stray arguments: they belong inside quotes. */
function unquotedFreeText(items: readonly Item[], extraCount: number): Repair | undefined {
  for (const [index, item] of items.entries()) {
    if (item.type !== 'flag' || item.spec?.type !== 'value' || !FREE_TEXT_KINDS.has(item.spec.kind) || item.value === undefined) continue;
    let followers = 0;
    while (followers < extraCount && items[index + 1 + followers]?.type === 'arg') followers += 1;
    if (followers === 0) continue;
    const words = items.slice(index + 1, index + 1 + followers).map((a) => (a.type === 'arg' ? a.value : ''));
    const value = [item.value, ...words].join(' ');
    const flag = `--${item.spec.key}`;
    return {
      reason: `Put quotes around text with spaces: \`${flag} "${shown(value, 40)}"\`.`,
      repaired: [...items.slice(0, index), { ...item, value }, ...items.slice(index + 1 + followers)],
    };
  }
  return undefined;
}

/** Validates every value in the order typed; fills defaults; gathers notes. */
function collectValues(
  definition: CommandDefinition,
  items: readonly Item[],
  replaced: (index: number, ...with_: Item[]) => Item[],
): { ok: true; values: Record<string, unknown>; notes: string[] } | ({ ok: false } & Repair) {
  const values: Record<string, unknown> = {};
  const notes: string[] = [];
  for (const spec of definition.flags) {
    if (spec.type === 'switch') values[spec.key] = false;
    else if (spec.type === 'choice') values[spec.key] = spec.default;
  }
  const restSlot = definition.positionals.find((s) => s.rest === true);
  if (restSlot) {
    const words = items.filter((item): item is ArgItem => item.type === 'arg').map((a) => a.value);
    const checked = KIND_CHECKS.topic(words.join(' '), restSlot.display);
    if (checked.ok && checked.value !== '') values[restSlot.key] = checked.value;
  }
  let argIndex = 0;
  for (const [index, item] of items.entries()) {
    if (item.type === 'arg') {
      const slot = definition.positionals[argIndex];
      argIndex += 1;
      if (slot === undefined || slot.rest === true) continue;
      const checked = KIND_CHECKS[slot.kind](item.value, `<${slot.display}>`);
      if (!checked.ok) return { ok: false, reason: checked.reason, repaired: replaced(index, { type: 'arg', value: checked.fix ?? slot.example }) };
      values[slot.key] = checked.value;
      notes.push(...checked.notes);
      continue;
    }
    const spec = item.spec;
    if (spec === undefined) continue;
    if (spec.type === 'switch') values[spec.key] = true;
    else if (spec.type === 'choice') values[spec.key] = item.choice ?? spec.default;
    else {
      const checked = KIND_CHECKS[spec.kind](item.value ?? '', `--${spec.key}`);
      if (!checked.ok) {
        const fix = checked.fix ?? spec.example;
        return { ok: false, reason: checked.reason, repaired: fix === undefined ? replaced(index) : replaced(index, { ...item, value: fix }) };
      }
      values[spec.key] = checked.value;
      notes.push(...checked.notes);
    }
  }
  return { ok: true, values, notes };
}
