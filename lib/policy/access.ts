/**
 * Who may request, approve, administer and break glass. Principals are Slack user ids (`U…`,
 * `W…`) and user-group ids (`S…`); group membership comes through a `MembershipResolver` port
 * (the Slack layer implements it with `usergroups.users.list`, cached).
 */

export interface MembershipResolver {
  /** Members of a Slack user group. */
  groupMembers(groupId: string): Promise<readonly string[]>;
}

export interface AccessConfig {
  /** Empty = everyone in the workspace may request. */
  readonly requesters: readonly string[];
  readonly admins: readonly string[];
  readonly breakGlass: readonly string[];
}

export interface ClusterAccess {
  readonly alias: string;
  readonly approvers: readonly string[];
}

export interface AccessControlOptions {
  readonly access: AccessConfig;
  readonly clusters: readonly ClusterAccess[];
  readonly membership: MembershipResolver;
}

export class AccessControl {
  private readonly access: AccessConfig;
  private readonly clusters: ReadonlyMap<string, ClusterAccess>;
  private readonly membership: MembershipResolver;

  constructor({ access, clusters, membership }: AccessControlOptions) {
    this.access = access;
    this.clusters = new Map(clusters.map((c) => [c.alias, c]));
    this.membership = membership;
  }

  canRequest(user: string): Promise<boolean> {
    return this.access.requesters.length === 0 ? Promise.resolve(true) : this.isIn(user, this.access.requesters);
  }

  isAdmin(user: string): Promise<boolean> {
    return this.isIn(user, this.access.admins);
  }

  isBreakGlass(user: string): Promise<boolean> {
    return this.isIn(user, this.access.breakGlass);
  }

  isApprover(user: string, cluster: string): Promise<boolean> {
    return this.isIn(user, this.clusters.get(cluster)?.approvers ?? []);
  }

  /** Clusters `user` approves for. */
  async approverClusters(user: string): Promise<string[]> {
    const out: string[] = [];
    for (const alias of this.clusters.keys()) if (await this.isApprover(user, alias)) out.push(alias);
    return out;
  }

  /** The approvers of a cluster as configured: user ids (`U…`) and user group ids (`S…`), for mentions on cards. */
  approverPrincipals(cluster: string): readonly string[] {
    return this.clusters.get(cluster)?.approvers ?? [];
  }

  private async isIn(user: string, principals: readonly string[]): Promise<boolean> {
    if (principals.includes(user)) return true;
    for (const group of principals.filter((p) => p.startsWith('S'))) {
      if ((await this.membership.groupMembers(group)).includes(user)) return true;
    }
    return false;
  }
}
