// One abuse-detector tick over many counters with a few offenders.
import type Redis from 'ioredis';
import { RedisKeys } from '../../src/redis/redis-keys';
import { COUNTERS, log } from '../lib/context';
import { Service, waitUntil } from '../lib/services';

/** BENCH_COUNTERS abuse counters (1,000,000), 100 of them offenders (over the threshold, recorded as candidates). */
export async function abuseTick(redis: Redis, worker: Service) {
  log(`abuse-detector: ${COUNTERS} counters, 100 offenders`);
  for (let i = 0; i < COUNTERS; i += 10_000) {
    const p = redis.pipeline();
    for (let j = i; j < i + 10_000; j++)
      p.set(RedisKeys.abuseCounter(`+911${String(j).padStart(9, '0')}`), 3, 'EX', 86400);
    await p.exec();
  }
  const offenders = Array.from({ length: 100 }, (_, i) => `+911${String(i * 9973).padStart(9, '0')}`);
  const before = [...worker.output().matchAll(/"job":"abuse-detector"[^\n]*?"ms":(\d+)/g)].length;
  const p = redis.pipeline();
  for (const m of offenders) p.set(RedisKeys.abuseCounter(m), 50, 'EX', 86400);
  for (const m of offenders) p.sadd(RedisKeys.abuseCandidatesOf(m), m);
  await p.exec();
  // Two ticks more: the first may have begun before the offenders were recorded (it then finds none of them);
  // ticks do not overlap, so the second began after, and it is the one measured.
  await waitUntil(
    async () => [...worker.output().matchAll(/"job":"abuse-detector"[^\n]*?"ms":(\d+)/g)].length > before + 1,
    'an abuse-detector tick that began after the offenders were recorded',
    60_000,
  );
  const ticks = [...worker.output().matchAll(/"job":"abuse-detector"[^\n]*?"ms":(\d+)/g)].map((m) =>
    Number(m[1]),
  );
  // Automatic entries: an expiring key per number.
  const blacklisted = await Promise.all(offenders.map((m) => redis.exists(RedisKeys.autoBlacklisted(m))));
  return {
    counters: COUNTERS,
    offenders: offenders.length,
    tick_ms: ticks[ticks.length - 1],
    offenders_blacklisted: blacklisted.filter((x) => x === 1).length,
  };
}
