/** Provisioning of the state table for local mode and tests (on AWS the CDK stack owns it). */
import { type CreateTableCommandInput, CreateTableCommand, DescribeTableCommand, DescribeTimeToLiveCommand, ResourceInUseException, ResourceNotFoundException, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { tableDefinition } from '../table-layout';
import { type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, silentLogger } from '../../log';
import { StateStoreError, StateStoreUnavailableError } from '../errors';
import { translateError } from './errors';

export interface EnsureTableOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** How long to wait for the table to become ACTIVE. Default 60 s. */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

/**
 * Creates the state table from {@link tableDefinition} if it does not exist, waits until it is
 * ACTIVE, and enables TTL where the service supports it (dynalite does not: there expired
 * idempotency keys simply stay, and the store already treats them as unclaimed).
 * For local mode and tests; in AWS the CDK stack owns the table.
 */
export async function ensureTable({ client, tableName, timeoutMs = 60_000, logger = silentLogger() }: EnsureTableOptions): Promise<{ created: boolean }> {
  const { TimeToLiveSpecification, ...createInput } = tableDefinition(tableName);
  let created = false;
  try {
    try {
      await client.send(new DescribeTableCommand({ TableName: tableName }));
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
      try {
        await client.send(new CreateTableCommand(createInput satisfies CreateTableCommandInput));
        created = true;
        logger.info({ table: tableName }, 'state table created');
      } catch (createError) {
        // Someone else is creating it at the same moment: wait for theirs.
        if (!(createError instanceof ResourceInUseException)) throw createError;
      }
    }
    await waitUntilActive(client, tableName, timeoutMs);
    await enableTimeToLive(client, tableName, TimeToLiveSpecification.AttributeName, logger);
  } catch (error) {
    if (error instanceof StateStoreError) throw error;
    const translated = translateError(error, 'ensure table', tableName, tableName);
    logger.warn({ table: tableName, code: translated.code, awsError: error instanceof Error ? error.name : undefined }, translated.message);
    throw translated;
  }
  return { created };
}

async function waitUntilActive(client: DynamoDBDocumentClient, tableName: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 2_000)) {
    const output = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (output.Table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === undefined || index.IndexStatus === 'ACTIVE');
    if (output.Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() + delay > deadline) throw new StateStoreUnavailableError(`State table ${tableName} did not become ACTIVE within ${Math.round(timeoutMs / 1000)} s.`);
    await sleep(delay);
  }
}

async function enableTimeToLive(client: DynamoDBDocumentClient, tableName: string, attributeName: string, logger: Logger): Promise<void> {
  try {
    const described = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    const status = described.TimeToLiveDescription?.TimeToLiveStatus;
    if (status === 'ENABLED' || status === 'ENABLING') return;
    await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: attributeName, Enabled: true } }));
    logger.info({ table: tableName, attribute: attributeName }, 'state table TTL enabled');
  } catch (error) {
    if (error instanceof Error && error.name === 'UnknownOperationException') {
      logger.debug({ table: tableName }, 'the DynamoDB emulator has no TTL; expired idempotency keys stay until overwritten');
      return;
    }
    throw error;
  }
}
