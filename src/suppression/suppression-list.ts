// The suppression list: numbers that asked for no more messages (STOP), that a provider reported as opted out or
// blocking the sender, or that an admin added. It lives in Postgres (the record) and in Redis (one bit per number
// in its block's string, read by the send paths' existing steps), changes both together, and each change is an
// audit event. NumberBlocks reads it; this class changes it.
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { maskPhone } from '../common/mask';
import { MetricsService } from '../metrics/metrics.service';
import { AuditEvent, auditEvent } from '../onboarding/audit-event';
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

/** How far back syncRecent looks. */
const SYNC_WINDOW = '10 minutes';

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
   * the audit event in one MULTI (one slot), then the commit. If the MULTI fails or the commit does, the row is
   * rolled back and the bit written back to what Postgres holds (queued behind the MULTI on the same connection,
   * so a MULTI that timed out but still ran is undone too); the caller reports the error (503: the gateway,
   * Twilio or the admin repeats, and a repeat is harmless). `unlessOptedInAfter`: a provider's report about a
   * message accepted then: not applied when the number opted in again since. Returns whether the number was not
   * suppressed before.
   */
  async add(
    mobile: string,
    source: SuppressionSource,
    reason: string | null = null,
    opts: { unlessOptedInAfter?: Date } = {},
  ): Promise<boolean> {
    const added = await this.change(mobile, 1, async (tx) => {
      if (opts.unlessOptedInAfter) {
        const later: unknown[] = await tx.query(
          'SELECT 1 FROM suppression_opt_ins WHERE mobile_number = $1 AND opted_in_at > $2',
          [mobile, opts.unlessOptedInAfter],
        );
        if (later.length) return null; // the person opted in after that message: their latest word stands
      }
      const rows: { inserted: boolean }[] = await tx.query(
        `INSERT INTO suppressions (mobile_number, source, reason) VALUES ($1, $2, $3)
         ON CONFLICT (mobile_number) DO UPDATE SET reason = COALESCE(EXCLUDED.reason, suppressions.reason)
         RETURNING (xmax = 0) AS inserted`,
        [mobile, source, reason],
      );
      const inserted = rows[0]?.inserted === true;
      return {
        changed: inserted,
        event: auditEvent('opt_out', mobile, source, { details: { reason, added: inserted } }),
      };
    });
    if (added) {
      this.changes.inc({ change: 'opt_out', source });
      this.logger.log(`${maskPhone(mobile)} suppressed (${source})`);
    }
    return added;
  }

  /** Lifts a number's suppression (START, or an admin). Returns whether it was suppressed. */
  async remove(mobile: string, source: Exclude<SuppressionSource, 'provider'>): Promise<boolean> {
    const removed = await this.change(mobile, 0, async (tx) => {
      const rows: { mobile_number: string }[] = await tx.query(
        'WITH d AS (DELETE FROM suppressions WHERE mobile_number = $1 RETURNING mobile_number) SELECT * FROM d',
        [mobile],
      );
      await tx.query(
        `INSERT INTO suppression_opt_ins (mobile_number, opted_in_at) VALUES ($1, now())
         ON CONFLICT (mobile_number) DO UPDATE SET opted_in_at = EXCLUDED.opted_in_at`,
        [mobile],
      );
      const deleted = rows.length > 0;
      return {
        changed: deleted,
        event: auditEvent('opt_in', mobile, source, { details: { removed: deleted } }),
      };
    });
    if (removed) {
      this.changes.inc({ change: 'opt_in', source });
      this.logger.log(`${maskPhone(mobile)} no longer suppressed (${source})`);
    }
    return removed;
  }

  /**
   * One change of a number's entry (see add): `apply` writes the row and says whether it changed anything, or
   * null to change nothing (no Redis write either).
   */
  private async change(
    mobile: string,
    bit: 0 | 1,
    apply: (tx: EntityManager) => Promise<{ changed: boolean; event: AuditEvent } | null>,
  ): Promise<boolean> {
    let before: 0 | 1 | undefined;
    try {
      return await this.db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`suppression:${mobile}`]);
        const [row]: { suppressed: boolean }[] = await tx.query(
          'SELECT EXISTS (SELECT 1 FROM suppressions WHERE mobile_number = $1) AS suppressed',
          [mobile],
        );
        const applied = await apply(tx);
        if (!applied) return false;
        before = row.suppressed ? 1 : 0;
        await this.write(mobile, bit, applied.event);
        return applied.changed;
      });
    } catch (err) {
      // Postgres keeps what it had: so does Redis.
      if (before !== undefined) await this.setBit(mobile, before).catch(() => undefined);
      throw err;
    }
  }

  private setBit(mobile: string, bit: 0 | 1): Promise<unknown> {
    return execAll(
      this.redis
        .multi()
        .setbit(RedisKeys.suppressionFlags(mobile), numberOffset(mobile), bit)
        .set(RedisKeys.suppressionChanged(mobile), '1', 'EX', CHANGE_SECONDS),
    );
  }

  private async write(mobile: string, bit: 0 | 1, event: AuditEvent): Promise<void> {
    await execAll(
      this.redis
        .multi()
        .setbit(RedisKeys.suppressionFlags(mobile), numberOffset(mobile), bit)
        .set(RedisKeys.suppressionChanged(mobile), '1', 'EX', CHANGE_SECONDS)
        .rpush(RedisKeys.auditQueueOf(mobile), JSON.stringify(event)),
    );
  }

  /**
   * Brings Redis back to what Postgres holds for the numbers changed in the last SYNC_WINDOW (a change whose
   * commit failed in a way that left its outcome unknown: the commit may have landed after the bit was written
   * back). Each number under its change lock, so it never undoes a change running meanwhile. Run by every
   * replica's warm-up check (every 30 s).
   */
  async syncRecent(): Promise<number> {
    const rows: { mobile_number: string }[] = await this.db.query(
      `SELECT mobile_number FROM suppressions WHERE created_at > now() - $1::interval
       UNION SELECT mobile_number FROM suppression_opt_ins WHERE opted_in_at > now() - $1::interval
       LIMIT 1000`,
      [SYNC_WINDOW],
    );
    // Only numbers whose bit disagrees with Postgres now are settled (under the lock, which reads again).
    const bits = await Promise.all(
      rows.map(({ mobile_number: m }) => this.redis.getbit(RedisKeys.suppressionFlags(m), numberOffset(m))),
    );
    const [present]: { numbers: string[] }[] = await this.db.query(
      'SELECT coalesce(array_agg(mobile_number), ARRAY[]::text[]) AS numbers FROM suppressions WHERE mobile_number = ANY($1)',
      [rows.map((r) => r.mobile_number)],
    );
    const suppressed = new Set(present.numbers);
    const apart = rows.filter(({ mobile_number: m }, i) => (bits[i] === 1) !== suppressed.has(m));
    for (const { mobile_number: m } of apart) {
      await this.db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`suppression:${m}`]);
        const [row]: { suppressed: boolean }[] = await tx.query(
          'SELECT EXISTS (SELECT 1 FROM suppressions WHERE mobile_number = $1) AS suppressed',
          [m],
        );
        await this.redis.setbit(RedisKeys.suppressionFlags(m), numberOffset(m), row.suppressed ? 1 : 0);
      });
    }
    return apart.length;
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
