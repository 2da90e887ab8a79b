/** What the audit rules look at for one cluster, empty but for what a test gives: one builder for every rules test. */
import { type ClusterInputs } from '../../lib/audit/rules';

export function clusterInputs(overrides: Partial<ClusterInputs> = {}): ClusterInputs {
  return {
    cluster: 'prod',
    backend: 'cloud',
    policy: { minPrefix: 24, expectedAdmins: [] },
    entries: [],
    operatorCidrs: new Set(),
    managedEntries: [],
    users: [],
    managedUsers: [],
    secrets: [],
    pending: [],
    dueDms: [],
    now: new Date('2026-12-04T00:00:00Z'),
    ...overrides,
  };
}
