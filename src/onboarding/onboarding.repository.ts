// Everything impure onboarding does: Redis (sets, hashes, counters, the audit list) and Postgres (settings,
// out_sms, blacklist_sms, count_sms, sms_monitor). Services hold the logic.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { execAll } from '../redis/exec-all';
import { moveLegacyAuditQueue } from '../redis/layout-migration';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { allNumberBuckets, numberOffset, RedisKeys } from '../redis/redis-keys';
import type { AuditEvent } from './audit-event';
import { boundToken } from './bind-token';
import type { BoundToken } from './checks';
import {
  markWarmScript,
  registerScript,
  trimAuditScript,
  warmBlacklistEntryScript,
} from './onboarding.scripts';

const DAY_SECONDS = 86400;
/** How long a warm-up's token lives: longer than any warm-up takes. */
const WARM_RUN_SECONDS = 3600;
/** How long an admin's blacklist change outranks a warm-up's older read of Postgres (warm-ups take seconds). */
const ADMIN_CHANGE_SECONDS = 3600;

export type RegisterOutcome = 'already_onboarded' | 'blacklisted' | 'existing' | 'created';

export interface InboundSnapshot {
  blacklisted: boolean;
  inboundCount: number;
  storedHash: string | null;
  onboarded: boolean;
  /** The number's bucket holds the flags loaded from Postgres (false after a flush or a shard's data loss). */
  warm: boolean;
  /** The device-binding token read with it (only when one was asked for): null when it is gone. */
  token?: BoundToken | null;
}

export interface PostgresStatus {
  onboarded: boolean;
  blacklisted: boolean;
}

export interface BlacklistRow {
  mobile_number: string;
  reason: string | null;
  source: 'auto' | 'manual';
  created_at: Date;
  /** When an automatic entry ends; null for a manual one (until an admin removes it). */
  expires_at: Date | null;
}

@Injectable()
export class OnboardingRepository {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly db: DataSource,
  ) {}

  // --- Redis: hot path ---

  /**
   * One round trip: onboarded and blacklist checks, existing-hash lookup or creation, audit event. `cold` when
   * the number's bucket lost its flags (then `postgres`, what Postgres says of the number, runs it again).
   */
  async register(
    mobile: string,
    candidateHash: string,
    event: AuditEvent,
    postgres?: PostgresStatus,
  ): Promise<{ outcome: RegisterOutcome | 'cold'; hash: string | null }> {
    const [outcome, hash] = await registerScript.run(
      this.redis,
      [
        RedisKeys.onboardedFlags(mobile),
        RedisKeys.blacklistFlags(mobile),
        RedisKeys.onboardHash(mobile),
        RedisKeys.auditQueueOf(mobile),
        RedisKeys.autoBlacklisted(mobile),
        RedisKeys.warmupMarkerOf(mobile),
      ],
      [
        mobile,
        candidateHash,
        DAY_SECONDS,
        event.event_id,
        event.created_at,
        numberOffset(mobile),
        postgres ? (postgres.onboarded ? 'onboarded' : postgres.blacklisted ? 'blacklisted' : 'neither') : '',
      ],
    );
    return { outcome: outcome as RegisterOutcome | 'cold', hash: hash || null };
  }

  /**
   * One round trip: everything the inbound checks read, and the abuse counter's increment (24 h window). With
   * `tokenKey` (a device-binding token in the sender's bucket, so in the same slot) the token is read with it.
   */
  async inboundSnapshot(mobile: string, tokenKey?: string): Promise<InboundSnapshot> {
    const counter = RedisKeys.abuseCounter(mobile);
    const bit = numberOffset(mobile);
    const multi = this.redis.multi();
    if (tokenKey) multi.hgetall(tokenKey);
    const res = await multi
      .getbit(RedisKeys.blacklistFlags(mobile), bit)
      .incr(counter)
      .expire(counter, DAY_SECONDS, 'NX')
      .get(RedisKeys.onboardHash(mobile))
      .getbit(RedisKeys.onboardedFlags(mobile), bit)
      .exists(RedisKeys.autoBlacklisted(mobile))
      .exists(RedisKeys.warmupMarkerOf(mobile))
      .exec();
    if (!res) throw new Error('inbound snapshot transaction was aborted');
    for (const [err] of res) if (err) throw err;
    const token = tokenKey ? boundToken(res.shift()![1] as Record<string, string>) : undefined;
    return {
      ...(tokenKey && { token }),
      blacklisted: res[0][1] === 1 || res[5][1] === 1,
      inboundCount: Number(res[1][1]),
      storedHash: (res[3][1] as string | null) ?? null,
      onboarded: res[4][1] === 1,
      warm: res[6][1] === 1,
    };
  }

  /** What Postgres says of a number, for when Redis lost its flags (not warm again yet). */
  async postgresStatus(mobile: string): Promise<PostgresStatus> {
    const [row]: PostgresStatus[] = await this.db.query(
      `SELECT EXISTS (SELECT 1 FROM out_sms WHERE mobile_number = $1) AS onboarded,
              EXISTS (SELECT 1 FROM blacklist_sms WHERE mobile_number = $1
                        AND (expires_at IS NULL OR expires_at > now())) AS blacklisted`,
      [mobile],
    );
    return row;
  }

  /** The number crossed the abuse threshold: the detector looks at candidates only, never at every counter. */
  async markAbuseCandidate(mobile: string): Promise<void> {
    await this.redis.sadd(RedisKeys.abuseCandidatesOf(mobile), mobile);
  }

  /** Success: onboarded at once in Redis, hash consumed, audit event; one transaction. */
  async completeOnboarding(mobile: string, event: AuditEvent): Promise<void> {
    await execAll(
      this.redis
        .multi()
        .setbit(RedisKeys.onboardedFlags(mobile), numberOffset(mobile), 1)
        .del(RedisKeys.onboardHash(mobile))
        .rpush(RedisKeys.auditQueueOf(mobile), JSON.stringify(event)),
    );
  }

  /** Appends events to their numbers' audit queues (one command per bucket; events of a bucket in order). */
  async pushAudit(...events: AuditEvent[]): Promise<void> {
    const byQueue = new Map<string, string[]>();
    for (const e of events) {
      const queue = RedisKeys.auditQueueOf(e.mobile_number ?? null);
      const list = byQueue.get(queue) ?? [];
      list.push(JSON.stringify(e));
      byQueue.set(queue, list);
    }
    await Promise.all([...byQueue].map(([queue, items]) => this.redis.rpush(queue, ...items)));
  }

  /** Claims an inbound sms_id for processing; false when it was seen before (answer stored, or in flight). */
  async claimSms(smsId: string): Promise<boolean> {
    return (await this.redis.set(RedisKeys.inboundSms(smsId), '', 'EX', DAY_SECONDS, 'NX')) === 'OK';
  }

  async storeSmsAnswer(smsId: string, answer: object): Promise<void> {
    await this.redis.set(RedisKeys.inboundSms(smsId), JSON.stringify(answer), 'EX', DAY_SECONDS);
  }

  /** The stored answer; '' while the first delivery is still being processed; null when unknown. */
  async smsAnswer(smsId: string): Promise<string | null> {
    return this.redis.get(RedisKeys.inboundSms(smsId));
  }

  async releaseSms(smsId: string): Promise<void> {
    await this.redis.del(RedisKeys.inboundSms(smsId));
  }

  /**
   * Where a number stands, from Redis (one round trip); while its bucket is not warm (Redis lost its flags and
   * the warm-up has not restored them), the flags are Postgres's. A Redis error is thrown as it is (a 503 when
   * Redis is unavailable): a pending hash lives only in Redis, so Postgres alone cannot answer.
   */
  async statusSnapshot(
    mobile: string,
  ): Promise<{ blacklisted: boolean; onboarded: boolean; pending: boolean }> {
    const bit = numberOffset(mobile);
    const [b, o, p, a, warm] = await execAll(
      this.redis
        .pipeline()
        .getbit(RedisKeys.blacklistFlags(mobile), bit)
        .getbit(RedisKeys.onboardedFlags(mobile), bit)
        .exists(RedisKeys.onboardHash(mobile))
        .exists(RedisKeys.autoBlacklisted(mobile))
        .exists(RedisKeys.warmupMarkerOf(mobile)),
    );
    const stored = warm === 1 ? null : await this.postgresStatus(mobile);
    return {
      blacklisted: b === 1 || a === 1 || !!stored?.blacklisted,
      onboarded: o === 1 || !!stored?.onboarded,
      pending: p === 1,
    };
  }

  /** An admin's manual entry: the number's bit set, marked as the admin's change (see blacklistChangedByAdmin). */
  async addToBlacklistSet(mobile: string): Promise<void> {
    await execAll(
      this.redis
        .multi()
        .setbit(RedisKeys.blacklistFlags(mobile), numberOffset(mobile), 1)
        .set(RedisKeys.blacklistChangedByAdmin(mobile), '1', 'EX', ADMIN_CHANGE_SECONDS),
    );
  }

  /** The abuse detector's automatic entries: each its own key, gone by itself when its time is up. */
  async addAutoBlacklist(entries: { mobile: string; ttlMs: number }[]): Promise<void> {
    await Promise.all(
      entries
        .filter((e) => e.ttlMs > 0)
        .map((e) =>
          execAll(
            this.redis
              .multi()
              .set(RedisKeys.autoBlacklisted(e.mobile), '1', 'PX', e.ttlMs)
              // The inbound counter that listed the number ends with the entry, or its 24 h window would keep
              // rejecting the person's genuine SMS after the entry expired.
              .pexpire(RedisKeys.abuseCounter(e.mobile), e.ttlMs, 'LT'),
          ),
        ),
    );
  }

  /**
   * Loads blacklist entries read from Postgres (ms left per number, null for manual), one atomic step per
   * number that skips numbers an admin changed since (see warmBlacklistEntryScript). One round trip (the client
   * pipelines the calls).
   */
  async warmBlacklist(entries: { mobile: string; ttlMs: number | null }[]): Promise<void> {
    await Promise.all(
      entries.map((e) =>
        warmBlacklistEntryScript.run(
          this.redis,
          [
            RedisKeys.blacklistFlags(e.mobile),
            RedisKeys.blacklistChangedByAdmin(e.mobile),
            RedisKeys.autoBlacklisted(e.mobile),
            RedisKeys.abuseCounter(e.mobile),
          ],
          [numberOffset(e.mobile), e.ttlMs === null ? '' : Math.floor(e.ttlMs)],
        ),
      ),
    );
  }

  /**
   * An admin's removal: the number's bit cleared, its automatic entry and abuse count forgotten (so it is not
   * re-listed at once), marked as the admin's change.
   */
  async removeFromBlacklistSet(mobile: string): Promise<void> {
    await execAll(
      this.redis
        .multi()
        .setbit(RedisKeys.blacklistFlags(mobile), numberOffset(mobile), 0)
        .del(RedisKeys.autoBlacklisted(mobile))
        .del(RedisKeys.abuseCounter(mobile))
        .srem(RedisKeys.abuseCandidatesOf(mobile), mobile)
        .set(RedisKeys.blacklistChangedByAdmin(mobile), '1', 'EX', ADMIN_CHANGE_SECONDS),
    );
  }

  // --- Redis: background jobs ---

  /** Moves events an earlier version appended to its single audit list into the buckets (standalone only). */
  async moveLegacyAudit(): Promise<number> {
    return 'nodes' in this.redis ? 0 : moveLegacyAuditQueue(this.redis);
  }

  /** A bucket's oldest events, left in place until they are safely in Postgres (at-least-once). */
  async peekAudit(bucket: number, count: number): Promise<string[]> {
    return this.redis.lrange(RedisKeys.auditQueue(bucket), 0, count - 1);
  }

  /** Drops the batch just written from its bucket (new events are appended at the other end meanwhile). */
  async trimAudit(bucket: number, batch: string[]): Promise<boolean> {
    if (!batch.length) return true;
    const queue = RedisKeys.auditQueue(bucket);
    return (await trimAuditScript.run(this.redis, [queue], [batch[0], batch.length])) === 1;
  }

  /** Events waiting in every bucket's queue. */
  async auditBacklog(): Promise<number> {
    const lengths = await Promise.all(
      allNumberBuckets().map((b) => this.redis.llen(RedisKeys.auditQueue(b))),
    );
    return lengths.reduce((a, b) => a + b, 0);
  }

  async abuseCandidates(bucket: number, count: number): Promise<string[]> {
    return this.redis.srandmember(RedisKeys.abuseCandidates(bucket), count);
  }

  /** The numbers' inbound counts (one GET each: they may sit on different shards). */
  async abuseCounts(mobiles: string[]): Promise<number[]> {
    const values = await Promise.all(mobiles.map((m) => this.redis.get(RedisKeys.abuseCounter(m))));
    return values.map((v) => Number(v ?? 0));
  }

  async forgetCandidates(bucket: number, mobiles: string[]): Promise<void> {
    if (mobiles.length) await this.redis.srem(RedisKeys.abuseCandidates(bucket), ...mobiles);
  }

  // --- Redis: warm-up ---

  /** Whether every bucket still holds the flags loaded from Postgres (a flushed shard loses its markers). */
  async isWarm(): Promise<boolean> {
    const marks = await Promise.all(
      allNumberBuckets().map((b) => this.redis.exists(RedisKeys.warmupMarker(b))),
    );
    return marks.every((m) => m === 1);
  }

  /** Sets the onboarded bit of each number (one command each, sent together). */
  async markOnboarded(mobiles: string[]): Promise<void> {
    await Promise.all(mobiles.map((m) => this.redis.setbit(RedisKeys.onboardedFlags(m), numberOffset(m), 1)));
  }

  /**
   * Starts a warm-up: a token in every bucket. A bucket that loses its data while the warm-up loads (a flush, a
   * shard restarted without persistence) loses the token with it, and markWarm then leaves it cold.
   */
  async beginWarm(run: string): Promise<void> {
    await Promise.all(
      allNumberBuckets().map((b) => this.redis.set(RedisKeys.warmupRun(b), run, 'EX', WARM_RUN_SECONDS)),
    );
  }

  /** Marks warm each bucket that still holds this warm-up's token (see beginWarm); false when one did not. */
  async markWarm(run: string): Promise<boolean> {
    const at = new Date().toISOString();
    const marked = await Promise.all(
      allNumberBuckets().map((b) =>
        markWarmScript.run(this.redis, [RedisKeys.warmupRun(b), RedisKeys.warmupMarker(b)], [run, at]),
      ),
    );
    return marked.every((m) => m === 1);
  }

  // --- Postgres ---

  async insertOutSms(mobile: string, smsId: string | null, verifiedAt: string): Promise<void> {
    await this.db.query(
      'INSERT INTO out_sms (mobile_number, sms_id, verified_at) VALUES ($1, $2, $3) ON CONFLICT (mobile_number) DO NOTHING',
      [mobile, smsId, verifiedAt],
    );
  }

  async verifiedAt(mobile: string): Promise<Date | null> {
    const rows: { verified_at: Date }[] = await this.db.query(
      'SELECT verified_at FROM out_sms WHERE mobile_number = $1',
      [mobile],
    );
    return rows[0]?.verified_at ?? null;
  }

  /** Keyset pages of the onboarded numbers, for the warm-up (cost per page does not grow with the table). */
  async numbersAfter(table: 'out_sms', after: string, limit: number): Promise<string[]> {
    const rows: { mobile_number: string }[] = await this.db.query(
      `SELECT mobile_number FROM ${table} WHERE mobile_number > $1 ORDER BY mobile_number LIMIT $2`,
      [after, limit],
    );
    return rows.map((r) => r.mobile_number);
  }

  /**
   * Keyset pages of the blacklist, for the warm-up: manual entries (ttl_ms null), and automatic ones with their
   * time left (0 or less once expired: they must leave the set an earlier version put them in all the same).
   */
  async blacklistAfter(
    after: string,
    limit: number,
  ): Promise<{ mobile_number: string; ttl_ms: number | null }[]> {
    return this.db.query(
      `SELECT mobile_number, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS ttl_ms FROM blacklist_sms
       WHERE mobile_number > $1 ORDER BY mobile_number LIMIT $2`,
      [after, limit],
    );
  }

  async listBlacklist(after: string, limit: number): Promise<BlacklistRow[]> {
    return this.db.query(
      `SELECT mobile_number, reason, source, created_at, expires_at FROM blacklist_sms
       WHERE mobile_number > $1 AND (expires_at IS NULL OR expires_at > now()) ORDER BY mobile_number LIMIT $2`,
      [after, limit],
    );
  }

  /**
   * Inserts blacklist rows, or renews them: a manual entry (no expiry) wins over an automatic one and is never
   * turned back into one; an expired automatic entry is listed anew. Returns the numbers not listed before.
   * `ttlSeconds`: an automatic entry's lifetime (null for manual entries).
   */
  async upsertBlacklist(
    rows: { mobile: string; reason: string | null; source: 'auto' | 'manual' }[],
    ttlSeconds: number | null = null,
  ): Promise<string[]> {
    if (!rows.length) return [];
    const inserted: { mobile_number: string; inserted: boolean }[] = await this.db.query(
      `WITH before AS (SELECT mobile_number FROM blacklist_sms
                       WHERE mobile_number = ANY($1::text[]) AND (expires_at IS NULL OR expires_at > now()))
       INSERT INTO blacklist_sms (mobile_number, reason, source, expires_at)
       SELECT m, r, s, CASE WHEN s = 'auto' THEN now() + make_interval(secs => $4) END
       FROM unnest($1::text[], $2::text[], $3::text[]) AS t(m, r, s)
       ON CONFLICT (mobile_number) DO UPDATE SET
         reason = CASE WHEN blacklist_sms.expires_at IS NULL AND EXCLUDED.source = 'auto' THEN blacklist_sms.reason
                       ELSE COALESCE(EXCLUDED.reason, blacklist_sms.reason) END,
         source = CASE WHEN blacklist_sms.expires_at IS NULL THEN blacklist_sms.source ELSE EXCLUDED.source END,
         expires_at = CASE WHEN blacklist_sms.expires_at IS NULL OR EXCLUDED.expires_at IS NULL THEN NULL
                           ELSE EXCLUDED.expires_at END,
         created_at = CASE WHEN blacklist_sms.expires_at <= now() THEN now() ELSE blacklist_sms.created_at END
       RETURNING mobile_number, mobile_number NOT IN (SELECT mobile_number FROM before) AS inserted`,
      [rows.map((r) => r.mobile), rows.map((r) => r.reason), rows.map((r) => r.source), ttlSeconds ?? 0],
    );
    return inserted.filter((r) => r.inserted).map((r) => r.mobile_number);
  }

  async deleteBlacklist(mobile: string): Promise<boolean> {
    const [, count] = (await this.db.query('DELETE FROM blacklist_sms WHERE mobile_number = $1', [
      mobile,
    ])) as [unknown, number];
    return count > 0;
  }

  async upsertCounts(rows: { mobile: string; count: number }[], day: string): Promise<void> {
    if (!rows.length) return;
    await this.db.query(
      `INSERT INTO count_sms (mobile_number, day, count)
       SELECT m, $3::date, c FROM unnest($1::text[], $2::int[]) AS t(m, c)
       ON CONFLICT (mobile_number, day) DO UPDATE SET count = GREATEST(count_sms.count, EXCLUDED.count), updated_at = now()`,
      [rows.map((r) => r.mobile), rows.map((r) => r.count), day],
    );
  }

  /** Inserts a batch of audit events in one statement; an event already there is skipped (idempotent). */
  async insertAudit(events: AuditEvent[]): Promise<number> {
    if (!events.length) return 0;
    const res: unknown[] = await this.db.query(
      `INSERT INTO sms_monitor (event_id, mobile_number, event_type, outcome, reason, details, created_at)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[])
       ON CONFLICT (event_id, created_at) DO NOTHING
       RETURNING id`,
      [
        events.map((e) => e.event_id),
        events.map((e) => e.mobile_number),
        events.map((e) => e.event_type),
        events.map((e) => e.outcome),
        events.map((e) => e.reason ?? null),
        events.map((e) => JSON.stringify(e.details ?? {})),
        events.map((e) => e.created_at),
      ],
    );
    return res.length;
  }

  /** Verified numbers from audit events, recorded durably (covers an out_sms insert that failed inline). */
  async insertOutSmsBatch(rows: { mobile: string; smsId: string | null; at: string }[]): Promise<void> {
    if (!rows.length) return;
    await this.db.query(
      `INSERT INTO out_sms (mobile_number, sms_id, verified_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
       ON CONFLICT (mobile_number) DO NOTHING`,
      [rows.map((r) => r.mobile), rows.map((r) => r.smsId), rows.map((r) => r.at)],
    );
  }

  async loadSettings(): Promise<Record<string, unknown>> {
    const rows: { key: string; value: unknown }[] = await this.db.query('SELECT key, value FROM settings');
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  async saveSettings(values: Record<string, unknown>): Promise<void> {
    const keys = Object.keys(values);
    if (!keys.length) return;
    await this.db.query(
      `INSERT INTO settings (key, value) SELECT k, v FROM unnest($1::text[], $2::jsonb[]) AS t(k, v)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
      [keys, keys.map((k) => JSON.stringify(values[k]))],
    );
  }
}
