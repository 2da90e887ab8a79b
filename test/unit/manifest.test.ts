/**
 * The Slack app manifest grants exactly the scopes the code needs: every Web API method the bot
 * calls is covered, and nothing more is asked for.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { parseConfigDocument } from '../../lib/config';

interface Manifest {
  features: {
    slash_commands: Array<{ command: string; url: string; should_escape: boolean }>;
    app_home: { home_tab_enabled: boolean; messages_tab_enabled: boolean; messages_tab_read_only_enabled: boolean };
  };
  oauth_config: { scopes: { bot: string[] } };
  settings: {
    interactivity: { is_enabled: boolean; request_url: string };
    event_subscriptions: { request_url: string; bot_events: string[] };
    socket_mode_enabled: boolean;
  };
}

const root = path.join(__dirname, '..', '..');
const manifest = parse(readFileSync(path.join(root, 'manifest.yml'), 'utf8')) as Manifest;

/** Scope each Web API method needs (api.slack.com/methods). */
const METHOD_SCOPES: Record<string, string | null> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.delete': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'conversations.open': 'im:write',
  'usergroups.users.list': 'usergroups:read',
  'views.open': null,
  'views.publish': null,
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? sources(file) : file.endsWith('.ts') ? [file] : [];
  });
}

describe('Slack app manifest', () => {
  it('declares the default slash command with the Function URL placeholder, unescaped', () => {
    const [command] = manifest.features.slash_commands;
    expect(command?.command).toBe(parseConfigDocument({ clusters: [{ alias: 'x', backend: 'cloud', clusterId: 'c', apiKey: { env: 'K' } }] }).slack.command);
    expect(command?.url).toBe('https://replace-with-slack-request-url.invalid/slack/events');
    // The grammar decodes Slack's HTML escaping itself and needs raw user ids untouched.
    expect(command?.should_escape).toBe(false);
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true, request_url: command?.url });
    expect(manifest.settings.socket_mode_enabled).toBe(false);
  });

  it('turns the Home tab on, keeps the Messages tab read-only, and subscribes to the one event the bot handles', () => {
    expect(manifest.features.app_home).toEqual({ home_tab_enabled: true, messages_tab_enabled: true, messages_tab_read_only_enabled: true });
    expect(manifest.settings.event_subscriptions.request_url).toBe(manifest.features.slash_commands[0]?.url);
    const code = [...sources(path.join(root, 'lib')), ...sources(path.join(root, 'handlers'))].map((f) => readFileSync(f, 'utf8')).join('\n');
    const handled = [...code.matchAll(/app\.event\('([a-z_]+)'/g)].map((m) => m[1]);
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(handled);
  });

  it('asks for exactly the scopes of the Web API methods the code calls', () => {
    const code = [...sources(path.join(root, 'lib')), ...sources(path.join(root, 'handlers'))].map((f) => readFileSync(f, 'utf8')).join('\n');
    const called = Object.keys(METHOD_SCOPES).filter((method) => code.includes(`.${method}(`));
    expect(called).toEqual(expect.arrayContaining(['chat.postMessage', 'chat.update', 'chat.delete', 'usergroups.users.list', 'views.open', 'views.publish']));
    const needed = new Set(['commands', ...called.map((m) => METHOD_SCOPES[m]).filter((s): s is string => typeof s === 'string')]);
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([...needed].sort());
  });
});
