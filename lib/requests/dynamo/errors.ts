/** The state store's error mapping: one SDK or network error to one `StateStoreError`, safe to show. */
import { DynamoDBServiceException, ResourceNotFoundException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { StateStoreAccessDeniedError, StateStoreBackendError, StateStoreError, StateStoreInvalidError, StateStoreTableNotFoundError, StateStoreUnavailableError } from '../errors';

/** Error names (AWS-wide) meaning "who you are may not do this". */
const ACCESS_DENIED_NAMES = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'CredentialsProviderError',
]);
const UNAVAILABLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
  'TransactionInProgressException',
  'RequestTimeout',
  'TimeoutError',
  'AbortError',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** One SDK (or network) error to one family error; exported for tests of the mapping table. */
export function translateError(error: unknown, operation: string, subject: string, tableName: string): StateStoreError {
  if (error instanceof StateStoreError) return error;
  const action = `${operation} ${subject}`;
  const options = { cause: error };
  const errorName = error instanceof Error ? error.name : '';
  if (error instanceof ResourceNotFoundException) {
    return new StateStoreTableNotFoundError(`Could not ${action}: state table ${tableName} does not exist (deploy the stack, or check the table name and region).`, options);
  }
  if (ACCESS_DENIED_NAMES.has(errorName)) {
    return new StateStoreAccessDeniedError(`Access denied: not allowed to ${action} in table ${tableName}; check the function's IAM role and credentials.`, options);
  }
  if (isUnavailable(error)) {
    return new StateStoreUnavailableError(`DynamoDB is unavailable: could not ${action}; try again shortly.`, options);
  }
  if (errorName === 'ValidationException') {
    return new StateStoreInvalidError(`DynamoDB refused to ${action}: the request is invalid.`, options);
  }
  if (error instanceof TransactionCanceledException) {
    const codes = (error.CancellationReasons ?? []).map((reason) => reason.Code ?? 'None').filter((code) => code !== 'None');
    if (codes.some((code) => code === 'ThrottlingError' || code === 'TransactionConflict' || code === 'ProvisionedThroughputExceeded')) {
      return new StateStoreUnavailableError(`DynamoDB is busy: could not ${action}; try again shortly.`, options);
    }
    return new StateStoreBackendError(`DynamoDB cancelled the transaction to ${action} (${codes.join(', ') || 'no reason given'}).`, options);
  }
  return new StateStoreBackendError(`DynamoDB could not ${action} (${errorName || 'unknown error'}).`, options);
}

function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (UNAVAILABLE_NAMES.has(error.name)) return true;
  if (error instanceof DynamoDBServiceException) {
    return error.$fault === 'server' || (error.$metadata.httpStatusCode ?? 0) >= 500;
  }
  // No service answer at all: a socket error from the HTTP handler...
  const { code, $metadata } = error as { code?: unknown; $metadata?: { attempts?: unknown; httpStatusCode?: unknown } };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  // ...or one the SDK's retry loop wrapped: it made attempts and never got an HTTP status back.
  return typeof $metadata?.attempts === 'number' && $metadata.httpStatusCode === undefined;
}
