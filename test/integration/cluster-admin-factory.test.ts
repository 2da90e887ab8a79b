/**
 * From configuration to a working ClusterAdmin: both backends built by the factory, secrets
 * resolved by reference, against the real PostgreSQL and the Cloud API stand-in.
 */
import { ClusterAdmins } from '../../lib/cluster-admin/factory';
import { InvalidInputError } from '../../lib/cluster-admin/errors';
import { parseConfigDocument } from '../../lib/config';
import { SecretRedactor } from '../../lib/log';
import { SecretResolver } from '../../lib/secrets/references';
import { CloudApiStandIn } from '../../stand-ins/cloud-api';
import { testPostgres } from '../support/env';
import { slackTextOf } from '../support/prose';

const API_KEY = `CCDB1_fake_factory_${'c3'.repeat(12)}`;

describe('ClusterAdmins built from configuration', () => {
  const pg = testPostgres();
  let standIn: CloudApiStandIn;
  let admins: ClusterAdmins;
  const redactor = new SecretRedactor();

  beforeAll(async () => {
    standIn = new CloudApiStandIn({ apiKeys: [{ key: API_KEY }], propagatingListCalls: 0 });
    const { baseUrl } = await standIn.start();
    standIn.addCluster({ id: '0f0e0d0c-1111-2222-3333-444455556666', name: 'prod-eu', plan: 'STANDARD', allowlist: [{ cidr_ip: '198.51.100.0', cidr_mask: 24, sql: true, ui: false, name: 'office' }] });
    const config = parseConfigDocument({
      clusters: [
        {
          alias: 'local',
          backend: 'sql',
          dialect: 'postgres',
          connection: { host: pg.host, port: pg.port, database: pg.database, user: pg.adminUser, password: { env: 'TEST_ADMIN_PASSWORD' }, caFile: pg.caFile },
          hba: { kind: 'pg-hba-file', path: pg.hbaFile },
          caFile: pg.caFile,
        },
        { alias: 'prod-eu', backend: 'cloud', clusterId: '0f0e0d0c-1111-2222-3333-444455556666', apiBaseUrl: baseUrl, apiKey: { env: 'TEST_CLOUD_KEY' } },
      ],
    });
    const secrets = new SecretResolver({ env: { TEST_ADMIN_PASSWORD: pg.adminPassword, TEST_CLOUD_KEY: API_KEY }, redactor });
    admins = new ClusterAdmins(config.clusters, { secrets });
  });

  afterAll(async () => {
    await admins.closeAll();
    await standIn.stop();
  });

  afterEach(() => {
    expect(standIn.takeViolations()).toEqual([]);
  });

  it('builds the sql backend with the managed HBA file and the cluster CA', async () => {
    const local = await admins.get('local');
    expect(local.backend).toBe('sql');
    expect(Array.isArray(await local.listUsers())).toBe(true);
    const details = await local.connectionDetails({ user: 'maxroach' });
    expect(details).toMatchObject({ host: pg.host, port: pg.port, database: 'defaultdb', ca: { kind: 'cluster-ca', sslrootcert: pg.caFile } });
    // Same instance on the next call: pools are reused.
    expect(await admins.get('local')).toBe(local);
  });

  it('builds the cloud backend against the configured API base URL with the referenced key', async () => {
    const cloud = await admins.get('prod-eu');
    expect(cloud.backend).toBe('cloud');
    expect((await cloud.listAllowlist()).entries).toEqual([{ cidr: '198.51.100.0/24', sql: true, ui: false, name: 'office' }]);
  });

  it('registers every resolved secret with the log redactor', async () => {
    await admins.get('local');
    await admins.get('prod-eu');
    expect(redactor.scrub(`key=${API_KEY} pw=${pg.adminPassword}`)).toBe('key=[REDACTED] pw=[REDACTED]');
  });

  it('refuses an unknown alias with the configured ones named', async () => {
    const error = await admins.get('staging').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(slackTextOf(error)).toBe('There is no cluster `staging`; configured: local, prod-eu.');
  });
});
