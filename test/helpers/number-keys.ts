// Reads and writes of the per-number Redis layout (bit flags per block, bucketed queues) for tests, so they
// say what they check ("is the number onboarded in Redis") rather than how the keys are laid out.
import type { Cluster, Redis } from 'ioredis';
import { allNumberBuckets, numberOffset, RedisKeys } from '../../src/redis/redis-keys';

type Client = Redis | Cluster;

/** `prefix`: for a client without the service's key prefix (give the prefix the service uses). */
export const numberKeys = (r: Client, prefix = '') => ({
  onboarded: async (m: string) => r.getbit(prefix + RedisKeys.onboardedFlags(m), numberOffset(m)),
  setOnboarded: (m: string, on = true) =>
    r.setbit(prefix + RedisKeys.onboardedFlags(m), numberOffset(m), on ? 1 : 0),
  blacklisted: async (m: string) => r.getbit(prefix + RedisKeys.blacklistFlags(m), numberOffset(m)),
  setBlacklisted: (m: string, on = true) =>
    r.setbit(prefix + RedisKeys.blacklistFlags(m), numberOffset(m), on ? 1 : 0),
  isCandidate: (m: string) => r.sismember(prefix + RedisKeys.abuseCandidatesOf(m), m),
  candidates: async () =>
    (await Promise.all(allNumberBuckets().map((b) => r.scard(prefix + RedisKeys.abuseCandidates(b))))).reduce(
      (a, b) => a + b,
      0,
    ),
  /** Every audit event waiting, bucket by bucket (in order within a bucket). */
  auditEvents: async () =>
    (
      await Promise.all(allNumberBuckets().map((b) => r.lrange(prefix + RedisKeys.auditQueue(b), 0, -1)))
    ).flat(),
  auditBacklog: async () =>
    (await Promise.all(allNumberBuckets().map((b) => r.llen(prefix + RedisKeys.auditQueue(b))))).reduce(
      (a, b) => a + b,
      0,
    ),
  clearAudit: () => Promise.all(allNumberBuckets().map((b) => r.del(prefix + RedisKeys.auditQueue(b)))),
  /** Pushes raw items onto the queue of the bucket `m` falls in (any number when not given). */
  pushAudit: (items: string[], m: string | null = null) =>
    r.rpush(prefix + RedisKeys.auditQueueOf(m), ...items),
  warm: async () =>
    (await Promise.all(allNumberBuckets().map((b) => r.exists(prefix + RedisKeys.warmupMarker(b))))).every(
      (e) => e === 1,
    ),
  /** As a flush or a shard's data loss leaves Redis: no bucket marked warm. */
  dropWarmMarkers: () =>
    Promise.all(allNumberBuckets().map((b) => r.del(prefix + RedisKeys.warmupMarker(b)))),
});
