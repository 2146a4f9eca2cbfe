import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ReadinessService } from '../health/readiness.service';
import { LayoutMigration } from '../redis/layout-migration';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { OnboardingRepository } from './onboarding.repository';
import { SettingsService } from './settings.service';
import { SuppressionList } from '../suppression/suppression-list';

const BATCH = 5000;
/** How often a replica checks that Redis still holds the flags (a flush or a restart without AOF loses them). */
const CHECK_MS = 30_000;
/** Warm-ups one ensureWarm runs back to back while Redis keeps losing data under it. */
const WARM_ATTEMPTS = 3;

/**
 * Loads out_sms, blacklist_sms and suppressions into the numbers' flags in Redis (keyset pages; one SETBIT per number, sent
 * together) and the settings into memory. Readiness is false until the first warm-up succeeds; it is retried
 * with backoff while Postgres or Redis is away. A marker key in every number bucket records that Redis is warm,
 * so a replica notices when Redis, or one shard of it, lost its data (FLUSHDB, restart without persistence) and
 * warms it again; several replicas warming at once is harmless (setting a bit is idempotent).
 */
@Injectable()
export class WarmupService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Warmup');
  private running?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly repo: OnboardingRepository,
    private readonly settings: SettingsService,
    private readonly readiness: ReadinessService,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly config: AppConfig,
    private readonly suppressions: SuppressionList,
  ) {}

  onApplicationBootstrap(): void {
    const done = this.readiness.begin('onboarding-warmup');
    void this.untilWarm().then(done);
    this.timer = setInterval(() => {
      void this.ensureWarm().catch(() => undefined);
      // Suppression changes whose commit's outcome was unknown reach Redis here (SuppressionList.syncRecent).
      void this.suppressions.syncRecent().catch(() => undefined);
    }, CHECK_MS);
    this.timer.unref();
    this.redis.on('ready', () => void this.ensureWarm().catch(() => undefined));
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async untilWarm(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        // Standalone Redis may still hold an earlier version's key layout: moved first (docs/scaling.md).
        if (!('nodes' in this.redis))
          await new LayoutMigration(this.redis, this.config.redis.keyPrefix).run();
        await this.settings.refresh();
        await this.ensureWarm();
        return;
      } catch (err) {
        if (attempt === 0)
          this.logger.warn(`warm-up waiting for Redis and Postgres: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5000)));
      }
    }
  }

  /** Warms Redis unless the marker says it is warm already; concurrent calls share one run. */
  ensureWarm(): Promise<void> {
    this.running ??= this.warmIfNeeded().finally(() => (this.running = undefined));
    return this.running;
  }

  private async warmIfNeeded(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (await this.repo.isWarm()) return;
      if (await this.warmOnce()) return;
      // Redis lost data while it ran: what was loaded may be gone again. The buckets that lost it stay cold
      // (their scripts ask Postgres meanwhile), and it runs again.
      this.logger.warn('Redis lost data during the warm-up; warming again');
      if (attempt >= WARM_ATTEMPTS) throw new Error('Redis kept losing data during the warm-up');
    }
  }

  /** One warm-up; false when a bucket lost its data while it ran (see OnboardingRepository.beginWarm). */
  private async warmOnce(): Promise<boolean> {
    const started = Date.now();
    const run = randomUUID();
    await this.repo.beginWarm(run);
    const onboarded = await this.loadOnboarded();
    const blacklisted = await this.loadBlacklist();
    const suppressed = await this.suppressions.warm(BATCH);
    if (!(await this.repo.markWarm(run))) return false;
    this.logger.log(
      `Redis number flags warmed from Postgres: ${onboarded} onboarded, ${blacklisted} blacklisted, ${suppressed} suppressed (${Date.now() - started} ms)`,
    );
    return true;
  }

  private async loadOnboarded(): Promise<number> {
    let after = '';
    let total = 0;
    for (;;) {
      const page = await this.repo.numbersAfter('out_sms', after, BATCH);
      if (!page.length) return total;
      await this.repo.markOnboarded(page);
      total += page.length;
      after = page[page.length - 1];
    }
  }

  /**
   * Manual entries into the set; automatic ones as keys that expire with their entry. An automatic entry that an
   * earlier version put into the set is taken out of it (the set then holds only what blocks OTP and messages).
   * A number an admin changed while this ran is left as the admin's change made it.
   */
  private async loadBlacklist(): Promise<number> {
    let after = '';
    let total = 0;
    for (;;) {
      const page = await this.repo.blacklistAfter(after, BATCH);
      if (!page.length) return total;
      await this.repo.warmBlacklist(page.map((r) => ({ mobile: r.mobile_number, ttlMs: r.ttl_ms })));
      total += page.length;
      after = page[page.length - 1].mobile_number;
    }
  }
}
