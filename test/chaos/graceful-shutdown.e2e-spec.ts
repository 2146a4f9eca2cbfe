// SIGTERM under load. The API stops accepting connections but finishes the requests it is handling (held in
// flight here by a table lock the test takes in Postgres, and by bodies still being uploaded) and exits 0. The
// worker takes no new job, lets its active sends finish (the provider stand-in is slow) and exits 0; the jobs it
// had not started wait for the next worker.
import { request as httpRequest } from 'node:http';
import { Job, Queue } from 'bullmq';
import type { Client } from 'pg';
import { QueueName } from '../../src/workers/job-catalogue';
import { call, CallResult, Fleet, receivedPerNumber, statuses, twilioEnv } from '../helpers/fleet';
import { randomMobile } from '../helpers/numbers';
import { OwnDatabase } from '../helpers/own-database';
import { RedisServer } from '../helpers/redis-server';
import { TEST_CLIENT_KEY } from '../helpers/test-env';
import { TwilioStandIn } from '../helpers/twilio-standin';
import { sleep, waitFor } from '../helpers/wait';

/** A send whose body is uploaded in two halves; the second half goes when `finish` is called. */
function slowUpload(url: string, to: string): { finish: () => void; result: Promise<CallResult> } {
  const body = JSON.stringify({ to, type: 'sms', body: 'uploaded slowly' });
  const half = Math.floor(body.length / 2);
  const started = Date.now();
  let finish!: () => void;
  const result = new Promise<CallResult>((resolve) => {
    const req = httpRequest(
      `${url}/api/v1/messages/send`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'x-api-key': TEST_CLIENT_KEY,
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text ? JSON.parse(text) : undefined,
            headers: undefined,
            ms: Date.now() - started,
          }),
        );
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ status: 0, body: undefined, headers: undefined, ms: Date.now() - started, error: err.code }),
    );
    req.write(body.slice(0, half));
    finish = () => req.end(body.slice(half));
  });
  return { finish, result };
}

describe('graceful shutdown', () => {
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
      OwnDatabase.create('shutdown'),
    ]);
    db = await ownDb.connect();
    fleet = new Fleet({
      ...twilioEnv(twilio),
      REDIS_URL: redis.url,
      DATABASE_URL: ownDb.url.toString(),
      MESSAGE_RELAY_INTERVAL: '1',
      LOG_LEVEL: 'info',
      // Accepts share INSERTs on up to half the pool at once; with 20 connections each of the six sends below
      // gets a statement of its own, so the test can see every one of them waiting on the lock.
      DB_POOL_SIZE: '20',
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

  it('the API finishes in-flight requests after SIGTERM, refuses new ones and exits 0', () =>
    fleet.diagnose(async () => {
      const api = await fleet.startApi();
      const locker = await ownDb.connect();
      try {
        // Inserts into messages wait for this lock: the requests below stay in their handlers until it goes.
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE');
        const numbers = Array.from({ length: 6 }, () => randomMobile());
        const inFlight = numbers.map((to) =>
          call(api.url, '/api/v1/messages/send', {
            method: 'POST',
            body: { to, type: 'sms', body: 'in flight at SIGTERM' },
            timeoutMs: 30_000,
          }),
        );
        const uploads = [randomMobile(), randomMobile()].map((to) => ({ to, ...slowUpload(api.url, to) }));
        await waitFor(
          async () => {
            const { rows } = await db.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_stat_activity
               WHERE datname = $1 AND application_name = 'sms-bridge-api' AND wait_event_type = 'Lock'
                 AND query LIKE '%INSERT INTO messages%'`,
              [ownDb.name],
            );
            return Number(rows[0].n) === numbers.length;
          },
          'every send waits on the lock inside its handler',
          30_000,
          100,
        );
        await sleep(1000); // the slow uploads' headers went out with the sends above: read by now

        api.svc.proc.kill('SIGTERM');
        // The listener closes at once: a new request is refused (or answered 503 while closing).
        await waitFor(
          async () =>
            [0, 503].includes((await call(api.url, '/health/live', { as: 'none', timeoutMs: 2000 })).status),
          'new requests refused after SIGTERM',
          10_000,
          100,
        );
        for (const u of uploads) u.finish();
        await sleep(500);
        await locker.query('COMMIT');

        const answers = await Promise.all(inFlight);
        const uploaded = await Promise.all(uploads.map((u) => u.result));
        expect([...answers, ...uploaded].map((a) => `${a.status} ${a.error ?? ''}`.trim())).toEqual(
          Array(numbers.length + uploads.length).fill('202'),
        );
        expect(await api.svc.exited).toEqual({ code: 0, signal: null });
        expect(api.svc.output()).toMatch(/SIGTERM received, shutting down/);

        // Each answered message is stored and was queued before Redis closed.
        const ids = [...answers, ...uploaded].map((a) => a.body.id as string);
        expect([...(await statuses(db, ids)).values()].map((m) => m.status)).toEqual(
          Array(ids.length).fill('pending'),
        );
        const jobs = await Promise.all(ids.map((id) => Job.fromId(queue, id)));
        expect(jobs.map((j) => j?.id)).toEqual(ids);
        // Done with them: the next test's worker (and its relay) must not find them.
        await queue.obliterate({ force: true });
        await db.query('DELETE FROM messages WHERE id = ANY($1::uuid[])', [ids]);
      } finally {
        await locker.query('ROLLBACK').catch(() => undefined);
        await locker.end();
      }
    }));

  it('the worker finishes its active sends after SIGTERM, takes no new job and exits 0', () =>
    fleet.diagnose(async () => {
      const api = await fleet.startApi();
      const worker = fleet.startWorker({ MESSAGE_WORKER_CONCURRENCY: '4' });
      twilio.delayMs = 2000;
      const sent: { id: string; to: string }[] = [];
      for (let i = 0; i < 7; i++) {
        const to = randomMobile();
        const res = await call(api.url, '/api/v1/messages/send', {
          method: 'POST',
          body: { to, type: 'sms', body: `shutdown ${i}` },
        });
        expect(res.status).toBe(202);
        sent.push({ to, id: res.body.id });
      }
      await waitFor(() => twilio.requests.length >= 4, 'four sends in progress', 30_000, 20);
      worker.svc.proc.kill('SIGTERM');
      const active = new Set(twilio.requests.map((r) => String(r.form.To)));
      expect(await worker.svc.exited).toEqual({ code: 0, signal: null });

      // The active sends completed as sent, once; the others were not started.
      const after = await statuses(
        db,
        sent.map((s) => s.id),
      );
      for (const s of sent)
        expect([s.to, after.get(s.id)!.status]).toEqual([s.to, active.has(s.to) ? 'sent' : 'pending']);
      expect(twilio.requests).toHaveLength(active.size);

      // The next worker sends the rest, each once.
      twilio.delayMs = 0;
      fleet.startWorker();
      await waitFor(
        async () =>
          [
            ...(
              await statuses(
                db,
                sent.map((s) => s.id),
              )
            ).values(),
          ].every((m) => m.status === 'sent'),
        'the rest sent by the next worker',
        30_000,
        250,
      );
      const received = receivedPerNumber(twilio);
      expect(sent.map((s) => received.get(s.to))).toEqual(Array(sent.length).fill(1));
    }));
});
