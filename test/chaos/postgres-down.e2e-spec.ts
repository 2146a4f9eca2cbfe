// Postgres unreachable: an API and a worker reach a database of this test's own through a TCP proxy the test
// cuts and restores. Register keeps answering from Redis; a message cannot be promised, so its send answers
// 503 and leaves nothing behind (no row, no job, no idempotency entry); the audit trail waits in Redis and the
// monitor-logger writes all of it, once, when Postgres is back.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Client } from 'pg';
import { RedisKeys } from '../../src/redis/redis-keys';
import { QueueName } from '../../src/workers/job-catalogue';
import { call, Fleet } from '../helpers/fleet';
import { randomMobile } from '../helpers/numbers';
import { OwnDatabase } from '../helpers/own-database';
import { RedisServer } from '../helpers/redis-server';
import { TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait';
import { numberKeys } from '../helpers/number-keys';

describe('Postgres unavailable', () => {
  let ownDb: OwnDatabase;
  let redis: RedisServer;
  let proxy: TcpProxy;
  let fleet: Fleet;
  let db: Client;
  let r: Redis;

  beforeAll(async () => {
    ownDb = await OwnDatabase.create('pgdown');
    db = await ownDb.connect();
    redis = await RedisServer.start();
    proxy = await TcpProxy.start({ host: ownDb.url.hostname, port: Number(ownDb.url.port || 5432) });
    const viaProxy = new URL(ownDb.url.toString());
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    fleet = new Fleet({
      REDIS_URL: redis.url,
      DATABASE_URL: viaProxy.toString(),
      DB_CONNECT_TIMEOUT_MS: '1000',
      MONITOR_LOG_INTERVAL: '1',
      MONITOR_BATCH_SIZE: '7', // several batches per tick
    });
    r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await fleet?.stopAll();
    r?.disconnect();
    await Promise.all([proxy?.stop(), redis?.destroy(), db?.end()]);
    await ownDb?.drop();
  });

  const registerEvents = (numbers: string[]) =>
    db
      .query<{ n: string; ids: string }>(
        `SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM sms_monitor
         WHERE event_type = 'register' AND mobile_number = ANY($1)`,
        [numbers],
      )
      .then(({ rows }) => ({ rows: Number(rows[0].n), distinct: Number(rows[0].ids) }));

  it('keeps register up from Redis, refuses messages cleanly, and writes the kept audit trail once back', () =>
    fleet.diagnose(async () => {
      const api = await fleet.startApi();
      const worker = fleet.startWorker();
      expect(proxy.accepted).toBeGreaterThan(0); // the processes really use the proxy

      // Before: the monitor-logger moves register events into Postgres.
      const before = randomMobile();
      expect((await call(api.url, `/onboard/register/${before}`)).status).toBe(200);
      await waitFor(
        async () => (await registerEvents([before])).rows === 1,
        'the first event written',
        30_000,
        200,
      );

      await proxy.cut();

      // Register answers from Redis alone.
      const numbers = Array.from({ length: 20 }, () => randomMobile());
      for (const n of numbers) {
        const res = await call(api.url, `/onboard/register/${n}`);
        expect([n, res.status]).toEqual([n, 200]);
        expect(res.body).toEqual({ hash: expect.any(String) });
      }
      // A repeat gives the same hash (from Redis, not a new one).
      const again = await call(api.url, `/onboard/register/${numbers[0]}`);
      expect(again.status).toBe(200);

      // A message cannot be stored: 503 in the SPEC shape, quickly, and nothing is left half-way.
      const to = randomMobile();
      const send = await call(api.url, '/api/v1/messages/send', {
        method: 'POST',
        body: { to, type: 'sms', body: 'cannot be promised' },
        headers: { 'idempotency-key': 'pgdown-1' },
      });
      expect(send.status).toBe(503);
      expect(send.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'DATABASE_UNAVAILABLE',
        message: expect.any(String),
      });
      expect(send.headers?.get('retry-after')).toBeTruthy();
      expect(send.ms).toBeLessThan(5000); // bounded by DB_CONNECT_TIMEOUT_MS, not a hang
      const queue = new Queue(QueueName.Sms, {
        connection: { host: '127.0.0.1', port: redis.port },
        prefix: `${fleet.prefix}q:{sms}`, // bullmqPrefix: the sms queue's own hash tag
      });
      try {
        const counts = await queue.getJobCounts(
          'waiting',
          'active',
          'delayed',
          'failed',
          'completed',
          'prioritized',
        );
        expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
      } finally {
        await queue.close();
      }
      expect(await r.keys(`${fleet.prefix}${RedisKeys.idempotency('*', '*')}`)).toEqual([]);

      // Readiness says so; liveness does not restart the pod.
      expect((await call(api.url, '/health/ready', { as: 'none' })).status).toBe(503);
      expect((await call(api.url, '/health/live', { as: 'none' })).status).toBe(200);

      // The monitor-logger keeps trying and keeps every event in Redis meanwhile.
      const failedTicks = () => (worker.svc.output().match(/monitor-logger tick failed/g) ?? []).length;
      const failedSoFar = failedTicks();
      await waitFor(
        () => failedTicks() >= failedSoFar + 2,
        'monitor-logger ticks fail while Postgres is away',
        30_000,
        200,
      );
      expect(await numberKeys(r, fleet.prefix).auditBacklog()).toBeGreaterThanOrEqual(numbers.length + 1);

      await proxy.restore();

      await waitFor(
        async () => (await registerEvents(numbers)).rows >= numbers.length + 1,
        'every event kept in Redis written to sms_monitor',
        30_000,
        250,
      );
      await waitFor(
        async () => (await numberKeys(r, fleet.prefix).auditBacklog()) === 0,
        'the Redis backlog drained',
        15_000,
        200,
      );
      // Once each (the repeated register is its own event): no event lost, none written twice.
      expect(await registerEvents(numbers)).toEqual({
        rows: numbers.length + 1,
        distinct: numbers.length + 1,
      });

      // The message refused earlier was stored nowhere; sending it again (same key) works now.
      expect((await db.query('SELECT 1 FROM messages WHERE "to" = $1', [to])).rowCount).toBe(0);
      const retry = await call(api.url, '/api/v1/messages/send', {
        method: 'POST',
        body: { to, type: 'sms', body: 'cannot be promised' },
        headers: { 'idempotency-key': 'pgdown-1' },
      });
      expect(retry.status).toBe(202);
      await waitFor(
        async () => (await call(api.url, '/health/ready', { as: 'none' })).status === 200,
        'ready again',
        15_000,
        200,
      );
    }));

  it('answers 503 within the statement timeout + 2 s when the Postgres link stalls without closing, and recovers', () =>
    fleet.diagnose(async () => {
      // Bytes held both ways, nothing closed (a partition, a proxy holding bytes): Postgres's own
      // statement_timeout cannot come back, so only the client's query_timeout bounds the wait.
      const api = await fleet.startApi({ DB_STATEMENT_TIMEOUT_MS: '1000' });
      const to = randomMobile();
      expect(
        (
          await call(api.url, '/api/v1/messages/send', {
            method: 'POST',
            body: { to, type: 'sms', body: 'a' },
          })
        ).status,
      ).toBe(202);
      proxy.pause();
      try {
        const stalled = await call(api.url, '/api/v1/messages/send', {
          method: 'POST',
          body: { to, type: 'sms', body: 'b' },
          headers: { 'idempotency-key': 'stalled-1' },
        });
        expect(stalled.status).toBe(503);
        expect(stalled.body.code).toBe('DATABASE_UNAVAILABLE');
        expect(stalled.ms).toBeLessThan(1000 + 2000 + 1500);
      } finally {
        proxy.resume();
      }
      await waitFor(
        async () =>
          (
            await call(api.url, '/api/v1/messages/send', {
              method: 'POST',
              body: { to, type: 'sms', body: 'c' },
            })
          ).status === 202,
        'accepts again once the link flows',
        20_000,
        250,
      );
      // Its Idempotency-Key was freed with the 503 (not held in flight while the link hung): the retry sends it.
      const retry = await call(api.url, '/api/v1/messages/send', {
        method: 'POST',
        body: { to, type: 'sms', body: 'b' },
        headers: { 'idempotency-key': 'stalled-1' },
      });
      expect(retry.status).toBe(202);
    }));
});
