/**
 * The Slack workspace local mode plays: its people, channels and the bot's identity. The default
 * config refers to these ids; a custom config may name others, and they join the workspace with
 * their id as their name.
 */
import { type Config } from '../lib/config';
import { type SlackBotIdentity, type SlackChannelSpec, type SlackUserGroupSpec, type SlackUserSpec } from '../stand-ins/slack';

export interface LocalUser extends SlackUserSpec {
  /** What the person does in the default config, for `users` and the banner. */
  readonly role: string;
}

export const LOCAL_USERS: readonly LocalUser[] = [
  { id: 'U0LOCALDEV', name: 'dev', realName: 'Dev (you)', role: 'requester: asks for access' },
  { id: 'U0APPROVER', name: 'approver', realName: 'Approver', role: 'approves requests on cluster local' },
  { id: 'U0ADMIN', name: 'admin', realName: 'Admin', role: 'crdb-chatops admin' },
];

export const GENERAL_CHANNEL: SlackChannelSpec = { id: 'C0GENERAL', name: 'general' };
export const APPROVERS_CHANNEL: SlackChannelSpec = { id: 'C0APPROVERS', name: 'db-approvers' };

export const LOCAL_BOT: Omit<SlackBotIdentity, 'token'> = { userId: 'U0CRDBBOT', botId: 'B0CRDBBOT', appId: 'A0CRDBLOCAL', name: 'crdb-chatops' };

export interface LocalWorkspace {
  readonly users: readonly LocalUser[];
  readonly channels: readonly SlackChannelSpec[];
  readonly userGroups: readonly SlackUserGroupSpec[];
}

/** The local people and channels plus every id the config mentions. */
export function localWorkspace(config: Pick<Config, 'access' | 'clusters'>): LocalWorkspace {
  const users = new Map<string, LocalUser>(LOCAL_USERS.map((u) => [u.id, u]));
  const channels = new Map<string, SlackChannelSpec>([GENERAL_CHANNEL, APPROVERS_CHANNEL].map((c) => [c.id, c]));
  const groups = new Map<string, SlackUserGroupSpec>();
  const principal = (id: string, role: string): void => {
    if (id.startsWith('S')) {
      // Membership is not knowable here; the group exists (so lookups succeed) but is empty.
      if (!groups.has(id)) groups.set(id, { id, handle: id.toLowerCase(), users: [] });
    } else if (!users.has(id)) {
      users.set(id, { id, name: id.toLowerCase(), role });
    }
  };
  config.access.admins.forEach((id) => principal(id, 'crdb-chatops admin'));
  config.access.requesters.forEach((id) => principal(id, 'requester'));
  config.access.breakGlass.forEach((id) => principal(id, 'break-glass'));
  for (const cluster of config.clusters) {
    cluster.approvers.forEach((id) => principal(id, `approves requests on cluster ${cluster.alias}`));
    for (const channel of [cluster.approversChannel, cluster.auditChannel]) {
      if (channel !== undefined && !channels.has(channel)) channels.set(channel, { id: channel, name: channel.toLowerCase(), isPrivate: channel.startsWith('G') });
    }
  }
  return { users: [...users.values()], channels: [...channels.values()], userGroups: [...groups.values()] };
}
