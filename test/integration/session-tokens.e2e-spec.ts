// End-user access tokens on the real Redis: /auth/me and /auth/logout, the deny-list, and tokens failing as soon
// as their session ends (deleted, revoked with the user's others, expired).
import { randomBytes } from 'node:crypto';
import { sign } from 'jsonwebtoken';
import { RedisKeys } from '../../src/redis/redis-keys';
import { SessionService } from '../../src/session/session.service';
import { TokenService } from '../../src/session/token.service';
import { startTestApp, TestApp } from '../helpers/test-app';

const userId = () => `user-${randomBytes(4).toString('hex')}`;

describe('access tokens', () => {
  let t: TestApp;
  let tokens: TokenService;
  let secret: string;

  beforeAll(async () => {
    t = await startTestApp();
    tokens = t.app.get(TokenService);
    secret = t.config.secrets.jwt;
  });
  afterAll(() => t.close());

  /** What OTP verification will do: a session, then a token for it. */
  async function signIn(user = userId()) {
    const { session_id } = await t.app.get(SessionService).create({ userId: user, ip: '198.51.100.4' });
    return { user, session_id, ...tokens.issue(user, session_id) };
  }
  const me = (token: string) =>
    t.request({ url: '/auth/me', headers: { authorization: `Bearer ${token}` }, as: 'none' });
  const logout = (token: string) =>
    t.request({
      method: 'POST',
      url: '/auth/logout',
      headers: { authorization: `Bearer ${token}` },
      as: 'none',
    });

  it('issues HS256 tokens with sub, sid, jti and a 15 min exp', async () => {
    const { user, session_id, access_token, expires_in } = await signIn();
    expect(expires_in).toBe(900);
    const [header, payload] = access_token
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toEqual({
      sub: user,
      sid: session_id,
      jti: expect.any(String),
      iat: expect.any(Number),
      exp: payload.iat + 900,
    });
    const other = tokens.issue(user, session_id).access_token;
    expect(JSON.parse(Buffer.from(other.split('.')[1], 'base64url').toString()).jti).not.toBe(payload.jti);
  });

  it('GET /auth/me answers the token’s user and session, without an API key', async () => {
    const { user, session_id, access_token } = await signIn();
    const res = await me(access_token);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      user_id: user,
      token_expires_at: expect.any(String),
      session: {
        session_id,
        user_id: user,
        created_at: expect.any(String),
        last_activity: expect.any(String),
        context: {},
        expires_in: 3600,
      },
    });
    // Using the token is activity: the session's TTL was refreshed (1 h, as it is in use).
    expect(await t.redis.pttl(RedisKeys.session(session_id))).toBeGreaterThan(3500_000);
  });

  it('answers 401 without a token, with a bad one, or with an API key instead', async () => {
    const { user, session_id, access_token } = await signIn();
    const cases: [Record<string, string>, string][] = [
      [{}, 'TOKEN_MISSING'],
      [{ authorization: 'Bearer ' }, 'TOKEN_MISSING'],
      [{ authorization: 'Bearer not.a.jwt' }, 'TOKEN_INVALID'],
      [{ authorization: `Bearer ${access_token.slice(0, -2)}xx` }, 'TOKEN_INVALID'],
      [
        {
          authorization: `Bearer ${sign({ sid: session_id }, 'another-secret', { subject: user, jwtid: 'j', expiresIn: 60 })}`,
        },
        'TOKEN_INVALID',
      ],
      // alg "none" and a token without a session id are refused.
      [
        {
          authorization: `Bearer ${sign({ sid: session_id }, '', { algorithm: 'none', subject: user, jwtid: 'j' })}`,
        },
        'TOKEN_INVALID',
      ],
      [
        { authorization: `Bearer ${sign({}, secret, { subject: user, jwtid: 'j', expiresIn: 60 })}` },
        'TOKEN_INVALID',
      ],
      [{ 'x-api-key': 'test-client-key-0123456789' }, 'TOKEN_MISSING'],
    ];
    for (const [headers, code] of cases) {
      const res = await t.request({ url: '/auth/me', headers, as: 'none' });
      expect([headers, res.statusCode, res.json().code]).toEqual([headers, 401, code]);
    }
  });

  it('answers 401 for an expired token', async () => {
    const { user, session_id } = await signIn();
    const expired = sign({ sid: session_id, exp: Math.floor(Date.now() / 1000) - 10 }, secret, {
      subject: user,
      jwtid: randomBytes(8).toString('hex'),
    });
    const res = await me(expired);
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('TOKEN_EXPIRED');
  });

  it('logout deny-lists the token until its own expiry and ends its session; a fresh sign-in still works', async () => {
    const { user, session_id, access_token } = await signIn();
    const second = await signIn(user); // another device of the same user
    expect((await logout(access_token)).statusCode).toBe(204);

    const again = await me(access_token);
    expect(again.statusCode).toBe(401);
    expect(again.json().code).toBe('TOKEN_REVOKED');
    expect((await logout(access_token)).statusCode).toBe(401);

    const { jti, sid } = JSON.parse(Buffer.from(access_token.split('.')[1], 'base64url').toString());
    const pttl = await t.redis.pttl(RedisKeys.tokenDenylist(sid, jti));
    expect(pttl).toBeGreaterThan(890_000);
    expect(pttl).toBeLessThanOrEqual(900_000);
    expect(await t.redis.exists(RedisKeys.session(session_id))).toBe(0);
    expect(await t.redis.sismember(RedisKeys.userSessions(user), session_id)).toBe(0);

    expect((await me(second.access_token)).statusCode).toBe(200);
    const fresh = await signIn(user);
    expect((await me(fresh.access_token)).statusCode).toBe(200);
  });

  it('a token whose session was deleted is 401, though it is neither expired nor revoked', async () => {
    const { session_id, access_token } = await signIn();
    expect((await me(access_token)).statusCode).toBe(200);
    await t.request({ method: 'DELETE', url: `/sessions/${session_id}` });
    const res = await me(access_token);
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('SESSION_ENDED');
  });

  it('a token for a session that expired is 401', async () => {
    const { session_id, access_token } = await signIn();
    await t.redis.pexpire(RedisKeys.session(session_id), 1);
    await new Promise((r) => setTimeout(r, 20));
    expect((await me(access_token)).json().code).toBe('SESSION_ENDED');
  });

  it("revoking all of a user's sessions makes all their tokens fail at once, but not other users'", async () => {
    const user = userId();
    const devices = [await signIn(user), await signIn(user), await signIn(user)];
    const stranger = await signIn();
    for (const d of devices) expect((await me(d.access_token)).statusCode).toBe(200);
    const res = await t.request({ method: 'DELETE', url: `/users/${user}/sessions` });
    expect(res.json()).toEqual({ revoked: 3 });
    for (const d of devices) expect((await me(d.access_token)).statusCode).toBe(401);
    expect((await me(stranger.access_token)).statusCode).toBe(200);
  });

  it('revoking all but the current session keeps that token working', async () => {
    const user = userId();
    const [current, other] = [await signIn(user), await signIn(user)];
    await t.request({ method: 'DELETE', url: `/users/${user}/sessions?except=${current.session_id}` });
    expect((await me(current.access_token)).statusCode).toBe(200);
    expect((await me(other.access_token)).statusCode).toBe(401);
  });

  it('refuses a token whose subject is not its session’s user', async () => {
    const victim = await signIn();
    const forged = tokens.issue('someone-else', victim.session_id).access_token;
    const res = await me(forged);
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('TOKEN_INVALID');
  });

  it('counts revoked tokens in /metrics', async () => {
    const { access_token } = await signIn();
    await logout(access_token);
    const body = (await t.request({ url: '/metrics', as: 'none' })).body;
    expect(body).toMatch(/smsb_access_tokens_revoked_total\{reason="logout"\} [1-9]/);
  });
});
