// Warm-up: the Redis sets are loaded from Postgres at start (readiness waits for it) and again when Redis
// lost them. FLUSHDB runs on a redis-server of this test's own, never on the shared one.
import { DataSource } from 'typeorm';
import { OnboardingRepository } from '../../src/onboarding/onboarding.repository';
import { WarmupService } from '../../src/onboarding/warmup.service';
import { RedisKeys } from '../../src/redis/redis-keys';
import { randomMobile } from '../helpers/numbers';
import { RedisServer } from '../helpers/redis-server';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait';
import { numberKeys } from '../helpers/number-keys';

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
    expect(await numberKeys(t.redis).onboarded(onboarded[0])).toBe(0);
    await t.app.get(WarmupService).ensureWarm();
    expect(await Promise.all(onboarded.map((m) => numberKeys(t.redis).onboarded(m)))).toEqual([1, 1]);
    expect(await numberKeys(t.redis).blacklisted(blacklisted[0])).toBe(1);
    expect((await t.request({ url: `/onboard/register/${onboarded[0]}` })).statusCode).toBe(409);
    expect((await t.request({ url: `/onboard/register/${blacklisted[0]}` })).statusCode).toBe(403);
  });

  it('never onboards a blacklisted number, nor registers an onboarded one again, while Redis is not warm', async () => {
    // Found by the attack on issue 17: register and inbound SMS read the flags a flush had emptied.
    await t.app.get(WarmupService).ensureWarm();
    await t.redis.flushdb();
    expect((await t.request({ url: `/onboard/register/${blacklisted[0]}` })).statusCode).toBe(403);
    expect((await t.request({ url: `/onboard/register/${onboarded[1]}` })).statusCode).toBe(409);
    await t.redis.flushdb();
    const sms = await t.request({
      method: 'POST',
      url: '/onboard/sms',
      payload: { mobile_number: blacklisted[0], message: 'ONBOARD ABCDEFGHJK' },
    });
    expect(sms.json()).toEqual({ status: 'rejected', reason: 'blacklisted' });
    const other = randomMobile();
    expect((await t.request({ url: `/onboard/register/${other}` })).statusCode).toBe(200);
    await t.app.get(WarmupService).ensureWarm();
  });

  it('refuses OTP and messages to a manual entry from the moment Redis lost its data, before the warm-up', async () => {
    // Found by the attack on issue 15: until the warm-up reached them, manual entries blocked nothing.
    await t.app.get(WarmupService).ensureWarm();
    await t.redis.flushdb();
    const refused = async (method: 'POST', url: string, payload: object) => {
      const res = await t.request({ method, url, payload });
      expect([url, res.statusCode, res.json().code]).toEqual([url, 403, 'BLACKLISTED']);
    };
    const m = blacklisted[0];
    await refused('POST', '/otp/send', { mobile_number: m, channel: 'sms' });
    await refused('POST', '/otp/verify', { mobile_number: m, otp: '123456' });
    await refused('POST', '/api/v1/messages/send', { to: m, type: 'sms', body: 'hello' });
    // Other numbers are served meanwhile (Postgres answers for the blacklist until Redis is warm).
    const other = randomMobile();
    const sent = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: other, channel: 'sms' },
    });
    expect(sent.statusCode).toBe(200);
    // The warm-up did not run in between (or the test would prove nothing).
    expect(await numberKeys(t.redis).warm()).toBe(false);
    expect(await numberKeys(t.redis).blacklisted(m)).toBe(0);
    await t.app.get(WarmupService).ensureWarm();
    expect(await numberKeys(t.redis).blacklisted(m)).toBe(1);
  });

  it("keeps an admin's change made while a warm-up was loading an older read of Postgres", async () => {
    // Found by the attack on issue 15: the warm-up took a number an admin had just made manual out of the set.
    const db = t.app.get(DataSource);
    const repo = t.app.get(OnboardingRepository);
    const [auto, manual] = [randomMobile(), randomMobile()];
    await db.query(
      `INSERT INTO blacklist_sms (mobile_number, source, expires_at) VALUES ($1, 'auto', now() + interval '1 day'),
         ($2, 'manual', NULL)`,
      [auto, manual],
    );
    // The warm-up reads its page of Postgres ...
    const page = (await repo.blacklistAfter('', 100_000)).filter((r) =>
      [auto, manual].includes(r.mobile_number),
    );
    expect(page).toHaveLength(2);
    // ... an admin makes the automatic entry manual and removes the manual one ...
    expect(
      (await t.request({ method: 'PUT', url: `/admin/blacklist/${auto}`, as: 'admin', payload: {} }))
        .statusCode,
    ).toBe(200);
    expect(
      (await t.request({ method: 'DELETE', url: `/admin/blacklist/${manual}`, as: 'admin' })).statusCode,
    ).toBe(204);
    // ... and the warm-up then writes what it read.
    await repo.warmBlacklist(page.map((r) => ({ mobile: r.mobile_number, ttlMs: r.ttl_ms })));
    expect(await Promise.all([auto, manual].map((m) => numberKeys(t.redis).blacklisted(m)))).toEqual([1, 0]);
    const otp = (mobile: string) =>
      t.request({ method: 'POST', url: '/otp/send', payload: { mobile_number: mobile, channel: 'sms' } });
    expect((await otp(auto)).statusCode).toBe(403);
    expect((await otp(manual)).statusCode).toBe(200);
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
    await Promise.all([expired, live].map((m) => numberKeys(t.redis).setBlacklisted(m))); // as the earlier version left them
    await numberKeys(t.redis).dropWarmMarkers();
    await t.app.get(WarmupService).ensureWarm();
    expect(await Promise.all([expired, live].map((m) => numberKeys(t.redis).blacklisted(m)))).toEqual([0, 0]);
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
    expect(await numberKeys(t.redis).blacklisted(blacklisted[0])).toBe(1); // manual stays
  });

  it('warms again by itself when Redis comes back empty after a restart', async () => {
    await redis.stop();
    await redis.startProcess(); // no persistence: the sets are gone
    await waitFor(
      async () =>
        (await numberKeys(t.redis)
          .onboarded(onboarded[1])
          .catch(() => 0)) === 1,
      're-warmed after reconnect',
      10000,
    );
  });
});
