/**
 * Resolves the secret references in the configuration (Slack signing secret, bot token, Cloud API
 * keys, admin SQL passwords) to values, fetching each once and caching it for `maxAgeMs`
 * (Powertools Parameters style): a warm Lambda does not call Secrets Manager per request, and a
 * rotated secret is picked up within minutes.
 *
 * Every resolved value is registered with the log redactor before it is returned.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type SecretRef } from '../config';
import { type SecretRedactor } from '../log';

export class SecretReferenceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretReferenceError';
  }
}

export interface SecretResolverOptions {
  /** Needed only for `{ secretId }` references. */
  readonly secretsManager?: SecretsManagerClient;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Relative `{ file }` references resolve against it. */
  readonly baseDir?: string;
  readonly redactor?: SecretRedactor;
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

export class SecretResolver {
  private readonly cache = new Map<string, { value: Promise<string>; fetchedAt: number }>();
  private readonly secretsManager?: SecretsManagerClient;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly baseDir: string;
  private readonly redactor?: SecretRedactor;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor({ secretsManager, env = {}, baseDir = process.cwd(), redactor, maxAgeMs = 5 * 60_000, now = Date.now }: SecretResolverOptions = {}) {
    if (secretsManager) this.secretsManager = secretsManager;
    this.env = env;
    this.baseDir = baseDir;
    if (redactor) this.redactor = redactor;
    this.maxAgeMs = maxAgeMs;
    this.now = now;
  }

  /** The value, from cache when fresh. Concurrent callers share one fetch. */
  resolve(ref: SecretRef, what: string): Promise<string> {
    const key = JSON.stringify(ref);
    const cached = this.cache.get(key);
    if (cached && this.now() - cached.fetchedAt < this.maxAgeMs) return cached.value;
    const value = this.fetch(ref, what).then((v) => {
      this.redactor?.add(v);
      return v;
    });
    this.cache.set(key, { value, fetchedAt: this.now() });
    // A failed fetch is not cached: the next call tries again.
    value.catch(() => this.cache.delete(key));
    return value;
  }

  private async fetch(ref: SecretRef, what: string): Promise<string> {
    if ('value' in ref) return ref.value;
    if ('env' in ref) {
      const value = this.env[ref.env];
      if (value === undefined || value === '') throw new SecretReferenceError(`${what}: environment variable ${ref.env} is not set.`);
      return value;
    }
    if ('file' in ref) {
      const file = path.resolve(this.baseDir, ref.file);
      try {
        return (await readFile(file, 'utf8')).trim();
      } catch (error) {
        throw new SecretReferenceError(`${what}: cannot read ${file}.`, { cause: error });
      }
    }
    if (!this.secretsManager) throw new SecretReferenceError(`${what}: a Secrets Manager reference needs AWS credentials and a region.`);
    try {
      const out = await this.secretsManager.send(new GetSecretValueCommand({ SecretId: ref.secretId }));
      if (out.SecretString === undefined || out.SecretString === '') throw new Error('empty');
      return out.SecretString.trim();
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      throw new SecretReferenceError(`${what}: cannot read secret ${ref.secretId} from Secrets Manager (${name}).`, { cause: error });
    }
  }
}
