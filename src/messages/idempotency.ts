// Idempotency-Key: the same key from the same client returns the first answer and creates nothing; another
// body with that key is a 422; a repeat while the first is in flight is a 409. Redis is the fast path; the
// unique index on (client_id, idempotency_key) in Postgres is the guarantee when Redis is away.
import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { AppException } from '../common/app.exception';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { RedisKeys } from '../redis/redis-keys';

const TTL_SECONDS = 86400;

interface Entry {
  state: 'processing' | 'done';
  hash: string;
  response?: unknown;
}

/** A stable hash of a request body: keys sorted at every level. */
export function requestHash(body: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          )
        : v;
  return createHash('sha256')
    .update(JSON.stringify(canonical(body)))
    .digest('hex');
}

export const mismatch = () =>
  new AppException(
    422,
    'IDEMPOTENCY_KEY_REUSED',
    'This Idempotency-Key was used with a different request body',
  );

@Injectable()
export class IdempotencyStore {
  constructor(@Inject(REDIS) private readonly redis: RedisClient) {}

  /** Claims the key, or returns the stored answer; throws 409 / 422. Redis unreachable: lets Postgres decide. */
  async begin(clientId: string, key: string, hash: string): Promise<{ replay?: unknown }> {
    const k = RedisKeys.idempotency(clientId, key);
    let existing: string | null;
    try {
      const claimed = await this.redis.set(
        k,
        JSON.stringify({ state: 'processing', hash } satisfies Entry),
        'EX',
        TTL_SECONDS,
        'NX',
      );
      if (claimed === 'OK') return {};
      existing = await this.redis.get(k);
    } catch {
      return {};
    }
    if (!existing) return {};
    const entry = JSON.parse(existing) as Entry;
    if (entry.hash !== hash) throw mismatch();
    if (entry.state === 'processing') {
      throw new AppException(
        409,
        'IDEMPOTENCY_KEY_IN_FLIGHT',
        'A request with this Idempotency-Key is still being handled',
        {},
        1,
      );
    }
    return { replay: entry.response };
  }

  async complete(clientId: string, key: string, hash: string, response: unknown): Promise<void> {
    const entry: Entry = { state: 'done', hash, response };
    await this.redis
      .set(RedisKeys.idempotency(clientId, key), JSON.stringify(entry), 'EX', TTL_SECONDS)
      .catch(() => undefined);
  }

  async abort(clientId: string, key: string): Promise<void> {
    await this.redis.del(RedisKeys.idempotency(clientId, key)).catch(() => undefined);
  }
}
