// Messages under faults, with a redis-server and processes of the test's own: a 202 is never lost and never
// sent twice.
import { DataSource } from 'typeorm';
import { randomMobile } from '../helpers/numbers';
import { serviceEnv, spawnService, ServiceProcess } from '../helpers/processes';
import { freePort, RedisServer } from '../helpers/redis-server';
import { startTestApp, startTestWorker, TestApp } from '../helpers/test-app';
import { TwilioStandIn } from '../helpers/twilio-standin';
import { waitFor } from '../helpers/wait';

const twilioEnv = (twilio: TwilioStandIn) => ({
  SMS_PROVIDER: 'twilio',
  TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
  TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
  TWILIO_FROM_NUMBER: '+15005550006',
  TWILIO_BASE_URL: twilio.baseUrl,
  MESSAGE_BACKOFF_MS: '50',
  MESSAGE_RELAY_INTERVAL: '1',
});

describe('messages under faults', () => {
  let redis: RedisServer;
  let twilio: TwilioStandIn;

  beforeEach(async () => {
    [redis, twilio] = await Promise.all([RedisServer.start(), TwilioStandIn.start()]);
  });
  afterEach(async () => {
    await twilio.stop();
    await redis.destroy();
  });

  it('sends every message accepted while Redis was down exactly once when it returns', async () => {
    const env = { ...twilioEnv(twilio), REDIS_URL: redis.url };
    const api: TestApp = await startTestApp(env);
    const worker = await startTestWorker({ ...env, REDIS_KEY_PREFIX: api.config.redis.keyPrefix });
    try {
      const before = randomMobile();
      const ok = await api.request({
        method: 'POST',
        url: '/api/v1/messages/send',
        payload: { to: before, type: 'sms', body: 'up' },
      });
      expect(ok.statusCode).toBe(202);

      await redis.stop();
      const during: string[] = [];
      for (let i = 0; i < 5; i++) {
        const to = randomMobile();
        const started = Date.now();
        const res = await api.request({
          method: 'POST',
          url: '/api/v1/messages/send',
          payload: { to, type: 'sms', body: `down ${i}` },
        });
        expect(Date.now() - started).toBeLessThan(3000);
        expect(res.statusCode).toBe(202); // stored in Postgres: a promise kept later
        expect(res.json().status).toBe('pending');
        during.push(to);
      }
      await redis.startProcess(); // empty: no job survived, only the rows

      const db = api.app.get(DataSource);
      await waitFor(
        async () => {
          const rows = await db.query(`SELECT status FROM messages WHERE "to" = ANY($1)`, [
            [before, ...during],
          ]);
          return rows.length === 6 && rows.every((r: { status: string }) => r.status === 'sent');
        },
        'all six messages sent',
        45000,
        200,
      );
      for (const to of [before, ...during]) expect([to, twilio.to(to).length]).toEqual([to, 1]);
    } finally {
      await worker.close();
      await api.close();
    }
  });

  it('recovers the job of a worker killed mid-send without sending it twice', async () => {
    const port = await freePort();
    const env = serviceEnv(port, {
      ...twilioEnv(twilio),
      REDIS_URL: redis.url,
      PROVIDER_TIMEOUT_MS: '2000',
      LOG_LEVEL: 'warn',
    });
    const api: TestApp = await startTestApp({ ...env, PORT: '0' });
    let first: ServiceProcess | undefined;
    let second: ServiceProcess | undefined;
    try {
      first = spawnService('worker', env);
      twilio.delayMs = 4000; // the provider is slow: the worker dies while waiting for it
      const to = randomMobile();
      const { id } = (
        await api.request({
          method: 'POST',
          url: '/api/v1/messages/send',
          payload: { to, type: 'sms', body: 'once' },
        })
      ).json();
      await waitFor(() => twilio.to(to).length === 1, 'the provider received the send', 20000);
      first.proc.kill('SIGKILL');
      await first.exited;
      twilio.delayMs = 0;

      second = spawnService('worker', env);
      const db = api.app.get(DataSource);
      // The stalled job comes back and finds the send interrupted: it is settled, never sent again.
      const final = await waitFor(
        async () => {
          const [m] = await db.query('SELECT status, error FROM messages WHERE id = $1', [id]);
          return m.status === 'failed' && m;
        },
        'the interrupted send settled',
        45000,
        250,
      );
      expect(final.error).toMatch(/DELIVERY_UNKNOWN/);
      expect(twilio.to(to)).toHaveLength(1);

      // And a message sent after the crash goes out normally, once.
      const next = randomMobile();
      await api.request({
        method: 'POST',
        url: '/api/v1/messages/send',
        payload: { to: next, type: 'sms', body: 'after' },
      });
      await waitFor(() => twilio.to(next).length === 1, 'the new worker sends', 20000);
    } finally {
      await second?.stop();
      if (first && first.proc.exitCode === null && first.proc.signalCode === null)
        await first.stop('SIGKILL');
      await api.close();
    }
  });
});
