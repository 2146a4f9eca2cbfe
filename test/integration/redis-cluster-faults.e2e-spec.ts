// The service on a Redis Cluster of 3 masters and 3 replicas, under the faults a cluster has: a master killed
// (SIGKILL) while messages are being sent, and slots moved while registers run. The service recovers without a
// restart, every accepted message is sent exactly once (Postgres first, and the relay re-queues what the
// failover lost), and nothing answers a 5xx but 503.
import { RedisCluster } from '../helpers/redis-cluster';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { TwilioStandIn } from '../helpers/twilio-standin';
import { sleep, waitFor } from '../helpers/wait';

/** Slot of the `{sms}` queue's hash tag: the master that holds the SMS queue. */
const SMS_QUEUE_SLOT = 13018;

describe('Redis Cluster faults', () => {
  let cluster: RedisCluster;
  let twilio: TwilioStandIn;
  let t: TestApp;

  beforeAll(async () => {
    [cluster, twilio] = await Promise.all([
      RedisCluster.start({ replicas: true, nodeTimeoutMs: 2000 }),
      TwilioStandIn.start(),
    ]);
    t = await startTestApp(
      {
        REDIS_URL: '',
        REDIS_CLUSTER_NODES: cluster.nodes,
        REDIS_KEY_PREFIX: 'smsb-faults:',
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
        TWILIO_FROM_NUMBER: '+15005550006',
        TWILIO_BASE_URL: twilio.baseUrl,
        PUBLIC_BASE_URL: 'https://sms-bridge.example.com',
        MESSAGE_RELAY_INTERVAL: '1',
        MESSAGE_BACKOFF_MS: '100',
      },
      { role: 'all' },
    );
    await waitFor(
      async () => (await t.request({ url: '/health', as: 'none' })).statusCode === 200,
      'healthy',
    );
  }, 90_000);
  afterAll(async () => {
    await t?.close();
    await Promise.all([cluster?.stop(), twilio?.stop()]);
  });

  /** Twilio requests for one of our messages (its id rides in the StatusCallback URL). */
  const sendsOf = (id: string) =>
    twilio.requests.filter((r) => String(r.form.StatusCallback).endsWith(`message_id=${id}`)).length;

  it('survives a master killed while messages are sent: back within 15 s, every accepted message sent exactly once', async () => {
    const accepted: string[] = [];
    const statuses = new Map<number, number>();
    let killedAt = 0;
    let backAt = 0;
    const master = (await cluster.masters()).find((m) =>
      m.slots.some(([a, b]) => a <= SMS_QUEUE_SLOT && SMS_QUEUE_SLOT <= b),
    )!;
    const started = Date.now();
    const sender = async () => {
      while (Date.now() - started < 12_000 || (killedAt && !backAt)) {
        const res = await t.request({
          method: 'POST',
          url: '/api/v1/messages/send',
          payload: { to: randomMobile(), type: 'sms', body: 'failover' },
        });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode === 202) {
          accepted.push(res.json().id);
          if (killedAt && !backAt && Date.now() - killedAt > 100) backAt = Date.now();
        }
        // Paced (about 60 a second in all): what is accepted is sent afterwards at the queue's 100 a second.
        await sleep(50);
        if (Date.now() - started > 40_000) break;
      }
    };
    const killer = (async () => {
      await sleep(2000);
      cluster.kill(master.port);
      killedAt = Date.now();
    })();
    await Promise.all([sender(), sender(), sender(), killer]);

    expect([...statuses.keys()].filter((s) => s !== 202 && s !== 503)).toEqual([]);
    expect(backAt).toBeGreaterThan(0);
    expect(backAt - killedAt).toBeLessThan(15_000);
    // Every accepted message reaches Twilio exactly once: what the failover lost of the queue, the relay
    // queues again from Postgres.
    await waitFor(
      async () => accepted.every((id) => sendsOf(id) >= 1),
      `all ${accepted.length} accepted messages sent`,
      90_000,
      500,
    );
    await sleep(2000); // room for a duplicate to show
    const twice = accepted.filter((id) => sendsOf(id) !== 1);
    expect(twice).toEqual([]);
    expect(accepted.length).toBeGreaterThan(50);
  }, 120_000);

  it('keeps registering while slots move between masters: no 5xx but 503', async () => {
    await cluster.untilOk();
    const [from, to] = await cluster.masters();
    const statuses = new Map<number, number>();
    let moving = true;
    const registers = async () => {
      while (moving) {
        const res = await t.request({ url: `/onboard/register/${randomMobile()}` });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      }
    };
    const loops = [registers(), registers(), registers()];
    await sleep(300);
    await cluster.reshard(from.id, to.id, 600);
    await sleep(300);
    moving = false;
    await Promise.all(loops);
    expect([...statuses.keys()].filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(100);
    // The moved slots serve again: a register whose keys live there works.
    expect((await t.request({ url: `/onboard/register/${randomMobile()}` })).statusCode).toBe(200);
  }, 120_000);
});
