// REDIS_CLUSTER_NODES: the whole service on a three-node Redis Cluster of the test's own (the key prefix
// carries a hash tag, so multi-key scripts and BullMQ keys share one slot).
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
      { REDIS_URL: '', REDIS_CLUSTER_NODES: cluster.nodes, REDIS_KEY_PREFIX: '{smsb-test}:' },
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
});
