/**
 * What every stand-in's HTTP server does the same way: listen on a loopback address (a free port
 * unless one is given) and close at once, keep-alive connections included (the SDKs and `fetch`
 * keep them open, and `close` alone would wait for their idle timeout).
 */
import { type Server } from 'node:http';
import { type AddressInfo } from 'node:net';

/** Listens on `host`:`port` (default a free port on 127.0.0.1); resolves with the port. */
export async function listen(server: Server, { host = '127.0.0.1', port = 0 }: { host?: string; port?: number } = {}): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** Closes the server and every connection it holds. */
export async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}
