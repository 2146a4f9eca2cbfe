// A suppression change whose Redis write or Postgres commit fails half-way (found by the attack on the trust issue):
// the Postgres connection cut at COMMIT, after the Redis MULTI; a Redis write slower than the command timeout that
// still runs later. Whatever the answer, Redis and Postgres agree afterwards.
import { Client } from 'pg';
import { numberOffset, RedisKeys } from '../../src/redis/redis-keys';
import { SuppressionList } from '../../src/suppression/suppression-list';
import { randomMobile } from '../helpers/numbers';
import { RedisServer } from '../helpers/redis-server';
import { Redis } from 'ioredis';
import { TcpProxy } from '../helpers/tcp-proxy';
import { startTestApp, TestApp } from '../helpers/test-app';
import { testDatabaseUrl } from '../helpers/test-env';
import { sleep } from '../helpers/wait';

describe('suppression: Redis and Postgres agree after a change fails half-way', () => {
  let t: TestApp;
  let proxy: TcpProxy;
  let db: Client;
  let redis: RedisServer;

  beforeAll(async () => {
    const url = new URL(testDatabaseUrl());
    db = new Client({ connectionString: url.toString() });
    await db.connect();
    await db.query(`CREATE TABLE IF NOT EXISTS smsb_test_slow (m text PRIMARY KEY)`);
    await db.query(`
      CREATE OR REPLACE FUNCTION smsb_test_slow_fn() RETURNS trigger AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM smsb_test_slow WHERE m = COALESCE(NEW.mobile_number, OLD.mobile_number)) THEN
          PERFORM pg_sleep(2);
        END IF;
        RETURN NULL;
      END $$ LANGUAGE plpgsql`);
    await db.query(`DROP TRIGGER IF EXISTS smsb_test_slow_ins ON suppressions`);
    await db.query(`CREATE CONSTRAINT TRIGGER smsb_test_slow_ins AFTER INSERT ON suppressions
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION smsb_test_slow_fn()`);
    proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port || 5432) });
    const via = new URL(url.toString());
    via.host = `127.0.0.1:${proxy.port}`;
    redis = await RedisServer.start();
    t = await startTestApp({
      REDIS_URL: redis.url,
      DATABASE_URL: via.toString(),
      DB_CONNECT_TIMEOUT_MS: '1000',
      MESSAGE_RELAY_INTERVAL: '3600',
    });
  });
  afterAll(async () => {
    await t?.close();
    await proxy?.stop();
    await redis?.destroy();
    await db?.query(`DROP TRIGGER IF EXISTS smsb_test_slow_ins ON suppressions`).catch(() => undefined);
    await db?.query(`DROP TABLE IF EXISTS smsb_test_slow`).catch(() => undefined);
    await db?.end();
  });

  /** Redis's bit and Postgres's row agree, and a send to the number is refused exactly when it is suppressed. */
  async function expectStoresAgree(m: string): Promise<void> {
    const redisBit = await t.redis.getbit(RedisKeys.suppressionFlags(m), numberOffset(m));
    const inPostgres = (await db.query('SELECT 1 FROM suppressions WHERE mobile_number = $1', [m])).rowCount;
    const send = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: { to: m, type: 'sms', body: 'x' },
    });
    expect({ redisBit, inPostgres, send: send.statusCode }).toEqual(
      inPostgres ? { redisBit: 1, inPostgres: 1, send: 403 } : { redisBit: 0, inPostgres: 0, send: 202 },
    );
  }

  it('a STOP whose commit is cut: Redis and Postgres agree afterwards', async () => {
    const m = randomMobile();
    await db.query('INSERT INTO smsb_test_slow VALUES ($1)', [m]);
    const pending = t.request({
      method: 'POST',
      url: '/onboard/sms',
      payload: { mobile_number: m, message: 'STOP' },
    });
    await sleep(800); // inside the 2 s commit: the row written, the Redis MULTI done
    await proxy.cut();
    const res = await pending;
    await sleep(500);
    await proxy.restore();
    await sleep(3000); // any pg backend still sleeping finishes / is terminated
    // The change's outcome was unknown to the service (its commit was cut): the periodic sync settles it.
    await t.app.get(SuppressionList).syncRecent();
    expect([200, 503]).toContain(res.statusCode); // an answer, never a 500
    await expectStoresAgree(m);
  });

  it('a STOP whose Redis write is slow and whose Postgres connection is cut before COMMIT: the stores agree', async () => {
    const m = randomMobile();
    const side = new Redis(redis.url);
    await side.call('CLIENT', 'PAUSE', '2000', 'WRITE'); // the MULTI waits; the row is already inserted
    const pending = t.request({
      method: 'POST',
      url: '/onboard/sms',
      payload: { mobile_number: m, message: 'STOP' },
    });
    await sleep(700);
    await proxy.cut();
    const res = await pending;
    await proxy.restore();
    side.disconnect();
    await sleep(1500);
    expect([200, 503]).toContain(res.statusCode); // an answer, never a 500
    await expectStoresAgree(m);
  });

  it('a STOP whose Redis write is slow (a pause longer than the command timeout), no Postgres fault: the stores agree', async () => {
    const m = randomMobile();
    const side = new Redis(redis.url);
    await side.call('CLIENT', 'PAUSE', '2500', 'WRITE');
    const res = await t.request({
      method: 'POST',
      url: '/onboard/sms',
      payload: { mobile_number: m, message: 'STOP' },
    });
    side.disconnect();
    await sleep(2500);
    expect([200, 503]).toContain(res.statusCode); // an answer, never a 500
    await expectStoresAgree(m);
  });
});
