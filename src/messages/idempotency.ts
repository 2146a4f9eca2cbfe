// Idempotency-Key: the same key from the same client returns the first answer and creates nothing; another
// body with that key is a 422; a repeat while the first is in flight is a 409. Redis is the fast path; the
// unique index on (client_id, idempotency_key) in Postgres is the guarantee when Redis is away, and after a
// crash: the in-flight claim lasts seconds (renewed while its request runs), so a retry after the API died
// mid-request soon claims the key again and finds the stored message, answering with its id.
import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { AppException } from '../common/app.exception';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { RedisKeys } from '../redis/redis-keys';
import { defineScript } from '../redis/redis-script';

/** How long a finished request's answer is kept for repeats. */
const TTL_SECONDS = 86400;
/** How long an in-flight claim lives without renewal: a crashed request holds its key about this long. */
export const CLAIM_TTL_MS = 10_000;
const RENEW_EVERY_MS = 3000;

/** Renews the claim only while it is still ours (the same token). */
const renewClaim = defineScript<number>(
  'idempotency_renew',
  1,
  `local v = redis.call('GET', KEYS[1])
   if v and string.find(v, ARGV[1], 1, true) then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
   return 0`,
);

interface Entry {
  state: 'processing' | 'done';
  hash: string;
  /** The claim's owner (processing only). */
  token?: string;
  response?: unknown;
}

/** An in-flight claim: renewed until the request completes or aborts. */
export interface Claim {
  stop(): void;
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

  /**
   * Claims the key (for CLAIM_TTL_MS, renewed until the claim is stopped), or returns the stored answer;
   * throws 409 / 422. Redis unreachable: lets Postgres decide.
   */
  async begin(clientId: string, key: string, hash: string): Promise<{ replay?: unknown; claim?: Claim }> {
    const k = RedisKeys.idempotency(clientId, key);
    let existing: string | null;
    try {
      const token = randomBytes(12).toString('hex');
      const claimed = await this.redis.set(
        k,
        JSON.stringify({ state: 'processing', hash, token } satisfies Entry),
        'PX',
        CLAIM_TTL_MS,
        'NX',
      );
      if (claimed === 'OK') return { claim: this.renewed(k, token) };
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

  private renewed(k: string, token: string): Claim {
    const timer = setInterval(() => {
      renewClaim.run(this.redis, [k], [`"token":"${token}"`, CLAIM_TTL_MS]).catch(() => undefined);
    }, RENEW_EVERY_MS);
    timer.unref();
    return { stop: () => clearInterval(timer) };
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
