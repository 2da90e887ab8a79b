/** Port checks with one-line answers, before anything is started. */
import { createServer } from 'node:net';
import { LocalModeError } from './errors';

export interface PortCheck {
  readonly host: string;
  readonly port: number;
  /** What needs the port, e.g. `the Slack endpoint`. */
  readonly what: string;
  /** How to pick another one. */
  readonly hint: string;
}

/**
 * Resolves when `port` can be listened on at `host` (nothing is kept open).
 * @throws LocalModeError (`port-in-use`) naming the port, its use and the way out.
 */
export function assertPortFree({ host, port, what, hint }: PortCheck): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'is in use' : error.code === 'EACCES' ? 'needs privileges' : `cannot be used (${error.code ?? error.message})`;
      reject(new LocalModeError('port-in-use', `port ${port} ${why}: ${what} needs it. ${hint}`, { cause: error }));
    });
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
