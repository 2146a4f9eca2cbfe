// Redis losing its data twice, the second time while the warm-up reloads the flags (found by the attack on the
// trust issue): the warm-up must not mark buckets warm whose data went meanwhile.
import { DataSource } from 'typeorm';
import { WarmupService } from '../../src/onboarding/warmup.service';
import { OnboardingRepository } from '../../src/onboarding/onboarding.repository';
import { RedisKeys } from '../../src/redis/redis-keys';
import { randomMobile } from '../helpers/numbers';
import { RedisServer } from '../helpers/redis-server';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait';

describe('warm-up interrupted by a second data loss', () => {
  let redis: RedisServer;
  let t: TestApp;
  let db: DataSource;

  beforeAll(async () => {
    redis = await RedisServer.start();
    t = await startTestApp({ REDIS_URL: redis.url, MESSAGE_RELAY_INTERVAL: '3600' });
    db = t.app.get(DataSource);
    await waitFor(() => t.app.get(OnboardingRepository).isWarm(), 'warm at start');
  });
  afterAll(async () => {
    await db?.query(`DELETE FROM suppressions WHERE mobile_number LIKE '+99%'`).catch(() => undefined);
    await t?.close();
    await redis?.destroy();
  });

  it('a suppressed number stays refused after Redis loses its data during the warm-up', async () => {
    const target = randomMobile(); // '+919…' sorts before the bulk rows ('+99…'): loaded in the first pages
    const put = await t.request({
      method: 'PUT',
      url: `/admin/suppressions/${target}`,
      payload: {},
      as: 'admin',
    });
    expect(put.statusCode).toBe(200);
    await db.query(
      `INSERT INTO suppressions (mobile_number, source) SELECT '+99' || lpad(i::text, 10, '0'), 'admin'
       FROM generate_series(1, 300000) i ON CONFLICT DO NOTHING`,
    );
    const send = () =>
      t.request({
        method: 'POST',
        url: '/api/v1/messages/send',
        payload: { to: target, type: 'sms', body: 'x' },
      });
    expect((await send()).statusCode).toBe(403);

    // Redis restarts without persistence: everything gone (the change marker too).
    await t.redis.flushall();
    const warm = t.app.get(WarmupService).ensureWarm();
    const bitKey = RedisKeys.suppressionFlags(target);
    await waitFor(
      async () => (await t.redis.getbit(bitKey, Number(target.slice(-3)))) === 1,
      'target reloaded',
      20000,
    );
    // ...and loses its data again while the warm-up is still loading later pages.
    await t.redis.flushall();
    await warm; // it notices, and runs again: warm only once the whole list is back
    expect(await t.app.get(OnboardingRepository).isWarm()).toBe(true);
    expect(await t.redis.getbit(bitKey, Number(target.slice(-3)))).toBe(1);
    const res = await send();
    const otp = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: target, channel: 'sms' },
    });
    expect(res.statusCode).toBe(403);
    expect(otp.statusCode).toBe(403);
  });
});
