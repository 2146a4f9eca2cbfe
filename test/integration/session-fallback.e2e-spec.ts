// Sessions while Redis is down, on a redis-server of this test's own (never the shared one): the memory fallback
// keeps them working on this replica, health says degraded, and Redis is used again when it returns.
import { RedisKeys } from '../../src/redis/redis-keys';
import { TokenService } from '../../src/session/token.service';
import { RedisServer } from '../helpers/redis-server';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait';

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
const jtiOf = (token: string) => claimsOf(token).jti;

describe('sessions with SESSION_FALLBACK=memory while Redis is down', () => {
  let redis: RedisServer;
  let t: TestApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    t = await startTestApp({ REDIS_URL: redis.url, SESSION_FALLBACK: 'memory' });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.destroy();
  });

  const create = (payload: object) => t.request({ method: 'POST', url: '/sessions', payload });
  const me = (token: string) =>
    t.request({ url: '/auth/me', headers: { authorization: `Bearer ${token}` }, as: 'none' });
  const health = async () => (await t.request({ url: '/health', as: 'none' })).json();

  it('keeps sessions and tokens working in memory, then moves them to Redis when it is back', async () => {
    const tokens = t.app.get(TokenService);
    const before = (await create({ user_id: 'pre-outage' })).json().session_id;
    expect((await health()).components.sessions).toEqual({
      status: 'up',
      fallback: 'memory',
      fallback_active: false,
      memory_sessions: 0,
    });

    await redis.stop();
    await waitFor(() => t.redis.status !== 'ready', 'the client notices the outage');

    // New sessions work: create, read (touch), merge, list-free operations, tokens.
    const created = await create({ user_id: 'outage-user', context: { a: 1 } });
    expect(created.statusCode).toBe(201);
    expect(created.json().expires_in).toBe(1800);
    const id = created.json().session_id;
    const read = await t.request({ url: `/sessions/${id}` });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ user_id: 'outage-user', context: { a: 1 }, expires_in: 3600 });
    const merged = await t.request({
      method: 'PATCH',
      url: `/sessions/${id}`,
      payload: { context: { b: 2 } },
    });
    expect(merged.json().context).toEqual({ a: 1, b: 2 });
    const token = tokens.issue('outage-user', id).access_token;
    expect((await me(token)).statusCode).toBe(200);

    // Logout during the outage: the token is refused at once on this replica.
    const other = (await create({ user_id: 'outage-user' })).json().session_id;
    const loggedOut = tokens.issue('outage-user', other).access_token;
    expect(
      (
        await t.request({
          method: 'POST',
          url: '/auth/logout',
          headers: { authorization: `Bearer ${loggedOut}` },
          as: 'none',
        })
      ).statusCode,
    ).toBe(204);
    expect((await me(loggedOut)).json().code).toBe('TOKEN_REVOKED');

    // What only Redis knows is a 503, never a wrong 404.
    const old = await t.request({ url: `/sessions/${before}` });
    expect(old.statusCode).toBe(503);
    expect(old.json().code).toBe('REDIS_UNAVAILABLE');
    expect((await t.request({ url: '/users/outage-user/sessions' })).statusCode).toBe(503);

    const degraded = await t.request({ url: '/health', as: 'none' });
    expect(degraded.statusCode).toBe(503);
    expect(degraded.json()).toMatchObject({
      status: 'degraded',
      components: {
        sessions: { status: 'degraded', fallback: 'memory', fallback_active: true, memory_sessions: 1 },
      },
    });
    const metrics = (await t.request({ url: '/metrics', as: 'none' })).body;
    expect(metrics).toMatch(/smsb_session_fallback_total\{operation="create"\} 2/);
    expect(metrics).toMatch(/smsb_sessions_created_total\{store="memory"\} 2/);

    // Redis returns (empty: this server keeps nothing across a restart).
    await redis.startProcess();
    await waitFor(
      async () => (await health()).components.sessions.fallback_active === false,
      'sessions moved',
    );
    expect(await t.redis.exists(RedisKeys.session(id))).toBe(1);
    expect(JSON.parse((await t.redis.get(RedisKeys.session(id)))!).context).toEqual({ a: 1, b: 2 });
    expect(await t.redis.smembers(RedisKeys.userSessions('outage-user'))).toEqual([id]);
    expect(await t.redis.pttl(RedisKeys.session(id))).toBeGreaterThan(3500_000);
    expect(await t.redis.exists(RedisKeys.tokenDenylist(claimsOf(loggedOut).sid, jtiOf(loggedOut)))).toBe(1);
    expect((await me(token)).statusCode).toBe(200);
    expect((await me(loggedOut)).statusCode).toBe(401);

    // New writes go to Redis again.
    const after = (await create({ user_id: 'post-outage' })).json().session_id;
    expect(await t.redis.exists(RedisKeys.session(after))).toBe(1);
    const list = await t.request({ url: '/users/outage-user/sessions' });
    expect(list.json().sessions.map((s: any) => s.session_id)).toEqual([id]);
    const healthy = await t.request({ url: '/health', as: 'none' });
    expect(healthy.json().components.sessions).toEqual({
      status: 'up',
      fallback: 'memory',
      fallback_active: false,
      memory_sessions: 0,
    });
  });
});

describe('sessions with SESSION_FALLBACK=none while Redis is down', () => {
  let redis: RedisServer;
  let t: TestApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    t = await startTestApp({ REDIS_URL: redis.url, SESSION_FALLBACK: 'none' });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.destroy();
  });

  it('answers 503 at once, reports sessions down, and recovers by itself', async () => {
    await redis.stop();
    await waitFor(() => t.redis.status !== 'ready', 'the client notices the outage');
    const res = await t.request({ method: 'POST', url: '/sessions', payload: { user_id: 'u' } });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('REDIS_UNAVAILABLE');
    expect(res.headers['retry-after']).toBe('1');
    const health = (await t.request({ url: '/health', as: 'none' })).json();
    expect(health.components.sessions).toEqual({
      status: 'down',
      fallback: 'none',
      fallback_active: false,
      memory_sessions: 0,
    });

    await redis.startProcess();
    await waitFor(
      async () =>
        (await t.request({ method: 'POST', url: '/sessions', payload: { user_id: 'u' } })).statusCode === 201,
      'sessions work again',
    );
  });
});
