// Redis (hot path) and Postgres (the backup of every code, and the fallback when Redis is down) for OTP.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Batcher } from '../common/batcher';
import { isDataError } from '../database/pg-errors';
import { sameHash } from './otp-code';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { rateLimitScript, refundScript, reserveScript } from '../common/rate-limit/rate-limit';
import { BLOCK_DIGITS, numberBlock, numberOffset, RedisKeys } from '../redis/redis-keys';
import {
  countVerifiedScript,
  dropOrphanScript,
  dropStaleCodeScript,
  refundSentScript,
  SendResult,
  sendScript,
  syncAttemptsScript,
  undoSendScript,
  velocityReserveScript,
  verifyScript,
  VerifyResult,
} from './otp.scripts';

export interface StoredOtp {
  otp_hash: string;
  mobile_number: string;
  created_at: string;
  created_ms: number;
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
  voided_at: Date | null;
  attempts: number;
}

export const ATTEMPTS_TTL_SECONDS = 3600;
/** The per-end-user-IP limit on send and verify (its counter's action name). */
export const OTP_IP_LIMIT = 'otp_ip';
export const STATUS_TTL_SECONDS = 3600;
/**
 * A live code whose message is still unrecorded this long after it was issued is an orphan: its send crashed
 * (or lost Postgres) between storing the code and recording its message, so nobody will ever receive it. A
 * later send replaces it instead of answering 409. The grace covers a send still in flight.
 */
export const ORPHAN_GRACE_MS = 30_000;

/** The send counters' names, in SendRequest.counters order (a refusal names the one that refused). */
const COUNTER_NAMES = ['number', 'ip', 'client', 'budget'];

/** A counter a send checks and counts: its key, limit ('' = not applied) and window. */
export interface SendCounter {
  key: string;
  limit: number | '';
  windowSeconds: number;
}

export interface SendRequest {
  otp: StoredOtp;
  validitySec: number;
  resend: boolean;
  cooldownSec: number;
  /** Test numbers: no limits. */
  unlimited: boolean;
  /** Per number, per end-user IP, per API key, hourly budget (in that order). */
  counters: [SendCounter, SendCounter, SendCounter, SendCounter];
  /** Postgres said nothing blocks the number (asked while Redis is not warm): see NumberBlocks. */
  notBlocked?: boolean;
  /** The only code (row id) this send may replace: the WhatsApp fallback's, checked atomically. */
  replacing?: string;
  /** The SMS-pumping rules this send is judged by (absent for test numbers and the WhatsApp fallback). */
  pumping?: PumpingRules;
  /**
   * The shared counters' units this send took, and when their windows end (set by OtpRepository.send); `hash`:
   * a send counted in a prefix's or country's hour (given back to that hour's hash).
   */
  reserved?: { key: string; windowEnds: number; hash?: boolean }[];
}

/** A prefix's and a country's rules for one send (docs/otp.md, SMS pumping). */
export interface PumpingRules {
  prefix: string;
  /** OTP_PREFIX_DIGITS: BLOCK_DIGITS (3) puts the prefix in the number's slot, checked by its send script. */
  digits: number;
  country: string;
  prefixCap: number | '';
  countryCap: number | '';
  /** '' : no ratio rule. */
  minSends: number | '';
  minRatio: number;
  /** The hour of the send and the one before (the keys' hour names: 2026-12-04T10). */
  hour: string;
  previousHour: string;
  /** This replica's verified codes of the country not yet in Redis: added by this send's country step. */
  countryVerified: number;
}

/** The hour names a sliding hour at `ms` reads: this hour's and the previous one's. */
export function hoursAt(ms: number): { hour: string; previousHour: string } {
  return {
    hour: new Date(ms).toISOString().slice(0, 13),
    previousHour: new Date(ms - 3_600_000).toISOString().slice(0, 13),
  };
}

/** A blocked prefix as admins see it. */
export interface PumpingBlock {
  prefix: string;
  country: string;
  since: string;
  sends: number;
  verified: number;
  ratio: number;
}

/** Failures counted in Postgres for a number, and the seconds left in their window. */
export interface Failures {
  failures: number;
  ttl: number;
}

export type FallbackVerify =
  | { outcome: 'ok'; userId: string | null }
  | { outcome: 'locked'; ttl: number }
  | { outcome: 'wrong'; failures: number }
  | { outcome: 'none' | 'expired'; failures: number };

export type FallbackSend =
  | { outcome: 'ok' }
  | {
      outcome: 'active' | 'cooldown' | 'limited' | 'budget' | 'replaced' | 'prefix' | 'pumping';
      seconds: number;
    };

@Injectable()
export class OtpRepository {
  /**
   * Used-marks of codes Redis consumed, written together under load (one UPDATE and one commit for many
   * verifies). Postgres decides: a row already used (the fallback verified it during a Redis blip), voided, or
   * whose number Postgres has locked is not marked, and that verify fails. A success clears the failures.
   */
  private readonly consumed = new Batcher<{ rowId: string; max: number }, boolean>(
    async (items) => {
      const rows: { id: string }[] = await this.db.query(
        `WITH used AS (
           UPDATE otp_codes c SET used_at = now()
           WHERE c.id = ANY($1::uuid[]) AND c.used_at IS NULL AND c.voided_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM otp_failures f WHERE f.mobile_number = c.mobile_number
                             AND f.failures >= $2 AND f.window_start > now() - interval '1 hour')
           RETURNING c.id, c.mobile_number),
         cleared AS (DELETE FROM otp_failures WHERE mobile_number IN (SELECT mobile_number FROM used))
         SELECT id FROM used`,
        [items.map((i) => i.rowId), items[0].max],
      );
      const marked = new Set(rows.map((r) => r.id));
      return items.map((i) => marked.has(i.rowId));
    },
    { maxBatch: 200, concurrency: 2, itemFault: isDataError },
  );

  /** New codes' rows, inserted together under load; earlier live codes of their numbers are voided. */
  private readonly inserts = new Batcher<Omit<StoredOtp, 'expires_ms' | 'created_ms'>, void>(
    async (rows) => {
      await this.db.query(
        `WITH v AS (UPDATE otp_codes SET voided_at = now()
                    WHERE mobile_number = ANY($2::text[]) AND used_at IS NULL AND voided_at IS NULL)
         INSERT INTO otp_codes (id, mobile_number, user_id, otp_hash, channel, message_id, created_at, expires_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                              $7::timestamptz[], $8::timestamptz[])`,
        [
          rows.map((r) => r.row_id),
          rows.map((r) => r.mobile_number),
          rows.map((r) => r.user_id),
          rows.map((r) => r.otp_hash),
          rows.map((r) => r.channel),
          rows.map((r) => r.message_id),
          rows.map((r) => r.created_at),
          rows.map((r) => r.expires_at),
        ],
      );
      return rows.map(() => undefined);
    },
    { maxBatch: 200, concurrency: 2, itemFault: isDataError },
  );

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly db: DataSource,
  ) {}

  // --- Redis ---

  /** Runs `fn` each time the Redis connection is (again) ready. */
  onRedisReady(fn: () => void): void {
    this.redis.on('ready', fn);
  }

  async active(mobile: string): Promise<StoredOtp | null> {
    const raw = await this.redis.get(RedisKeys.otp(mobile));
    return raw ? (JSON.parse(raw) as StoredOtp) : null;
  }

  private sendKeys(r: SendRequest): string[] {
    const m = r.otp.mobile_number;
    // The number's block's prefix keys, whether or not the script applies the prefix's rules (one slot).
    const { hour, previousHour } = r.pumping ?? hoursAt(r.otp.created_ms);
    const block = numberBlock(m);
    return [
      RedisKeys.otp(m),
      RedisKeys.otpStatus(m),
      RedisKeys.blacklistFlags(m),
      r.counters[0].key,
      RedisKeys.warmupMarkerOf(m),
      RedisKeys.otpPrefixStats(block, BLOCK_DIGITS, hour),
      RedisKeys.otpPrefixStats(block, BLOCK_DIGITS, previousHour),
      RedisKeys.otpPumpingBlock(block, BLOCK_DIGITS),
      RedisKeys.suppressionFlags(m),
    ];
  }

  /** Whether the number's send script applies the prefix's rules (the prefix is the number's block). */
  private static prefixInSendScript(r: SendRequest): boolean {
    return !r.unlimited && r.pumping?.digits === BLOCK_DIGITS;
  }

  private static blockInfo(p: PumpingRules, now: number): string {
    return JSON.stringify({ since: new Date(now).toISOString(), country: p.country });
  }

  private runSend(r: SendRequest, checkOnly: boolean): Promise<SendResult> {
    const status = { status: 'pending', expires_ms: r.otp.expires_ms, message_id: r.otp.message_id };
    const [own] = r.counters;
    const p = r.pumping;
    const inScript = OtpRepository.prefixInSendScript(r);
    return sendScript.run(this.redis, this.sendKeys(r), [
      JSON.stringify(r.otp),
      JSON.stringify(status),
      r.otp.created_ms,
      r.validitySec,
      STATUS_TTL_SECONDS,
      r.resend ? '1' : '',
      r.cooldownSec,
      r.unlimited ? '1' : '',
      own.limit,
      own.windowSeconds,
      r.notBlocked ? '1' : '',
      r.replacing ?? '',
      numberOffset(r.otp.mobile_number),
      checkOnly ? '1' : '',
      inScript ? '1' : '',
      p?.prefixCap ?? '',
      p?.minSends ?? '',
      p?.minRatio ?? 0,
      p ? OtpRepository.blockInfo(p, r.otp.created_ms) : '',
    ]);
  }

  /**
   * The rules of other slots than the number's, as reservations of the parallel step: the country's (always),
   * and the prefix's when it is not the number's block. Each is [taken, ms to wait, verdict, new block].
   */
  private velocitySteps(r: SendRequest): {
    which: 'country' | 'prefix';
    hashKey: string;
    run: () => Promise<[number, number, string | null, number]>;
  }[] {
    const p = r.pumping;
    if (r.unlimited || !p) return [];
    const now = r.otp.created_ms;
    const country = {
      which: 'country' as const,
      hashKey: RedisKeys.otpCountryStats(p.country, p.hour),
      run: () => {
        const cur = RedisKeys.otpCountryStats(p.country, p.hour);
        return velocityReserveScript.run(
          this.redis,
          [cur, RedisKeys.otpCountryStats(p.country, p.previousHour), cur],
          [now, p.countryCap, '', 0, '', p.countryVerified],
        );
      },
    };
    if (p.digits === BLOCK_DIGITS) return [country];
    const prefix = {
      which: 'prefix' as const,
      hashKey: RedisKeys.otpPrefixStats(p.prefix, p.digits, p.hour),
      run: () =>
        velocityReserveScript.run(
          this.redis,
          [
            RedisKeys.otpPrefixStats(p.prefix, p.digits, p.hour),
            RedisKeys.otpPrefixStats(p.prefix, p.digits, p.previousHour),
            RedisKeys.otpPumpingBlock(p.prefix, p.digits),
          ],
          [now, p.prefixCap, p.minSends, p.minRatio, OtpRepository.blockInfo(p, now), 0],
        ),
    };
    return [country, prefix];
  }

  /** The counters of other slots than the number's that this send counts (end-user IP, API key, budget). */
  private sharedCounters(r: SendRequest): { counter: SendCounter; which: string }[] {
    if (r.unlimited) return [];
    return r.counters
      .map((counter, i) => ({ counter, which: COUNTER_NAMES[i] }))
      .slice(1)
      .filter((c) => c.counter.limit !== '');
  }

  /**
   * Send, in two steps (the counters live on other shards than the number): the shared counters reserve a unit
   * each (sent together, one round trip), then the number's script decides and stores the code. What the
   * number's step refuses gives the units back; what a shared counter refuses is answered as a single step
   * would have: the number's own verdict first (blacklisted, active, …), then the first limit in order.
   */
  async send(r: SendRequest): Promise<SendResult> {
    const shared = this.sharedCounters(r);
    const velocity = this.velocitySteps(r);
    // One parallel step: the shared counters, then the country's (and an own-slot prefix's) rules.
    const [taken, judged] = await Promise.all([
      Promise.all(
        shared.map((c) =>
          reserveScript.run(this.redis, [c.counter.key], [c.counter.limit, c.counter.windowSeconds]),
        ),
      ),
      Promise.all(velocity.map((v) => v.run())),
    ]);
    // The country's verified codes went in with its step (whatever it answered).
    if (r.pumping && velocity.length) r.pumping.countryVerified = 0;
    const refused = taken.findIndex(([ok]) => ok === 0);
    // What was taken, and from which window: given back there only (see refundScript).
    r.reserved = [
      ...shared
        .map((c, i) => ({ key: c.counter.key, windowEnds: taken[i][2] }))
        .filter((_, i) => taken[i][0] === 1),
      ...velocity
        .map((v) => ({ key: v.hashKey, windowEnds: 0, hash: true }))
        .filter((_, i) => judged[i][0] === 1),
    ];
    const giveBack = () => this.giveBack(r);
    const refusedRule = judged.findIndex(([ok]) => ok === 0);
    if (refused >= 0 || refusedRule >= 0) {
      await giveBack();
      const own = await this.runSend(r, true);
      if (own[0] !== 'ok') return own;
      if (refused >= 0) return ['limited', taken[refused][1], shared[refused].which, null];
      const [, wait, verdict, isNew] = judged[refusedRule];
      return verdict === 'pumping'
        ? ['pumping', wait, 'prefix', null, isNew]
        : ['limited', wait, velocity[refusedRule].which, null];
    }
    const res = await this.runSend(r, false);
    if (res[0] !== 'ok') await giveBack();
    return res;
  }

  /** Takes back a send whose code Postgres could not record: the code, and what it counted. */
  async undoSend(r: SendRequest): Promise<void> {
    const m = r.otp.mobile_number;
    await Promise.all([
      undoSendScript.run(
        this.redis,
        [RedisKeys.otp(m), RedisKeys.otpStatus(m), r.counters[0].key, this.sendKeys(r)[5]],
        [
          r.otp.row_id,
          !r.unlimited && r.counters[0].limit !== '' ? '1' : '',
          OtpRepository.prefixInSendScript(r) ? '1' : '',
        ],
      ),
      this.giveBack(r),
    ]);
  }

  private async giveBack(r: SendRequest): Promise<void> {
    const reserved = r.reserved ?? [];
    r.reserved = [];
    await Promise.all(
      reserved.map((u) =>
        u.hash
          ? refundSentScript.run(this.redis, [u.key], [])
          : refundScript.run(this.redis, [u.key], [u.windowEnds]),
      ),
    );
  }

  /** Records a newly blocked prefix in the list admins read. */
  async indexPumpingBlock(prefix: string): Promise<void> {
    await this.redis.zadd(RedisKeys.otpPumpingIndex(), 0, prefix);
  }

  /** Counts a verified code for a prefix on its own slot (OTP_PREFIX_DIGITS not 3; see verifyScript). */
  async countPrefixVerified(prefix: string, digits: number, now: number): Promise<void> {
    await countVerifiedScript.run(
      this.redis,
      [RedisKeys.otpPrefixStats(prefix, digits, hoursAt(now).hour)],
      [],
    );
  }

  /** Adds verified codes to a country's hour (what a replica still held when it stops). */
  async addCountryVerified(country: string, n: number, now: number): Promise<void> {
    const key = RedisKeys.otpCountryStats(country, hoursAt(now).hour);
    await this.redis.multi().hincrby(key, 'verified', n).expire(key, 7200).exec();
  }

  /**
   * The blocked prefixes after `cursor` (by prefix), with their sliding hour; an entry whose block has lapsed
   * (its marker expired: the sends aged out) leaves the list. [blocks still on, the last prefix read].
   */
  async pumpingBlocks(
    cursor: string,
    limit: number,
    digits: number,
    now: number,
  ): Promise<{ items: PumpingBlock[]; last: string | null; full: boolean }> {
    const prefixes = await this.redis.zrangebylex(
      RedisKeys.otpPumpingIndex(),
      cursor ? `(${cursor}` : '-',
      '+',
      'LIMIT',
      0,
      limit,
    );
    const { hour, previousHour } = hoursAt(now);
    const w = 1 - (now % 3_600_000) / 3_600_000;
    const read = await Promise.all(
      prefixes.map(async (prefix) => {
        const [marker, cur, prev] = await Promise.all([
          this.redis.get(RedisKeys.otpPumpingBlock(prefix, digits)),
          this.redis.hmget(RedisKeys.otpPrefixStats(prefix, digits, hour), 'sent', 'verified'),
          this.redis.hmget(RedisKeys.otpPrefixStats(prefix, digits, previousHour), 'sent', 'verified'),
        ]);
        if (!marker) return { prefix, block: null };
        const info = JSON.parse(marker) as { since: string; country: string };
        const n = (v: string | null) => Number(v ?? 0);
        const sends = n(prev[0]) * w + n(cur[0]);
        const verified = n(prev[1]) * w + n(cur[1]);
        return {
          prefix,
          block: {
            prefix,
            country: info.country,
            since: info.since,
            sends: Math.round(sends),
            verified: Math.round(verified),
            ratio: sends > 0 ? Math.round((Math.min(verified, sends) / sends) * 1000) / 1000 : 0,
          },
        };
      }),
    );
    const lapsed = read.filter((r) => !r.block).map((r) => r.prefix);
    if (lapsed.length) await this.redis.zrem(RedisKeys.otpPumpingIndex(), ...lapsed);
    return {
      items: read.flatMap((r) => (r.block ? [r.block] : [])),
      last: prefixes.at(-1) ?? null,
      full: prefixes.length === limit,
    };
  }

  /**
   * Clears a prefix's block and its sliding hour (it needs OTP_PUMPING_MIN_SENDS sends again before it is
   * judged). Whether it was blocked.
   */
  async clearPumpingBlock(prefix: string, digits: number, now: number): Promise<boolean> {
    const { hour, previousHour } = hoursAt(now);
    const [removed, deleted] = await Promise.all([
      this.redis.zrem(RedisKeys.otpPumpingIndex(), prefix),
      this.redis.del(RedisKeys.otpPumpingBlock(prefix, digits)),
      this.redis.del(RedisKeys.otpPrefixStats(prefix, digits, hour)),
      this.redis.del(RedisKeys.otpPrefixStats(prefix, digits, previousHour)),
    ]);
    return removed + deleted > 0;
  }

  /** Counts one verify request of an end-user IP: [requests in the window, ms before it resets]. */
  async countVerifyIp(ip: string, windowSeconds: number): Promise<[number, number]> {
    return rateLimitScript.run(this.redis, [RedisKeys.rateLimit(OTP_IP_LIMIT, ip)], [1, windowSeconds]);
  }

  /** Check and consume (the number's step; see verifyScript). */
  async verify(
    mobile: string,
    candidateHash: string,
    maxAttempts: number,
    notBlacklisted = false,
    countInBlock = false,
  ): Promise<VerifyResult> {
    const now = Date.now();
    return verifyScript.run(
      this.redis,
      [
        RedisKeys.otp(mobile),
        RedisKeys.otpAttempts(mobile),
        RedisKeys.otpStatus(mobile),
        RedisKeys.blacklistFlags(mobile),
        RedisKeys.warmupMarkerOf(mobile),
        RedisKeys.otpPrefixStats(numberBlock(mobile), BLOCK_DIGITS, hoursAt(now).hour),
      ],
      [
        candidateHash,
        now,
        maxAttempts,
        ATTEMPTS_TTL_SECONDS,
        STATUS_TTL_SECONDS,
        numberOffset(mobile),
        notBlacklisted ? '1' : '',
        countInBlock ? '1' : '',
      ],
    );
  }

  /** Drops a code Postgres replaced or used meanwhile, and takes back the failure Redis counted against it. */
  async dropStaleCode(mobile: string, rowId: string): Promise<void> {
    await dropStaleCodeScript.run(
      this.redis,
      [RedisKeys.otp(mobile), RedisKeys.otpAttempts(mobile)],
      [rowId],
    );
  }

  /** Drops the number's live code from Redis if it is still the one with `rowId` (an orphan: see the service). */
  async dropOrphan(mobile: string, rowId: string): Promise<boolean> {
    return (
      (await dropOrphanScript.run(
        this.redis,
        [RedisKeys.otp(mobile), RedisKeys.otpStatus(mobile)],
        [rowId],
      )) === 1
    );
  }

  /** Raises Redis's failure count for the number to Postgres's. */
  async syncAttempts(mobile: string, f: Failures, maxAttempts: number): Promise<void> {
    await syncAttemptsScript.run(
      this.redis,
      [RedisKeys.otpAttempts(mobile), RedisKeys.otp(mobile), RedisKeys.otpStatus(mobile)],
      [f.failures, f.ttl, maxAttempts, STATUS_TTL_SECONDS],
    );
  }

  async status(
    mobile: string,
  ): Promise<{ status: string; expires_ms?: number; message_id?: string | null } | null> {
    const raw = await this.redis.get(RedisKeys.otpStatus(mobile));
    return raw ? JSON.parse(raw) : null;
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

  /** The backup row (an HMAC, never the code); earlier live codes of the number are voided with it. */
  async insertRow(otp: Omit<StoredOtp, 'expires_ms' | 'created_ms'>): Promise<void> {
    await this.inserts.submit(otp);
  }

  async rowForMessage(messageId: string): Promise<OtpRow | null> {
    const rows: OtpRow[] = await this.db.query(
      'SELECT id, otp_hash, user_id, message_id, created_at, expires_at, used_at, voided_at, attempts FROM otp_codes WHERE message_id = $1',
      [messageId],
    );
    return rows[0] ?? null;
  }

  /**
   * Postgres's word on a code Redis consumed: true when this verify is the one that used it; false when the row
   * was already used, voided, or its number is locked in Postgres. Batched with concurrent verifies.
   */
  async markConsumed(rowId: string, maxAttempts: number): Promise<boolean> {
    return this.consumed.submit({ rowId, max: maxAttempts });
  }

  /**
   * Counts one failure for the number (a new window an hour after the last began): the count after it. With
   * `liveRowId` (the code Redis judged), only when that code is still the number's live one in Postgres: null
   * when Postgres replaced or used it meanwhile (Redis then held a stale code and judged nothing).
   */
  async recordFailure(
    mobile: string,
    q: { query: DataSource['query'] } = this.db,
    liveRowId: string | null = null,
  ): Promise<Failures | null> {
    const rows: Failures[] = await q.query(
      `INSERT INTO otp_failures AS f (mobile_number, window_start, failures)
       SELECT $1, now(), 1
       WHERE $2::uuid IS NULL
          OR EXISTS (SELECT 1 FROM otp_codes WHERE id = $2 AND used_at IS NULL AND voided_at IS NULL)
       ON CONFLICT (mobile_number) DO UPDATE SET
         failures = CASE WHEN f.window_start <= now() - interval '1 hour' THEN 1 ELSE f.failures + 1 END,
         window_start = CASE WHEN f.window_start <= now() - interval '1 hour' THEN now() ELSE f.window_start END
       RETURNING failures, ceil(extract(epoch FROM f.window_start + interval '1 hour' - now()))::int AS ttl`,
      [mobile, liveRowId],
    );
    return rows[0] ?? null;
  }

  /** The number's failures in its current window, if any. */
  async failures(mobile: string, q: { query: DataSource['query'] } = this.db): Promise<Failures | null> {
    const rows: Failures[] = await q.query(
      `SELECT failures, ceil(extract(epoch FROM window_start + interval '1 hour' - now()))::int AS ttl
       FROM otp_failures WHERE mobile_number = $1 AND window_start > now() - interval '1 hour'`,
      [mobile],
    );
    return rows[0] ?? null;
  }

  /**
   * Verify on Postgres alone (Redis unreachable, or Redis has no code: one sent during an outage). One
   * transaction under a lock on the number, so concurrent guesses are evaluated one at a time and at most
   * `max` failures are ever evaluated; only a wrong code counts one.
   */
  async verifyInPostgres(mobile: string, candidate: string, max: number): Promise<FallbackVerify> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`otp:${mobile}`]);
      const f = await this.failures(mobile, tx);
      if (f && f.failures >= max) return { outcome: 'locked', ttl: f.ttl };
      const rows: OtpRow[] = await tx.query(
        `SELECT id, otp_hash, user_id, message_id, created_at, expires_at, used_at, voided_at, attempts FROM otp_codes
         WHERE mobile_number = $1 AND voided_at IS NULL ORDER BY created_at DESC LIMIT 1`,
        [mobile],
      );
      const row = rows[0];
      const failures = f?.failures ?? 0;
      if (!row || row.used_at) return { outcome: 'none', failures };
      if (row.expires_at.getTime() < Date.now()) return { outcome: 'expired', failures };
      if (!sameHash(row.otp_hash, candidate)) {
        await tx.query('UPDATE otp_codes SET attempts = attempts + 1 WHERE id = $1', [row.id]);
        return { outcome: 'wrong', failures: (await this.recordFailure(mobile, tx))!.failures };
      }
      const [, n] = (await tx.query(
        'UPDATE otp_codes SET used_at = now() WHERE id = $1 AND used_at IS NULL',
        [row.id],
      )) as [unknown, number];
      if (!n) return { outcome: 'none', failures };
      await tx.query('DELETE FROM otp_failures WHERE mobile_number = $1', [mobile]);
      return { outcome: 'ok', userId: row.user_id };
    });
  }

  /**
   * Send on Postgres alone (Redis unreachable): the active-code check, the per-number limit and the hourly
   * budget under a lock on the number, then the row, in one transaction: concurrent sends issue one code.
   */
  async sendInPostgres(
    otp: Omit<StoredOtp, 'expires_ms' | 'created_ms'>,
    rules: {
      resend: boolean;
      cooldownSec: number;
      unlimited: boolean;
      perNumber: { limit: number; windowSeconds: number };
      perHour: number;
      replacing?: string;
      /** The prefix's rules, judged on the codes of the last hour (the country's are not: see docs/otp.md). */
      pumping?: PumpingRules;
    },
  ): Promise<FallbackSend> {
    return this.db.transaction(async (tx) => {
      const p = rules.unlimited ? undefined : rules.pumping;
      // The prefix first (always in this order, so two sends never wait on each other's locks).
      if (p)
        await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`otp-prefix:${p.prefix}`]);
      await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `otp-send:${otp.mobile_number}`,
      ]);
      const [live]: { left: number; age: number }[] = await tx.query(
        `SELECT ceil(extract(epoch FROM expires_at - now()))::int AS left, extract(epoch FROM now() - created_at) AS age
         FROM otp_codes c WHERE mobile_number = $1 AND used_at IS NULL AND voided_at IS NULL AND expires_at > now()
           AND (message_id IS NULL OR created_at > now() - make_interval(secs => $2)
                OR EXISTS (SELECT 1 FROM messages m WHERE m.id = c.message_id))
         ORDER BY created_at DESC LIMIT 1`,
        [otp.mobile_number, ORPHAN_GRACE_MS / 1000],
      );
      if (rules.replacing) {
        const still: unknown[] = await tx.query(
          'SELECT 1 FROM otp_codes WHERE id = $1 AND used_at IS NULL AND voided_at IS NULL AND expires_at > now()',
          [rules.replacing],
        );
        if (!still.length) return { outcome: 'replaced', seconds: 0 };
      }
      // (A code whose message was never recorded, its send having crashed, is not live: see ORPHAN_GRACE_MS.)
      if (live && !rules.resend) return { outcome: 'active', seconds: live.left };
      if (live && live.age < rules.cooldownSec)
        return { outcome: 'cooldown', seconds: Math.ceil(rules.cooldownSec - live.age) };
      if (!rules.unlimited) {
        const [{ recent, hour }]: { recent: number; hour: number }[] = await tx.query(
          `SELECT count(*) FILTER (WHERE mobile_number = $1 AND created_at > now() - make_interval(secs => $2))::int AS recent,
                  count(*)::int AS hour
           FROM otp_codes WHERE created_at > date_trunc('hour', now())
              OR (mobile_number = $1 AND created_at > now() - make_interval(secs => $2))`,
          [otp.mobile_number, rules.perNumber.windowSeconds],
        );
        if (recent >= rules.perNumber.limit)
          return { outcome: 'limited', seconds: rules.perNumber.windowSeconds };
        if (hour >= rules.perHour) return { outcome: 'budget', seconds: 300 };
      }
      if (p) {
        // The prefix's numbers: the same length, between prefix00…0 and prefix99…9 (the mobile_number index).
        const [{ sent, verified }]: { sent: number; verified: number }[] = await tx.query(
          `SELECT count(*)::int AS sent, count(used_at)::int AS verified FROM otp_codes
           WHERE mobile_number BETWEEN $1 AND $2 AND length(mobile_number) = $3
             AND created_at > now() - interval '1 hour'`,
          [p.prefix + '0'.repeat(p.digits), p.prefix + '9'.repeat(p.digits), p.prefix.length + p.digits],
        );
        if (p.minSends !== '' && p.minRatio > 0 && sent >= p.minSends && verified < p.minRatio * sent)
          return { outcome: 'pumping', seconds: 3600 };
        if (p.prefixCap !== '' && sent >= p.prefixCap) return { outcome: 'prefix', seconds: 3600 };
      }
      await tx.query(
        `WITH v AS (UPDATE otp_codes SET voided_at = now() WHERE mobile_number = $2 AND used_at IS NULL AND voided_at IS NULL)
         INSERT INTO otp_codes (id, mobile_number, user_id, otp_hash, channel, message_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          otp.row_id,
          otp.mobile_number,
          otp.user_id,
          otp.otp_hash,
          otp.channel,
          otp.message_id,
          otp.created_at,
          otp.expires_at,
        ],
      );
      return { outcome: 'ok' };
    });
  }

  /** Whether the message with this id was recorded (a code whose message was never recorded is an orphan). */
  async messageExists(messageId: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM messages WHERE id = $1', [messageId])).length > 0;
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
