// Sessions over HTTP on the real Redis: CRUD, TTLs read back from Redis, the per-user index and its clean-up on
// reads, revoke-all, a corrupt value, and quiet logs.
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { RedisKeys, sessionBucket } from '../../src/redis/redis-keys';
import { expiryMember } from '../../src/session/redis-session.store';
import { startTestApp, TestApp } from '../helpers/test-app';
import { sleep } from '../helpers/wait';
import { watchRedis } from '../helpers/redis-monitor';

const MIN = 60_000;
const userId = () => `user-${randomBytes(4).toString('hex')}`;

/** The PTTL is within `slackMs` below `expectedMs` (time passes between the write and the read). */
function expectPttl(pttl: number, expectedMs: number, slackMs = 5000): void {
  expect(pttl).toBeLessThanOrEqual(expectedMs);
  expect(pttl).toBeGreaterThan(expectedMs - slackMs);
}

describe('sessions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());
  afterEach(() => jest.restoreAllMocks());

  const create = (payload: object, headers: Record<string, string> = {}) =>
    t.request({ method: 'POST', url: '/sessions', payload, headers });
  const get = (id: string) => t.request({ url: `/sessions/${id}` });
  const patch = (id: string, context: unknown) =>
    t.request({ method: 'PATCH', url: `/sessions/${id}`, payload: { context } });
  const stored = async (id: string) => JSON.parse((await t.redis.get(RedisKeys.session(id)))!);

  describe('create, read, merge, delete', () => {
    it('creates a session in Redis with a 30 min TTL, indexed under its user', async () => {
      const user = userId();
      const res = await create({ user_id: user, context: { device: 'ios', list: [] } });
      expect(res.statusCode).toBe(201);
      const { session_id, expires_in } = res.json();
      expect(session_id).toMatch(/^[0-9a-f]{32}$/);
      expect(expires_in).toBe(1800);
      expectPttl(await t.redis.pttl(RedisKeys.session(session_id)), 30 * MIN);
      const s = await stored(session_id);
      expect(s).toMatchObject({ user_id: user, context: { device: 'ios', list: [] } });
      expect(s.created_at).toBe(s.last_activity);
      expect(await t.redis.smembers(RedisKeys.userSessions(user))).toEqual([session_id]);
      // The index outlives every session it lists (the absolute lifetime), then goes by itself.
      expectPttl(await t.redis.pttl(RedisKeys.userSessions(user)), 24 * 60 * MIN);
    });

    it('reads a session, refreshing last_activity and the TTL (1 h: it was active moments ago)', async () => {
      const user = userId();
      const { session_id } = (await create({ user_id: user, context: { a: 1 } })).json();
      await t.redis.pexpire(RedisKeys.session(session_id), 10_000); // as if time had passed
      const before = await stored(session_id);
      await sleep(5);
      const res = await get(session_id);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toEqual({
        session_id,
        user_id: user,
        created_at: before.created_at,
        last_activity: expect.any(String),
        context: { a: 1 },
        expires_in: 3600,
      });
      expect(Date.parse(body.last_activity)).toBeGreaterThan(Date.parse(before.last_activity));
      expect((await stored(session_id)).last_activity).toBe(body.last_activity);
      expectPttl(await t.redis.pttl(RedisKeys.session(session_id)), 60 * MIN);
    });

    it('reads with exactly one Redis command', async () => {
      const { session_id } = (await create({ user_id: userId() })).json();
      await get(session_id); // the first run of the script may need EVAL after EVALSHA
      const watch = await watchRedis(t.config, (args) =>
        args.some((a) => typeof a === 'string' && a.includes(session_id)),
      );
      expect((await get(session_id)).statusCode).toBe(200);
      expect((await get(session_id)).statusCode).toBe(200);
      const seen = await watch.stop();
      expect(seen.filter((s) => s.source !== 'lua').map((s) => s.args[0].toLowerCase())).toEqual([
        'evalsha',
        'evalsha',
      ]);
    });

    it('answers 404 for an unknown session, whatever the shape of its id', async () => {
      const unknown = await get(randomBytes(16).toString('hex'));
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json()).toMatchObject({ statusCode: 404, code: 'SESSION_NOT_FOUND' });
      for (const id of ['not-a-session-id', 'x'.repeat(200), '%00', "1' OR '1'='1"]) {
        const res = await get(encodeURIComponent(id));
        expect([id, res.statusCode, res.json().code]).toEqual([id, 404, 'SESSION_NOT_FOUND']);
        expect((await patch(encodeURIComponent(id), { a: 1 })).statusCode).toBe(404);
      }
      expect((await patch(randomBytes(16).toString('hex'), { a: 1 })).statusCode).toBe(404);
      // A body that is wrong stays a 400.
      expect((await patch(randomBytes(16).toString('hex'), 'not an object' as never)).statusCode).toBe(400);
    });

    it('merges context (null removes a key) without counting as activity', async () => {
      const { session_id } = (
        await create({ user_id: userId(), context: { a: 1, b: { x: 1 }, c: 3 } })
      ).json();
      const before = await stored(session_id);
      const res = await patch(session_id, { b: { y: 2 }, c: null, d: [1, 2] });
      expect(res.statusCode).toBe(200);
      expect(res.json().context).toEqual({ a: 1, b: { y: 2 }, d: [1, 2] });
      const after = await stored(session_id);
      expect(after.context).toEqual({ a: 1, b: { y: 2 }, d: [1, 2] });
      expect(after.last_activity).toBe(before.last_activity);
      expect((await get(session_id)).json().context).toEqual({ a: 1, b: { y: 2 }, d: [1, 2] });
    });

    it('keeps every merge when merges and reads run at once', async () => {
      const { session_id } = (await create({ user_id: userId() })).json();
      const writes = Array.from({ length: 10 }, (_, i) => patch(session_id, { [`k${i}`]: i }));
      const reads = Array.from({ length: 10 }, () => get(session_id));
      const answers = await Promise.all([...writes, ...reads]);
      expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(200));
      expect(Object.keys((await stored(session_id)).context).sort()).toEqual(
        Array.from({ length: 10 }, (_, i) => `k${i}`).sort(),
      );
    });

    it('refuses a merge that would grow the context past 8 KB', async () => {
      const { session_id } = (await create({ user_id: userId(), context: { a: 'x'.repeat(5000) } })).json();
      const res = await patch(session_id, { b: 'y'.repeat(5000) });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('CONTEXT_TOO_LARGE');
      expect((await stored(session_id)).context.b).toBeUndefined();
    });

    it('deletes a session (204, also when it is already gone) and its index entry', async () => {
      const user = userId();
      const { session_id } = (await create({ user_id: user })).json();
      const del = await t.request({ method: 'DELETE', url: `/sessions/${session_id}` });
      expect(del.statusCode).toBe(204);
      expect(del.body).toBe('');
      expect(await t.redis.exists(RedisKeys.session(session_id))).toBe(0);
      expect(await t.redis.sismember(RedisKeys.userSessions(user), session_id)).toBe(0);
      expect(
        await t.redis.zscore(
          RedisKeys.sessionExpiries(sessionBucket(session_id)),
          expiryMember(session_id, user),
        ),
      ).toBeNull();
      expect((await get(session_id)).statusCode).toBe(404);
      expect((await t.request({ method: 'DELETE', url: `/sessions/${session_id}` })).statusCode).toBe(204);
    });

    it('pins the TTL a client asks for: reads refresh it to that, not to the adaptive one', async () => {
      const res = await create({ user_id: userId(), ttl: 120 });
      expect(res.json().expires_in).toBe(120);
      const { session_id } = res.json();
      expectPttl(await t.redis.pttl(RedisKeys.session(session_id)), 120_000);
      await t.redis.pexpire(RedisKeys.session(session_id), 5000);
      expect((await get(session_id)).json().expires_in).toBe(120);
      expectPttl(await t.redis.pttl(RedisKeys.session(session_id)), 120_000);
    });

    it('validates the body and needs the API key', async () => {
      const bad: object[] = [
        {},
        { user_id: '' },
        { user_id: 'has space' },
        { user_id: 'a/b' },
        { user_id: 'x'.repeat(129) },
        { user_id: 'u', context: [1, 2] },
        { user_id: 'u', context: 'text' },
        { user_id: 'u', context: { big: 'x'.repeat(8200) } },
        { user_id: 'u', ttl: 59 },
        { user_id: 'u', ttl: 7201 },
        { user_id: 'u', ttl: 100.5 },
        { user_id: 'u', ip: 'not-an-ip' },
        { user_id: 'u', extra: true },
      ];
      for (const payload of bad) {
        const res = await create(payload);
        expect([payload, res.statusCode, res.json().code]).toEqual([payload, 400, 'VALIDATION_FAILED']);
      }
      for (const user_id of ['user@example.com', '+919876543210', 'auth0|abc', 'org:42.user_7-x']) {
        expect((await create({ user_id })).statusCode).toBe(201);
      }
      const noKey = await t.request({
        method: 'POST',
        url: '/sessions',
        payload: { user_id: 'u' },
        as: 'none',
      });
      expect(noKey.statusCode).toBe(401);
      expect(
        (await t.request({ url: `/sessions/${randomBytes(16).toString('hex')}`, as: 'none' })).statusCode,
      ).toBe(401);
    });
  });

  describe("a user's sessions", () => {
    it('lists them with the IP and user agent each was created from, without touching them', async () => {
      const user = userId();
      const a = (await create({ user_id: user }, { 'user-agent': 'Firefox/130' })).json().session_id;
      await sleep(5);
      const b = (await create({ user_id: user, ip: '203.0.113.7', user_agent: 'MyApp/2 (iPhone)' })).json()
        .session_id;
      const other = (await create({ user_id: userId() })).json().session_id;
      const before = await stored(a);
      const res = await t.request({ url: `/users/${user}/sessions` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        user_id: user,
        sessions: [
          {
            session_id: b,
            created_at: expect.any(String),
            last_activity: expect.any(String),
            expires_in: 1800,
            ip: '203.0.113.7',
            user_agent: 'MyApp/2 (iPhone)',
          },
          {
            session_id: a,
            created_at: before.created_at,
            last_activity: before.last_activity,
            expires_in: 1800,
            ip: '127.0.0.1',
            user_agent: 'Firefox/130',
          },
        ],
      });
      expect(res.body).not.toContain(other);
      expect((await stored(a)).last_activity).toBe(before.last_activity);
      expect((await t.request({ url: `/users/${userId()}/sessions` })).json().sessions).toEqual([]);
    });

    it('drops expired sessions from the index when it is read', async () => {
      const user = userId();
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await create({ user_id: user })).json().session_id);
      await t.redis.pexpire(RedisKeys.session(ids[0]), 1);
      await t.redis.pexpire(RedisKeys.session(ids[1]), 1);
      await sleep(20);
      expect(await t.redis.scard(RedisKeys.userSessions(user))).toBe(3);
      const res = await t.request({ url: `/users/${user}/sessions` });
      expect(res.json().sessions.map((s: any) => s.session_id)).toEqual([ids[2]]);
      expect(await t.redis.smembers(RedisKeys.userSessions(user))).toEqual([ids[2]]);
      expect(
        await t.redis.zscore(RedisKeys.sessionExpiries(sessionBucket(ids[0])), expiryMember(ids[0], user)),
      ).toBeNull();
    });

    it('revokes all of them, and only theirs', async () => {
      const user = userId();
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await create({ user_id: user })).json().session_id);
      const bystander = (await create({ user_id: userId() })).json().session_id;
      const res = await t.request({ method: 'DELETE', url: `/users/${user}/sessions` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ revoked: 3 });
      for (const id of ids) expect((await get(id)).statusCode).toBe(404);
      expect(await t.redis.exists(RedisKeys.userSessions(user))).toBe(0);
      expect((await get(bystander)).statusCode).toBe(200);
      expect((await t.request({ method: 'DELETE', url: `/users/${user}/sessions` })).json()).toEqual({
        revoked: 0,
      });
    });

    it('revokes all but the one named in except', async () => {
      const user = userId();
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await create({ user_id: user })).json().session_id);
      const res = await t.request({ method: 'DELETE', url: `/users/${user}/sessions?except=${ids[1]}` });
      expect(res.json()).toEqual({ revoked: 2 });
      expect((await get(ids[0])).statusCode).toBe(404);
      expect((await get(ids[1])).statusCode).toBe(200);
      expect((await get(ids[2])).statusCode).toBe(404);
      expect(await t.redis.smembers(RedisKeys.userSessions(user))).toEqual([ids[1]]);
      expect(
        (await t.request({ method: 'DELETE', url: `/users/${user}/sessions?except=nope` })).statusCode,
      ).toBe(400);
    });
  });

  describe('logging and corrupt values', () => {
    const spyAll = () =>
      (['log', 'warn', 'error', 'debug', 'verbose', 'fatal'] as const).map((level) =>
        jest.spyOn(Logger.prototype, level),
      );
    const calls = (spies: jest.SpyInstance[]) => spies.flatMap((s) => s.mock.calls);

    it('logs a creation once, and nothing for reads, merges and lists that succeed', async () => {
      const user = userId();
      let spies = spyAll();
      const { session_id } = (await create({ user_id: user })).json();
      expect(calls(spies)).toEqual([[expect.objectContaining({ store: 'redis' }), 'session created']]);
      jest.restoreAllMocks();
      spies = spyAll();
      expect((await get(session_id)).statusCode).toBe(200);
      expect((await patch(session_id, { a: 1 })).statusCode).toBe(200);
      expect((await t.request({ url: `/users/${user}/sessions` })).statusCode).toBe(200);
      expect(calls(spies)).toEqual([]);
    });

    it('answers 404 (not 500) for a corrupt session and logs it once, without the session id', async () => {
      const user = userId();
      const { session_id } = (await create({ user_id: user })).json();
      await t.redis.set(
        RedisKeys.session(session_id),
        '{"last_activity":"2026-01-01T00:00:00.000Z", oops',
        'EX',
        600,
      );
      const warn = jest.spyOn(Logger.prototype, 'warn');
      const first = await get(session_id);
      expect(first.statusCode).toBe(404);
      expect(first.json().code).toBe('SESSION_NOT_FOUND');
      expect((await get(session_id)).statusCode).toBe(404);
      expect((await patch(session_id, { a: 1 })).statusCode).toBe(404);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][1]).toMatch(/not a session/);
      expect(JSON.stringify(warn.mock.calls)).not.toContain(session_id);
      expect((await t.request({ url: `/users/${user}/sessions` })).json().sessions).toEqual([]);
    });

    it('lists a user whose index points at a corrupt value without failing', async () => {
      const user = userId();
      const good = (await create({ user_id: user })).json().session_id;
      const bad = (await create({ user_id: user })).json().session_id;
      await t.redis.set(RedisKeys.session(bad), 'not json at all', 'EX', 600);
      const res = await t.request({ url: `/users/${user}/sessions` });
      expect(res.statusCode).toBe(200);
      expect(res.json().sessions.map((s: any) => s.session_id)).toEqual([good]);
    });
  });

  it('counts sessions in /metrics', async () => {
    await create({ user_id: userId() });
    const body = (await t.request({ url: '/metrics', as: 'none' })).body;
    expect(body).toMatch(/smsb_sessions_created_total\{store="redis"\} [1-9]/);
    expect(body).toMatch(/smsb_sessions_active\{store="redis"\} [1-9]/);
  });
});

describe('session TTLs under a short configuration', () => {
  let t: TestApp;
  beforeAll(async () => {
    // "Active" means used within the last second here, so a pause of a second makes a session idle.
    t = await startTestApp({ SESSION_ACTIVE_WINDOW_SECONDS: '1' });
  });
  afterAll(() => t.close());

  const create = (payload: object) => t.request({ method: 'POST', url: '/sessions', payload });
  const get = (id: string) => t.request({ url: `/sessions/${id}` });

  it('gives the default 30 min to a session read after a pause, and 1 h while it is read again soon', async () => {
    const { session_id } = (await create({ user_id: 'pauser' })).json();
    await sleep(1100);
    expect((await get(session_id)).json().expires_in).toBe(1800);
    expectPttl(await t.redis.pttl(RedisKeys.session(session_id)), 30 * MIN);
    expect((await get(session_id)).json().expires_in).toBe(3600);
    expectPttl(await t.redis.pttl(RedisKeys.session(session_id)), 60 * MIN);
  });

  it('a merge into an idle session keeps the TTL it has left, but at least the 15 min floor', async () => {
    const a = (await create({ user_id: 'idler' })).json().session_id;
    const b = (await create({ user_id: 'idler' })).json().session_id;
    await sleep(1100);
    await t.redis.pexpire(RedisKeys.session(b), 20_000);
    await t.request({ method: 'PATCH', url: `/sessions/${a}`, payload: { context: { x: 1 } } });
    await t.request({ method: 'PATCH', url: `/sessions/${b}`, payload: { context: { x: 1 } } });
    expectPttl(await t.redis.pttl(RedisKeys.session(a)), 30 * MIN - 1100);
    expectPttl(await t.redis.pttl(RedisKeys.session(b)), 15 * MIN);
  });

  it('ends a session at its absolute lifetime, whatever its TTL says', async () => {
    const { session_id } = (await create({ user_id: 'old-timer' })).json();
    const s = JSON.parse((await t.redis.get(RedisKeys.session(session_id)))!);
    // Created 25 h ago (a value written before a lifetime change, say) but with an hour of TTL left.
    const dayAgo = new Date(Date.now() - 25 * 3600_000).toISOString();
    await t.redis.set(
      RedisKeys.session(session_id),
      JSON.stringify({ ...s, created_at: dayAgo, last_activity: new Date().toISOString() }),
      'PX',
      3600_000,
    );
    expect((await get(session_id)).statusCode).toBe(404);
    expect(await t.redis.exists(RedisKeys.session(session_id))).toBe(0);
  });
});

describe('session absolute lifetime', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ SESSION_ABSOLUTE_LIFETIME_SECONDS: '3' });
  });
  afterAll(() => t.close());

  it('caps every TTL at what is left of the lifetime, and the session is gone after it', async () => {
    const res = await t.request({ method: 'POST', url: '/sessions', payload: { user_id: 'short-lived' } });
    expect(res.json().expires_in).toBe(3);
    const { session_id } = res.json();
    const read = await t.request({ url: `/sessions/${session_id}` });
    expect(read.json().expires_in).toBeLessThanOrEqual(3);
    expect(await t.redis.pttl(RedisKeys.session(session_id))).toBeLessThanOrEqual(3000);
    await sleep(3100);
    expect((await t.request({ url: `/sessions/${session_id}` })).statusCode).toBe(404);
  });
});
