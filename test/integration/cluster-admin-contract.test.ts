/**
 * Both backends pass the one ClusterAdmin contract (test/contracts/cluster-admin-contract.ts):
 * `sql` on the real PostgreSQL (its allowlist in a private copy of pg_hba.conf, as the faults
 * suite does), `cloud` on the Cloud API stand-in, whose every request and answer is validated
 * against the official OpenAPI document.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CloudClusterAdmin } from '../../lib/cluster-admin/cloud/backend';
import { CloudApiClient } from '../../lib/cluster-admin/cloud/client';
import { CloudApiPacers } from '../../lib/cluster-admin/cloud/pacer';
import { SqlClusterAdmin } from '../../lib/cluster-admin/sql/backend';
import { PgHbaFileStore } from '../../lib/cluster-admin/sql/hba-store';
import { createAdminPool } from '../../lib/cluster-admin/sql/pool';
import { describeClusterAdminContract } from '../contracts/cluster-admin-contract';
import { CloudApiStandIn } from '../../stand-ins/cloud-api';
import { testPostgres } from '../support/env';

const API_KEY = `CCDB1_fake_contract_${'c3'.repeat(12)}`;

const hbaCopy = path.join(process.env.CRDB_TEST_ROOT ?? '/tmp', `pg_hba.contract-${randomBytes(4).toString('hex')}.conf`);

describeClusterAdminContract('sql (PostgreSQL)', {
  host: '192.0.2.201',
  setup: async () => {
    const pg = testPostgres();
    await copyFile(pg.hbaFile, hbaCopy);
    const pool = createAdminPool({ host: pg.host, port: pg.port, database: pg.database, user: pg.adminUser, password: pg.adminPassword, caPem: pg.caPem });
    return new SqlClusterAdmin({
      cluster: 'contract',
      pool,
      adminUser: pg.adminUser,
      hba: new PgHbaFileStore({ cluster: 'contract', pool, file: hbaCopy }),
      ruleStyle: { connectionType: 'hostssl', method: 'scram-sha-256' },
      adminRule: { user: pg.adminUser, cidrs: ['127.0.0.1/32'], method: 'scram-sha-256', connectionType: 'hostssl' },
      endpoints: [{ region: 'local', host: 'localhost' }],
      port: pg.port,
      ca: { kind: 'cluster-ca', sslrootcert: pg.caFile, pem: pg.caPem },
      defaultGrants: [{ kind: 'database', database: pg.database, privileges: ['CONNECT'] }],
    });
  },
  teardown: async (admin) => {
    await admin.close();
    await rm(hbaCopy, { force: true });
  },
});

let standIn: CloudApiStandIn;

describeClusterAdminContract('cloud (Cloud API stand-in)', {
  host: '192.0.2.202',
  setup: async () => {
    standIn = new CloudApiStandIn({ apiKeys: [{ key: API_KEY }], propagatingListCalls: 0 });
    const { baseUrl } = await standIn.start();
    const id = randomUUID();
    standIn.addCluster({ id, name: 'contract', plan: 'STANDARD', regions: [{ name: 'europe-west1', sqlDns: 'contract.gcp-europe-west1.cockroachlabs.cloud' }] });
    const client = new CloudApiClient({ apiKey: API_KEY, baseUrl, timeoutMs: 2_000, retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 }, pacers: new CloudApiPacers({ spacingMs: 0 }) });
    return new CloudClusterAdmin({ cluster: 'contract', clusterId: id, client });
  },
  teardown: async (admin) => {
    await admin.close();
    const violations = standIn.takeViolations();
    await standIn.stop();
    expect(violations).toEqual([]);
  },
});
