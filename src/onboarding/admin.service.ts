import { Injectable, Logger } from '@nestjs/common';
import { AppException } from '../common/app.exception';
import { maskPhone } from '../common/mask';
import { auditEvent } from './audit-event';
import { OnboardingMetrics } from './onboarding.metrics';
import { BlacklistRow, OnboardingRepository } from './onboarding.repository';
import { OnboardingSettings, SettingsService } from './settings.service';

/** Manual blacklist management and settings; Postgres and the Redis set change together. */
@Injectable()
export class OnboardingAdminService {
  private readonly logger = new Logger('OnboardingAdmin');

  constructor(
    private readonly repo: OnboardingRepository,
    private readonly settings: SettingsService,
    private readonly metrics: OnboardingMetrics,
  ) {}

  async listBlacklist(
    cursor: string | undefined,
    limit: number,
  ): Promise<{ items: BlacklistRow[]; next_cursor: string | null }> {
    const items = await this.repo.listBlacklist(cursor ?? '', limit);
    return { items, next_cursor: items.length === limit ? items[items.length - 1].mobile_number : null };
  }

  /** Postgres first (the durable record), then Redis; a Redis failure is a 503 and the call may be repeated. */
  async addToBlacklist(
    mobile: string,
    reason?: string,
  ): Promise<{ mobile_number: string; blacklisted: true }> {
    const added = await this.repo.upsertBlacklist([{ mobile, reason: reason ?? null, source: 'manual' }]);
    await this.repo.addToBlacklistSet(mobile); // a manual entry: onboarding, OTP and messages, until removed
    await this.repo.pushAudit(auditEvent('blacklist', mobile, 'manual', { reason }));
    if (added.length) {
      this.metrics.blacklisted.inc({ source: 'manual' });
      this.logger.log(`${maskPhone(mobile)} blacklisted by an admin`);
    }
    return { mobile_number: mobile, blacklisted: true };
  }

  async removeFromBlacklist(mobile: string): Promise<void> {
    const removed = await this.repo.deleteBlacklist(mobile);
    await this.repo.removeFromBlacklistSet(mobile);
    if (!removed) throw new AppException(404, 'NOT_BLACKLISTED', 'This number is not on the blacklist');
    await this.repo.pushAudit(auditEvent('unblacklist', mobile, 'manual'));
    this.logger.log(`${maskPhone(mobile)} removed from the blacklist by an admin`);
  }

  getSettings(): Promise<OnboardingSettings> {
    return this.settings.refresh();
  }

  updateSettings(changes: Partial<OnboardingSettings>): Promise<OnboardingSettings> {
    return this.settings.update(changes);
  }
}
