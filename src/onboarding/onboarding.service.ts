import { Injectable } from '@nestjs/common';
import { AppException } from '../common/app.exception';
import { auditEvent } from './audit-event';
import { generateHash } from './hash';
import { OnboardingMetrics } from './onboarding.metrics';
import { OnboardingRepository } from './onboarding.repository';
import { SettingsService } from './settings.service';
import { WarmupService } from './warmup.service';

export type OnboardStatus = 'verified' | 'pending' | 'blacklisted' | 'unknown';

@Injectable()
export class OnboardingService {
  constructor(
    private readonly repo: OnboardingRepository,
    private readonly settings: SettingsService,
    private readonly metrics: OnboardingMetrics,
    private readonly warmup: WarmupService,
  ) {}

  /**
   * The hot path: one Redis round trip, no Postgres, no log line on success. When Redis lost the number's
   * flags (a flush, a restart without persistence, a shard's data loss) and the warm-up has not restored them
   * yet, Postgres says whether it is onboarded or blacklisted, and the warm-up is started.
   */
  async register(mobile: string): Promise<{ hash: string }> {
    const candidate = generateHash(this.settings.current.salt_length);
    const event = auditEvent('register', mobile, 'pending');
    let { outcome, hash } = await this.repo.register(mobile, candidate, event);
    if (outcome === 'cold') {
      void this.warmup.ensureWarm().catch(() => undefined);
      ({ outcome, hash } = await this.repo.register(
        mobile,
        candidate,
        event,
        await this.repo.postgresStatus(mobile),
      ));
    }
    this.metrics.register.inc({ outcome });
    if (outcome === 'already_onboarded') {
      throw new AppException(409, 'ALREADY_ONBOARDED', 'This number is already onboarded');
    }
    if (outcome === 'blacklisted') throw new AppException(403, 'BLACKLISTED', 'This number is blacklisted');
    return { hash: hash! };
  }

  async status(
    mobile: string,
  ): Promise<{ mobile_number: string; status: OnboardStatus; verified_at?: string }> {
    const s = await this.repo.statusSnapshot(mobile);
    if (s.blacklisted) return { mobile_number: mobile, status: 'blacklisted' };
    if (s.onboarded) {
      const at = await this.repo.verifiedAt(mobile).catch(() => null);
      return {
        mobile_number: mobile,
        status: 'verified',
        ...(at && { verified_at: new Date(at).toISOString() }),
      };
    }
    return { mobile_number: mobile, status: s.pending ? 'pending' : 'unknown' };
  }
}
