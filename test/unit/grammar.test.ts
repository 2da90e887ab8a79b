import { NETWORK_EXAMPLES, parseIpv4Network } from '../../lib/cluster-admin/network';
import {
  COMMAND_DEFINITIONS,
  type ParseFailure,
  type ParsedCommand,
  type ParseOptions,
  type ParseSuccess,
  flagSpellings,
  parseCommand,
  rangeWarnings,
} from '../../lib/slack/grammar';
import { escapeMrkdwn, helpText, usage } from '../../lib/slack/help';

/** Any character a chat client could render as a line break. */
const LINE_BREAK = /[\n\r\v\f\u0085\u2028\u2029]/;

function expectParsed(text: string, options: ParseOptions = {}): ParseSuccess {
  const result = parseCommand(text, options);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(text)} to parse, got: ${result.reason}`);
  return result;
}

function expectCommand(text: string, expected: ParsedCommand, options: ParseOptions = {}): void {
  expect(expectParsed(text, options).command).toEqual(expected);
}

/** The standard refusal: one line of reason, at most 200 characters, and an example that parses. */
function expectRefusal(text: string, options: ParseOptions = {}): ParseFailure {
  const result = parseCommand(text, options);
  if (result.ok) throw new Error(`expected ${JSON.stringify(text)} to be refused, got ${JSON.stringify(result.command)}`);
  expect(result.reason).not.toMatch(LINE_BREAK);
  expect(result.reason.length).toBeLessThanOrEqual(200);
  expect(result.reason.length).toBeGreaterThan(0);
  expect(result.example).not.toMatch(LINE_BREAK);
  expect(result.example.startsWith(`${options.commandName ?? '/crdb'} `)).toBe(true);
  const again = parseCommand(result.example, options);
  if (!again.ok) throw new Error(`example ${JSON.stringify(result.example)} for ${JSON.stringify(text)} does not parse: ${again.reason}`);
  return result;
}

const host = (address: string) => parseIpv4Network(address);
const SQL_ONLY = { sql: true, ui: false };

describe('parseCommand: every command and flag form', () => {
  it('treats empty and whitespace-only input, and the bare command name, as help', () => {
    for (const text of ['', '   ', '\t\u00a0\n', '/crdb', ' /crdb  ']) expectCommand(text, { name: 'help' });
  });

  it('reads help with and without a topic, lowercasing the topic', () => {
    expectCommand('help', { name: 'help' });
    expectCommand('help ALLOW', { name: 'help', topic: 'allow' });
    expectCommand('help user  create', { name: 'help', topic: 'user create' });
  });

  it('reads commands without arguments', () => {
    expectCommand('clusters', { name: 'clusters' });
    expectCommand('requests', { name: 'requests' });
    expectCommand('audit', { name: 'audit' });
    expectCommand('users', { name: 'users' });
    expectCommand('allowlist', { name: 'allowlist' });
    expectCommand('connect', { name: 'connect' });
  });

  it('reads allow with its defaults: SQL only, permanent, no break-glass', () => {
    expectCommand('allow 34.1.2.3', { name: 'allow', network: host('34.1.2.3'), access: SQL_ONLY, breakGlass: false });
  });

  it.each([
    ['--sql', { sql: true, ui: false }],
    ['--ui', { sql: false, ui: true }],
    ['--both', { sql: true, ui: true }],
  ])('reads the access flag %s', (flag, access) => {
    expectCommand(`allow 34.1.2.3 ${flag}`, { name: 'allow', network: host('34.1.2.3'), access, breakGlass: false });
  });

  it.each([
    ['space-separated values', 'allow 34.1.2.0/24 --ui --for 8h --name "home office" --cluster prod-eu --reason "on call" --break-glass'],
    ['`=` values', 'allow 34.1.2.0/24 --ui --for=8h --name="home office" --cluster=prod-eu --reason="on call" --break-glass'],
    ['flags before the address', 'allow --break-glass --reason "on call" --cluster prod-eu --name "home office" --for 8h --ui 34.1.2.0/24'],
  ])('reads every allow flag with %s', (_form, text) => {
    expectCommand(text, {
      name: 'allow',
      network: host('34.1.2.0/24'),
      access: { sql: false, ui: true },
      forMs: 8 * 3_600_000,
      label: 'home office',
      cluster: 'prod-eu',
      reason: 'on call',
      breakGlass: true,
    });
  });

  it.each([
    ['30m', 30 * 60_000],
    ['8h', 8 * 3_600_000],
    ['7d', 7 * 86_400_000],
  ])('reads --for %s as milliseconds', (duration, ms) => {
    expect(expectParsed(`allow 34.1.2.3 --for ${duration}`).command).toMatchObject({ forMs: ms });
  });

  it('reads allowlist, users and audit with --cluster', () => {
    expectCommand('allowlist --cluster prod', { name: 'allowlist', cluster: 'prod' });
    expectCommand('users --cluster=prod', { name: 'users', cluster: 'prod' });
    expectCommand('audit --cluster prod', { name: 'audit', cluster: 'prod' });
  });

  it('reads check with a normalised address, accepting an explicit /32', () => {
    expectCommand('check 34.1.2.3', { name: 'check', ip: '34.1.2.3' });
    expectCommand('check 34.1.2.3/32 --cluster prod', { name: 'check', ip: '34.1.2.3', cluster: 'prod' });
  });

  it('reads revoke with a normalised CIDR; a bare address is its /32', () => {
    expectCommand('revoke 34.1.2.0/24', { name: 'revoke', cidr: '34.1.2.0/24', breakGlass: false });
    expectCommand('revoke 34.1.2.3', { name: 'revoke', cidr: '34.1.2.3/32', breakGlass: false });
    expectCommand('revoke 34.1.2.0/24 --cluster prod --reason "laptop lost" --break-glass', {
      name: 'revoke',
      cidr: '34.1.2.0/24',
      cluster: 'prod',
      reason: 'laptop lost',
      breakGlass: true,
    });
  });

  it.each([
    ['space-separated values', 'user create reporting --database analytics --for 7d --cluster prod --reason "quarterly report" --break-glass'],
    ['`=` values', 'user create reporting --database=analytics --for=7d --cluster=prod --reason="quarterly report" --break-glass'],
  ])('reads every user create flag with %s', (_form, text) => {
    expectCommand(text, {
      name: 'user create',
      user: 'reporting',
      database: 'analytics',
      forMs: 7 * 86_400_000,
      cluster: 'prod',
      reason: 'quarterly report',
      breakGlass: true,
    });
  });

  it('reads user create, rotate and delete with only a name', () => {
    expectCommand('user create maxroach', { name: 'user create', user: 'maxroach', breakGlass: false });
    expectCommand('user rotate maxroach --cluster prod', { name: 'user rotate', user: 'maxroach', cluster: 'prod' });
    expectCommand('user delete maxroach', { name: 'user delete', user: 'maxroach', breakGlass: false });
    expectCommand('user delete maxroach --cluster prod --reason "left the team" --break-glass', {
      name: 'user delete',
      user: 'maxroach',
      cluster: 'prod',
      reason: 'left the team',
      breakGlass: true,
    });
  });

  it('reads connect with every flag, and format ids case-insensitively', () => {
    expectCommand('connect maxroach --database analytics --region us-east1 --format JDBC --cluster prod', {
      name: 'connect',
      user: 'maxroach',
      database: 'analytics',
      region: 'us-east1',
      format: 'jdbc',
      cluster: 'prod',
    });
    expectCommand('connect --format=node-postgres', { name: 'connect', format: 'node-postgres' });
  });

  it('accepts the command name in front, so a corrected example can be pasted back', () => {
    expectCommand('/crdb allowlist', { name: 'allowlist' });
    expectCommand('/db allowlist', { name: 'allowlist' }, { commandName: '/db' });
  });

  it('answers --help anywhere with help on the command before it', () => {
    expectCommand('allow --help', { name: 'help', topic: 'allow' });
    expectCommand('user create -h', { name: 'help', topic: 'user create' });
    expectCommand('--help', { name: 'help' });
  });
});

describe('parseCommand: Slack text realities', () => {
  it.each([
    ['straight double quotes', '--reason "deploy hotfix"'],
    ['straight single quotes', "--reason 'deploy hotfix'"],
    ['smart double quotes', '--reason “deploy hotfix”'],
    ['smart single quotes', '--reason ‘deploy hotfix’'],
    ['smart quotes after =', '--reason=“deploy hotfix”'],
  ])('accepts a quoted value in %s', (_quotes, flag) => {
    expect(expectParsed(`allow 34.1.2.3 ${flag}`).command).toMatchObject({ reason: 'deploy hotfix' });
  });

  it('keeps apostrophes inside words and inside quoted values', () => {
    expect(expectParsed("allow 34.1.2.3 --name don't").command).toMatchObject({ label: "don't" });
    expect(expectParsed("allow 34.1.2.3 --name 'it's mine'").command).toMatchObject({ label: "it's mine" });
    expect(expectParsed('allow 34.1.2.3 --name “Bob’s laptop”').command).toMatchObject({ label: 'Bob’s laptop' });
  });

  it('treats a quoted token that starts with dashes as a value, not a flag', () => {
    expect(expectParsed('allow 34.1.2.3 --reason "--sql was wrong"').command).toMatchObject({ reason: '--sql was wrong', access: SQL_ONLY });
  });

  it('refuses an unterminated quote and closes it in the example', () => {
    const refusal = expectRefusal('allow 34.1.2.3 --reason “deploy hotfix');
    expect(refusal.reason).toMatch(/never closed/);
    expect(refusal.example).toBe('/crdb allow 34.1.2.3 --reason "deploy hotfix"');
  });

  it('closes an unterminated quote before the next flag in the example', () => {
    expect(expectRefusal('allow 34.1.2.3 --reason "deploy hotfix --for 8h').example).toBe('/crdb allow 34.1.2.3 --reason "deploy hotfix" --for 8h');
  });

  it('decodes the HTML entities Slack escapes &, < and > into, once', () => {
    expect(expectParsed('allow 34.1.2.3 --reason "R&amp;D &lt;urgent&gt;"').command).toMatchObject({ reason: 'R&D <urgent>' });
    expect(expectParsed('allow 34.1.2.3 --reason "&amp;lt;"').command).toMatchObject({ reason: '&lt;' });
  });

  it('uses the label of auto-linked text', () => {
    expectCommand('user create <http://app.reader|app.reader>', { name: 'user create', user: 'app.reader', breakGlass: false });
    expect(expectParsed('allow 34.1.2.3 --reason "ask <mailto:a@b.c|a@b.c>"').command).toMatchObject({ reason: 'ask a@b.c' });
    expect(expectParsed('allow 34.1.2.3 --reason <https://status.example.com>').command).toMatchObject({ reason: 'https://status.example.com' });
  });

  it.each([
    ['a user mention with a name', 'user create <@U123ABC|bob>', /`@bob` is a Slack mention/, '/crdb user create bob'],
    ['a bare user mention', 'connect <@U123ABC>', /`@U123ABC` is a Slack mention/, '/crdb connect'],
    ['a channel link', 'allow 34.1.2.3 --reason "see <#C123|ops>"', /`#ops` is a channel link/, '/crdb allow 34.1.2.3 --reason "see ops"'],
    ['a special mention', 'allow 34.1.2.3 --reason "<!here> please"', /`@here` is a Slack mention/, '/crdb allow 34.1.2.3 --reason please'],
  ])('refuses %s anywhere', (_what, text, reason, example) => {
    const refusal = expectRefusal(text);
    expect(refusal.reason).toMatch(reason);
    expect(refusal.example).toBe(example);
  });

  it('splits on tabs, non-breaking and other Unicode spaces, ignoring leading and trailing whitespace', () => {
    expectCommand('\u00a0 allow\t34.1.2.3\u00a0\u00a0--for\u20038h \n', { name: 'allow', network: host('34.1.2.3'), access: SQL_ONLY, forMs: 8 * 3_600_000, breakGlass: false });
  });

  it('treats an em or en dash at the start of a token as --', () => {
    expect(expectParsed('allow 34.1.2.3 —for 8h –ui').command).toMatchObject({ forMs: 8 * 3_600_000, access: { sql: false, ui: true } });
    expect(expectParsed('allow 34.1.2.3 —for=8h —-both').command).toMatchObject({ forMs: 8 * 3_600_000, access: { sql: true, ui: true } });
  });

  it('reads command words and flag names case-insensitively but keeps values as typed', () => {
    expectCommand('ALLOW 34.1.2.3 --NAME "Home Office" --For 8h', {
      name: 'allow',
      network: host('34.1.2.3'),
      access: SQL_ONLY,
      forMs: 8 * 3_600_000,
      label: 'Home Office',
      breakGlass: false,
    });
    expectCommand('User CREATE maxroach', { name: 'user create', user: 'maxroach', breakGlass: false });
  });

  it('refuses an uppercase user name with the lowercased name in the example', () => {
    const refusal = expectRefusal('user create MaxRoach --database analytics');
    expect(refusal.reason).toMatch(/`MaxRoach` is not a valid SQL user name/);
    expect(refusal.example).toBe('/crdb user create maxroach --database analytics');
  });
});

describe('parseCommand: refusals with a corrected example', () => {
  it('suggests the nearest command for a typo', () => {
    const refusal = expectRefusal('alow 34.1.2.3 --for 8h');
    expect(refusal.reason).toBe('`alow` is not a /crdb command; did you mean `allow`?');
    expect(refusal.example).toBe('/crdb allow 34.1.2.3 --for 8h');
  });

  it('points at help for a word far from every command', () => {
    const refusal = expectRefusal('xyzzy 34.1.2.3');
    expect(refusal.reason).toBe('`xyzzy` is not a /crdb command; see `/crdb help`.');
    expect(refusal.example).toBe('/crdb help');
  });

  it('maps a synonym to the command it means', () => {
    expect(expectRefusal('user make bob').example).toBe('/crdb user create bob');
    expect(expectRefusal('remove 34.1.2.0/24').example).toBe('/crdb revoke 34.1.2.0/24');
    expect(expectRefusal('list --cluster prod').example).toBe('/crdb allowlist --cluster prod');
  });

  it('repairs a two-word command with a missing, misspelled, misplaced or pluralised word', () => {
    expect(expectRefusal('user').reason).toBe('`user` needs a subcommand: `create`, `rotate`, `extend`, `delete`.');
    expect(expectRefusal('user').example).toBe('/crdb user create maxroach');
    expect(expectRefusal('user craete bob').example).toBe('/crdb user create bob');
    expect(expectRefusal('user bob delete').example).toBe('/crdb user delete bob');
    expect(expectRefusal('users create bob').example).toBe('/crdb user create bob');
  });

  it.each([
    ['a typo', 'allow 34.1.2.3 --fro 8h', '`--fro` is not an option of `allow`; did you mean `--for`?', '/crdb allow 34.1.2.3 --for 8h'],
    ['a common alias', 'connect --db analytics', '`--db` is not an option of `connect`; did you mean `--database`?', '/crdb connect --database analytics'],
    ['another word for an access flag', 'allow 34.1.2.3 --console', '`--console` is not an option of `allow`; did you mean `--ui`?', '/crdb allow 34.1.2.3 --ui'],
    ['a misspelled switch', 'allow 34.1.2.3 --reason x --breakglass', '`--breakglass` is not an option of `allow`; did you mean `--break-glass`?', '/crdb allow 34.1.2.3 --reason x --break-glass'],
  ])('suggests the nearest flag for %s', (_what, text, reason, example) => {
    const refusal = expectRefusal(text);
    expect(refusal.reason).toBe(reason);
    expect(refusal.example).toBe(example);
  });

  it('names a flag that belongs to another command, and drops it from the example', () => {
    const refusal = expectRefusal('allow 34.1.2.3 --database analytics');
    expect(refusal.reason).toBe('`allow` has no `--database` option.');
    expect(refusal.example).toBe('/crdb allow 34.1.2.3');
  });

  it('refuses options on a command that takes none', () => {
    expect(expectRefusal('clusters --cluster prod')).toEqual({ ok: false, reason: '`clusters` takes no options.', example: '/crdb clusters' });
  });

  it('refuses an unknown flag far from every flag', () => {
    expect(expectRefusal('allow 34.1.2.3 --zzzzzz').reason).toBe('`--zzzzzz` is not an option of `allow`.');
  });

  it('refuses a single-dash option', () => {
    const refusal = expectRefusal('allow 34.1.2.3 -for 8h');
    expect(refusal.reason).toBe('Options start with two dashes: `--for`.');
    expect(refusal.example).toBe('/crdb allow 34.1.2.3 --for 8h');
  });

  it.each([
    ['at the end', 'allow 34.1.2.3 --for', '/crdb allow 34.1.2.3 --for 8h'],
    ['before another flag', 'allow 34.1.2.3 --for --ui', '/crdb allow 34.1.2.3 --for 8h --ui'],
    ['after =', 'allow 34.1.2.3 --for=', '/crdb allow 34.1.2.3 --for=8h'],
  ])('refuses a missing value %s', (_where, text, example) => {
    const refusal = expectRefusal(text);
    expect(refusal.reason).toBe('`--for` needs a value, like `--for 8h`.');
    expect(refusal.example).toBe(example);
  });

  it('drops a valueless flag without a sensible example value', () => {
    expect(expectRefusal('allow 34.1.2.3 --cluster').example).toBe('/crdb allow 34.1.2.3');
  });

  it('refuses a repeated flag, keeping the first', () => {
    const refusal = expectRefusal('allow 34.1.2.3 --for 8h --for 9h');
    expect(refusal.reason).toBe('`--for` is given twice.');
    expect(refusal.example).toBe('/crdb allow 34.1.2.3 --for 8h');
    expect(expectRefusal('allow 34.1.2.3 --ui --ui').reason).toBe('`--ui` is given twice.');
  });

  it('refuses a value on a switch', () => {
    const refusal = expectRefusal('allow 34.1.2.3 --reason x --break-glass=yes');
    expect(refusal.reason).toBe('`--break-glass` takes no value.');
    expect(refusal.example).toBe('/crdb allow 34.1.2.3 --reason x --break-glass');
  });

  it.each([
    ['--sql --ui', '`--sql` and `--ui` cannot be combined; use `--both`.', '/crdb allow 34.1.2.3 --both'],
    ['--ui --both', '`--ui` and `--both` cannot be combined; use `--both` alone.', '/crdb allow 34.1.2.3 --both'],
    ['--both --sql', '`--both` and `--sql` cannot be combined; use `--both` alone.', '/crdb allow 34.1.2.3 --both'],
  ])('refuses conflicting access flags %s', (flags, reason, example) => {
    const refusal = expectRefusal(`allow 34.1.2.3 ${flags}`);
    expect(refusal.reason).toBe(reason);
    expect(refusal.example).toBe(example);
  });

  it('refuses --break-glass without --reason and shows where the reason goes', () => {
    const refusal = expectRefusal('allow 34.1.2.3 --break-glass --for 1h');
    expect(refusal.reason).toBe('`--break-glass` needs `--reason "..."` saying why.');
    expect(refusal.example).toBe('/crdb allow 34.1.2.3 --break-glass --reason "why it cannot wait" --for 1h');
  });

  it('refuses extra arguments', () => {
    expect(expectRefusal('allow 34.1.2.3 34.1.2.4')).toEqual({
      ok: false,
      reason: '`34.1.2.4` is extra: `allow` takes one `<ipv4[/mask]>`.',
      example: '/crdb allow 34.1.2.3',
    });
    expect(expectRefusal('clusters prod').reason).toBe('`prod` is extra: `clusters` takes no arguments.');
    expect(expectRefusal('users prod').reason).toBe('`prod` is extra: `users` takes only options.');
  });

  it('suggests quotes when an unquoted reason spills into extra arguments', () => {
    const refusal = expectRefusal('allow 34.1.2.3 --reason deploy the hotfix --for 1h');
    expect(refusal.reason).toBe('Put quotes around text with spaces: `--reason "deploy the hotfix"`.');
    expect(refusal.example).toBe('/crdb allow 34.1.2.3 --reason "deploy the hotfix" --for 1h');
    expect(expectRefusal('allow 34.1.2.3 --name=home office').example).toBe('/crdb allow 34.1.2.3 --name="home office"');
  });

  it('refuses a quoted empty command word', () => {
    expect(expectRefusal('"" allow')).toEqual({ ok: false, reason: 'Start with a command; see `/crdb help`.', example: '/crdb help' });
  });

  it('refuses a missing required argument with a placeholder in the example', () => {
    expect(expectRefusal('allow --for 8h')).toEqual({
      ok: false,
      reason: '`allow` needs an IPv4 address or CIDR, like `203.0.113.7`.',
      example: '/crdb allow 203.0.113.7 --for 8h',
    });
    expect(expectRefusal('user delete').example).toBe('/crdb user delete maxroach');
  });

  it('refuses IPv6 with an IPv4 placeholder, keeping the other flags', () => {
    const refusal = expectRefusal('allow 2001:db8::1 --for 8h --ui');
    expect(refusal.reason).toBe('`2001:db8::1` is IPv6; CockroachDB Cloud allowlists accept IPv4 only.');
    expect(refusal.example).toBe(`/crdb allow ${NETWORK_EXAMPLES.host} --for 8h --ui`);
    expect(expectRefusal('check 2001:db8::1').example).toBe(`/crdb check ${NETWORK_EXAMPLES.host}`);
  });

  it.each([
    ['an address with a port', 'allow 34.1.2.3:26257', '/crdb allow 34.1.2.3'],
    ['an address with a trailing comma', 'allow 34.1.2.3,', '/crdb allow 34.1.2.3'],
    ['a leading zero', 'allow 34.01.2.3', '/crdb allow 34.1.2.3'],
    ['a network given to check', 'check 34.1.2.3/24', '/crdb check 34.1.2.3'],
    ['a bad prefix', 'revoke 34.1.2.0/33', '/crdb revoke 34.1.2.0/32'],
  ])('refuses %s with the fix in the example', (_what, text, example) => {
    expect(expectRefusal(text).example).toBe(example);
  });

  it.each([
    ['--for 8 hours', '--for 8h'],
    ['--for 8hours', '--for 8h'],
    ['--for "8 hours"', '--for 8h'],
    ['--for 8H', '--for 8h'],
    ['--for 8', '--for 8h'],
    ['--for 1.5h', '--for 90m'],
    ['--for 2weeks', '--for 14d'],
    ['--for 0h', '--for 8h'],
    ['--for forever', '--for 8h'],
  ])('refuses the duration %s and suggests %s', (typed, fixed) => {
    expect(expectRefusal(`allow 34.1.2.3 ${typed} --ui`).example).toBe(`/crdb allow 34.1.2.3 ${fixed} --ui`);
  });

  it('explains why a bare number is not a duration', () => {
    expect(expectRefusal('allow 34.1.2.3 --for 8').reason).toBe('`--for 8` needs a unit, like `8h`.');
  });

  it('refuses a label that is too long or not printable', () => {
    const long = 'x'.repeat(49);
    const tooLong = expectRefusal(`allow 34.1.2.3 --name ${long}`);
    expect(tooLong.reason).toBe('An entry name is at most 48 characters; this one has 49.');
    expect(tooLong.example).toBe(`/crdb allow 34.1.2.3 --name ${'x'.repeat(48)}`);
    const bidi = expectRefusal('allow 34.1.2.3 --name "evil\u202Egnp.exe"');
    expect(bidi.reason).toBe('An entry name must be printable text on one line.');
    expect(bidi.example).toBe('/crdb allow 34.1.2.3 --name "evil gnp.exe"');
  });

  it('refuses a reason that is too long or spans lines', () => {
    expect(expectRefusal(`allow 34.1.2.3 --reason "${'y'.repeat(301)}"`).reason).toBe('A reason is at most 300 characters; this one has 301.');
    const multiline = expectRefusal('allow 34.1.2.3 --reason "line one\nline two"');
    expect(multiline.reason).toBe('A reason must be printable text on one line.');
    expect(multiline.example).toBe('/crdb allow 34.1.2.3 --reason "line one line two"');
  });

  it('refuses a cluster alias or region that is not lowercase letters, digits and dashes', () => {
    const cluster = expectRefusal('allow 34.1.2.3 --cluster Prod_EU');
    expect(cluster.reason).toBe('`Prod_EU` is not a cluster alias: lowercase letters, digits and `-`.');
    expect(cluster.example).toBe('/crdb allow 34.1.2.3 --cluster prod-eu');
    expect(expectRefusal('connect --region US-East1').example).toBe('/crdb connect --region us-east1');
  });

  it('refuses an unknown connection format, suggesting the nearest', () => {
    const refusal = expectRefusal('connect maxroach --format psycopg');
    expect(refusal.reason).toMatch(/^`psycopg` is not a connection format; use one of cockroach-sql, /);
    expect(refusal.example).toBe('/crdb connect maxroach --format psycopg2');
  });

  it('refuses an invalid database name with a lowercased one', () => {
    expect(expectRefusal('user create bob --database Analytics').example).toBe('/crdb user create bob --database analytics');
  });

  it('refuses a reserved user name', () => {
    const refusal = expectRefusal('user create root');
    expect(refusal.reason).toBe('`root` is a reserved name in CockroachDB.');
    expect(refusal.example).toBe('/crdb user create root_app');
  });

  it('repairs several problems at once, reporting the first', () => {
    const refusal = expectRefusal('alow 10.0.0.1/8 --fro 8 hours');
    expect(refusal.reason).toBe('`alow` is not a /crdb command; did you mean `allow`?');
    expect(refusal.example).toBe('/crdb allow 10.0.0.1/8 --for 8h');
  });

  it('uses the configured command name in reasons and examples', () => {
    const refusal = expectRefusal('alow 34.1.2.3', { commandName: '/db' });
    expect(refusal.reason).toBe('`alow` is not a /db command; did you mean `allow`?');
    expect(refusal.example).toBe('/db allow 34.1.2.3');
    expect(expectRefusal('xyzzy', { commandName: '/db' }).example).toBe('/db help');
  });

  it('rejects a command name that is not a slash command (a configuration bug)', () => {
    expect(() => parseCommand('help', { commandName: 'crdb' })).toThrow(RangeError);
  });
});

describe('parseCommand: notes', () => {
  it('notes host bits it cleared', () => {
    const result = expectParsed('allow 34.1.2.7/24');
    expect(result.command).toMatchObject({ network: { cidr: '34.1.2.0/24', normalisedFrom: '34.1.2.7/24' } });
    expect(result.notes).toEqual(['`34.1.2.7/24` has host bits set; using `34.1.2.0/24`.']);
    expect(expectParsed('revoke 34.1.2.7/24').notes).toEqual(['`34.1.2.7/24` has host bits set; using `34.1.2.0/24`.']);
  });

  it('leaves range warnings to the caller, who knows the cluster: parsing only flags the network', () => {
    const parsed = expectParsed('allow 10.1.2.3');
    expect(parsed.notes).toEqual([]);
    expect(parsed.command.name === 'allow' && parsed.command.network.flags).toEqual(['private']);
  });

  it('words the warning for a private address or range (for Cloud clusters)', () => {
    const warn = (text: string) => {
      const parsed = expectParsed(text);
      return parsed.command.name === 'allow' ? rangeWarnings(parsed.command.network) : [];
    };
    expect(warn('allow 10.1.2.3')).toEqual(['`10.1.2.3` is a private address: the cluster sees your public address, not this one.']);
    expect(warn('allow 192.168.0.0/16')).toEqual(['`192.168.0.0/16` is a private range: the cluster sees your public address, not one in this range.']);
    expect(warn('allow 127.0.0.1')).toEqual([
      '`127.0.0.1` is a reserved address (loopback, link-local, documentation or similar): no client reaches the cluster from there.',
    ]);
    expect(warn('allow 34.1.2.3')).toEqual([]);
  });

  it('has nothing to say about an ordinary public address', () => {
    expect(expectParsed('allow 34.1.2.3').notes).toEqual([]);
  });
});

describe('command definitions', () => {
  it.each(COMMAND_DEFINITIONS.flatMap((d) => d.examples.map((e) => [d.name, e] as const)))('%s example `%s` parses as that command', (name, example) => {
    expect(expectParsed(`/crdb ${example}`).command.name).toBe(name);
    expect(expectParsed(`/db ${example}`, { commandName: '/db' }).command.name).toBe(name);
  });

  it('define every command of the surface exactly once', () => {
    expect(COMMAND_DEFINITIONS.map((d) => d.name)).toEqual([
      'help',
      'clusters',
      'allow',
      'allow me',
      'allowlist',
      'check',
      'revoke',
      'extend',
      'user create',
      'user rotate',
      'user extend',
      'user delete',
      'users',
      'connect',
      'requests',
      'audit',
    ]);
  });
});

describe('help', () => {
  it('lists every defined command with its usage line and summary, grouped', () => {
    const text = helpText('/crdb');
    for (const group of ['*Access*', '*Users*', '*Info*']) expect(text).toContain(group);
    for (const definition of COMMAND_DEFINITIONS) {
      expect(text).toContain(escapeMrkdwn(usage('/crdb', definition.name)));
      expect(text).toContain(definition.summary);
    }
  });

  it('shows allow with every flag, its default and its examples', () => {
    const text = helpText('/crdb', 'allow');
    for (const flag of ['--sql', '--ui', '--both', '--for 8h', '--name label', '--cluster c', '--reason "..."', '--break-glass']) expect(text).toContain(flag);
    expect(text).toContain('Default: --sql.');
    expect(text).toContain('Requires --reason.');
    expect(text).toContain('`/crdb allow 203.0.113.7`');
  });

  it.each(COMMAND_DEFINITIONS.map((d) => [d.name, d] as const))('shows every flag and example of %s', (name, definition) => {
    const text = helpText('/crdb', name.toUpperCase());
    for (const spelling of definition.flags.flatMap(flagSpellings)) expect(text).toContain(spelling);
    for (const example of definition.examples) expect(text).toContain(escapeMrkdwn(`/crdb ${example}`));
  });

  it('uses the configured command name', () => {
    expect(helpText('/db')).toContain('`/db allow ');
    expect(helpText('/db', 'allow')).toContain('`/db allow 203.0.113.7`');
    expect(helpText('/db')).not.toContain('/crdb');
  });

  it('escapes what Slack reserves in mrkdwn', () => {
    const text = helpText('/crdb', 'allow');
    expect(text).not.toMatch(/[<>]/);
    expect(text).toContain('&lt;ipv4[/mask]&gt;');
  });

  it('lists the subcommands for a group word', () => {
    const text = helpText('/crdb', 'user');
    for (const name of ['user create', 'user rotate', 'user delete']) expect(text).toContain(`/crdb ${name} `);
  });

  it('refuses an unknown topic with a suggestion and the list of commands', () => {
    const text = helpText('/crdb', 'alow');
    expect(text.split('\n')[0]).toBe('There is no `/crdb` command `alow`. Did you mean `/crdb help allow`?');
    for (const definition of COMMAND_DEFINITIONS) expect(text).toContain(escapeMrkdwn(usage('/crdb', definition.name)));
  });

  it('gives usage lines derived from the definitions', () => {
    expect(usage('/crdb', 'allow')).toBe('/crdb allow <ipv4[/mask]> [--sql|--ui|--both] [--for 8h] [--name label] [--cluster c] [--reason "..."] [--break-glass]');
    expect(usage('/crdb', 'connect')).toBe('/crdb connect [user] [--database db] [--region r] [--format f] [--cluster c]');
    expect(usage('/db', 'user rotate')).toBe('/db user rotate <name> [--cluster c]');
  });
});

describe('allow me', () => {
  it('is its own command beside allow, with allow\'s access flags, --for, --cluster and --reason', () => {
    expect(parseCommand('allow me')).toMatchObject({ ok: true, command: { name: 'allow me', access: { sql: true, ui: false } } });
    expect(parseCommand('/crdb ALLOW Me --both --for 8h --cluster prod --reason "hotel wifi"')).toMatchObject({
      ok: true,
      command: { name: 'allow me', access: { sql: true, ui: true }, forMs: 8 * 3_600_000, cluster: 'prod', reason: 'hotel wifi' },
    });
    // An address is still `allow`.
    expect(parseCommand('allow 203.0.113.7')).toMatchObject({ ok: true, command: { name: 'allow' } });
  });

  it('refuses what allow me does not take, with a corrected example', () => {
    const named = parseCommand('allow me --name laptop');
    expect(named).toMatchObject({ ok: false });
    expect(!named.ok && named.example).toMatch(/^\/crdb allow me/);
    const broken = parseCommand('allow me --break-glass --reason "now"');
    expect(broken.ok).toBe(false);
    // Quoted, `me` is a value, not the command word: allow then says it is not an address.
    expect(parseCommand('allow "me"')).toMatchObject({ ok: false });
  });
});
