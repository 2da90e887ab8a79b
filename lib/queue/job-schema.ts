/**
 * What a job message may be: the schema every body read off the queue is parsed with before the
 * worker runs it. A body that is not one (not JSON, an unknown type, a missing field, a field of the
 * wrong type) is a poison message: logged and dropped, never run.
 *
 * Fields the schema does not know are dropped rather than refused, so a job written by the next
 * version of the bot still runs on this one during a deploy.
 */
import * as z from 'zod/mini';
import { type Job } from '../requests/jobs';

const id = z.string().check(z.minLength(1), z.maxLength(256));
const requestId = z.string().check(z.minLength(1), z.maxLength(64));
const user = z.string().check(z.minLength(1), z.maxLength(64));
const cluster = z.string().check(z.minLength(1), z.maxLength(64));
const text = z.string().check(z.maxLength(4_000));

const JOB = z.discriminatedUnion('type', [
  z.object({ type: z.literal('submit'), requestId }),
  z.object({ type: z.literal('decided'), requestId }),
  z.object({ type: z.literal('drive'), requestId }),
  z.object({ type: z.literal('cancel'), requestId, actor: user }),
  z.object({
    type: z.literal('connect'),
    id: z.optional(id),
    requester: user,
    cluster,
    user: text,
    database: z.optional(text),
    region: z.optional(text),
    format: z.optional(text),
    responseUrl: z.optional(text),
  }),
  z.object({
    type: z.literal('read'),
    id: z.optional(id),
    command: z.enum(['allowlist', 'check', 'users']),
    cluster,
    requester: user,
    ip: z.optional(text),
    responseUrl: z.optional(text),
  }),
  z.object({ type: z.literal('home'), id: z.optional(id), user, opened: z.optional(z.boolean()), notice: z.optional(text) }),
  z.object({ type: z.literal('audit'), id: z.optional(id), requester: user, cluster: z.optional(cluster), responseUrl: z.optional(text) }),
  z.object({
    type: z.literal('audit-fix'),
    id: z.optional(id),
    cluster,
    fingerprint: text,
    actor: user,
    report: z.optional(z.object({ channel: text, ts: text })),
  }),
]);

/** The job a message body holds, or undefined when it holds none (a poison message). */
export function parseJob(body: string): Job | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = z.safeParse(JOB, value);
  // The schema spells out `Job` field by field (test/unit/job-schema.test.ts round-trips every kind).
  return parsed.success ? (parsed.data) : undefined;
}
