// A worker killed (SIGKILL) while its jobs are calling a slow provider: the jobs come back through BullMQ's
// stalled-job check in a new worker, every message ends settled, and none reaches the provider twice. Per SPEC
// ("never sent twice by the service") and the README, a send interrupted mid-call is not repeated: the message
// is settled as failed with DELIVERY_UNKNOWN, while the jobs that had not started are sent normally; Twilio's
// late status callback then says what became of it. A provider call given up on (timed out) is the same case.
import { Job, Queue } from 'bullmq';
import type { Client } from 'pg';
import { QueueName } from '../../src/workers/job-catalogue';
import { call, Fleet, receivedPerNumber, statuses, twilioEnv } from '../helpers/fleet';
import { randomMobile } from '../helpers/numbers';
import { OwnDatabase } from '../helpers/own-database';
import { RedisServer } from '../helpers/redis-server';
import { signedTwilioForm, TwilioRequest, TwilioStandIn } from '../helpers/twilio-standin';
import { sleep, waitFor } from '../helpers/wait';

const MESSAGES = 15;
const CONCURRENCY = 5;

/** Plays Twilio's status callback for a request it received: signed, to the StatusCallback URL it was given. */
async function lateCallback(apiUrl: string, r: TwilioRequest, status: string): Promise<number> {
  const url = new URL(String(r.form.StatusCallback)); // {PUBLIC_BASE_URL}/webhooks/twilio/status?message_id=…
  const params = {
    AccountSid: TwilioStandIn.ACCOUNT_SID,
    MessageSid: r.sid ?? `SM${'0'.repeat(32)}`,
    MessageStatus: status,
    To: String(r.form.To),
  };
  const { payload, headers } = signedTwilioForm(url.toString(), params);
  const res = await fetch(`${apiUrl}${url.pathname}${url.search}`, {
    method: 'POST',
    headers,
    body: payload,
  });
  return res.status;
}

describe('worker killed mid-send', () => {
  let redis: RedisServer;
  let twilio: TwilioStandIn;
  let fleet: Fleet;
  let ownDb: OwnDatabase;
  let db: Client;
  let queue: Queue;

  beforeAll(async () => {
    [redis, twilio, ownDb] = await Promise.all([
      RedisServer.start(),
      TwilioStandIn.start(),
      OwnDatabase.create('worker_killed'),
    ]);
    db = await ownDb.connect();
    fleet = new Fleet({
      ...twilioEnv(twilio),
      REDIS_URL: redis.url,
      DATABASE_URL: ownDb.url.toString(),
      MESSAGE_WORKER_CONCURRENCY: String(CONCURRENCY),
      MESSAGE_RELAY_INTERVAL: '1',
      WORKER_HEARTBEAT_INTERVAL: '1',
      // Longer than the stand-in's delay, so the provider never times out in this test.
      PROVIDER_TIMEOUT_MS: '5000',
      // What Twilio is told to call back (and what signatures are checked against), as behind a proxy.
      PUBLIC_BASE_URL: 'https://sms-bridge.example',
    });
    queue = new Queue(QueueName.Sms, {
      connection: { host: '127.0.0.1', port: redis.port },
      prefix: `${fleet.prefix}q:{sms}`, // bullmqPrefix: the sms queue's own hash tag
    });
  });
  afterAll(async () => {
    await fleet?.stopAll();
    await queue?.close();
    await Promise.all([twilio?.stop(), redis?.destroy(), db?.end()]);
    await ownDb?.drop();
  });

  it('recovers the killed worker’s jobs in a new worker and sends no message twice', () =>
    fleet.diagnose(async () => {
      const api = await fleet.startApi();
      const first = fleet.startWorker();
      await waitFor(
        async () => (await call(api.url, '/health', { as: 'none' })).status === 200,
        'the first worker reports',
        30_000,
        200,
      );

      twilio.delayMs = 2500; // the provider is slow: the worker dies while it waits
      const sent: { id: string; to: string }[] = [];
      for (let i = 0; i < MESSAGES; i++) {
        const to = randomMobile();
        const res = await call(api.url, '/api/v1/messages/send', {
          method: 'POST',
          body: { to, type: 'sms', body: `kill test ${i}` },
        });
        expect(res.status).toBe(202);
        sent.push({ id: res.body.id, to });
      }
      await waitFor(() => twilio.requests.length >= CONCURRENCY, 'the worker is mid-send', 30_000, 20);
      first.svc.proc.kill('SIGKILL');
      expect(await first.svc.exited).toEqual({ code: null, signal: 'SIGKILL' });
      const interrupted = new Set(twilio.requests.map((r) => String(r.form.To)));
      expect(interrupted.size).toBeGreaterThanOrEqual(1);
      expect(interrupted.size).toBeLessThan(MESSAGES); // some jobs had not started: they are still waiting
      twilio.delayMs = 0;

      fleet.startWorker();
      const ids = sent.map((s) => s.id);
      // Settled: no longer pending or sending. With Twilio, `sent` is as far as the service goes alone.
      const settled = ['sent', 'delivered', 'undelivered', 'failed'];
      await waitFor(
        async () => [...(await statuses(db, ids)).values()].every((m) => settled.includes(m.status)),
        'every message settled',
        60_000,
        500,
      );

      // The jobs of the killed worker come back through the stalled-job check, and find nothing to send.
      const interruptedJobs = sent.filter((s) => interrupted.has(s.to)).map((s) => s.id);
      await waitFor(
        async () => {
          const jobs = await Promise.all(interruptedJobs.map((id) => Job.fromId(queue, id)));
          return jobs.every((j) => j?.finishedOn && j.stalledCounter >= 1);
        },
        'the interrupted jobs recovered as stalled and completed',
        90_000,
        1000,
      );
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
      expect(counts).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: MESSAGES });

      // No message reached the provider twice; the ones that had not started were sent once.
      const received = receivedPerNumber(twilio);
      expect(
        sent.filter((s) => received.get(s.to) !== 1).map((s) => [s.to, received.get(s.to) ?? 0]),
      ).toEqual([]);
      expect(twilio.requests).toHaveLength(MESSAGES);
      const final = await statuses(db, ids);
      for (const s of sent) {
        const m = final.get(s.id)!;
        if (interrupted.has(s.to)) {
          expect([s.to, m.status]).toEqual([s.to, 'failed']);
          expect(m.error).toMatch(/^DELIVERY_UNKNOWN/);
        } else {
          expect([s.to, m.status]).toEqual([s.to, 'sent']);
        }
      }

      // Twilio had the interrupted messages after all: its late callbacks move them on from "unknown".
      for (const r of twilio.requests.filter((x) => interrupted.has(String(x.form.To))))
        expect(await lateCallback(api.url, r, 'delivered')).toBe(200);
      const corrected = await statuses(db, interruptedJobs);
      expect([...corrected.values()]).toEqual(
        Array(interruptedJobs.length).fill({ status: 'delivered', error: null }),
      );
    }));

  it('does not send again a message whose provider call timed out, and takes Twilio’s word for it later', () =>
    fleet.diagnose(async () => {
      const api = fleet.apis[0];
      await Promise.all(fleet.workers.map((w) => w.svc.stop()));
      fleet.startWorker({ PROVIDER_TIMEOUT_MS: '1000', MESSAGE_BACKOFF_MS: '50' });
      twilio.delayMs = 2500; // Twilio takes the message but answers after the worker stopped waiting

      const to = randomMobile();
      const res = await call(api.url, '/api/v1/messages/send', {
        method: 'POST',
        body: { to, type: 'sms', body: 'slow provider' },
      });
      expect(res.status).toBe(202);
      const settled = (await waitFor(
        async () => {
          const m = (await statuses(db, [res.body.id])).get(res.body.id);
          return m && !['pending', 'sending'].includes(m.status) ? m : undefined;
        },
        'the send settled',
        30_000,
        200,
      ))!;
      // A retry would have reached Twilio again within MESSAGE_BACKOFF_MS (50 ms); give it ample time not to.
      await sleep(1500);
      expect(twilio.to(to)).toHaveLength(1);
      expect(settled.status).toBe('failed');
      expect(settled.error).toMatch(/^DELIVERY_UNKNOWN: Twilio did not answer within 1000 ms/);

      twilio.delayMs = 0;
      await waitFor(() => twilio.to(to)[0].sid, 'the stand-in answered (late)', 10_000, 100);
      expect(await lateCallback(api.url, twilio.to(to)[0], 'delivered')).toBe(200);
      expect((await statuses(db, [res.body.id])).get(res.body.id)).toEqual({
        status: 'delivered',
        error: null,
      });
    }));
});
