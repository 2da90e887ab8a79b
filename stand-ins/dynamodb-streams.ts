/**
 * DynamoDB Streams, as far as the outbox needs them: a proxy in front of a DynamoDB endpoint
 * (dynalite, which has no streams) that records a stream record for every successful `PutItem`,
 * and an event source mapping that delivers the records to a Lambda handler in order, through a
 * Lambda filter pattern, with partial batch responses.
 *
 * - A `PutItem` is forwarded with `ReturnValues: ALL_OLD` (unless the caller asked for something
 *   else), so the record says `INSERT` or `MODIFY` as DynamoDB's would; the old image is removed
 *   from the answer when the caller did not ask for it. Stream view: NEW_IMAGE.
 * - Not modelled: `UpdateItem`, `DeleteItem` and transactions (no records), shards, record age.
 *   The outbox relays INSERTs of request items, which the ack writes with `PutItem`.
 */
import { type AttributeValue, type DynamoDBBatchResponse, type DynamoDBRecord, type DynamoDBStreamEvent } from 'aws-lambda';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { close, listen } from './http';

type Image = Record<string, AttributeValue>;

/** A Lambda event filter pattern: a field's allowed values, or a nested pattern (equality only). */
export interface FilterPattern {
  readonly [field: string]: readonly (string | number | boolean)[] | FilterPattern;
}

/** Lambda's event filtering for equality patterns: every field of the pattern must match. */
export function matchesFilter(pattern: FilterPattern, value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return Object.entries(pattern).every(([field, expected]) => {
    const actual = record[field];
    return Array.isArray(expected) ? (expected as readonly unknown[]).includes(actual) : matchesFilter(expected as FilterPattern, actual);
  });
}

export class DynamoDbStreamsStandIn {
  private readonly pending: DynamoDBRecord[] = [];
  private server: Server | undefined;
  private url: string | undefined;
  private sequence = 0;
  /** Every record ever written (delivered or not), oldest first. */
  readonly records: DynamoDBRecord[] = [];

  constructor(private readonly upstream: string) {}

  async start(): Promise<{ endpoint: string }> {
    const target = new URL(this.upstream);
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const operation = String(req.headers['x-amz-target'] ?? '').replace(/^DynamoDB_\d+\./, '');
        let body = Buffer.concat(chunks);
        let put: { TableName: string; Item: Image; ReturnValues?: string } | undefined;
        if (operation === 'PutItem') {
          put = JSON.parse(body.toString('utf8')) as { TableName: string; Item: Image; ReturnValues?: string };
          if (put.ReturnValues === undefined) body = Buffer.from(JSON.stringify({ ...put, ReturnValues: 'ALL_OLD' }));
        }
        const headers = { ...req.headers, 'content-length': String(body.length) };
        const outgoing = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            let payload = Buffer.concat(parts);
            if (put !== undefined && answer.statusCode === 200) {
              const parsed = JSON.parse(payload.toString('utf8') || '{}') as { Attributes?: Image };
              this.record(put.Item, parsed.Attributes);
              if (put.ReturnValues === undefined) {
                delete parsed.Attributes;
                payload = Buffer.from(JSON.stringify(parsed));
              }
            }
            // The body may have changed: drop the upstream's length and checksum.
            const { 'content-length': _length, 'x-amz-crc32': _crc, ...rest } = answer.headers;
            res.writeHead(answer.statusCode ?? 502, { ...rest, 'content-length': String(payload.length) });
            res.end(payload);
          });
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
    if (this.url === undefined) throw new Error('DynamoDbStreamsStandIn is not started');
    return this.url;
  }

  /**
   * Lambda's event source mapping: the records not yet delivered that pass `filter`, in one batch
   * (records the filter drops are consumed, as Lambda's are). A record the handler reports failed
   * and every one after it stay for the next delivery. Returns the records delivered and failed.
   */
  async deliver(handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>, filter?: FilterPattern): Promise<{ delivered: number; failed: number }> {
    const batch = this.pending.splice(0).filter((r) => filter === undefined || matchesFilter(filter, r));
    if (batch.length === 0) return { delivered: 0, failed: 0 };
    const response = await handler({ Records: batch });
    const first = response?.batchItemFailures[0]?.itemIdentifier;
    const at = first === undefined ? -1 : batch.findIndex((r) => r.dynamodb?.SequenceNumber === first);
    if (at >= 0) this.pending.unshift(...batch.slice(at));
    return { delivered: batch.length, failed: at >= 0 ? batch.length - at : 0 };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await close(server);
  }

  private record(item: Image, old: Image | undefined): void {
    const keys: Image = {};
    for (const name of ['pk', 'sk']) if (item[name] !== undefined) keys[name] = item[name];
    const record: DynamoDBRecord = {
      eventID: String(++this.sequence),
      eventName: old === undefined ? 'INSERT' : 'MODIFY',
      eventSource: 'aws:dynamodb',
      eventVersion: '1.1',
      awsRegion: 'us-east-1',
      dynamodb: { Keys: keys, NewImage: item, SequenceNumber: String(this.sequence).padStart(21, '0'), StreamViewType: 'NEW_IMAGE', SizeBytes: JSON.stringify(item).length },
    };
    this.records.push(record);
    this.pending.push(record);
  }
}
