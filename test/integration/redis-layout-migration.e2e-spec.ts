// The move from the earlier key layout to the bucketed one, on the real Redis: what an earlier version left is
// found under the new names with its TTL, nothing is moved twice when replicas start together, and the audit
// events all reach their buckets.
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { trimAuditScript } from '../../src/onboarding/onboarding.scripts';
import { LayoutMigration, moveLegacyAuditQueue } from '../../src/redis/layout-migration';
import { RedisKeys, sessionBucket } from '../../src/redis/redis-keys';
import { numberKeys } from '../helpers/number-keys';
import { randomMobile } from '../helpers/numbers';
import { BASE_REDIS_URL, uniquePrefix } from '../helpers/test-env';

describe('Redis layout migration', () => {
  const prefix = uniquePrefix();
  const redis = new Redis(BASE_REDIS_URL, { keyPrefix: prefix });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.unlink(...keys.map((k) => k.slice(prefix.length)));
    redis.disconnect();
  });

  it('moves what an earlier version left into the buckets, once, however many replicas start at once', async () => {
    const [onboarded, listed, pending, coded, flagged] = [1, 2, 3, 4, 5].map(() => randomMobile());
    const events = Array.from({ length: 1203 }, (_, i) =>
      JSON.stringify({
        event_id: randomUUID(),
        mobile_number: i % 2 ? onboarded : listed,
        event_type: 'register',
      }),
    );
    const session = '0123456789abcdef0123456789abcdef';
    await redis
      .multi()
      .rpush('sms_monitor_queue', ...events, 'not json')
      .sadd('out_sms_numbers', onboarded)
      .sadd('blacklist_mobiles', listed)
      .sadd('abuse_candidates', flagged)
      .set(`onboard_hash:${pending}`, 'ab12cd34ef', 'EX', 3600)
      .set(`otp:${coded}`, '{"row_id":"r"}', 'EX', 300)
      .set(`otp:attempts:${coded}`, '2', 'EX', 3600)
      .set(`rate_limit:otp_ip:198.51.100.7`, '4', 'EX', 600)
      .set(`session:${session}`, '{"user_id":"u1"}', 'PX', 900_000)
      .sadd('user_sessions:u1', session)
      .zadd('session_expiry', 12345, `${session}:u1`)
      .set('blacklist:token:some-jti', '1', 'EX', 900)
      .set('lock:monitor-logger', 'kept')
      .exec();

    await Promise.all([1, 2, 3].map(() => new LayoutMigration(redis, prefix).run()));

    const nk = numberKeys(redis);
    const audit = await nk.auditEvents();
    expect(audit).toHaveLength(1204); // every event once (the unreadable one into bucket 0, skipped later)
    expect(new Set(audit).size).toBe(1204);
    expect(
      await redis.exists('sms_monitor_queue', 'out_sms_numbers', 'blacklist_mobiles', 'session_expiry'),
    ).toBe(0);
    expect(await nk.onboarded(onboarded)).toBe(1);
    expect(await nk.blacklisted(listed)).toBe(1);
    expect(await nk.isCandidate(flagged)).toBe(1);
    expect(await redis.get(RedisKeys.onboardHash(pending))).toBe('ab12cd34ef');
    expect(await redis.ttl(RedisKeys.onboardHash(pending))).toBeGreaterThan(3500);
    expect(await redis.get(RedisKeys.otp(coded))).toBe('{"row_id":"r"}');
    expect(await redis.get(RedisKeys.otpAttempts(coded))).toBe('2');
    expect(await redis.get(RedisKeys.rateLimit('otp_ip', '198.51.100.7'))).toBe('4');
    expect(await redis.pttl(RedisKeys.session(session))).toBeGreaterThan(800_000);
    expect(await redis.smembers(RedisKeys.userSessions('u1'))).toEqual([session]);
    expect(await redis.zscore(RedisKeys.sessionExpiries(sessionBucket(session)), `${session}:u1`)).toBe(
      '12345',
    );
    expect(await redis.exists('blacklist:token:some-jti', `onboard_hash:${pending}`, `otp:${coded}`)).toBe(0);
    expect(await redis.get('lock:monitor-logger')).toBe('kept'); // not of the earlier layout: left alone

    // Done once: a later start moves nothing, even what looks like the earlier layout ...
    await redis.rpush('sms_monitor_queue', 'late');
    await redis.sadd('out_sms_numbers', pending);
    await new LayoutMigration(redis, prefix).run();
    expect(await redis.llen('sms_monitor_queue')).toBe(1);
    expect(await redis.scard('out_sms_numbers')).toBe(1);
    // ... but events an earlier replica still appends during a rolling upgrade reach the buckets (each
    // monitor-logger tick moves them).
    expect(await moveLegacyAuditQueue(redis)).toBe(1);
    expect(await redis.llen(RedisKeys.auditQueue(0))).toBeGreaterThan(0);
    expect(await nk.auditBacklog()).toBe(1205);
  });

  it('loses no audit event when several movers drain the old list at once, an earlier worker among them', async () => {
    const events = Array.from({ length: 6000 }, () =>
      JSON.stringify({ event_id: randomUUID(), mobile_number: randomMobile(), event_type: 'register' }),
    );
    for (let i = 0; i < events.length; i += 1000)
      await redis.rpush('sms_monitor_queue', ...events.slice(i, i + 1000));
    // An earlier version's monitor-logger: reads a batch, "writes it to Postgres", trims it if the list still
    // starts with it (its own trim script).
    const writtenByOld = new Set<string>();
    const oldWorker = async () => {
      for (;;) {
        const batch = await redis.lrange('sms_monitor_queue', 0, 299);
        if (!batch.length) return;
        for (const e of batch) writtenByOld.add(e);
        await trimAuditScript.run(redis, ['sms_monitor_queue'], [batch[0], batch.length]);
      }
    };
    await Promise.all([
      moveLegacyAuditQueue(redis),
      moveLegacyAuditQueue(redis),
      moveLegacyAuditQueue(redis),
      oldWorker(),
    ]);
    expect(await redis.llen('sms_monitor_queue')).toBe(0);
    const reached = new Set([...(await numberKeys(redis).auditEvents()), ...writtenByOld]);
    expect(events.filter((e) => !reached.has(e))).toEqual([]);
  });
});
