// A reusable, Redis-backed rate limit (rate-limiter-flexible): `@RateLimit(action, limit, windowSeconds, key)`
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
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppConfig } from '../../config/app-config';
import { MetricsService } from '../../metrics/metrics.service';
import { REDIS, RedisClient } from '../../redis/redis.constants';
import { RedisKeys } from '../../redis/redis-keys';
import { AppException } from '../app.exception';

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

/** Limiters by rule, shared by the guard and by services that limit inside their own logic. */
@Injectable()
export class RateLimiters {
  private readonly limiters = new Map<string, RateLimiterRedis>();
  readonly rejected;

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    metrics: MetricsService,
  ) {
    this.rejected = metrics.counter('smsb_rate_limit_rejections_total', 'Requests refused by a rate limit', [
      'action',
    ]);
    // A RateLimiterRedis defines its Lua command (rlflxIncr) on the client when it is made. Made lazily, at a
    // first request, it could be defined in the same tick as an open auto-pipeline, which then lacks it and
    // ends the process (redis/ioredis#1931; seen in a test). One made now defines it before any traffic.
    new RateLimiterRedis({ storeClient: redis, points: 1, duration: 1 });
  }

  private limiter(rule: Omit<RateLimitRule, 'key'>): RateLimiterRedis {
    const id = `${rule.action}:${rule.limit}:${rule.windowSeconds}`;
    let l = this.limiters.get(id);
    if (!l) {
      l = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: RedisKeys.rateLimit(rule.action, '').slice(0, -1),
        points: rule.limit,
        duration: rule.windowSeconds,
      });
      this.limiters.set(id, l);
    }
    return l;
  }

  /**
   * Counts one request. Throws a 429 (with Retry-After) past the limit. Returns the headers to send, or null
   * when Redis could not be asked (limits then fail open: availability over a rate limit during an outage).
   */
  async consume(
    rule: Omit<RateLimitRule, 'key'>,
    identifier: string,
  ): Promise<Record<string, string> | null> {
    try {
      const res = await this.limiter(rule).consume(identifier);
      return headers(rule.limit, res);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) return null;
      throw this.rejection(rule.action, err.msBeforeNext);
    }
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
    return headers(limit, { remainingPoints: limit - consumed, msBeforeNext } as RateLimiterRes);
  }
}

function headers(limit: number, res: RateLimiterRes): Record<string, string> {
  return {
    'x-ratelimit-limit': String(limit),
    'x-ratelimit-remaining': String(Math.max(0, res.remainingPoints)),
    'x-ratelimit-reset': String(Math.ceil(res.msBeforeNext / 1000)),
  };
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
