import { Injectable } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service';

@Injectable()
export class SessionMetrics {
  readonly created;
  readonly revoked;
  readonly fallbacks;
  readonly tokensRevoked;

  constructor(private readonly metrics: MetricsService) {
    this.created = metrics.counter('smsb_sessions_created_total', 'Sessions created, by store', ['store']);
    this.revoked = metrics.counter('smsb_sessions_revoked_total', 'Sessions ended by a client or user', [
      'reason',
    ]);
    this.fallbacks = metrics.counter(
      'smsb_session_fallback_total',
      'Session operations served by the in-memory fallback while Redis was unreachable',
      ['operation'],
    );
    this.tokensRevoked = metrics.counter(
      'smsb_access_tokens_revoked_total',
      'Access tokens deny-listed before their expiry',
      ['reason'],
    );
  }

  /** Live sessions by store; Redis's count may include sessions expired since the last clean-up (approximate). */
  activeGauge(collect: () => Promise<{ redis: number; memory: number }>): void {
    this.metrics.gauge(
      'smsb_sessions_active',
      'Live sessions (approximate: Redis counts include ones expired since the last clean-up)',
      ['store'],
      async function () {
        const n = await collect();
        this.set({ store: 'redis' }, n.redis);
        this.set({ store: 'memory' }, n.memory);
      },
    );
  }
}
