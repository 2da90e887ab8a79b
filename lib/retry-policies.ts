/**
 * Every retry policy of the bot, by name: what is tried again, how often and how far apart. The
 * clients and loops that retry read their numbers here; change a policy here, and only here.
 *
 * The budgets are small on purpose: a Lambda invocation has a deadline, Slack retries a command
 * it got no answer to, and SQS delivers a failed job again (`jobRedelivery`), so a failure that
 * outlasts a quick retry is left to the next delivery rather than waited out.
 */

/** AWS SDK clients (DynamoDB, Secrets Manager, SQS): the SDK's standard mode (backoff with jitter, throttling-aware, retry quota). */
export const AWS_SDK = { maxAttempts: 3, connectionTimeoutMs: 2_000, requestTimeoutMs: 5_000 } as const;

/** The Slack Web API client (`@slack/web-api`'s retry config): two retries, 200 ms → 2 s, with jitter; 429s wait Retry-After. */
export const SLACK_WEB_API = { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2_000, randomize: true, timeoutMs: 5_000 } as const;

/**
 * The CockroachDB Cloud API client: 4 attempts per call, 250 ms → 8 s exponential backoff with
 * jitter on 5xx, timeouts and 429 (a 429's Retry-After is honoured up to 30 s; longer fails at once).
 */
export const CLOUD_API = { maxAttempts: 4, baseDelayMs: 250, maxDelayMs: 8_000, maxRetryAfterMs: 30_000, timeoutMs: 10_000 } as const;

/** A SQL catalog race (PostgreSQL's "tuple concurrently updated", CockroachDB's 40001): 5 attempts, 20 → 500 ms. */
export const SQL_CONFLICT = { maxAttempts: 5, initialDelayMs: 20, maxDelayMs: 500 } as const;

/** A `pg_hba.conf` rewrite that lost an optimistic race: tried this many times. */
export const HBA_REWRITE = { maxAttempts: 5 } as const;

/** Where no redelivery follows (a rollback, the final commit on a job's last delivery): 4 tries in all, about 0.2, 0.4 and 0.8 s apart. */
export const LAST_CHANCE = { retries: 3, initialDelayMs: 200, maxDelayMs: 800 } as const;

/**
 * A failed job, delivered again by SQS: 2 s, 4 s, 8 s, … at most a minute, with jitter (half
 * fixed, half random); after `maxReceiveCount` deliveries the job's last delivery rolls back
 * instead of retrying, and SQS moves it to the dead-letter queue.
 */
export const JOB_REDELIVERY = { baseMs: 2_000, capMs: 60_000, maxReceiveCount: 5 } as const;
