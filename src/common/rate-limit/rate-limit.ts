// A reusable, Redis-backed fixed-window rate limit (a Lua counter of our own): `@RateLimit(action, limit, windowSeconds, key)`
// on a route or controller. Counters live at rate_limit:{action}:{identifier}, shared by every replica.
import {
  applyDecorators,
  CanActivate,
  ExecutionContext,
  Inject,
  Injectable,
  SetMetadata,
  UseGuards,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../../config/app-config';
import { MetricsService } from '../../metrics/metrics.service';
import { REDIS, RedisClient } from '../../redis/redis.constants';
import { isRedisUnavailable } from '../../redis/redis-errors';
import { defineScript } from '../../redis/redis-script';
import { RedisKeys } from '../../redis/redis-keys';
import { AppException } from '../app.exception';
import { LocalWindows } from './local-windows';

export type RateLimitKey = 'ip' | ((req: FastifyRequest) => string | undefined);

/** A limit and its window: fixed, or read from the configuration (so an operator can tune it). */
export type RateLimitSize = { limit: number; windowSeconds: number } | ((config: AppConfig) => RateLimitSize);

export interface RateLimitRule {
  action: string;
  limit: number;
  windowSeconds: number;
  key: RateLimitKey;
}

const RULES = 'smsb:rate-limits';

interface RateLimitMeta {
  action: string;
  size: RateLimitSize;
  key: RateLimitKey;
}

const COUNTED_IN_HANDLER = 'smsb:rate-limits-counted-in-handler';

/**
 * Marks a handler that counts the named limit itself, inside its own Redis round trip (OTP verify does, so its
 * success path stays at two round trips). The guard skips that rule there; the counter and key are the same.
 */
export const RateLimitCountedInHandler = (action: string) => SetMetadata(COUNTED_IN_HANDLER, action);

/** Limits a route: at most `limit` requests per `windowSeconds` for each key (the client IP by default). */
export const RateLimit = (action: string, size: RateLimitSize, key: RateLimitKey = 'ip') =>
  applyDecorators(SetMetadata(RULES, [{ action, size, key }]), UseGuards(RateLimitGuard));

/**
 * The fixed-window counter every limit uses, as a Lua function other scripts embed (OTP's send counts the
 * number's limit inside its own round trip with it; OTP verify counts the end-user IP with rateLimitScript, and
 * its wrong-code count is the number's lock, not a rate limit): `count(key, points, window_s)` adds `points`
 * (0 reads) to the counter, starting the window at its first request, and returns {count, ms left}.
 */
export const FIXED_WINDOW_LUA = `
local function count(key, points, window)
  local n
  if points == 0 then n = tonumber(redis.call('GET', key) or '0') else n = redis.call('INCRBY', key, points) end
  if n <= 0 then return 0, 0 end
  local left = redis.call('PTTL', key)
  if left < 0 then
    redis.call('PEXPIRE', key, window * 1000)
    left = window * 1000
  end
  return n, left
end
`;

/**
 * The one counter script: the guard counts requests with it, OTP verify the end-user IP's.
 * KEYS: the counter. ARGV: points to add, window (s). Returns {count, ms before the window resets}.
 */
export const rateLimitScript = defineScript<[number, number]>(
  'rate_limit',
  1,
  `${FIXED_WINDOW_LUA}
local n, left = count(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
return {n, left}`,
);

/**
 * Takes one unit under a limit, or nothing: counts only while the counter is below the limit (OTP send reserves
 * its per-IP, per-key and budget units with it before the number's own step, and gives them back when that
 * step refuses). KEYS: the counter. ARGV: limit, window (s). Returns {1 taken | 0 refused, ms left, when the
 * window ends (Unix ms: the refund's proof that it gives back to the same window)}.
 */
export const reserveScript = defineScript<[number, number, number]>(
  'rate_limit_reserve',
  1,
  `${FIXED_WINDOW_LUA}
local n, left = count(KEYS[1], 0, tonumber(ARGV[2]))
if n >= tonumber(ARGV[1]) then return {0, left, 0} end
n, left = count(KEYS[1], 1, tonumber(ARGV[2]))
return {1, left, redis.call('PEXPIRETIME', KEYS[1])}`,
);

/**
 * Gives back a unit reserveScript took, to the window it was taken from only: a window that ended (and one
 * begun since) is left as it is, or the next window would admit more than its limit. Never below zero.
 * KEYS: the counter. ARGV: when the window ends (reserveScript's third answer).
 */
export const refundScript = defineScript<number>(
  'rate_limit_refund',
  1,
  `if redis.call('PEXPIRETIME', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then return redis.call('DECR', KEYS[1]) end
return 0`,
);

/** Limits by rule, shared by the guard and by services that limit inside their own logic. */
@Injectable()
export class RateLimiters {
  readonly rejected;

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    metrics: MetricsService,
  ) {
    this.rejected = metrics.counter('smsb_rate_limit_rejections_total', 'Requests refused by a rate limit', [
      'action',
    ]);
  }

  /** While Redis is unreachable, the same counters in this process's memory: each replica limits on its own. */
  private readonly local = new LocalWindows();

  /**
   * Counts one request. Throws a 429 (with Retry-After) past the limit. Returns the headers to send. When Redis
   * cannot be asked, the request is counted in this process's memory instead (see `countLocally`).
   */
  async consume(rule: Omit<RateLimitRule, 'key'>, identifier: string): Promise<Record<string, string>> {
    let n: number, left: number;
    try {
      [n, left] = await rateLimitScript.run(
        this.redis,
        [RedisKeys.rateLimit(rule.action, identifier)],
        [1, rule.windowSeconds],
      );
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      [n, left] = this.countLocally(rule.action, identifier, 1, rule.windowSeconds);
    }
    if (n > rule.limit) throw this.rejection(rule.action, left);
    return RateLimiters.headers(rule.limit, n, left);
  }

  /**
   * A counter in this process's memory, for while Redis is unreachable: limits then hold per replica (N
   * replicas admit up to N times the limit) instead of not at all. `points` 0 only reads. [count, ms left].
   */
  countLocally(action: string, identifier: string, points: number, windowSeconds: number): [number, number] {
    return this.local.count(`${action}\u0000${identifier}`, points, windowSeconds);
  }

  /** The 429 for a request past a limit (counted in the rejections metric). */
  rejection(action: string, msBeforeNext: number): AppException {
    this.rejected.inc({ action });
    const retryAfter = Math.max(1, Math.ceil(msBeforeNext / 1000));
    return new AppException(
      429,
      'RATE_LIMITED',
      `Too many requests for ${action}; retry in ${retryAfter} s`,
      {},
      retryAfter,
    );
  }

  /** The X-RateLimit-* headers for a counter at `consumed` of `limit`, reset in `msBeforeNext`. */
  static headers(limit: number, consumed: number, msBeforeNext: number): Record<string, string> {
    return {
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': String(Math.max(0, limit - consumed)),
      'x-ratelimit-reset': String(Math.ceil(msBeforeNext / 1000)),
    };
  }
}

@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiters: RateLimiters,
    private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rules =
      this.reflector.getAllAndMerge<RateLimitMeta[]>(RULES, [context.getHandler(), context.getClass()]) ?? [];
    const countedInHandler = this.reflector.get<string | undefined>(COUNTED_IN_HANDLER, context.getHandler());
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    for (const meta of rules) {
      if (meta.action === countedInHandler) continue;
      const id = meta.key === 'ip' ? req.ip : meta.key(req);
      if (!id) continue;
      let size = meta.size;
      while (typeof size === 'function') size = size(this.config);
      const rule = { action: meta.action, ...size };
      try {
        const h = await this.limiters.consume(rule, id);
        if (h) void reply.headers(h);
      } catch (err) {
        if (err instanceof AppException && err.retryAfterSeconds !== undefined) {
          void reply.headers({
            'x-ratelimit-limit': String(rule.limit),
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': String(err.retryAfterSeconds),
          });
        }
        throw err;
      }
    }
    return true;
  }
}
