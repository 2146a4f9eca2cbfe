import { Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { CacheService } from '../redis/cache.service';
import { InvalidationBus } from '../redis/invalidation.service';
import { OnboardingRepository } from './onboarding.repository';

export interface OnboardingSettings {
  salt_length: number;
  permitted_headers: string[];
  abuse_threshold: number;
}

const CACHE_NS = 'settings';
const CACHE_KEY = 'onboarding';
const TOPIC = 'settings:onboarding';
/** A safety net beside pub/sub: every replica re-reads the settings at least this often. */
const REFRESH_MS = 60_000;

/**
 * Onboarding settings live in Postgres (`settings`), are cached in Redis (cache:settings:onboarding) and held
 * in memory, so the hot path reads them with no I/O. An update invalidates every replica through pub/sub.
 */
@Injectable()
export class SettingsService implements OnModuleInit, OnApplicationShutdown {
  private value: OnboardingSettings;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly repo: OnboardingRepository,
    private readonly cache: CacheService,
    private readonly bus: InvalidationBus,
    private readonly config: AppConfig,
  ) {
    this.value = this.defaults();
  }

  onModuleInit(): void {
    this.bus.on(TOPIC, async () => void (await this.refresh()));
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), REFRESH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  defaults(): OnboardingSettings {
    return {
      salt_length: 10,
      permitted_headers: ['ONBOARD'],
      abuse_threshold: this.config.jobs.abuseThreshold,
    };
  }

  /** The settings in memory: no I/O. */
  get current(): OnboardingSettings {
    return this.value;
  }

  /** Reads through the Redis cache (Postgres on a miss) into memory. */
  async refresh(): Promise<OnboardingSettings> {
    const stored = await this.cache.getOrSet(CACHE_NS, CACHE_KEY, 300, () => this.repo.loadSettings());
    this.value = { ...this.defaults(), ...(stored as Partial<OnboardingSettings>) };
    return this.value;
  }

  async update(changes: Partial<OnboardingSettings>): Promise<OnboardingSettings> {
    await this.repo.saveSettings(changes);
    await this.cache.delete(CACHE_NS, CACHE_KEY);
    const fresh = await this.refresh();
    await this.bus.publish(TOPIC);
    return fresh;
  }
}
