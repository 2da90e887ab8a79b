/**
 * The SQS FIFO stand-in moved to test/stand-ins/sqs.ts (it now also plays ReceiveMessage,
 * DeleteMessage and ChangeMessageVisibility with real visibility semantics); re-exported here so
 * the bench's imports keep working.
 */
export * from '../../test/stand-ins/sqs';
