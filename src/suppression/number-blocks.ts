// Whether a number may be sent SMS, MMS, WhatsApp or OTP codes: the one place that answers it. Two lists block
// such sends: the manual blacklist (an admin's entry; automatic entries from the abuse detector block onboarding
// only) and the suppression list (opt-outs). Redis answers in one round trip; Postgres when Redis is down or not
// warm (it lost its data and the warm-up has not restored the flags: the bucket's marker tells). E-mail is never
// blocked by either. The OTP send script reads the same bits itself (otp.scripts.ts).
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { execAll } from '../redis/exec-all';
import { isRedisUnavailable } from '../redis/redis-errors';
import { numberOffset, RedisKeys } from '../redis/redis-keys';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { AppException } from '../common/app.exception';

/** Why a number gets no SMS, MMS, WhatsApp or codes; null when nothing blocks it. */
export type NumberBlock = 'blacklisted' | 'opted_out' | null;

/** The API's answer to a send a block refuses (messages and OTP alike). */
export function blockedError(block: Exclude<NumberBlock, null>): AppException {
  return block === 'blacklisted'
    ? new AppException(403, 'BLACKLISTED', 'This number is blacklisted')
    : new AppException(403, 'OPTED_OUT', 'This number opted out of messages (it may text START to opt in)');
}

@Injectable()
export class NumberBlocks {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly db: DataSource,
  ) {}

  /** Redis's flags (one pipeline), or Postgres while Redis is unreachable or not warm. */
  async of(mobile: string): Promise<NumberBlock> {
    try {
      const bit = numberOffset(mobile);
      const [blacklisted, suppressed, warm] = await execAll(
        this.redis
          .pipeline()
          .getbit(RedisKeys.blacklistFlags(mobile), bit)
          .getbit(RedisKeys.suppressionFlags(mobile), bit)
          .exists(RedisKeys.warmupMarkerOf(mobile)),
      );
      if (blacklisted === 1) return 'blacklisted';
      if (suppressed === 1) return 'opted_out';
      return warm === 1 ? null : this.inPostgres(mobile);
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      return this.inPostgres(mobile);
    }
  }

  /** Postgres's answer (the OTP fallback asks it directly: Redis is known to be down there). */
  async inPostgres(mobile: string): Promise<NumberBlock> {
    const [row]: { blacklisted: boolean; opted_out: boolean }[] = await this.db.query(
      `SELECT EXISTS (SELECT 1 FROM blacklist_sms WHERE mobile_number = $1 AND expires_at IS NULL) AS blacklisted,
              EXISTS (SELECT 1 FROM suppressions WHERE mobile_number = $1) AS opted_out`,
      [mobile],
    );
    return row.blacklisted ? 'blacklisted' : row.opted_out ? 'opted_out' : null;
  }
}
