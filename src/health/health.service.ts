import { readCircuits } from '../messages/providers/provider-circuits';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { RedisHealthIndicator } from '../redis/redis.health';
import { SessionRepository } from '../session/session.repository';
import { Heartbeats, JobHealth } from '../workers/heartbeats';
import { scheduledJobs } from '../workers/job-catalogue';
import { DatabaseHealthIndicator } from './database.health';

export interface HealthReport {
  status: 'healthy' | 'degraded';
  timestamp: string;
  components: {
    database: { status: 'up' | 'down'; latency_ms: number | null; error?: string };
    redis: { status: 'up' | 'down'; connected: boolean; latency_ms: number | null; error?: string };
    background_workers: {
      status: 'up' | 'down' | 'unknown';
      message?: string;
      jobs: Record<string, JobHealth>;
    };
    /** degraded while sessions are served from this replica's memory (Redis unreachable, SESSION_FALLBACK=memory). */
    sessions?: {
      status: 'up' | 'degraded' | 'down';
      fallback: 'memory' | 'none';
      fallback_active: boolean;
      memory_sessions: number;
    };
    /** degraded while a provider's circuit is open (its routes fail over); down when every one is open. */
    sms_providers?: {
      status: 'up' | 'degraded' | 'down';
      circuits: Record<string, 'closed' | 'open' | 'half_open'>;
    };
  };
}

@Injectable()
export class HealthService {
  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisHealthIndicator,
    private readonly database: DatabaseHealthIndicator,
    private readonly heartbeats: Heartbeats,
    @Inject(REDIS) private readonly redisClient: RedisClient,
    @Optional() private readonly sessionStore?: SessionRepository,
  ) {}

  async report(): Promise<HealthReport> {
    const [db, redis] = await Promise.all([this.database.probe(), this.redis.probe()]);
    const workers = await this.workers(redis.healthy);
    const sessions = this.sessions(redis.healthy);
    const providers = redis.healthy ? await this.providers().catch(() => undefined) : undefined;
    const degraded =
      !db.healthy || !redis.healthy || workers.status === 'down' || (sessions && sessions.status !== 'up');
    return {
      status: degraded ? 'degraded' : 'healthy',
      timestamp: new Date().toISOString(),
      components: {
        database: {
          status: db.healthy ? 'up' : 'down',
          latency_ms: db.latency_ms,
          ...(db.error && { error: db.error }),
        },
        redis: {
          status: redis.healthy ? 'up' : 'down',
          connected: redis.connected,
          latency_ms: redis.latency_ms,
          ...(redis.error && { error: redis.error }),
        },
        background_workers: workers,
        ...(sessions && { sessions }),
        ...(providers && { sms_providers: providers }),
      },
    };
  }

  /** The SMS providers' circuit breakers, as the workers last reported them. */
  private async providers(): Promise<HealthReport['components']['sms_providers']> {
    const names = [...new Set(this.config.messages.routes.flatMap((r) => r.providers))];
    const circuits = await readCircuits(this.redisClient, names);
    const open = Object.values(circuits).filter((s) => s === 'open').length;
    return { status: open === 0 ? 'up' : open === names.length ? 'down' : 'degraded', circuits };
  }

  private sessions(redisUp: boolean): HealthReport['components']['sessions'] {
    if (!this.sessionStore) return undefined;
    const s = this.sessionStore.state();
    return {
      status: s.fallbackActive ? 'degraded' : redisUp || s.fallback === 'memory' ? 'up' : 'down',
      fallback: s.fallback,
      fallback_active: s.fallbackActive,
      memory_sessions: s.memorySessions,
    };
  }

  /** Read from heartbeats. Never-reported jobs are "unknown", not "running": no guessing. */
  private async workers(redisUp: boolean): Promise<HealthReport['components']['background_workers']> {
    if (!redisUp)
      return { status: 'unknown', message: 'heartbeats live in Redis, which is unreachable', jobs: {} };
    const jobs = await this.heartbeats.read(scheduledJobs(this.config)).catch(() => undefined);
    if (!jobs) return { status: 'unknown', message: 'heartbeats could not be read', jobs: {} };
    const states = Object.values(jobs).map((j) => j.status);
    if (states.includes('down')) {
      const down = Object.entries(jobs)
        .filter(([, j]) => j.status === 'down')
        .map(([n]) => n);
      return { status: 'down', message: `no recent heartbeat from: ${down.join(', ')}`, jobs };
    }
    if (states.every((s) => s === 'never_reported')) {
      return {
        status: 'unknown',
        message: 'no worker has reported yet; start one with npm run start:worker',
        jobs,
      };
    }
    return { status: 'up', jobs };
  }
}
