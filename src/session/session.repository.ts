// Where sessions live: Redis, or this replica's memory while Redis is unreachable (SESSION_FALLBACK=memory).
// Every operation tries Redis first; an outage sends it to memory. Sessions created in memory during an outage
// are found there first (a map lookup), and are moved into Redis when it is back. What only Redis could answer
// (a session created before the outage, a user's full list) is a 503, never a wrong 404.
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DependencyUnavailableException } from '../common/app.exception';
import { AppConfig } from '../config/app-config';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { isRedisUnavailable } from '../redis/redis-errors';
import { MemorySessionStore } from './memory-session.store';
import { RedisSessionStore } from './redis-session.store';
import type { StoredSession, TouchResult } from './session-store';
import { SessionMetrics } from './session.metrics';

/** What an operation answers in memory when only Redis could answer it fully: the request gets a 503. */
const UNAVAILABLE = Symbol('unavailable');

export interface SessionStoreState {
  fallback: 'memory' | 'none';
  /** True while sessions are served from memory: Redis unreachable, or outage sessions not yet moved back. */
  fallbackActive: boolean;
  memorySessions: number;
}

@Injectable()
export class SessionRepository implements OnModuleInit {
  private readonly logger = new Logger('Sessions');
  private readonly redisStore: RedisSessionStore;
  private readonly memory?: MemorySessionStore;
  /** Set when an operation first fell back during an outage; cleared once Redis has the memory's contents. */
  private inFallback = false;
  private moving?: Promise<void>;

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    config: AppConfig,
    private readonly metrics: SessionMetrics,
  ) {
    this.redisStore = new RedisSessionStore(redis, config.sessions.absoluteLifetimeSec * 1000);
    if (config.sessionFallback === 'memory') this.memory = new MemorySessionStore(config.sessions.memoryMax);
    metrics.activeGauge(async () => ({
      redis: await this.redisStore.count().catch(() => -1),
      memory: this.memory?.size ?? 0,
    }));
  }

  onModuleInit(): void {
    if (this.memory) this.redis.on('ready', () => void this.moveToRedis());
  }

  state(): SessionStoreState {
    const memorySessions = this.memory?.size ?? 0;
    return {
      fallback: this.memory ? 'memory' : 'none',
      fallbackActive: !!this.memory && (this.redis.status !== 'ready' || memorySessions > 0),
      memorySessions,
    };
  }

  /** Which store a new session went to (for the metric). */
  async create(id: string, userId: string, raw: string, ttlMs: number): Promise<'redis' | 'memory'> {
    return this.route(
      'create',
      async (r) => {
        await r.create(id, userId, raw, ttlMs);
        return 'redis' as const;
      },
      async (m) => {
        await m.create(id, userId, raw, ttlMs);
        return 'memory' as const;
      },
    );
  }

  touch(id: string, nowIso: string, provisionalTtlMs: number): Promise<TouchResult | null> {
    return this.forSession(id, 'touch', (s) => s.touch(id, nowIso, provisionalTtlMs));
  }

  read(id: string): Promise<StoredSession | null> {
    return this.forSession(id, 'read', (s) => s.read(id));
  }

  replace(id: string, expected: string, next: string, ttlMs: number) {
    return this.forSession(id, 'replace', (s) => s.replace(id, expected, next, ttlMs));
  }

  expire(id: string, ttlMs: number): Promise<void> {
    return this.forSession(id, 'expire', (s) => s.expire(id, ttlMs));
  }

  remove(id: string, userId?: string): Promise<boolean> {
    return this.forSession(id, 'remove', (s) => s.remove(id, userId));
  }

  async listForUser(userId: string): Promise<StoredSession[]> {
    const fromMemory = (await this.memory?.listForUser(userId)) ?? [];
    const fromRedis = await this.route(
      'list',
      (r) => r.listForUser(userId),
      async () => UNAVAILABLE,
    );
    return [...fromRedis, ...fromMemory];
  }

  async removeForUser(userId: string, exceptId?: string): Promise<number> {
    const fromMemory = (await this.memory?.removeForUser(userId, exceptId)) ?? 0;
    const fromRedis = await this.route(
      'revoke_all',
      (r) => r.removeForUser(userId, exceptId),
      async () => UNAVAILABLE,
    );
    return fromRedis + fromMemory;
  }

  /** Logout. A session held in memory is ended there; the deny-list entry goes to Redis when reachable. */
  async revokeToken(jti: string, denyTtlMs: number, sessionId: string, userId: string): Promise<void> {
    const inMemory = this.memory?.has(sessionId) ?? false;
    if (inMemory) await this.memory!.revokeToken(jti, denyTtlMs, sessionId, userId);
    await this.route(
      'logout',
      (r) => r.revokeToken(jti, denyTtlMs, sessionId, userId),
      async () => (inMemory ? undefined : UNAVAILABLE),
    );
  }

  async authenticate(jti: string, sessionId: string, nowIso: string, provisionalTtlMs: number) {
    // A token revoked on this replica while Redis was out is refused here, whatever Redis can say.
    if (this.memory?.isDenied(jti)) return { denied: true, session: null };
    return this.forSession(sessionId, 'authenticate', (s) =>
      s.authenticate(jti, sessionId, nowIso, provisionalTtlMs),
    );
  }

  /** An operation on one session: in memory if it is held there, else in Redis (503 when Redis is out). */
  private async forSession<T>(
    id: string,
    operation: string,
    run: (store: MemorySessionStore | RedisSessionStore) => Promise<T>,
  ): Promise<T> {
    if (this.memory?.has(id)) {
      this.metrics.fallbacks.inc({ operation });
      return run(this.memory);
    }
    return this.route(operation, run, async () => UNAVAILABLE);
  }

  /**
   * Runs on Redis; on an outage runs `onMemory` instead, which answers UNAVAILABLE when only Redis could give
   * the whole answer (the request then gets a 503 after whatever memory could do was done).
   */
  private async route<T>(
    operation: string,
    onRedis: (store: RedisSessionStore) => Promise<T>,
    onMemory: (store: MemorySessionStore) => Promise<T | typeof UNAVAILABLE>,
  ): Promise<T> {
    if (this.redis.status === 'ready') {
      try {
        const result = await onRedis(this.redisStore);
        // Redis serves again while memory still holds outage data (a move that failed, or no reconnect).
        if (this.memory?.holdsAny && !this.moving) void this.moveToRedis();
        return result;
      } catch (err) {
        if (!this.isOutage(err)) throw err;
      }
    }
    if (!this.memory) throw new DependencyUnavailableException('redis');
    this.noteFallback(operation);
    const result = await onMemory(this.memory);
    if (result === UNAVAILABLE) throw new DependencyUnavailableException('redis');
    return result as T;
  }

  private isOutage(err: unknown): boolean {
    return isRedisUnavailable(err);
  }

  private noteFallback(operation: string): void {
    this.metrics.fallbacks.inc({ operation });
    if (this.inFallback) return;
    this.inFallback = true;
    this.logger.warn('Redis unavailable: new sessions are kept in this replica’s memory until it is back');
  }

  /** Once Redis is back: sessions and revoked tokens kept in memory go to Redis, so every replica sees them. */
  private moveToRedis(): Promise<void> {
    const memory = this.memory;
    if (!memory || this.moving) return this.moving ?? Promise.resolve();
    this.moving = (async () => {
      let sessions = 0;
      let tokens = 0;
      // A session touched in memory while it was being copied is copied again on the next pass.
      for (let pass = 0; pass < 3; pass++) {
        const snap = memory.snapshot();
        if (!snap.sessions.length && !snap.denied.length) break;
        await this.redisStore.restore(snap.sessions, snap.denied);
        for (const s of snap.sessions) memory.forget(s.id, s.raw);
        for (const d of snap.denied) memory.forgetDenied(d.jti);
        if (pass === 0) [sessions, tokens] = [snap.sessions.length, snap.denied.length];
      }
      if (this.inFallback || sessions || tokens) {
        this.logger.log(
          `Redis is back: sessions are written to Redis again (${sessions} session(s) and ${tokens} ` +
            'revoked token(s) kept in memory meanwhile moved there)',
        );
      }
      this.inFallback = false;
    })()
      .catch((err: Error) => this.logger.warn(`moving sessions from memory to Redis failed: ${err.message}`))
      .finally(() => (this.moving = undefined));
    return this.moving;
  }

  /** The clean-up job's batch; Redis only (while Redis is down there is nothing to clean there). */
  cleanupBatch(now: number, limit: number, bucket: string): Promise<{ checked: number; removed: number }> {
    return this.redisStore.cleanupBatch(now, limit, bucket);
  }

  /** For tests: resolves when a move from memory to Redis that is under way has finished. */
  async settled(): Promise<void> {
    await this.moving;
  }
}
