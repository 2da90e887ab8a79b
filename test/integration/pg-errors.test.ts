/**
 * Connection-level failures, produced for real (sockets, a TLS server speaking the PostgreSQL wire
 * protocol, the shared test PostgreSQL terminating one of this file's own sessions), go through the
 * bot's admin pool and `SqlUsers` and come out `retryable`. Nothing here stops or restarts the
 * shared test server.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { Client, type Pool } from 'pg';
import { type ClusterAdminError, UnauthenticatedError, UnavailableError, BackendError } from '../../lib/cluster-admin/errors';
import { translatePgError } from '../../lib/cluster-admin/sql/pg-errors';
import { createAdminPool } from '../../lib/cluster-admin/sql/pool';
import { SqlUsers } from '../../lib/cluster-admin/sql/users';
import { createCertificateAuthority, issueServerCertificate } from '../../local/tls';
import { testPostgres } from '../support/env';

const ca = createCertificateAuthority({ commonName: 'pg-errors test CA' });
const cert = issueServerCertificate(ca);

const servers: Server[] = [];
const sockets = new Set<Socket>();
const pools: Pool[] = [];

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
});

async function listen(onSocket: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** PostgreSQL's ErrorResponse message. */
function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.concat([
    ...[`SFATAL`, `VFATAL`, `C${code}`, `M${message}`].map((f) => Buffer.from(`${f}\0`, 'utf8')),
    Buffer.from([0]),
  ]);
  const head = Buffer.alloc(5);
  head.write('E', 0, 'latin1');
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

/**
 * A server that does what PostgreSQL does while starting up, shutting down or full: accepts the
 * SSLRequest, completes TLS, reads the startup message and answers with a FATAL ErrorResponse.
 */
function refusingServer(code: string, message: string): Promise<number> {
  return listen((raw) => {
    raw.once('data', () => {
      raw.write('S');
      const tls = new TLSSocket(raw, { isServer: true, key: cert.keyPem, cert: cert.certPem });
      tls.on('error', () => undefined);
      tls.once('data', () => tls.end(errorResponse(code, message)));
    });
    raw.on('error', () => undefined);
  });
}

function usersAt(port: number, { connectTimeoutMs = 1_000, maxConnections = 2 } = {}): SqlUsers {
  const pool = createAdminPool({ host: '127.0.0.1', port, database: 'defaultdb', user: 'admin', password: 'not-a-secret', caPem: ca.certPem, connectTimeoutMs, maxConnections });
  pools.push(pool);
  return new SqlUsers({ cluster: 'flaky', pool, adminUser: 'admin', ownsPool: false });
}

async function failure(promise: Promise<unknown>): Promise<ClusterAdminError> {
  try {
    await promise;
  } catch (error) {
    return error as ClusterAdminError;
  }
  throw new Error('expected a failure');
}

describe('connection failures through the admin pool are retryable', () => {
  it('nothing listens on the port (ECONNREFUSED)', async () => {
    const error = await failure(usersAt(await closedPort()).listUsers());
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retryable).toBe(true);
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('nothing listens on localhost (both addresses refused)', async () => {
    const port = await closedPort();
    const pool = createAdminPool({ host: 'localhost', port, database: 'd', user: 'u', password: 'p', caPem: ca.certPem });
    pools.push(pool);
    const error = await failure(new SqlUsers({ cluster: 'flaky', pool, adminUser: 'u', ownsPool: false }).listUsers());
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retryable).toBe(true);
  });

  it('the server accepts and closes at once (Connection terminated unexpectedly)', async () => {
    const port = await listen((socket) => socket.destroy());
    const error = await failure(usersAt(port).listUsers());
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retryable).toBe(true);
    expect((error.cause as Error).message).toBe('Connection terminated unexpectedly');
  });

  it('the server resets the connection (ECONNRESET)', async () => {
    const port = await listen((socket) => socket.resetAndDestroy());
    const error = await failure(usersAt(port).listUsers());
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retryable).toBe(true);
  });

  it('the server never answers: the connect timeout and the pool checkout timeout', async () => {
    const port = await listen(() => undefined);
    const users = usersAt(port, { connectTimeoutMs: 300, maxConnections: 1 });
    const [first, queued] = await Promise.all([failure(users.listUsers()), failure(users.listUsers())]);
    const causes = [first, queued].map((e) => (e.cause as Error).message).sort();
    expect(causes).toEqual(['Connection terminated due to connection timeout', 'timeout exceeded when trying to connect']);
    for (const error of [first, queued]) {
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error.retryable).toBe(true);
    }
  });

  it.each([
    ['57P03', 'the database system is shutting down'],
    ['57P03', 'the database system is starting up'],
    ['53300', 'sorry, too many clients already'],
  ])('the server answers FATAL %s (%s)', async (code, message) => {
    const error = await failure(usersAt(await refusingServer(code, message)).listUsers());
    expect((error.cause as { code?: string }).code).toBe(code);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.retryable).toBe(true);
  });

  it('but not wrong credentials (28P01) or a server without TLS', async () => {
    const rejected = await failure(usersAt(await refusingServer('28P01', 'password authentication failed for user "admin"')).listUsers());
    expect(rejected).toBeInstanceOf(UnauthenticatedError);
    expect(rejected.retryable).toBe(false);

    const plain = await listen((socket) => socket.once('data', () => socket.write('N')));
    const noTls = await failure(usersAt(plain).listUsers());
    expect(noTls).toBeInstanceOf(BackendError);
    expect(noTls.retryable).toBe(false);
  });
});

describe('a session the real server terminates', () => {
  it('57P01 (terminating connection due to administrator command) is retryable', async () => {
    const pg = testPostgres();
    const config = { host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database: pg.database, ssl: { ca: pg.caPem, servername: 'localhost' } };
    const victim = new Client(config);
    const killer = new Client(config);
    victim.on('error', () => undefined);
    await victim.connect();
    await killer.connect();
    try {
      const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // Only this test's own session: the shared server and everyone else's sessions carry on.
      const dying = victim.query('SELECT pg_sleep(30)');
      dying.catch(() => undefined);
      await killer.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      const error = translatePgError(await dying.then(() => undefined, (e: unknown) => e), 'local', 'list users');
      expect((error.cause as { code?: string }).code).toBe('57P01');
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error.retryable).toBe(true);
    } finally {
      await victim.end().catch(() => undefined);
      await killer.end();
    }
  });
});
