/**
 * The `/crdb` command grammar: definitions (the vocabulary), values (one validator per kind),
 * the tokenizer (Slack's rewriting undone, words and quotes) and the analyser (tokens to a typed
 * command, or a reason with a corrected example); this module is its public face. One declarative
 * definition per command drives the parser, the corrected examples in refusals and the help text
 * (`../help`): a flag added here is parsed, validated, suggested and documented without another
 * edit.
 *
 * Parsing never throws on user input and never half-succeeds: the result is either a fully typed,
 * normalised command with user-facing notes, or a one-line reason plus a complete corrected
 * command line that itself parses.
 *
 * All text returned here is plain text with backtick code spans; escape it (`escapeMrkdwn`) before
 * putting it in a Slack mrkdwn field, because it echoes what the requester typed.
 */
export { type AllowCommand, type AllowlistCommand, type AllowMeCommand, type AuditCommand, type CheckCommand, type ClustersCommand, type ConnectCommand, DEFAULT_COMMAND_NAME, type ExtendCommand, type HelpCommand, type ParseFailure, type ParseOptions, type ParseResult, type ParseSuccess, type RequestsCommand, type RevokeCommand, type UserCreateCommand, type UserDeleteCommand, type UserExtendCommand, type UserRotateCommand, type UsersCommand } from './commands';
export { type ChoiceFlagSpec, COMMAND_DEFINITIONS, COMMAND_GROUPS, type CommandDefinition, type CommandGroup, type CommandName, findCommandDefinition, type FlagSpec, flagSpellings, type ParsedCommand, type PositionalSpec, suggestCommand, type SwitchFlagSpec, type ValueFlagSpec, type ValueKind } from './definitions';
export { rangeWarnings } from './values';
export { parseCommand } from './analyser';
