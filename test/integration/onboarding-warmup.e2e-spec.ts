// Warm-up: the Redis sets are loaded from Postgres at start (readiness waits for it) and again when Redis
// lost them. FLUSHDB runs on a redis-server of this test's own, never on the shared one.
import { DataSource } from 'typeorm';
import { WarmupService } from '../../src/onboarding/warmup.service';
import { RedisKeys } from '../../src/redis/redis-keys';
import { randomMobile } from '../helpers/numbers';
import { RedisServer } from '../helpers/redis-server';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait';

describe('onboarding warm-up', () => {
  let redis: RedisServer;
  let t: TestApp;
  const onboarded = [randomMobile(), randomMobile()];
  const blacklisted = [randomMobile()];

  beforeAll(async () => {
    redis = await RedisServer.start();
    t = await startTestApp({ REDIS_URL: redis.url });
    const db = t.app.get(DataSource);
    for (const m of onboarded) await db.query('INSERT INTO out_sms (mobile_number) VALUES ($1)', [m]);
    for (const m of blacklisted)
      await db.query(`INSERT INTO blacklist_sms (mobile_number, source) VALUES ($1, 'manual')`, [m]);
  });
  afterAll(async () => {
    await t?.close();
    await redis?.destroy();
  });

  it('is ready once the sets are loaded', async () => {
    await t.app.get(WarmupService).ensureWarm();
    await waitFor(
      async () => (await t.request({ url: '/health/ready', as: 'none' })).statusCode === 200,
      'ready',
    );
  });

  it('restores the sets after FLUSHDB', async () => {
    await t.redis.flushdb();
    expect(await t.redis.sismember(RedisKeys.onboardedNumbers(), onboarded[0])).toBe(0);
    await t.app.get(WarmupService).ensureWarm();
    expect(await t.redis.smismember(RedisKeys.onboardedNumbers(), ...onboarded)).toEqual([1, 1]);
    expect(await t.redis.sismember(RedisKeys.blacklistedNumbers(), blacklisted[0])).toBe(1);
    expect((await t.request({ url: `/onboard/register/${onboarded[0]}` })).statusCode).toBe(409);
    expect((await t.request({ url: `/onboard/register/${blacklisted[0]}` })).statusCode).toBe(403);
  });

  it('moves automatic entries an earlier version kept in the blacklist set out of it, expired ones included', async () => {
    // Found by the attack on issue 15: an expired automatic entry stayed in the set, blocking OTP and messages.
    const db = t.app.get(DataSource);
    const [expired, live] = [randomMobile(), randomMobile()];
    await db.query(
      `INSERT INTO blacklist_sms (mobile_number, source, created_at, expires_at) VALUES
         ($1, 'auto', now() - interval '2 days', now() - interval '1 day'),
         ($2, 'auto', now() - interval '1 hour', now() + interval '23 hours')`,
      [expired, live],
    );
    await t.redis.sadd(RedisKeys.blacklistedNumbers(), expired, live); // as the earlier version left them
    await t.redis.del(RedisKeys.warmupMarker());
    await t.app.get(WarmupService).ensureWarm();
    expect(await t.redis.smismember(RedisKeys.blacklistedNumbers(), expired, live)).toEqual([0, 0]);
    expect(await t.redis.exists(RedisKeys.autoBlacklisted(expired))).toBe(0);
    expect(await t.redis.pttl(RedisKeys.autoBlacklisted(live))).toBeGreaterThan(22 * 3600_000);
    expect(
      (
        await t.request({
          method: 'POST',
          url: '/otp/send',
          payload: { mobile_number: expired, channel: 'sms' },
        })
      ).statusCode,
    ).toBe(200);
    expect(await t.redis.sismember(RedisKeys.blacklistedNumbers(), blacklisted[0])).toBe(1); // manual stays
  });

  it('warms again by itself when Redis comes back empty after a restart', async () => {
    await redis.stop();
    await redis.startProcess(); // no persistence: the sets are gone
    await waitFor(
      async () => (await t.redis.sismember(RedisKeys.onboardedNumbers(), onboarded[1]).catch(() => 0)) === 1,
      're-warmed after reconnect',
      10000,
    );
  });
});
