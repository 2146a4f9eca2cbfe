import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { REDIS, RedisClient } from './redis.constants';

export interface RedisProbe {
  healthy: boolean;
  connected: boolean;
  latency_ms: number | null;
  error?: string;
}

@Injectable()
export class RedisHealthIndicator {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly indicators: HealthIndicatorService,
  ) {}

  /** PING with the client's bounded timeout; never throws. */
  async probe(): Promise<RedisProbe> {
    const connected = this.redis.status === 'ready';
    if (!connected)
      return { healthy: false, connected, latency_ms: null, error: `connection ${this.redis.status}` };
    const started = process.hrtime.bigint();
    try {
      await this.redis.ping();
      const latency = Number(process.hrtime.bigint() - started) / 1e6;
      return { healthy: true, connected, latency_ms: Math.round(latency * 100) / 100 };
    } catch (err) {
      return { healthy: false, connected, latency_ms: null, error: (err as Error).message };
    }
  }

  /** Terminus form, for /health/ready. */
  async isHealthy(key = 'redis') {
    const check = this.indicators.check(key);
    const p = await this.probe();
    return p.healthy ? check.up({ latency_ms: p.latency_ms }) : check.down({ error: p.error });
  }
}
