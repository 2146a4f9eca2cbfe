// Redis (hot path) and Postgres (the backup of every code, and the fallback when Redis is down) for OTP.
import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Batcher } from '../common/batcher';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { RedisKeys } from '../redis/redis-keys';
import { verifyScript, VerifyResult } from './otp.scripts';

export interface StoredOtp {
  otp_hash: string;
  mobile_number: string;
  created_at: string;
  expires_at: string;
  expires_ms: number;
  channel: string;
  user_id: string | null;
  message_id: string | null;
  row_id: string;
}

export interface OtpRow {
  id: string;
  otp_hash: string;
  user_id: string | null;
  message_id: string | null;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  attempts: number;
}

export const ATTEMPTS_TTL_SECONDS = 3600;
/** The per-client-IP limit on /otp/* (the @RateLimit action). */
export const OTP_IP_LIMIT = 'otp_ip';
export const STATUS_TTL_SECONDS = 3600;

@Injectable()
export class OtpRepository {
  /**
   * Rows of codes Redis already consumed (the Lua check made the single winner), marked used together under
   * load: one UPDATE and one commit for many verifies.
   */
  private readonly consumed = new Batcher<string, void>(
    async (ids) => {
      await this.db.query(
        'UPDATE otp_codes SET used_at = now() WHERE id = ANY($1::uuid[]) AND used_at IS NULL',
        [ids],
      );
      return ids.map(() => undefined);
    },
    { maxBatch: 200, concurrency: 2 },
  );

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly db: DataSource,
  ) {}

  // --- Redis ---

  async active(mobile: string): Promise<StoredOtp | null> {
    const raw = await this.redis.get(RedisKeys.otp(mobile));
    return raw ? (JSON.parse(raw) as StoredOtp) : null;
  }

  async isBlacklisted(mobile: string): Promise<boolean> {
    return (await this.redis.sismember(RedisKeys.blacklistedNumbers(), mobile)) === 1;
  }

  async attempts(mobile: string): Promise<{ count: number; ttl: number }> {
    const [[, count], [, ttl]] = (await this.redis
      .multi()
      .get(RedisKeys.otpAttempts(mobile))
      .ttl(RedisKeys.otpAttempts(mobile))
      .exec()) as [unknown, unknown][];
    return { count: Number(count ?? 0), ttl: Number(ttl) };
  }

  /** Stores the code (TTL = validity) and its pending status (kept an hour past expiry) in one transaction. */
  async store(otp: StoredOtp, validitySec: number): Promise<void> {
    await this.redis
      .multi()
      .set(RedisKeys.otp(otp.mobile_number), JSON.stringify(otp), 'EX', validitySec)
      .set(
        RedisKeys.otpStatus(otp.mobile_number),
        JSON.stringify({ status: 'pending', expires_ms: otp.expires_ms, message_id: otp.message_id }),
        'EX',
        validitySec + STATUS_TTL_SECONDS,
      )
      .exec();
  }

  /** Check and consume, counting the client IP's /otp/* request in the same step when `ip` is given. */
  async verify(
    mobile: string,
    candidateHash: string,
    maxAttempts: number,
    ip?: { id: string; limit: number; windowSeconds: number },
  ): Promise<VerifyResult> {
    return verifyScript.run(
      this.redis,
      [
        RedisKeys.otp(mobile),
        RedisKeys.otpAttempts(mobile),
        RedisKeys.otpStatus(mobile),
        RedisKeys.rateLimit(OTP_IP_LIMIT, ip?.id ?? ''),
      ],
      [
        candidateHash,
        Date.now(),
        maxAttempts,
        ATTEMPTS_TTL_SECONDS,
        STATUS_TTL_SECONDS,
        ip ? ip.limit : '',
        ip ? ip.windowSeconds : 0,
      ],
    );
  }

  async status(
    mobile: string,
  ): Promise<{ status: string; expires_ms?: number; message_id?: string | null } | null> {
    const raw = await this.redis.get(RedisKeys.otpStatus(mobile));
    return raw ? JSON.parse(raw) : null;
  }

  async hourlySends(hour: string): Promise<number> {
    const key = RedisKeys.otpHourlyBudget(hour);
    const [[, n]] = (await this.redis.multi().incr(key).expire(key, 7200, 'NX').exec()) as [
      unknown,
      unknown,
    ][];
    return Number(n);
  }

  async cacheVerified(userId: string): Promise<void> {
    await this.redis.set(RedisKeys.userVerification(userId), '1', 'EX', 3600);
  }

  async cachedVerified(userId: string): Promise<boolean | null> {
    const v = await this.redis.get(RedisKeys.userVerification(userId));
    return v === null ? null : v === '1';
  }

  async cacheUnverified(userId: string): Promise<void> {
    await this.redis.set(RedisKeys.userVerification(userId), '0', 'EX', 3600);
  }

  // --- Postgres ---

  /** The backup row; earlier unused codes of the number are voided in the same statement. */
  async insertRow(otp: Omit<StoredOtp, 'row_id' | 'expires_ms'>): Promise<string> {
    const id = randomUUID();
    await this.db.query(
      `WITH v AS (UPDATE otp_codes SET voided_at = now() WHERE mobile_number = $2 AND used_at IS NULL AND voided_at IS NULL)
       INSERT INTO otp_codes (id, mobile_number, user_id, otp_hash, channel, message_id, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        id,
        otp.mobile_number,
        otp.user_id,
        otp.otp_hash,
        otp.channel,
        otp.message_id,
        otp.created_at,
        otp.expires_at,
      ],
    );
    return id;
  }

  async setMessageId(rowId: string, messageId: string): Promise<void> {
    await this.db.query('UPDATE otp_codes SET message_id = $2 WHERE id = $1', [rowId, messageId]);
  }

  async rowForMessage(messageId: string): Promise<OtpRow | null> {
    const rows: OtpRow[] = await this.db.query(
      'SELECT id, otp_hash, user_id, message_id, created_at, expires_at, used_at, attempts FROM otp_codes WHERE message_id = $1',
      [messageId],
    );
    return rows[0] ?? null;
  }

  /** Marks the row of a code Redis consumed (the backup's record of it); batched with concurrent verifies. */
  async markConsumed(rowId: string): Promise<void> {
    await this.consumed.submit(rowId);
  }

  /** Marks a row used if it is not yet: false when a concurrent verify won (the Postgres fallback's check). */
  async markUsed(rowId: string): Promise<boolean> {
    const [, n] = (await this.db.query(
      'UPDATE otp_codes SET used_at = now() WHERE id = $1 AND used_at IS NULL',
      [rowId],
    )) as [unknown, number];
    return n > 0;
  }

  /** The latest live code of a number (fallback path). */
  async latestRow(mobile: string): Promise<OtpRow | null> {
    const rows: OtpRow[] = await this.db.query(
      `SELECT id, otp_hash, user_id, message_id, created_at, expires_at, used_at, attempts FROM otp_codes
       WHERE mobile_number = $1 AND voided_at IS NULL ORDER BY created_at DESC LIMIT 1`,
      [mobile],
    );
    return rows[0] ?? null;
  }

  /** Failures of the number in the last hour, across its codes (fallback path). */
  async recentFailures(mobile: string): Promise<number> {
    const rows: { n: number }[] = await this.db.query(
      `SELECT COALESCE(sum(attempts), 0)::int AS n FROM otp_codes WHERE mobile_number = $1 AND created_at > now() - interval '1 hour'`,
      [mobile],
    );
    return rows[0].n;
  }

  async recordFailure(rowId: string): Promise<void> {
    await this.db.query('UPDATE otp_codes SET attempts = attempts + 1 WHERE id = $1', [rowId]);
  }

  async recentSends(mobile: string, windowSec: number): Promise<number> {
    const rows: { n: number }[] = await this.db.query(
      `SELECT count(*)::int AS n FROM otp_codes WHERE mobile_number = $1 AND created_at > now() - make_interval(secs => $2)`,
      [mobile, windowSec],
    );
    return rows[0].n;
  }

  async blacklistedInDb(mobile: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM blacklist_sms WHERE mobile_number = $1', [mobile])).length > 0;
  }

  async everVerified(userId: string): Promise<boolean> {
    return (
      (
        await this.db.query('SELECT 1 FROM otp_codes WHERE user_id = $1 AND used_at IS NOT NULL LIMIT 1', [
          userId,
        ])
      ).length > 0
    );
  }

  async messageStatus(messageId: string): Promise<string | null> {
    const rows: { status: string }[] = await this.db.query('SELECT status FROM messages WHERE id = $1', [
      messageId,
    ]);
    return rows[0]?.status ?? null;
  }
}
