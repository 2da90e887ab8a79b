/**
 * One user-safe line for a failure the audit reports (in a channel, a command reply, a Lambda
 * result): a known error's own message (`lib/errors.ts`); anything else is a bug, whose details
 * stay in the logs.
 */
import { userSafeMessage } from '../errors';
import { type Prose } from '../prose';

export function auditFailureText(error: unknown): Prose {
  return userSafeMessage(error) ?? ['an unexpected error; the details are in the logs.'];
}
