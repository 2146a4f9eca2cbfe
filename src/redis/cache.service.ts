// Cache-aside on Redis: cache:{namespace}:{key} JSON values with a TTL.
import { Inject, Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { REDIS, RedisClient } from './redis.constants';
import { RedisKeys } from './redis-keys';

@Injectable()
export class CacheService {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly config: AppConfig,
  ) {}

  async get<T>(namespace: string, key: string): Promise<T | undefined> {
    const raw = await this.redis.get(RedisKeys.cache(namespace, key));
    if (raw === null) return undefined;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return undefined;
    }
  }

  async set<T>(namespace: string, key: string, ttlSeconds: number, value: T): Promise<void> {
    await this.redis.set(RedisKeys.cache(namespace, key), JSON.stringify(value), 'EX', ttlSeconds);
  }

  /**
   * Returns the cached value, or loads, stores and returns it. When Redis is unreachable the loader's value is
   * returned uncached: a cache outage must not become an outage of what it caches.
   */
  async getOrSet<T>(
    namespace: string,
    key: string,
    ttlSeconds: number,
    loader: () => Promise<T>,
  ): Promise<T> {
    let cached: T | undefined;
    try {
      cached = await this.get<T>(namespace, key);
    } catch {
      return loader();
    }
    if (cached !== undefined) return cached;
    const value = await loader();
    await this.set(namespace, key, ttlSeconds, value).catch(() => undefined);
    return value;
  }

  async delete(namespace: string, key: string): Promise<void> {
    await this.redis.del(RedisKeys.cache(namespace, key));
  }

  /** Removes every key of a namespace with SCAN + UNLINK (never KEYS), in batches. Returns how many. */
  async clearNamespace(namespace: string): Promise<number> {
    const prefix = this.config.redis.keyPrefix;
    const pattern = prefix + RedisKeys.cacheNamespacePattern(namespace).replace(/[[\]?\\]/g, '\\$&');
    const nodes = 'nodes' in this.redis ? this.redis.nodes('master') : [this.redis];
    let removed = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        // SCAN's MATCH is not prefixed by ioredis and its answers carry the prefix: strip it before UNLINK,
        // which ioredis prefixes again.
        const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        if (found.length) {
          removed += await this.redis.unlink(...found.map((k) => k.slice(prefix.length)));
        }
      } while (cursor !== '0');
    }
    return removed;
  }
}
