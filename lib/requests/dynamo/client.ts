/** The DynamoDB document client the state store uses: few attempts, short timeouts (`AWS_SDK`). */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AWS_SDK } from '../../retry-policies';

/** Options for the client `DynamoRequestStore` builds when it is not handed one. */
export interface DynamoClientOptions {
  readonly region?: string;
  /** Override the service endpoint (dynalite in tests and local mode); default: AWS's for the region. */
  readonly endpoint?: string;
  /** Default: the SDK's provider chain (the Lambda role). */
  readonly credentials?: DynamoDBClientConfig['credentials'];
  /** Attempts per call, first included, in the SDK's standard retry mode. Default 3. */
  readonly maxAttempts?: number;
  /** Milliseconds to establish a connection. Default 2000. */
  readonly connectionTimeoutMs?: number;
  /** Milliseconds for one attempt's request and response. Default 5000. */
  readonly requestTimeoutMs?: number;
}

/**
 * A document client that gives up quickly: standard retry mode (backoff with jitter, throttling-aware)
 * with few attempts and per-attempt timeouts, because a Lambda invocation waiting on it has a deadline
 * and Slack and SQS retry anyway. Undefined fields are dropped rather than refused, as optional
 * fields of the domain types are often present-but-undefined.
 */
export function createDocumentClient({
  region,
  endpoint,
  credentials,
  maxAttempts = AWS_SDK.maxAttempts,
  connectionTimeoutMs = AWS_SDK.connectionTimeoutMs,
  requestTimeoutMs = AWS_SDK.requestTimeoutMs,
}: DynamoClientOptions = {}): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    ...(region !== undefined && { region }),
    ...(endpoint !== undefined && { endpoint }),
    ...(credentials !== undefined && { credentials }),
    retryMode: 'standard',
    maxAttempts,
    requestHandler: { connectionTimeout: connectionTimeoutMs, requestTimeout: requestTimeoutMs, throwOnRequestTimeout: true },
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}
