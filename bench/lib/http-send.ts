/**
 * A lean HTTP client for the burst: plays Slack's side with node:http (one connection per
 * command, as Slack's many servers do), without fetch's per-request overhead, so that on a small
 * machine the driver takes as little CPU as possible from the function it measures.
 */
import { Agent, request } from 'node:http';
import { type SlackRequest } from '../../stand-ins/slack';

const agent = new Agent({ keepAlive: false, maxSockets: Infinity });

export interface Sent {
  readonly statusCode: number;
  readonly body: string;
}

/** POSTs `req` (exactly as signed) to `url`; resolves with the answer, rejects after `timeoutMs`. */
export function send(url: string, req: SlackRequest, timeoutMs = 30_000): Promise<Sent> {
  const target = new URL(url);
  const body = Buffer.from(req.body, 'utf8');
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: target.hostname, port: target.port, path: req.path, method: req.method, agent, timeout: timeoutMs, headers: { ...req.headers, 'content-length': String(body.length) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ statusCode: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}
