/**
 * The outbox relay function, composed (handlers/outbox.ts is its Lambda entry point): the state
 * table's stream relayed (lib/requests/outbox.ts). Each
 * new request the ack wrote goes to the job queue as its `submit` job (deduplicated per request,
 * so a stream record delivered twice sends one job). A failed send is reported for its record
 * alone (partial batch response) and retried by Lambda; past the retries, the reconciler drives
 * the request. It needs the queue and nothing else: no table, no secrets, no Slack.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { type Context, type DynamoDBBatchResponse, type DynamoDBStreamEvent } from 'aws-lambda';
import { type Config } from '../config';
import { createLogger, type Logger } from '../log';
import { type JobQueue, submitJob } from '../requests/jobs';
import { requestToSubmit } from '../requests/outbox';
import { SqsJobQueue } from '../queue/sqs';
import { AWS_SDK } from '../retry-policies';

export function outboxHandler(dependencies: () => { readonly queue: JobQueue; readonly logger: Logger }) {
  return async (event: DynamoDBStreamEvent, _context: Context): Promise<DynamoDBBatchResponse> => {
    const { queue, logger } = dependencies();
    const batchItemFailures: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      const requestId = requestToSubmit(record);
      if (requestId === undefined) continue;
      const { job, options } = submitJob(requestId);
      try {
        await queue.enqueue(job, options);
        logger.info({ event: 'outbox.relayed', requestId }, 'new request sent to the job queue');
      } catch (error) {
        logger.warn({ event: 'outbox.failed', requestId, err: error }, 'could not send a new request to the job queue; Lambda retries the record');
        // Records of a shard are in order: everything from the first failure on is retried.
        batchItemFailures.push({ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' });
        break;
      }
    }
    return { batchItemFailures };
  };
}

/** What the relay needs, built from the config: the SQS queue and a logger, nothing else. */
export function outboxDependencies(config: Config): { readonly queue: JobQueue; readonly logger: Logger } {
  if (config.queue.kind !== 'sqs' || config.queue.url === undefined) throw new Error('config: queue: the outbox relay needs an SQS queue URL (QUEUE_URL).');
  const client = new SQSClient({ region: config.awsRegion ?? 'us-east-1', ...(config.queue.endpoint ? { endpoint: config.queue.endpoint } : {}), maxAttempts: AWS_SDK.maxAttempts });
  return { queue: new SqsJobQueue({ client, queueUrl: config.queue.url }), logger: createLogger({ level: config.logLevel }) };
}
