// The monitor-logger draining a backlog of audit events into Postgres.
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { allNumberBuckets, RedisKeys } from '../../src/redis/redis-keys';
import { env, log } from '../lib/context';
import { Service, waitUntil } from '../lib/services';

/** Pushes N audit events and times the monitor-logger (1 s interval, default batch size) moving them. */
export async function monitorDrain(redis: Redis, worker: Service) {
  const N = Number(env.BENCH_MONITOR_EVENTS ?? 50_000);
  log(`monitor-logger: drain ${N} events`);
  for (let i = 0; i < N; i += 5000) {
    const events = Array.from({ length: Math.min(5000, N - i) }, (_, j) =>
      JSON.stringify({
        event_id: randomUUID(),
        mobile_number: `+912${String(i + j).padStart(9, '0')}`,
        event_type: 'register',
        outcome: 'created',
        created_at: new Date().toISOString(),
      }),
    );
    // Each event onto its number's bucket queue, as the service appends them.
    const p = redis.pipeline();
    for (const e of events) p.rpush(RedisKeys.auditQueueOf(JSON.parse(e).mobile_number), e);
    await p.exec();
  }
  let first = 0;
  await waitUntil(
    async () => {
      const left = (
        await Promise.all(allNumberBuckets().map((b) => redis.llen(RedisKeys.auditQueue(b))))
      ).reduce((a, b) => a + b, 0);
      if (!first && left < N) first = Date.now();
      return left === 0;
    },
    'the audit queue to drain',
    300_000,
  );
  const seconds = (Date.now() - first) / 1000;
  const ticks = [...worker.output().matchAll(/"job":"monitor-logger"[^\n]*?"ms":(\d+)/g)].map((m) =>
    Number(m[1]),
  );
  return { events: N, seconds, events_per_second: N / seconds, tick_ms: ticks.slice(-5) };
}
