/**
 * Help for the slash command, generated from the grammar's definitions: this file names no
 * command and no flag, so help cannot drift from what the parser accepts.
 */
import { shownInput } from '../cluster-admin/display';
import {
  COMMAND_DEFINITIONS,
  COMMAND_GROUPS,
  findCommandDefinition,
  flagSpellings,
  suggestCommand,
  type CommandDefinition,
  type CommandName,
  type FlagSpec,
} from './grammar';

/**
 * Escapes the three characters Slack reserves in mrkdwn text (`&`, `<`, `>`), everywhere,
 * code spans included: unescaped, `<!channel>` in echoed input would ping a whole channel.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The usage line of one command, as plain text (escape it before using it in mrkdwn):
 * `/crdb allow <ipv4[/mask]> [--sql|--ui|--both] [--for 8h] ...`.
 */
export function usage(commandName: string, name: CommandName): string {
  const definition = COMMAND_DEFINITIONS.find((d) => d.name === name);
  // CommandName is derived from the definitions, so this only fails if the two drift apart.
  if (definition === undefined) throw new RangeError(`No command definition named ${JSON.stringify(name)}`);
  return usageOf(commandName, definition);
}

/**
 * Slack mrkdwn help, escaped and ready to send: without a topic, every command grouped
 * (Access, Users, Info) with its usage line and summary; with a command (`allow`, `user create`),
 * its usage, a table of its arguments and options, and examples; with a group word (`user`), its
 * subcommands. An unknown topic gets a one-line refusal, a suggestion when one is close, and the
 * list of commands.
 */
export function helpText(commandName: string, topic?: string): string {
  const words = (topic ?? '').normalize('NFKC').toLowerCase().split(/\s+/).filter(Boolean);
  if (words[0] === commandName) words.shift();
  const wanted = words.join(' ');
  if (wanted === '') return escapeMrkdwn(overview(commandName));
  const definition = findCommandDefinition(wanted);
  if (definition) return escapeMrkdwn(commandHelp(commandName, definition));
  const group = COMMAND_DEFINITIONS.filter((d) => d.words.length > 1 && d.words[0] === wanted);
  if (group.length > 0) return escapeMrkdwn(groupHelp(commandName, wanted, group));
  return escapeMrkdwn(unknownTopic(commandName, topic ?? ''));
}

function usageOf(commandName: string, definition: CommandDefinition): string {
  const positionals = definition.positionals.map((p) => (p.required ? `<${p.display}>` : `[${p.display}]`));
  const flags = definition.flags.map((f) => `[${flagUsage(f)}]`);
  return [commandName, ...definition.words, ...positionals, ...flags].join(' ');
}

function flagUsage(flag: FlagSpec): string {
  if (flag.type === 'value') return `--${flag.key} ${flag.metavar}`;
  return flagSpellings(flag).join('|');
}

function commandLine(commandName: string, definition: CommandDefinition): string {
  return `• \`${usageOf(commandName, definition)}\`\n      ${definition.summary}`;
}

function overview(commandName: string): string {
  const sections = COMMAND_GROUPS.map((group) => {
    const lines = COMMAND_DEFINITIONS.filter((d) => d.group === group).map((d) => commandLine(commandName, d));
    return [`*${group}*`, ...lines].join('\n');
  });
  return [
    `*\`${commandName}\`: self-serve CockroachDB access*`,
    'Replies are visible only to you; passwords only ever arrive by DM.',
    ...sections,
    `Options and examples for one command: \`${commandName} help <command>\`, e.g. \`${commandName} help allow\`.`,
  ].join('\n\n');
}

function commandHelp(commandName: string, definition: CommandDefinition): string {
  const rows: Array<[string, string]> = [
    ...definition.positionals.map((p): [string, string] => [p.required ? `<${p.display}>` : `[${p.display}]`, p.summary]),
    ...definition.flags.map((f): [string, string] => [flagCell(f), flagDescription(f)]),
  ];
  const sections = [
    `*\`${commandName} ${definition.name}\`*: ${definition.summary}`,
    definition.description,
    `*Usage*\n\`${usageOf(commandName, definition)}\``,
  ];
  if (rows.length > 0) sections.push(`*Arguments and options*\n${table(rows)}`);
  sections.push(`*Examples*\n${definition.examples.map((e) => `• \`${commandName} ${e}\``).join('\n')}`);
  return sections.join('\n\n');
}

function flagCell(flag: FlagSpec): string {
  if (flag.type === 'value') return `--${flag.key} ${flag.metavar}`;
  return flagSpellings(flag).join(' | ');
}

function flagDescription(flag: FlagSpec): string {
  if (flag.type === 'choice') return `${flag.summary} Default: --${flag.default}.`;
  if (flag.type === 'switch' && flag.requires !== undefined) return `${flag.summary} Requires --${flag.requires}.`;
  return flag.summary;
}

/** A two-column table in a code block: Slack mrkdwn has no tables, and monospace keeps columns aligned. */
function table(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([left]) => left.length));
  // Backticks would end the code block early; in a table they only add noise.
  const lines = rows.map(([left, right]) => `${left.padEnd(width)}  ${right.replace(/`/g, '')}`);
  return ['```', ...lines, '```'].join('\n');
}

function groupHelp(commandName: string, word: string, group: readonly CommandDefinition[]): string {
  return [
    `*\`${commandName} ${word}\`* has these subcommands:`,
    group.map((d) => commandLine(commandName, d)).join('\n'),
    `Options and examples: \`${commandName} help ${group[0]?.name ?? word}\`.`,
  ].join('\n\n');
}

function unknownTopic(commandName: string, topic: string): string {
  const meant = suggestCommand(topic);
  const suggestion = meant === undefined ? '' : ` Did you mean \`${commandName} help ${meant.name}\`?`;
  return [
    `There is no \`${commandName}\` command \`${shownInput(topic.trim(), 40)}\`.${suggestion}`,
    `*Commands*\n${COMMAND_DEFINITIONS.map((d) => `• \`${usageOf(commandName, d)}\``).join('\n')}`,
  ].join('\n\n');
}
