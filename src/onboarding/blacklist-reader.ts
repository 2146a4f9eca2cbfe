// Whether a number is on the manual blacklist, the one kind that blocks OTP and messages as well as onboarding
// (automatic entries from the abuse detector block onboarding only). Redis answers; Postgres when Redis is down.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { isRedisUnavailable } from '../redis/redis-errors';
import { RedisKeys } from '../redis/redis-keys';

@Injectable()
export class BlacklistReader {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly db: DataSource,
  ) {}

  async manuallyBlacklisted(mobile: string): Promise<boolean> {
    try {
      return (await this.redis.sismember(RedisKeys.blacklistedNumbers(), mobile)) === 1;
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      return this.inPostgres(mobile);
    }
  }

  /** Postgres's answer (the OTP fallback asks it directly: Redis is known to be down there). */
  async inPostgres(mobile: string): Promise<boolean> {
    const rows: unknown[] = await this.db.query(
      'SELECT 1 FROM blacklist_sms WHERE mobile_number = $1 AND expires_at IS NULL',
      [mobile],
    );
    return rows.length > 0;
  }
}
