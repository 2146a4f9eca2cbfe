// The Redis building blocks on the real server: key prefix, cache-aside helper, job locks and heartbeats.
import { Redis } from 'ioredis';
import { CacheService } from '../../src/redis/cache.service';
import { RedisKeys } from '../../src/redis/redis-keys';
import { defineScript } from '../../src/redis/redis-script';
import { createCommandClient } from '../../src/redis/redis-options';
import type { RedisClient } from '../../src/redis/redis.constants';
import { RateLimiters } from '../../src/common/rate-limit/rate-limit';
import { MetricsService } from '../../src/metrics/metrics.service';
import { Heartbeats } from '../../src/workers/heartbeats';
import { JobLock } from '../../src/workers/job-lock';
import { startTestApp, TestApp } from '../helpers/test-app';

describe('Redis core', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('writes every key under REDIS_KEY_PREFIX', async () => {
    await t.redis.set(RedisKeys.lock('prefix-check'), '1', 'EX', 10);
    const raw = new Redis(t.config.redis.url!);
    try {
      expect(await raw.exists(`${t.config.redis.keyPrefix}lock:prefix-check`)).toBe(1);
      expect(await raw.exists('lock:prefix-check')).toBe(0);
    } finally {
      raw.disconnect();
    }
  });

  it('caches with getOrSet, loading once', async () => {
    const cache = t.app.get(CacheService);
    const loader = jest.fn(async () => ({ salt_length: 8 }));
    expect(await cache.getOrSet('settings', 'global', 60, loader)).toEqual({ salt_length: 8 });
    expect(await cache.getOrSet('settings', 'global', 60, loader)).toEqual({ salt_length: 8 });
    expect(loader).toHaveBeenCalledTimes(1);
    expect(await t.redis.ttl(RedisKeys.cache('settings', 'global'))).toBeGreaterThan(50);
    await cache.delete('settings', 'global');
    await cache.getOrSet('settings', 'global', 60, loader);
    expect(loader).toHaveBeenCalledTimes(2);
  });

  it('clears one namespace with SCAN + UNLINK and leaves others', async () => {
    const cache = t.app.get(CacheService);
    for (let i = 0; i < 1200; i++) await cache.set('users', `u${i}`, 60, i);
    await cache.set('other', 'keep', 60, 'kept');
    expect(await cache.clearNamespace('users')).toBe(1200);
    expect(await cache.get('users', 'u1')).toBeUndefined();
    expect(await cache.get('other', 'keep')).toBe('kept');
  });

  it('runs a defined script by EVALSHA, and reloads it after SCRIPT FLUSH', async () => {
    const script = defineScript<number>('test_incr', 1, `return redis.call('INCRBY', KEYS[1], ARGV[1])`);
    expect(await script.run(t.redis, ['counter'], [2])).toBe(2);
    await t.redis.script('FLUSH');
    expect(await script.run(t.redis, ['counter'], [3])).toBe(5);
  });

  it('runs a script declared after the client was made, beside an auto-pipeline opened in the same tick', async () => {
    expect(t.redis.options.enableAutoPipelining).toBe(true);
    const late = defineScript<string>('test_late_echo', 1, `return ARGV[1] .. redis.call('GET', KEYS[1])`);
    await t.redis.set('late-key', '!');
    // The GET opens this tick's auto-pipeline; the script's first run comes after it, in the same tick.
    const [got, echoed] = await Promise.all([
      t.redis.get('late-key'),
      late.run(t.redis, ['late-key'], ['hello']),
    ]);
    expect([got, echoed]).toEqual(['!', 'hello!']);
    // Both kinds of call keep working in later ticks.
    expect(await Promise.all([late.run(t.redis, ['late-key'], ['again']), t.redis.get('late-key')])).toEqual([
      'again!',
      '!',
    ]);
  });

  it('defines the rate limiter’s command before traffic, so a first limit check beside an auto-pipeline works', async () => {
    const client = createCommandClient(t.config.redis, 'smsb-test-late-limiter');
    try {
      await client.connect();
      const limiters = new RateLimiters(client as RedisClient, new MetricsService());
      const rule = { action: 'late-define', limit: 5, windowSeconds: 60 };
      // The GET opens this tick's auto-pipeline; the limiter's first command joins it in the same tick.
      const [, headers] = await Promise.all([client.get('late-key'), limiters.consume(rule, 'someone')]);
      expect(headers).toMatchObject({ 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '4' });
    } finally {
      client.disconnect();
    }
  });

  it('lets one owner hold a lock and only the owner release it', async () => {
    const lock = t.app.get(JobLock);
    const token = await lock.acquire('job-a', 5000);
    expect(token).toBeTruthy();
    expect(await lock.acquire('job-a', 5000)).toBeNull();
    expect(await lock.release('job-a', 'not-the-owner')).toBe(false);
    expect(await lock.release('job-a', token!)).toBe(true);
    expect(await lock.acquire('job-a', 5000)).toBeTruthy();
  });

  it('reads heartbeats as up, down (stale) or never reported', async () => {
    const hb = t.app.get(Heartbeats);
    await hb.beat('fresh');
    await hb.beat('stale');
    const jobs = [
      { name: 'fresh', intervalSeconds: 10 },
      { name: 'stale', intervalSeconds: 10 },
      { name: 'silent', intervalSeconds: 10 },
    ] as any;
    const now = await hb.read(jobs);
    expect(now.fresh.status).toBe('up');
    expect(now.silent.status).toBe('never_reported');
    const later = await hb.read(jobs, Date.now() + 31_000);
    expect(later.stale.status).toBe('down');
  });
});
