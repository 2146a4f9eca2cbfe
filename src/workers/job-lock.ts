import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { defineScript } from '../redis/redis-script';
import { RedisKeys } from '../redis/redis-keys';

/** Deletes the lock only if it still holds our token, so a slow owner never frees someone else's lock. */
const releaseScript = defineScript<number>(
  'release_lock',
  1,
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
);

/** Extends the lock's lease only if it still holds our token. */
const extendScript = defineScript<number>(
  'extend_lock',
  1,
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`,
);

/** A Redis lock per job (SET NX PX): one tick of a job runs at a time across every replica. */
@Injectable()
export class JobLock {
  constructor(@Inject(REDIS) private readonly redis: RedisClient) {}

  /** Returns the owner token, or null when another replica holds the lock. */
  async acquire(job: string, ttlMs: number): Promise<string | null> {
    const token = randomBytes(16).toString('hex');
    const ok = await this.redis.set(RedisKeys.lock(job), token, 'PX', ttlMs, 'NX');
    return ok === 'OK' ? token : null;
  }

  /** Renews the lease for another `ttlMs`; false when the lock is no longer ours (it expired). */
  async extend(job: string, token: string, ttlMs: number): Promise<boolean> {
    return (await extendScript.run(this.redis, [RedisKeys.lock(job)], [token, String(ttlMs)])) === 1;
  }

  async release(job: string, token: string): Promise<boolean> {
    return (await releaseScript.run(this.redis, [RedisKeys.lock(job)], [token])) === 1;
  }
}
