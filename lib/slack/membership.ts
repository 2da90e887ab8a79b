/**
 * Slack user-group membership for access control (`usergroups.users.list`, scope
 * `usergroups:read`), cached per warm process so the ack path rarely pays for it.
 */
import { type WebClient } from '@slack/web-api';
import { type MembershipResolver } from '../policy/access';

export interface SlackMembershipOptions {
  readonly client: WebClient;
  readonly ttlMs?: number;
  readonly now?: () => number;
}

export class SlackMembership implements MembershipResolver {
  private readonly cache = new Map<string, { members: Promise<readonly string[]>; at: number }>();
  private readonly client: WebClient;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor({ client, ttlMs = 5 * 60_000, now = Date.now }: SlackMembershipOptions) {
    this.client = client;
    this.ttlMs = ttlMs;
    this.now = now;
  }

  groupMembers(groupId: string): Promise<readonly string[]> {
    const hit = this.cache.get(groupId);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.members;
    const members = this.client.usergroups.users.list({ usergroup: groupId }).then((r) => r.users ?? []);
    this.cache.set(groupId, { members, at: this.now() });
    members.catch(() => this.cache.delete(groupId));
    return members;
  }
}
