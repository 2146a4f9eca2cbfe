import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { allNumberBuckets } from '../redis/redis-keys';
import { ScheduledJobName } from '../workers/job-catalogue';
import { ScheduledJob, ScheduledJobHandler } from '../workers/job-scheduler';
import { auditEvent } from './audit-event';
import { OnboardingMetrics } from './onboarding.metrics';
import { OnboardingRepository } from './onboarding.repository';
import { SettingsService } from './settings.service';

const BATCH = 500;
/** Buckets looked at together. */
const PARALLEL = 16;

/**
 * Blacklists numbers whose 24 h inbound count exceeds the threshold, for ABUSE_BLACKLIST_TTL, from onboarding. It reads only the candidates the hot
 * path recorded when a counter crossed the threshold, so its cost grows with offenders, never with the
 * number of counters. Postgres first, then the Redis set, then the candidate is forgotten: a tick that dies
 * half-way is repeated by the next one, and the upserts make the repeat harmless.
 */
@Injectable()
@ScheduledJob(ScheduledJobName.AbuseDetector)
export class AbuseDetectorTask implements ScheduledJobHandler {
  private readonly ttlSec: number;

  constructor(
    config: AppConfig,
    private readonly repo: OnboardingRepository,
    private readonly settings: SettingsService,
    private readonly metrics: OnboardingMetrics,
  ) {
    this.ttlSec = config.jobs.abuseBlacklistTtlSec;
  }

  async tick(): Promise<string | void> {
    const threshold = (await this.settings.refresh().catch(() => this.settings.current)).abuse_threshold;
    const day = new Date().toISOString().slice(0, 10);
    let blacklisted = 0;
    let seen = 0;
    // Every bucket's candidates, a few buckets at a time (one Redis Cluster slot each).
    const buckets = allNumberBuckets();
    for (let from = 0; from < buckets.length; from += PARALLEL) {
      const counts = await Promise.all(
        buckets.slice(from, from + PARALLEL).map((b) => this.bucket(b, threshold, day)),
      );
      for (const c of counts) {
        seen += c.seen;
        blacklisted += c.blacklisted;
      }
    }
    if (seen) return `abuse-detector: ${seen} candidate(s), ${blacklisted} newly blacklisted`;
  }

  private async bucket(bucket: number, threshold: number, day: string) {
    let blacklisted = 0;
    let seen = 0;
    for (;;) {
      const candidates = await this.repo.abuseCandidates(bucket, BATCH);
      if (!candidates.length) break;
      const counts = await this.repo.abuseCounts(candidates);
      const offenders = candidates
        .map((mobile, i) => ({ mobile, count: counts[i] }))
        .filter((c) => c.count > threshold);
      await this.repo.upsertCounts(offenders, day);
      const added = await this.repo.upsertBlacklist(
        offenders.map((o) => ({
          mobile: o.mobile,
          reason: `${o.count} inbound SMS in 24 h (threshold ${threshold})`,
          source: 'auto' as const,
        })),
        this.ttlSec,
      );
      // An automatic entry blocks onboarding only, and only for ABUSE_BLACKLIST_TTL: a spoofed sender cannot
      // lock a person out of OTP or messages, nor out of onboarding for good.
      await this.repo.addAutoBlacklist(
        offenders.map((o) => ({ mobile: o.mobile, ttlMs: this.ttlSec * 1000 })),
      );
      const counted = new Map(offenders.map((o) => [o.mobile, o.count]));
      await this.repo.pushAudit(
        ...added.map((m) =>
          auditEvent('blacklist', m, 'auto', {
            reason: 'abuse_threshold_exceeded',
            details: { count: counted.get(m), threshold },
          }),
        ),
      );
      await this.repo.forgetCandidates(bucket, candidates);
      this.metrics.blacklisted.inc({ source: 'auto' }, added.length);
      blacklisted += added.length;
      seen += candidates.length;
    }
    return { blacklisted, seen };
  }
}
