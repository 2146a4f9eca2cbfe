// Redis stopped for 5 s and started again (AOF on, so its data survives) while clients send messages to two
// API processes served by two workers: every accepted message is sent exactly once, the outage degrades the
// service instead of hanging it (fast 503s, OTP through Postgres, sessions in memory), and everything recovers
// with no restart.
import type { Client } from 'pg';
import { Api, call, CallResult, Fleet, receivedPerNumber, statuses, twilioEnv } from '../helpers/fleet';
import { randomMobile } from '../helpers/numbers';
import { OwnDatabase } from '../helpers/own-database';
import { RedisServer } from '../helpers/redis-server';
import { TwilioStandIn } from '../helpers/twilio-standin';
import { sleep, waitFor } from '../helpers/wait';

const LOAD_MS = 20_000;
const OUTAGE_AT_MS = 6_000;
const OUTAGE_MS = 5_000;
const SEND_EVERY_MS = 100;
/**
 * The issue asks for a 503 "within 1 s" while Redis is down. The service fails such a request at once (no
 * offline queue); the bound allows for this 2-core machine being shared with other suites, and still catches
 * a request that waits for Redis (that would take the 1 s command timeout or hang).
 */
const FAST_503_MS = 1500;

interface Sent {
  to: string;
  at: number;
  res: CallResult;
}

describe('Redis restart under load (2 APIs, 2 workers)', () => {
  let redis: RedisServer;
  let twilio: TwilioStandIn;
  let fleet: Fleet;
  let ownDb: OwnDatabase;
  let db: Client;

  beforeAll(async () => {
    [redis, twilio, ownDb] = await Promise.all([
      RedisServer.start({ aof: true }),
      TwilioStandIn.start(),
      OwnDatabase.create('redis_restart'),
    ]);
    db = await ownDb.connect();
    fleet = new Fleet({
      ...twilioEnv(twilio),
      REDIS_URL: redis.url,
      DATABASE_URL: ownDb.url.toString(),
      SESSION_FALLBACK: 'memory',
      MESSAGE_RELAY_INTERVAL: '1',
      MESSAGE_BACKOFF_MS: '200',
      WORKER_HEARTBEAT_INTERVAL: '1',
      TRUST_PROXY: 'true',
    });
  });
  afterAll(async () => {
    await fleet?.stopAll();
    await Promise.all([twilio?.stop(), redis?.destroy(), db?.end()]);
    await ownDb?.drop();
  });

  it('sends every accepted message exactly once, degrades during the outage and recovers alone', () =>
    fleet.diagnose(async () => {
      const apis = await Promise.all([fleet.spawnApi(), fleet.spawnApi()]);
      fleet.startWorker();
      fleet.startWorker();
      await Promise.all(apis.map((a) => fleet.waitReady(a)));
      await waitFor(
        async () => (await call(apis[0].url, '/health', { as: 'none' })).status === 200,
        'the workers report to /health',
        30_000,
        200,
      );

      const sent: Sent[] = [];
      const inFlight: Promise<void>[] = [];
      const started = Date.now();
      const load = (async () => {
        for (let i = 0; Date.now() - started < LOAD_MS; i++) {
          const to = randomMobile();
          const at = Date.now();
          inFlight.push(
            call(apis[i % 2].url, '/api/v1/messages/send', {
              method: 'POST',
              body: { to, type: 'sms', body: `chaos message ${i}` },
            }).then((res) => void sent.push({ to, at, res })),
          );
          await sleep(SEND_EVERY_MS);
        }
        await Promise.all(inFlight);
      })();

      let during!: OutageObservations;
      let stoppedAt = 0;
      let restartedAt = 0;
      const outage = (async () => {
        await sleep(OUTAGE_AT_MS);
        await redis.stop();
        stoppedAt = Date.now();
        during = await observeOutage(apis, db);
        // The checks above take well under the outage; Redis stays down for OUTAGE_MS either way.
        await sleep(Math.max(0, stoppedAt + OUTAGE_MS - Date.now()));
        await redis.startProcess(); // same port, same AOF directory: the queues survive
        restartedAt = Date.now();
      })();
      await Promise.all([load, outage]);

      // During the outage.
      for (const api of apis) {
        expect([api.name, during.live[api.name]]).toEqual([api.name, 200]);
        expect([api.name, during.ready[api.name]]).toEqual([api.name, 503]);
        expect([api.name, during.health[api.name]]).toEqual([api.name, 503]);
      }
      expect(during.register.status).toBe(503);
      expect(during.register.body).toMatchObject({ statusCode: 503, code: 'REDIS_UNAVAILABLE' });
      expect(during.register.ms).toBeLessThan(FAST_503_MS);
      expect(during.otpSend.status).toBe(200);
      expect(during.otpVerify.status).toBe(200);
      expect(during.otpVerify.body).toMatchObject({ verified: true, access_token: expect.any(String) });
      expect(during.me.status).toBe(200); // the session OTP made lives in that API's memory
      expect(during.sessionCreate.status).toBe(201);
      expect(during.sessionRead.status).toBe(200);
      // The other replica cannot know a session held in memory elsewhere: 503, never a wrong 404.
      expect(during.sessionReadElsewhere.status).toBe(503);

      // Every send was answered, none hung: the 202s are the promises to check. The load really spanned the
      // outage: messages were accepted while Redis was down (stored, not queued; the relay queued them later).
      expect(sent.length).toBeGreaterThan(100);
      expect(sent.filter((s) => s.at > stoppedAt && s.at < restartedAt).length).toBeGreaterThan(20);
      expect(apis.some((a) => a.svc.output().includes('stored but not queued'))).toBe(true);
      const unanswered = sent.filter((s) => s.res.status !== 202);
      expect(unanswered.map((s) => `${s.res.status} ${s.res.error ?? JSON.stringify(s.res.body)}`)).toEqual(
        [],
      );
      // None waited on Redis either (a queue that cannot be reached is given up after 1 s); the bound is loose
      // for a shared 2-core machine and still far below a request that hangs.
      expect(Math.max(...sent.map((s) => s.res.ms))).toBeLessThan(5000);
      const ids = sent.map((s) => s.res.body.id as string);
      const numbers = [...sent.map((s) => s.to), during.otpNumber];
      ids.push(during.otpSend.body.message_id);

      // Every accepted message is settled within 60 s, and settled well: `sent`, i.e. Twilio accepted it (the
      // service's part ends there; `delivered` would come from Twilio's callback, which the stand-in does not
      // make). None failed, none is left pending or sending.
      await waitFor(
        async () =>
          [...(await statuses(db, ids)).values()].filter((m) => m.status === 'sent').length === ids.length,
        'every accepted message sent',
        60_000,
        500,
      );
      const final = await statuses(db, ids);
      expect(final.size).toBe(ids.length);
      // And the provider got each exactly once: none missing, none twice, nothing else.
      const received = receivedPerNumber(twilio);
      const notOnce = numbers.filter((n) => received.get(n) !== 1).map((n) => [n, received.get(n) ?? 0]);
      expect(notOnce).toEqual([]);
      expect(twilio.requests).toHaveLength(numbers.length);

      // After the outage, with no restart: health, register, a new message, the outage session moved to Redis.
      for (const api of apis) {
        await waitFor(
          async () => (await call(api.url, '/health', { as: 'none' })).status === 200,
          `${api.name} healthy again`,
          30_000,
          250,
        );
        expect((await call(api.url, '/health/ready', { as: 'none' })).status).toBe(200);
        expect((await call(api.url, `/onboard/register/${randomMobile()}`)).status).toBe(200);
      }
      const after = randomMobile();
      const accepted = await call(apis[1].url, '/api/v1/messages/send', {
        method: 'POST',
        body: { to: after, type: 'sms', body: 'after the outage' },
      });
      expect(accepted.status).toBe(202);
      await waitFor(() => receivedPerNumber(twilio).get(after) === 1, 'a new message is sent', 30_000, 200);
      await waitFor(
        async () => (await call(apis[1].url, `/sessions/${during.sessionId}`)).status === 200,
        'the session created in memory during the outage is in Redis, readable from the other API',
        15_000,
        250,
      );
      expect(fleet.apis.concat().every((a) => a.svc.proc.exitCode === null)).toBe(true);
      expect(fleet.workers.every((w) => w.svc.proc.exitCode === null)).toBe(true);
    }));
});

interface OutageObservations {
  live: Record<string, number>;
  ready: Record<string, number>;
  health: Record<string, number>;
  register: CallResult;
  otpNumber: string;
  otpSend: CallResult;
  otpVerify: CallResult;
  me: CallResult;
  sessionId: string;
  sessionCreate: CallResult;
  sessionRead: CallResult;
  sessionReadElsewhere: CallResult;
}

/** What clients see while Redis is down; requests go to both APIs. */
async function observeOutage(apis: Api[], db: Client): Promise<OutageObservations> {
  const [a, b] = apis;
  const live: Record<string, number> = {};
  const ready: Record<string, number> = {};
  const health: Record<string, number> = {};
  for (const api of apis) {
    live[api.name] = (await call(api.url, '/health/live', { as: 'none' })).status;
    ready[api.name] = (await call(api.url, '/health/ready', { as: 'none' })).status;
    health[api.name] = (await call(api.url, '/health', { as: 'none' })).status;
  }
  const register = await call(a.url, `/onboard/register/${randomMobile()}`);

  // OTP through Postgres: the code is sent from one API and verified on the other.
  const otpNumber = randomMobile();
  const otpSend = await call(a.url, '/otp/send', {
    method: 'POST',
    body: { mobile_number: otpNumber, channel: 'sms' },
  });
  // The message carrying the code cannot be queued while Redis is down, so its body is still stored.
  const { rows } = await db.query<{ body: string }>('SELECT body FROM messages WHERE id = $1', [
    otpSend.body?.message_id,
  ]);
  const code = /(\d{6})/.exec(rows[0]?.body ?? '')?.[1] ?? 'no-code';
  const otpVerify = await call(b.url, '/otp/verify', {
    method: 'POST',
    body: { mobile_number: otpNumber, otp: code },
  });
  const me = await call(b.url, '/auth/me', {
    as: 'none',
    headers: { authorization: `Bearer ${otpVerify.body?.access_token}` },
  });

  const sessionCreate = await call(a.url, '/sessions', {
    method: 'POST',
    body: { user_id: 'chaos-user', context: { during: 'outage' } },
  });
  const sessionId = sessionCreate.body?.session_id as string;
  const sessionRead = await call(a.url, `/sessions/${sessionId}`);
  const sessionReadElsewhere = await call(b.url, `/sessions/${sessionId}`);
  return {
    live,
    ready,
    health,
    register,
    otpNumber,
    otpSend,
    otpVerify,
    me,
    sessionId,
    sessionCreate,
    sessionRead,
    sessionReadElsewhere,
  };
}
