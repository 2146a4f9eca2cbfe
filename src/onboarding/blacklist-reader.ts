// Whether a number is on the manual blacklist, the one kind that blocks OTP and messages as well as onboarding
// (automatic entries from the abuse detector block onboarding only). Redis answers; Postgres when Redis is down
// or not warm.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { execAll } from '../redis/exec-all';
import { isRedisUnavailable } from '../redis/redis-errors';
import { numberOffset, RedisKeys } from '../redis/redis-keys';

@Injectable()
export class BlacklistReader {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly db: DataSource,
  ) {}

  /**
   * Redis's flag, or Postgres while Redis is unreachable or not warm (it lost its data and the warm-up has not
   * restored the flags yet: the marker tells), so a manual entry blocks from the first moment Redis is back.
   */
  async manuallyBlacklisted(mobile: string): Promise<boolean> {
    try {
      const [member, warm] = await execAll(
        this.redis
          .pipeline()
          .getbit(RedisKeys.blacklistFlags(mobile), numberOffset(mobile))
          .exists(RedisKeys.warmupMarkerOf(mobile)),
      );
      if (member === 1) return true;
      return warm === 1 ? false : this.inPostgres(mobile);
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
