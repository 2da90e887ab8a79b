/**
 * One user-safe line for a failure the audit reports (in a channel, a command reply, a Lambda
 * result). The error families of the cluster-admin library, the secret store and the state store
 * carry messages written for people; anything else is a bug, whose details stay in the logs.
 */
import { ClusterAdminError } from '../cluster-admin/errors';
import { PermanentFailure } from '../requests/executor';
import { StateStoreError } from '../requests/errors';
import { SecretStoreError } from '../secrets/errors';

export function auditFailureText(error: unknown): string {
  if (error instanceof ClusterAdminError || error instanceof SecretStoreError || error instanceof StateStoreError || error instanceof PermanentFailure) return error.message;
  return 'an unexpected error; the details are in the logs.';
}
