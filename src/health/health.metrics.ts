// Gauges read at scrape time for the alerts in deploy/observability/: how old each scheduled job's heartbeat
// is, and whether (and how fast) Redis answers this process. One MGET and one PING per scrape.
import { Inject, Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { Heartbeats } from '../workers/heartbeats';
import { scheduledJobs } from '../workers/job-catalogue';
import { readCircuits } from '../messages/providers/provider-circuits';

@Injectable()
export class HealthMetrics {
  constructor(
    metrics: MetricsService,
    heartbeats: Heartbeats,
    config: AppConfig,
    @Inject(REDIS) redis: RedisClient,
  ) {
    const jobs = scheduledJobs(config);
    metrics.gauge(
      'smsb_job_heartbeat_age_seconds',
      'Seconds since each scheduled job last ran somewhere (absent: never reported, or Redis unreachable)',
      ['job'],
      async function () {
        this.reset();
        const read = await heartbeats.read(jobs).catch(() => undefined);
        for (const [job, h] of Object.entries(read ?? {}))
          if (h.age_seconds !== undefined) this.set({ job }, h.age_seconds);
      },
    );
    metrics.gauge(
      'smsb_job_interval_seconds',
      "Each scheduled job's interval (a job is down after three without a heartbeat)",
      ['job'],
      function () {
        for (const j of jobs) this.set({ job: j.name }, j.intervalSeconds);
      },
    );
    const providers = [...new Set(config.messages.routes.flatMap((r) => r.providers))];
    metrics.gauge(
      'smsb_provider_circuit_open',
      "Whether an SMS provider's circuit breaker is open (1) or not (0), as the workers last reported it",
      ['provider'],
      async function () {
        const circuits = await readCircuits(redis, providers).catch(() => undefined);
        for (const [provider, state] of Object.entries(circuits ?? {}))
          this.set({ provider }, state === 'open' ? 1 : 0);
      },
    );
    const latency = metrics.gauge('smsb_redis_ping_seconds', 'Round trip of that PING (NaN when it failed)');
    metrics.gauge(
      'smsb_redis_up',
      "Whether Redis answered this process's PING at the last scrape",
      [],
      async function () {
        const started = process.hrtime.bigint();
        const ok = await redis.ping().then(
          () => true,
          () => false,
        );
        this.set(ok ? 1 : 0);
        latency.set(ok ? Number(process.hrtime.bigint() - started) / 1e9 : NaN);
      },
    );
  }
}
