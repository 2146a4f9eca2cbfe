import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ScheduledJobName } from '../workers/job-catalogue';
import { ScheduledJob, ScheduledJobHandler } from '../workers/job-scheduler';
import type { AuditEvent } from './audit-event';
import { OnboardingRepository } from './onboarding.repository';

/**
 * Moves audit events from the Redis list into sms_monitor, MONITOR_BATCH_SIZE per INSERT, until the list is
 * empty. At-least-once: a batch leaves Redis only after Postgres has it, and event_id is unique, so a batch
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
    while (Date.now() < deadline) {
      const raw = await this.repo.peekAudit(this.batchSize);
      if (!raw.length) break;
      const events: AuditEvent[] = [];
      for (const item of raw) {
        const event = parseEvent(item);
        if (event) events.push(event);
        else skipped++;
      }
      written += await this.repo.insertAudit(events);
      await this.repo.insertOutSmsBatch(
        events
          .filter((e) => e.event_type === 'inbound_sms' && e.outcome === 'verified' && e.mobile_number)
          .map((e) => ({
            mobile: e.mobile_number!,
            smsId: (e.details?.sms_id as string | null) ?? null,
            at: e.created_at,
          })),
      );
      if (!(await this.repo.trimAudit(raw))) break; // another drainer got there first: leave it to it
      moved += raw.length;
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
