/**
 * Starts the servers integration tests share, once per jest run, outside the test sandbox:
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

/**
 * A port for a child process to bind a few seconds later. Not from the kernel's ephemeral range
 * (32768–60999 here), where any outgoing connection's source port, or another worker's `listen(0)`,
 * can take it in between; each jest worker draws from its own band of 1,000 ports below it
 * (the global setup's band is 0), checking that each is free now.
 */
const PORT_BAND_BASE = 20_000;
const PORT_BAND_SIZE = 1_000;
/** Where in its band this test file starts: files that one worker runs in turn start apart. */
let nextPortOffset = Math.floor(Math.random() * PORT_BAND_SIZE);

export async function freePort(): Promise<number> {
  const band = Number(process.env.JEST_WORKER_ID ?? 0) % 12;
  const start = PORT_BAND_BASE + band * PORT_BAND_SIZE;
  for (let tries = 0; tries < PORT_BAND_SIZE; tries++) {
    const port = start + (nextPortOffset++ % PORT_BAND_SIZE);
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port in ${start}–${start + PORT_BAND_SIZE - 1}`);
}

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
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
