/**
 * The bot's Slack endpoint on this machine: a plain `node:http` server that hands each request to
 * the Lambda handler exactly as a Lambda Function URL would (payload format 2.0 event, base64 form
 * bodies, a Lambda context; the handler's result read back as the Function URL reads it). Local
 * mode therefore runs the production path (`handlers/slack.ts`: signature gate, then Bolt's
 * `AwsLambdaReceiver`), not a second one.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { LINK_PATH_PREFIX } from '../lib/links/pages';
import { type Logger } from '../lib/log';
import { LocalModeError } from './errors';
import { type FunctionUrlHandler, invokeHandler, type SlackRequest } from '../stand-ins/slack';

export interface SlackEndpointOptions {
  /** `handlers/slack.ts`'s handler chain: `slackHandler(() => buildSlackFunction(runtime))`. */
  readonly handler: FunctionUrlHandler;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly path?: string;
  readonly logger: Logger;
  /** Function URLs accept 6 MB; Slack sends a few KB. Default 1 MB. */
  readonly maxBodyBytes?: number;
}

export interface SlackEndpoint {
  /** `http://localhost:<port>/slack/events`, as printed for people. */
  readonly url: string;
  /** The same on the address the server listens on, for clients on this machine. */
  readonly directUrl: string;
  readonly port: number;
  close(): Promise<void>;
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > max) throw new BodyTooLarge();
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return headers;
}

function reply(res: ServerResponse, status: number, headers: Readonly<Record<string, string>>, body: string): void {
  const out: Record<string, string> = {};
  // Node frames the body itself.
  for (const [name, value] of Object.entries(headers)) if (name !== 'content-length' && name !== 'transfer-encoding') out[name] = value;
  res.writeHead(status, { ...out, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

/**
 * Listens and serves `POST <path>` through `handler`.
 * @throws LocalModeError (`port-in-use`) when the port is taken.
 */
export async function startSlackEndpoint({ handler, host, port, path = '/slack/events', logger, maxBodyBytes = 1024 * 1024 }: SlackEndpointOptions): Promise<SlackEndpoint> {
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      // The Slack endpoint, and the pages of `allow me` links (GET shows, POST confirms).
      const linkPage = url.pathname.startsWith(LINK_PATH_PREFIX);
      if (url.pathname !== path && !linkPage) return reply(res, 404, { 'content-type': 'text/plain' }, 'Not Found');
      if (req.method !== 'POST' && !(linkPage && req.method === 'GET')) return reply(res, 405, { allow: linkPage ? 'GET, POST' : 'POST', 'content-type': 'text/plain' }, 'Method Not Allowed');
      let body: string;
      try {
        body = await readBody(req, maxBodyBytes);
      } catch (error) {
        if (error instanceof BodyTooLarge) return reply(res, 413, { 'content-type': 'text/plain' }, 'Payload Too Large');
        throw error;
      }
      const request: SlackRequest = { method: req.method, path: `${url.pathname}${url.search}`, headers: headersOf(req), body };
      const response = await invokeHandler(handler, request, {
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        ...(req.headers.host !== undefined ? { host: req.headers.host } : {}),
        urlId: 'localmode',
        region: 'local',
        context: { functionName: 'crdb-chatops-slack' },
      });
      // Lambda keeps a thrown error in the function's logs; so does local mode.
      if (response.error !== undefined) logger.error({ event: 'slack-endpoint.handler-threw', err: response.error }, 'the Slack handler threw');
      reply(res, response.statusCode, response.headers, response.body);
    })().catch((error: unknown) => {
      logger.error({ event: 'slack-endpoint.failed', err: error }, 'could not serve a request');
      if (!res.headersSent) reply(res, 500, { 'content-type': 'text/plain' }, 'Internal Server Error');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new LocalModeError('port-in-use', `port ${port} is in use: the Slack endpoint needs it. Choose another with PORT=<port> npm start.`, { cause: error })
          : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  const direct = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://localhost:${actual}${path}`,
    directUrl: `http://${direct}:${actual}${path}`,
    port: actual,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
