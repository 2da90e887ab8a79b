/**
 * A counting proxy in front of the local DynamoDB (dynalite): forwards every request unchanged and
 * counts it by operation (`X-Amz-Target`), so the bench can say how many table reads and writes
 * one slash command costs. Claims of Cloud API send slots (`PACE#…` items, one per Cloud API
 * request: the cross-process pacer) are counted apart from the writes of requests and their state.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { close, listen } from './http';

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'TransactWriteItems', 'BatchWriteItem']);
const READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);

export interface OperationCounts {
  /** Calls by operation name (`PutItem`, `TransactWriteItems`, ...). */
  readonly byOperation: Readonly<Record<string, number>>;
  /** Writes of requests and their state (send-slot claims not included). */
  readonly writes: number;
  readonly reads: number;
  /** `PutItem`s claiming a Cloud API send slot. */
  readonly slotClaims: number;
}

export class DynamoCounter {
  private counts = new Map<string, number>();
  private slotClaims = 0;
  private server: Server | undefined;
  private url: string | undefined;

  constructor(private readonly upstream: string) {}

  async start(): Promise<{ endpoint: string }> {
    const target = new URL(this.upstream);
    const server = createServer((req, res) => {
      const operation = String(req.headers['x-amz-target'] ?? '').replace(/^DynamoDB_\d+\./, '');
      this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (operation === 'PutItem' && body.includes('"S":"PACE#')) this.slotClaims++;
        const outgoing = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        outgoing.on('error', () => {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        });
        outgoing.end(body);
      });
    });
    const port = await listen(server);
    this.server = server;
    this.url = `http://127.0.0.1:${port}`;
    return { endpoint: this.url };
  }

  get endpoint(): string {
    if (this.url === undefined) throw new Error('DynamoCounter is not started');
    return this.url;
  }

  snapshot(): OperationCounts {
    const byOperation = Object.fromEntries([...this.counts].sort());
    const sum = (kinds: ReadonlySet<string>): number => [...this.counts].filter(([op]) => kinds.has(op)).reduce((n, [, c]) => n + c, 0);
    return { byOperation, writes: sum(WRITES) - this.slotClaims, reads: sum(READS), slotClaims: this.slotClaims };
  }

  reset(): void {
    this.counts = new Map();
    this.slotClaims = 0;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await close(server);
  }
}
