/**
 * The state table as the outbox of new requests. The ack's one write is the request itself
 * (`received`); the table's stream (NEW_IMAGE) carries each new request item to the outbox relay
 * (handlers/outbox.ts), which sends its `submit` job to the queue. Nothing is written twice at the
 * ack, and a relay that fails (or a stream record that ages out) costs only time: the reconciler
 * drives every `received` request nothing moved on.
 *
 * `OUTBOX_STREAM_FILTER` is the event source mapping's filter (infra), so Lambda is invoked for
 * new requests only; `requestToSubmit` applies the same test again, as a filter is no contract.
 */
import { type DynamoDBRecord } from 'aws-lambda';
import { isRequestId } from './ids';

/**
 * Lambda event filter pattern (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html):
 * INSERTs of request items written `received`.
 */
export const OUTBOX_STREAM_FILTER = {
  eventName: ['INSERT'],
  dynamodb: { NewImage: { entity: { S: ['request'] }, status: { S: ['received'] } } },
} as const;

/** The id of the new request a stream record announces, or undefined when it announces none. */
export function requestToSubmit(record: DynamoDBRecord): string | undefined {
  if (record.eventName !== 'INSERT') return undefined;
  const image = record.dynamodb?.NewImage;
  if (image?.entity?.S !== 'request' || image.status?.S !== 'received') return undefined;
  const id = image.id?.S;
  return id !== undefined && isRequestId(id) ? id : undefined;
}
