/**
 * Prose: what the domain says, as data, and how each edge renders it (Slack mrkdwn, a web page,
 * plain text for logs), plus the reading of outcomes stored as mrkdwn before prose existed.
 */
import fc from 'fast-check';
import { proseHtml } from '../../lib/links/page';
import { asProse, channel, code, isProse, joinProse, label, person, plainText, prose, said } from '../../lib/prose';
import { fromLegacyMrkdwn, storedOutcome } from '../../lib/requests/dynamo/stored-outcome';
import { mrkdwn } from '../../lib/slack/text';

describe('prose`…`', () => {
  it('keeps the bot words and marks each value, merging neighbouring words', () => {
    const subject = prose`SQL user ${code('app')}`;
    expect(prose`${subject} on ${code('prod')} was made by ${person('U0ALICE')} (${3} days, ${undefined}${'ok'}).`).toEqual([
      'SQL user ',
      { code: 'app' },
      ' on ',
      { code: 'prod' },
      ' was made by ',
      { person: 'U0ALICE' },
      ' (3 days, ok).',
    ]);
    expect(prose``).toEqual([]);
  });

  it('joins pieces with words between them', () => {
    expect(joinProse(['a', prose`${code('b')}`, 'c'], '; ')).toEqual(['a; ', { code: 'b' }, '; c']);
    expect(asProse('')).toEqual([]);
  });

  it('recognises only its own shapes', () => {
    expect(isProse(['x', { code: 'y' }, { label: 'z' }, { said: 'w' }, { person: 'U1' }, { channel: 'C1' }])).toBe(true);
    for (const odd of ['x', [{ html: '<b>' }], [{ code: 1 }], [{ code: 'a', person: 'U1' }], [null], [['x']], {}]) expect(isProse(odd)).toBe(false);
  });

  it('reads as plain text for logs: values as they are, labels quoted, people by id', () => {
    expect(plainText(prose`${code('10.0.0.0/8')} “${label('office')}” ${said('because')} ${person('U1')} ${channel('C1')}`)).toBe('10.0.0.0/8 ““office”” because @U1 #C1');
  });
});

describe('prose as Slack mrkdwn', () => {
  it('renders values as code, people and channels as mentions, and escapes the bot words', () => {
    expect(mrkdwn(prose`${code('10.0.0.0/8')} on ${code('prod')}: asked by ${person('U0ALICE')} in ${channel('C0APPROVERS')} & approved`)).toBe(
      '`10.0.0.0/8` on `prod`: asked by <@U0ALICE> in <#C0APPROVERS> &amp; approved',
    );
  });

  it('gives no hostile value a way out of its part', () => {
    const shown = mrkdwn(prose`${code('x` <!channel> `y')} ${label('*bold* <@U0BOSS>\nApproved: yes')} ${said('_it_ <!here>')} ${person('<!everyone>')} ${channel('C1|evil>')}`);
    expect(shown).not.toMatch(/<!|<@U0BOSS>|\n/);
    // Exactly the two backticks of the one code span.
    expect(shown.split('`')).toHaveLength(3);
    expect(shown).toContain('&lt;!everyone&gt;');
  });

  it('never lets any value become markup (property)', () => {
    const part = fc.oneof(
      fc.string().map(code),
      fc.string().map(label),
      fc.string().map(said),
      fc.string().map(person),
      fc.string().map(channel),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 5 }), (parts) => {
        const shown = mrkdwn(parts);
        // A mention only from a well-formed id, never `<!…>`, and no tag opened by a value.
        for (const tag of shown.match(/<[^>]*>/g) ?? []) expect(tag).toMatch(/^<[@#][A-Z][A-Z0-9]{2,20}>$/);
      }),
    );
  });

  it('opens no code span from a backtick in words, which only a spliced-in server message can carry', () => {
    const shown = mrkdwn(prose`The Cloud API refused it: ${'bad `value'}; see ${code('x')}.`);
    expect(shown.split('`')).toHaveLength(3);
    expect(shown).toContain('bad \u02cbvalue');
  });

  it('without escaping, keeps the marks for text escaped as a whole later', () => {
    expect(mrkdwn(prose`${code('a&b')} & ${person('U0ALICE')}`, { escaped: false })).toBe('`a&b` & U0ALICE');
  });
});

describe('prose as HTML', () => {
  it('escapes everything, shows values as code and names no Slack ids', () => {
    expect(proseHtml(prose`${code('<b>')} held by ${person('U0ALICE')} in ${channel('C0APPROVERS')} & ${label('x')}`)).toBe(
      "<code>&lt;b&gt;</code> held by someone in the approvers' channel &amp; “x”",
    );
  });
});

describe('outcomes stored as mrkdwn before 0.1', () => {
  it.each([
    '`203.0.113.7/32` is on the allowlist of `prod` for SQL until 2030-01-02 12:00 UTC. You can connect now.',
    'Cancelled by <@U0ADMIN>: it did not finish, and what it had done was undone where it could be.',
    'SQL user `app` already exists on `prod` (owner <@U0BOB>); use `user rotate` for a new password.',
    'Something went wrong on our side; the change was not applied. The bot team has the details in the logs (reference `ab12`).',
    'a &lt;tag&gt; &amp; more',
  ])('reads %j as prose that Slack shows exactly as before', (legacy) => {
    const read = storedOutcome(legacy);
    expect(isProse(read)).toBe(true);
    expect(mrkdwn(read ?? [])).toBe(legacy);
  });

  it('reads code spans, mentions and escapes into their parts', () => {
    expect(fromLegacyMrkdwn('`a&lt;b` by <@U0ALICE> in <#C0APPROVERS|approvers> R&amp;D')).toEqual([{ code: 'a<b' }, ' by ', { person: 'U0ALICE' }, ' in ', { channel: 'C0APPROVERS' }, ' R&D']);
  });

  it('keeps prose as it is, and drops what is neither', () => {
    expect(storedOutcome(['done ', { code: 'x' }])).toEqual(['done ', { code: 'x' }]);
    expect(storedOutcome({ text: 'x' })).toBeUndefined();
    expect(storedOutcome(undefined)).toBeUndefined();
  });
});
