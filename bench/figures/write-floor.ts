/**
 * For information, next to the warm ack: the ack's one write alone, without Bolt or the handler.
 * The same dynalite the warm ack writes to, four item shapes put one at a time, interleaved in
 * rounds so noise hits all alike:
 *
 * - `baseline item`: durable-ack's item (6 string attributes, no index key);
 * - `request item`: the request the ack writes, through the store (`receiveRequest`): about 20
 *   attributes, nested params, and the keys of the two indexes the reconciler and `/crdb requests`
 *   find it by;
 * - `request, no index keys`: the same attributes without the index keys;
 * - `request as one JSON attribute`: the index keys plus the request serialised into one string.
 *
 * This is where the warm ack's distance from durable-ack comes from (README, Performance): an
 * emulator that stores index entries synchronously charges for every index key an item carries,
 * which DynamoDB's latency does not (it updates global secondary indexes asynchronously).
 */
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import { DynamoRequestStore } from '../../lib/requests/dynamo-store';
import { type ChatRequest } from '../../lib/requests/types';
import { figure, type Figure } from '../lib/figure';
import { median, percentile } from '../lib/stats';
import { AWS_CREDENTIALS, REQUESTER, type World } from '../lib/world';

const SHAPES = ['baseline item', 'request item', 'request, no index keys', 'request as one JSON attribute'] as const;
type Shape = (typeof SHAPES)[number];

/** A request as the ack writes it for `ALLOW_COMMAND` (lib/requests/intake.ts). */
function receivedRequest(): ChatRequest {
  const now = new Date();
  return {
    id: `bench-${randomUUID()}`,
    cluster: 'prod',
    requester: REQUESTER,
    params: { kind: 'allow', allow: { cidr: '203.0.113.7/32', sql: true, ui: false, normalisedFrom: '203.0.113.7' } },
    status: 'received',
    risk: 'low',
    flags: [],
    quorum: 0,
    approvals: [],
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 86_400_000).toISOString(),
    version: 0,
    responseUrl: 'https://hooks.slack.com/commands/T0TEST/1234567890/abcdefabcdefabcdefabcdef',
    channel: 'C0GENERAL',
    trigger: '1234567890.1234567890.abcdefabcdefabcdefabcdefabcdefab',
  };
}

export async function writeFloorFigures(world: World, { rounds, perRound }: { rounds: number; perRound: number }): Promise<Figure[]> {
  const client = { endpoint: world.services.dynamoEndpoint, region: 'us-east-1', credentials: AWS_CREDENTIALS };
  const store = new DynamoRequestStore({ client, tableName: world.tableName });
  const raw = new DynamoDBClient(client);
  const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  const TableName = world.tableName;
  const condition = 'attribute_not_exists(pk)';
  const put: Record<Shape, () => Promise<unknown>> = {
    'baseline item': () =>
      raw.send(
        new PutItemCommand({
          TableName,
          ConditionExpression: condition,
          Item: { pk: { S: `COMMAND#${randomUUID()}` }, sk: { S: 'COMMAND' }, user: { S: REQUESTER }, channel: { S: 'C0GENERAL' }, text: { S: 'allow 203.0.113.7' }, receivedAt: { S: new Date().toISOString() } },
        }),
      ),
    'request item': () => store.receiveRequest(receivedRequest()),
    'request, no index keys': () => {
      const r = receivedRequest();
      return doc.send(new PutCommand({ TableName, ConditionExpression: condition, Item: { ...r, pk: `REQUEST#${r.id}`, sk: 'REQUEST', entity: 'request' } }));
    },
    'request as one JSON attribute': () => {
      const r = receivedRequest();
      const keys = { gsi1pk: 'OPEN', gsi1sk: `${r.createdAt}#${r.id}`, gsi2pk: `REQUESTER#${r.requester}`, gsi2sk: `${r.createdAt}#${r.id}` };
      return doc.send(new PutCommand({ TableName, ConditionExpression: condition, Item: { pk: `REQUEST#${r.id}`, sk: 'REQUEST', entity: 'request', status: r.status, body: JSON.stringify(r), ...keys } }));
    },
  };
  const samples: Record<Shape, number[][]> = { 'baseline item': [], 'request item': [], 'request, no index keys': [], 'request as one JSON attribute': [] };
  try {
    for (const shape of SHAPES) for (let i = 0; i < 50; i++) await put[shape]();
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < SHAPES.length; k++) {
        const shape = SHAPES[(round + k) % SHAPES.length] as Shape;
        const times: number[] = [];
        for (let i = 0; i < perRound; i++) {
          const started = performance.now();
          await put[shape]();
          times.push(performance.now() - started);
        }
        samples[shape].push(times);
      }
    }
  } finally {
    store.close();
    raw.destroy();
  }
  const at = (shape: Shape, p: number): number => Math.round(median(samples[shape].map((s) => percentile(s, p))) * 1000) / 1000;
  const base = at('baseline item', 50);
  const details = {
    samplesPerRound: perRound,
    p50Ms: Object.fromEntries(SHAPES.map((s) => [s, at(s, 50)])),
    p50OverBaselineItem: Object.fromEntries(SHAPES.map((s) => [s, Math.round((at(s, 50) / base) * 100) / 100])),
  };
  return [figure({ name: 'ack write alone p50', ours: at('request item', 50), baseline: base, unit: 'ms', runs: rounds, versus: 'durable-ack item', details })];
}
