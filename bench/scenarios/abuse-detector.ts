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
  const p = redis.pipeline();
  for (const m of offenders) p.set(RedisKeys.abuseCounter(m), 50, 'EX', 86400);
  for (const m of offenders) p.sadd(RedisKeys.abuseCandidatesOf(m), m);
  await p.exec();
  // Automatic entries: an expiring key per number. Done when every offender has one (a tick may have begun
  // before they were recorded and seen none of them; the next one takes them).
  const blacklistedCount = async () =>
    (await Promise.all(offenders.map((m) => redis.exists(RedisKeys.autoBlacklisted(m))))).filter(
      (x) => x === 1,
    ).length;
  await waitUntil(
    async () => (await blacklistedCount()) === offenders.length,
    'the offenders blacklisted',
    30_000,
  ).catch((err: Error) => log(`abuse-detector: ${err.message}`));
  // The tick that took them: its summary line names how many it saw.
  const ticks = [
    ...worker
      .output()
      .matchAll(/"job":"abuse-detector"[^\n]*?"ms":(\d+)[^\n]*?abuse-detector: (\d+) candidate/g),
  ].filter((m) => Number(m[2]) >= offenders.length);
  const offendersBlacklisted = await blacklistedCount();
  return {
    counters: COUNTERS,
    offenders: offenders.length,
    tick_ms: ticks.length ? Number(ticks[ticks.length - 1][1]) : null,
    offenders_blacklisted: offendersBlacklisted,
  };
}
