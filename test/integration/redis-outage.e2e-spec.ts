// Redis down: request-path commands fail fast (503 within a second), health says degraded while liveness
// stays 200, and everything recovers by itself when Redis returns.
import { ProbeModule } from '../helpers/probe.module';
import { RedisServer } from '../helpers/redis-server';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait';

describe('Redis outage', () => {
  let redis: RedisServer;
  let t: TestApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    t = await startTestApp({ REDIS_URL: redis.url }, { extraModules: [ProbeModule] });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.destroy();
  });

  it('answers normally while Redis is up', async () => {
    expect((await t.request({ url: '/__probe/redis', as: 'none' })).statusCode).toBe(200);
    expect((await t.request({ url: '/health', as: 'none' })).statusCode).toBe(200);
  });

  it('fails fast with 503 and degrades health while Redis is down, then recovers without a restart', async () => {
    await redis.stop();

    const started = Date.now();
    const res = await t.request({ url: '/__probe/redis', as: 'none' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ statusCode: 503, code: 'REDIS_UNAVAILABLE' });
    expect(res.headers['retry-after']).toBe('1');

    const reg = await t.request({ url: '/onboard/register/+919876543210' });
    expect(reg.statusCode).toBe(503);
    // A number's status cannot be told without Redis (a pending hash lives only there): 503, not "unknown".
    const status = await t.request({ url: '/onboard/status/+919876543210' });
    expect([status.statusCode, status.json().code]).toEqual([503, 'REDIS_UNAVAILABLE']);
    expect(Date.now() - started).toBeLessThan(2000);

    expect((await t.request({ url: '/health/live', as: 'none' })).statusCode).toBe(200);
    const health = await t.request({ url: '/health', as: 'none' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toMatchObject({
      status: 'degraded',
      components: { redis: { status: 'down', connected: false } },
    });
    expect((await t.request({ url: '/health/ready', as: 'none' })).statusCode).toBe(503);
    const redisHealth = await t.request({ url: '/health/redis', as: 'none' });
    expect(redisHealth.statusCode).toBe(503);
    expect(redisHealth.json()).toMatchObject({ healthy: false, connected: false, latency_ms: null });

    await redis.startProcess();
    await waitFor(
      async () => (await t.request({ url: '/__probe/redis', as: 'none' })).statusCode === 200,
      'Redis client reconnects',
      10000,
    );
    expect((await t.request({ url: '/health', as: 'none' })).statusCode).toBe(200);
    // Ready again by itself too (its Redis check and the warm-up's check of Redis's flags may take a moment
    // on a loaded machine).
    await waitFor(
      async () => (await t.request({ url: '/health/ready', as: 'none' })).statusCode === 200,
      'ready again',
      10000,
    );
  });

  it("answers a number's status from Postgres while Redis has lost its flags", async () => {
    const mobile = '+919876500001';
    const put = await t.request({
      method: 'PUT',
      url: `/admin/blacklist/${mobile}`,
      payload: { reason: 'fraud' },
      as: 'admin',
    });
    expect(put.statusCode).toBeLessThan(300);
    expect((await t.request({ url: `/onboard/status/${mobile}` })).json().status).toBe('blacklisted');
    await redis.command('FLUSHALL'); // the server's data lost, as after a restart without persistence
    expect((await t.request({ url: `/onboard/status/${mobile}` })).json().status).toBe('blacklisted');
  });

  it('takes a primary demoted under the connection (READONLY) as Redis unavailable, and recovers', async () => {
    await redis.command('REPLICAOF', '127.0.0.1', '1'); // nothing there: the node stays a read-only replica
    const reg = await t.request({ url: '/onboard/register/+919876500002' });
    expect([reg.statusCode, reg.json().code]).toEqual([503, 'REDIS_UNAVAILABLE']);
    expect(reg.headers['retry-after']).toBe('1');
    // The paths with a fallback take it (sessions in memory), as in any other outage.
    const session = await t.request({ method: 'POST', url: '/sessions', payload: { user_id: 'u-readonly' } });
    expect(session.statusCode).toBe(201);
    await redis.command('REPLICAOF', 'NO', 'ONE');
    await waitFor(
      async () => (await t.request({ url: '/onboard/register/+919876500002' })).statusCode === 200,
      'register again once the node is a primary',
      10000,
    );
  });
});
