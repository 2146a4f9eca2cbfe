// The suppression list: numbers that asked for no more messages (STOP), that a provider reported as opted out or
// blocking the sender, or that an admin added. It lives in Postgres (the record) and in Redis (one bit per number
// in its block's string, read by the send paths' existing steps), changes both together, and each change is an
// audit event. NumberBlocks reads it; this class changes it.
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { maskPhone } from '../common/mask';
import { MetricsService } from '../metrics/metrics.service';
import { auditEvent } from '../onboarding/audit-event';
import { execAll } from '../redis/exec-all';
import { defineScript } from '../redis/redis-script';
import { numberOffset, RedisKeys } from '../redis/redis-keys';
import { REDIS, RedisClient } from '../redis/redis.constants';

export type SuppressionSource = 'keyword' | 'admin' | 'provider';

export interface SuppressionRow {
  mobile_number: string;
  source: SuppressionSource;
  reason: string | null;
  created_at: Date;
}

/** How long a change outranks a warm-up's older read of Postgres (warm-ups take seconds). */
const CHANGE_SECONDS = 3600;

/**
 * Warm-up of one suppressed number read from Postgres, unless the number's suppression changed since (the
 * change wrote Redis itself, and the read may predate it). KEYS: the number's suppression flags, its change
 * marker. ARGV: the number's bit.
 */
const warmScript = defineScript<number>(
  'suppression_warm',
  2,
  `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SETBIT', KEYS[1], tonumber(ARGV[1]), 1)
return 1
`,
);

@Injectable()
export class SuppressionList {
  private readonly logger = new Logger('Suppressions');
  private readonly changes;

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly db: DataSource,
    metrics: MetricsService,
  ) {
    this.changes = metrics.counter('smsb_suppression_changes_total', 'Suppression list changes', [
      'change',
      'source',
    ]);
  }

  /**
   * Suppresses a number. One change per number at a time (a transaction-scoped advisory lock, so a STOP and a
   * START racing on two replicas land in one order in both stores): the row, then its bit, the change marker and
   * the audit event in one MULTI (one slot), then the commit. A Redis failure rolls the row back and is an error
   * the caller reports (503: the gateway, Twilio or the admin repeats, and a repeat is harmless). Returns whether
   * the number was not suppressed before.
   */
  async add(mobile: string, source: SuppressionSource, reason: string | null = null): Promise<boolean> {
    const added = await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`suppression:${mobile}`]);
      const rows: { inserted: boolean }[] = await tx.query(
        `INSERT INTO suppressions (mobile_number, source, reason) VALUES ($1, $2, $3)
         ON CONFLICT (mobile_number) DO UPDATE SET reason = COALESCE(EXCLUDED.reason, suppressions.reason)
         RETURNING (xmax = 0) AS inserted`,
        [mobile, source, reason],
      );
      const inserted = rows[0]?.inserted === true;
      await this.write(
        mobile,
        1,
        auditEvent('opt_out', mobile, source, { details: { reason, added: inserted } }),
      );
      return inserted;
    });
    if (added) {
      this.changes.inc({ change: 'opt_out', source });
      this.logger.log(`${maskPhone(mobile)} suppressed (${source})`);
    }
    return added;
  }

  /** Lifts a number's suppression (START, or an admin). Returns whether it was suppressed. */
  async remove(mobile: string, source: Exclude<SuppressionSource, 'provider'>): Promise<boolean> {
    const removed = await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`suppression:${mobile}`]);
      const rows: { mobile_number: string }[] = await tx.query(
        'WITH d AS (DELETE FROM suppressions WHERE mobile_number = $1 RETURNING mobile_number) SELECT * FROM d',
        [mobile],
      );
      const deleted = rows.length > 0;
      await this.write(mobile, 0, auditEvent('opt_in', mobile, source, { details: { removed: deleted } }));
      return deleted;
    });
    if (removed) {
      this.changes.inc({ change: 'opt_in', source });
      this.logger.log(`${maskPhone(mobile)} no longer suppressed (${source})`);
    }
    return removed;
  }

  private async write(mobile: string, bit: 0 | 1, event: ReturnType<typeof auditEvent>): Promise<void> {
    await execAll(
      this.redis
        .multi()
        .setbit(RedisKeys.suppressionFlags(mobile), numberOffset(mobile), bit)
        .set(RedisKeys.suppressionChanged(mobile), '1', 'EX', CHANGE_SECONDS)
        .rpush(RedisKeys.auditQueueOf(mobile), JSON.stringify(event)),
    );
  }

  /** A keyset page, by number. */
  list(after: string, limit: number): Promise<SuppressionRow[]> {
    return this.db.query(
      `SELECT mobile_number, source, reason, created_at FROM suppressions
       WHERE mobile_number > $1 ORDER BY mobile_number LIMIT $2`,
      [after, limit],
    );
  }

  /**
   * Loads the list into Redis (the warm-up, with the onboarded and blacklist flags): keyset pages, one atomic
   * step per number that skips numbers changed since the page was read.
   */
  async warm(batch: number): Promise<number> {
    let after = '';
    let total = 0;
    for (;;) {
      const rows: { mobile_number: string }[] = await this.db.query(
        'SELECT mobile_number FROM suppressions WHERE mobile_number > $1 ORDER BY mobile_number LIMIT $2',
        [after, batch],
      );
      if (!rows.length) return total;
      await Promise.all(
        rows.map(({ mobile_number: m }) =>
          warmScript.run(
            this.redis,
            [RedisKeys.suppressionFlags(m), RedisKeys.suppressionChanged(m)],
            [numberOffset(m)],
          ),
        ),
      );
      total += rows.length;
      after = rows[rows.length - 1].mobile_number;
    }
  }
}
