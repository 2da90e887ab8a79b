/**
 * Connects to the test PostgreSQL as any user from any loopback source address, with
 * `sslmode=verify-full` semantics (chain + host name checked against the test CA).
 *
 * Binding the client socket to 127.0.0.x lets one machine play many client networks, so HBA
 * allowlist rules are proved by real connections being accepted or refused.
 */
import { Socket } from 'node:net';
import { Client, type ClientConfig } from 'pg';
import { testPostgres } from './env';

export interface ConnectAsOptions {
  readonly user: string;
  readonly password: string;
  readonly database?: string;
  /** Source address of the client socket, e.g. `127.0.0.12`. */
  readonly sourceAddress?: string;
  /** Connect by URL instead (to test connection strings as users would paste them). */
  readonly connectionString?: string;
}

function boundSocket(localAddress: string): () => Socket {
  return () => {
    const socket = new Socket();
    const connect = socket.connect.bind(socket) as (options: { port: number; host: string; localAddress: string }) => Socket;
    // pg calls connect(port, host); add the source address. `localhost` may resolve to ::1 first,
    // which an IPv4 source address cannot reach; TLS still checks the name pg was given.
    (socket as unknown as { connect: (port: number, host: string) => Socket }).connect = (port, host) =>
      connect({ port, host: host === 'localhost' ? '127.0.0.1' : host, localAddress });
    return socket;
  };
}

export function clientConfig({ user, password, database, sourceAddress, connectionString }: ConnectAsOptions): ClientConfig {
  const pg = testPostgres();
  return {
    ...(connectionString !== undefined
      ? { connectionString }
      : { host: pg.host, port: pg.port, user, password, database: database ?? pg.database, ssl: { ca: pg.caPem, rejectUnauthorized: true } }),
    ...(sourceAddress !== undefined ? { stream: boundSocket(sourceAddress) } : {}),
    connectionTimeoutMillis: 5_000,
  };
}

/** Connects, or rejects with the server's error (e.g. `no pg_hba.conf entry`, `password authentication failed`). */
export async function connectAs(options: ConnectAsOptions): Promise<Client> {
  const client = new Client(clientConfig(options));
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

/** Resolves to `'ok'` or the server's refusal message, for assertions. */
export async function tryConnect(options: ConnectAsOptions): Promise<string> {
  try {
    const client = await connectAs(options);
    await client.end();
    return 'ok';
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
