import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { allNumberBuckets } from '../redis/redis-keys';
import { ScheduledJobName } from '../workers/job-catalogue';
import { ScheduledJob, ScheduledJobHandler } from '../workers/job-scheduler';
import type { AuditEvent } from './audit-event';
import { OnboardingRepository } from './onboarding.repository';

/** Events read from the head of each bucket's queue per round (1,024 buckets: at most ~20 k in memory). */
const PER_BUCKET = 20;

/**
 * Moves audit events from the Redis queues (one per number bucket) into sms_monitor, MONITOR_BATCH_SIZE per
 * INSERT, until the queues are empty. At-least-once: a batch leaves Redis only after Postgres has it, and event_id is unique, so a batch
 * repeated after a crash or an outage is written once. Verified numbers are also upserted into out_sms,
 * which makes the durable record of an onboarding independent of Postgres being up at that moment.
 */
@Injectable()
@ScheduledJob(ScheduledJobName.MonitorLogger)
export class MonitorLoggerTask implements ScheduledJobHandler {
  private readonly logger = new Logger('MonitorLogger');
  private readonly batchSize: number;

  constructor(
    config: AppConfig,
    private readonly repo: OnboardingRepository,
  ) {
    this.batchSize = config.jobs.monitorBatchSize;
  }

  async tick(): Promise<string | void> {
    let moved = 0;
    let written = 0;
    let skipped = 0;
    // Bounded well inside the scheduler's run lock (5 min): a huge backlog continues on the next tick.
    const deadline = Date.now() + 4 * 60_000;
    // Each round reads the head of every bucket's queue (one LRANGE each, sent together), writes what it read
    // in batches of MONITOR_BATCH_SIZE, then trims each bucket by what was read from it. Buckets whose head
    // was full are read again; the others are drained.
    await this.repo.moveLegacyAudit(); // from a replica of an earlier version, during a rolling upgrade
    let buckets = allNumberBuckets();
    while (buckets.length && Date.now() < deadline) {
      const heads = await Promise.all(buckets.map((b) => this.repo.peekAudit(b, PER_BUCKET)));
      const events: AuditEvent[] = [];
      for (const raw of heads)
        for (const item of raw) {
          const event = parseEvent(item);
          if (event) events.push(event);
          else skipped++;
        }
      for (let i = 0; i < events.length; i += this.batchSize) {
        const batch = events.slice(i, i + this.batchSize);
        written += await this.repo.insertAudit(batch);
        await this.repo.insertOutSmsBatch(
          batch
            .filter((e) => e.event_type === 'inbound_sms' && e.outcome === 'verified' && e.mobile_number)
            .map((e) => ({
              mobile: e.mobile_number!,
              smsId: (e.details?.sms_id as string | null) ?? null,
              at: e.created_at,
            })),
        );
      }
      const trimmed = await Promise.all(buckets.map((b, i) => this.repo.trimAudit(b, heads[i])));
      heads.forEach((raw, i) => trimmed[i] && (moved += raw.length));
      // Again: buckets whose head was full and whose trim went through (another drainer got the others).
      buckets = buckets.filter((_, i) => heads[i].length === PER_BUCKET && trimmed[i]);
    }
    if (skipped) this.logger.warn(`skipped ${skipped} unreadable audit event(s)`);
    if (moved) return `monitor-logger: moved ${moved} event(s), ${written} new row(s)`;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parseEvent(raw: string): AuditEvent | null {
  try {
    const e = JSON.parse(raw) as AuditEvent;
    if (
      !e ||
      typeof e !== 'object' ||
      !UUID.test(e.event_id) ||
      !e.event_type ||
      Number.isNaN(Date.parse(e.created_at))
    )
      return null;
    return e;
  } catch {
    return null;
  }
}
