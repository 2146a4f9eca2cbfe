// REDIS_CLUSTER_NODES: the whole service on a three-node Redis Cluster of the test's own, with a plain prefix:
// the service's own hash tags spread the keys over the masters while each multi-key step stays in one slot.
import Redis from 'ioredis';
import { randomMobile } from '../helpers/numbers';
import { RedisCluster } from '../helpers/redis-cluster';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait';

describe('Redis Cluster', () => {
  let cluster: RedisCluster;
  let t: TestApp;

  beforeAll(async () => {
    cluster = await RedisCluster.start();
    t = await startTestApp(
      { REDIS_URL: '', REDIS_CLUSTER_NODES: cluster.nodes, REDIS_KEY_PREFIX: 'smsb-test:' },
      { role: 'all' },
    );
  });
  afterAll(async () => {
    await t?.app.close();
    await cluster?.stop();
  });

  it('onboards, sends a message through a worker, keeps sessions and sends OTP codes', async () => {
    await waitFor(
      async () => (await t.request({ url: '/health', as: 'none' })).statusCode === 200,
      'healthy',
    );
    const mobile = randomMobile();
    const reg = await t.request({ url: `/onboard/register/${mobile}` });
    expect(reg.statusCode).toBe(200);
    const sms = await t.request({
      method: 'POST',
      url: '/onboard/sms',
      payload: { mobile_number: mobile, message: `ONBOARD ${reg.json().hash}` },
    });
    expect(sms.json()).toEqual({ status: 'verified' });

    const msg = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: { to: randomMobile(), type: 'sms', body: 'hi' },
    });
    expect(msg.statusCode).toBe(202);
    await waitFor(
      async () =>
        (await t.request({ url: `/api/v1/messages/${msg.json().id}` })).json().status === 'delivered',
      'delivered',
    );

    const session = await t.request({
      method: 'POST',
      url: '/sessions',
      payload: { user_id: 'cluster-user' },
    });
    expect(session.statusCode).toBe(201);
    expect((await t.request({ url: `/sessions/${session.json().session_id}` })).statusCode).toBe(200);

    const otp = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: randomMobile(), channel: 'sms' },
    });
    expect(otp.statusCode).toBe(200);
  });

  it('spreads keys and commands over the three masters (each at least 20 %)', async () => {
    const nodes = cluster.ports.map((port) => new Redis({ port, host: '127.0.0.1' }));
    try {
      const processed = async () =>
        Promise.all(
          nodes.map(async (n) => Number(/total_commands_processed:(\d+)/.exec(await n.info('stats'))![1])),
        );
      const before = await processed();
      for (let i = 0; i < 150; i++) {
        expect((await t.request({ url: `/onboard/register/${randomMobile()}` })).statusCode).toBe(200);
        const s = await t.request({ method: 'POST', url: '/sessions', payload: { user_id: `spread-${i}` } });
        expect(s.statusCode).toBe(201);
      }
      const after = await processed();
      const keys = await Promise.all(nodes.map((n) => n.dbsize()));
      const commands = after.map((a, i) => a - before[i]);
      const share = (xs: number[]) => xs.map((x) => x / xs.reduce((a, b) => a + b, 0));
      for (const k of share(keys)) expect(k).toBeGreaterThanOrEqual(0.2);
      for (const c of share(commands)) expect(c).toBeGreaterThanOrEqual(0.2);
    } finally {
      for (const n of nodes) n.disconnect();
    }
  });
});
