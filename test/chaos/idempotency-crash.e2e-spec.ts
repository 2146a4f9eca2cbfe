// An API killed mid-request while Postgres is slow (paused behind a proxy): the INSERT reaches Postgres after
// the process died, so the message exists but the client never got its id. Its retry with the same
// Idempotency-Key must not wait a day on a stale in-flight claim, and must answer with that message's id,
// never store a second one.
import { DataSource } from 'typeorm';
import { randomMobile } from '../helpers/numbers';
import { serviceEnv, spawnService, ServiceProcess, waitForHttp } from '../helpers/processes';
import { freePort } from '../helpers/redis-server';
import { TcpProxy } from '../helpers/tcp-proxy';
import { startTestApp, TestApp } from '../helpers/test-app';
import { TEST_CLIENT_KEY, testDatabaseUrl, uniquePrefix } from '../helpers/test-env';
import { waitFor } from '../helpers/wait';

describe('Idempotency-Key after a crash', () => {
  let proxy: TcpProxy;
  let api: ServiceProcess | undefined;
  let t: TestApp;

  beforeAll(async () => {
    const db = new URL(testDatabaseUrl());
    proxy = await TcpProxy.start({ host: db.hostname, port: Number(db.port || 5432) });
  });
  afterAll(async () => {
    if (api && api.proc.exitCode === null && api.proc.signalCode === null) await api.stop('SIGKILL');
    await t?.close();
    await proxy?.stop();
  });

  it('a retry finds the message the killed request stored and answers with its id', async () => {
    const port = await freePort();
    const viaProxy = new URL(testDatabaseUrl());
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const prefix = uniquePrefix();
    api = spawnService(
      'main',
      serviceEnv(port, { DATABASE_URL: viaProxy.toString(), REDIS_KEY_PREFIX: prefix, LOG_LEVEL: 'warn' }),
    );
    // Ready: the start-up warm-up's queries (through the proxy too) are over before the proxy pauses.
    await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 200, 30000);
    const post = (body: object, key: string) =>
      fetch(`http://127.0.0.1:${port}/api/v1/messages/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': TEST_CLIENT_KEY, 'idempotency-key': key },
        body: JSON.stringify(body),
      });
    // A first message opens the pool's connections, so the next INSERT goes out on one at once.
    expect((await post({ to: randomMobile(), type: 'sms', body: 'warm up' }, `warm-${prefix}`)).status).toBe(
      202,
    );

    const key = `crash-${prefix}`;
    const body = { to: randomMobile(), type: 'sms', body: 'exactly one of me' };
    proxy.pause();
    const first = post(body, key).catch(() => null); // never answered: the process dies
    await waitFor(
      () => proxy.holding('INSERT INTO messages'),
      'the INSERT on its way to Postgres',
      10000,
      20,
    );
    api.proc.kill('SIGKILL');
    await api.exited;
    proxy.resume(); // Postgres gets the INSERT after all, from a client that is gone
    expect(await first).toBeNull();

    t = await startTestApp({ REDIS_KEY_PREFIX: prefix });
    const db = t.app.get(DataSource);
    const stored = await waitFor(
      async () =>
        (await db.query(`SELECT id FROM messages WHERE idempotency_key = $1`, [key]))[0] as { id: string },
      'the message stored by the killed request',
      10000,
    );

    // The client retries with the same key: in flight at first, then the stored message's answer.
    const started = Date.now();
    const retry = await waitFor(
      async () => {
        const res = await t.request({
          method: 'POST',
          url: '/api/v1/messages/send',
          payload: body,
          headers: { 'idempotency-key': key },
        });
        return res.statusCode !== 409 && res;
      },
      'the retry answered',
      30000,
      500,
    );
    expect(Date.now() - started).toBeLessThan(25000);
    if (!retry) throw new Error('no answer');
    expect(retry.statusCode).toBe(202);
    expect(retry.json().id).toBe(stored.id);
    const rows = await db.query(`SELECT id FROM messages WHERE idempotency_key = $1`, [key]);
    expect(rows).toHaveLength(1);
    // And the answer is kept for later repeats.
    const again = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: body,
      headers: { 'idempotency-key': key },
    });
    expect([again.statusCode, again.json().id]).toEqual([202, stored.id]);
  });
});
