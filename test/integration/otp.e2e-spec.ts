// OTP on the real Redis and Postgres: send, read the code from the queued message, verify.
import { DataSource } from 'typeorm';
import { RedisKeys } from '../../src/redis/redis-keys';
import { randomMobile } from '../helpers/numbers';
import { RedisServer } from '../helpers/redis-server';
import { startTestApp, TestApp } from '../helpers/test-app';
import { sleep } from '../helpers/wait';
import { watchRedis } from '../helpers/redis-monitor';

const codeOf = async (db: DataSource, messageId: string): Promise<string> => {
  const [row] = await db.query('SELECT body FROM messages WHERE id = $1', [messageId]);
  return /(\d{6})/.exec(row.body)![1];
};

describe('OTP', () => {
  let t: TestApp;
  let db: DataSource;

  beforeAll(async () => {
    t = await startTestApp({
      OTP_RESEND_COOLDOWN_SECONDS: '1',
      OTP_TEST_NUMBERS: '+15005550006:424242',
      OTP_ALLOWED_COUNTRIES: '91,1',
      TRUST_PROXY: 'true',
    });
    db = t.app.get(DataSource);
  });
  afterAll(() => t.close());

  let ip = 0;
  /** Each call from its own client IP, so the per-IP limit does not get in the way of other checks. */
  const call = (method: 'GET' | 'POST', url: string, payload?: object, app: TestApp = t, fromIp?: string) =>
    app.request({
      method,
      url,
      payload,
      headers: { 'x-forwarded-for': fromIp ?? `10.0.${Math.floor(++ip / 250)}.${ip % 250}` },
    });
  const send = (mobile: string, extra: object = {}, app?: TestApp, fromIp?: string) =>
    call('POST', '/otp/send', { mobile_number: mobile, channel: 'sms', ...extra }, app, fromIp);
  const verify = (mobile: string, otp: string, app?: TestApp, fromIp?: string, extra: object = {}) =>
    call('POST', '/otp/verify', { mobile_number: mobile, otp, ...extra }, app, fromIp);

  it('sends a code through the messages pipeline and verifies it into a token and a session', async () => {
    const mobile = randomMobile();
    const sent = await send(mobile, { user_id: 'user-42' });
    expect(sent.statusCode).toBe(200);
    expect(sent.json()).toMatchObject({ expires_in_seconds: 300, message_id: expect.any(String) });
    expect((await call('GET', `/otp/status/${mobile}`)).json()).toMatchObject({
      status: 'pending',
      delivery_status: 'queued',
    });
    const remaining = (await call('GET', `/otp/remaining/${mobile}`)).json().remaining_seconds;
    expect(remaining).toBeGreaterThan(290);

    const code = await codeOf(db, sent.json().message_id);
    const stored = await t.redis.get(RedisKeys.otp(mobile));
    expect(stored).not.toContain(code);
    expect(JSON.parse(stored!)).toEqual(
      expect.objectContaining({ otp_hash: expect.stringMatching(/^[0-9a-f]{64}$/), mobile_number: mobile }),
    );

    const ok = await verify(mobile, code);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({
      verified: true,
      access_token: expect.any(String),
      session_id: expect.any(String),
      expires_in: expect.any(Number),
    });
    const me = await t.request({
      url: '/auth/me',
      as: 'none',
      headers: { authorization: `Bearer ${ok.json().access_token}` },
    });
    expect(me.statusCode).toBe(200);

    expect((await call('GET', `/otp/status/${mobile}`)).json().status).toBe('approved');
    expect((await call('GET', `/otp/remaining/${mobile}`)).statusCode).toBe(404);
    expect((await call('GET', '/users/user-42/verification')).json()).toEqual({
      user_id: 'user-42',
      verified: true,
    });
    expect((await call('GET', '/users/nobody-7/verification')).json()).toEqual({
      user_id: 'nobody-7',
      verified: false,
    });
    const [row] = await db.query('SELECT used_at FROM otp_codes WHERE mobile_number = $1', [mobile]);
    expect(row.used_at).not.toBeNull();
    expect((await verify(mobile, code)).statusCode).toBe(400); // consumed
  });

  it('counts wrong codes down and locks the number after the fifth, even for the right code', async () => {
    const mobile = randomMobile();
    const code = await codeOf(db, (await send(mobile)).json().message_id);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let left = 4; left >= 0; left--) {
      const res = await verify(mobile, wrong);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ verified: false, attempts_remaining: left, code: 'OTP_INVALID' });
    }
    const locked = await verify(mobile, code);
    expect(locked.statusCode).toBe(429);
    expect(locked.json().code).toBe('OTP_LOCKED');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(3500);
    expect((await call('GET', `/otp/status/${mobile}`)).json().status).toBe('max_attempts_reached');
    // A new code does not reset the count.
    await t.redis.del(RedisKeys.otpSendsPerNumber(mobile));
    await send(mobile);
    expect((await verify(mobile, code)).statusCode).toBe(429);
  });

  it('gives exactly one success to 20 concurrent verifies of the right code', async () => {
    const mobile = randomMobile();
    const code = await codeOf(db, (await send(mobile)).json().message_id);
    const results = await Promise.all(Array.from({ length: 20 }, () => verify(mobile, code)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    // The rest count as failed attempts on a consumed code (400, then 429 once five have failed).
    expect(results.filter((r) => r.statusCode !== 200).every((r) => [400, 429].includes(r.statusCode))).toBe(
      true,
    );
  });

  it('marks every row used when many numbers verify at once (their updates share statements)', async () => {
    const mobiles = Array.from({ length: 30 }, () => randomMobile());
    const codes = await Promise.all(mobiles.map(async (m) => codeOf(db, (await send(m)).json().message_id)));
    const res = await Promise.all(mobiles.map((m, i) => verify(m, codes[i])));
    expect(res.map((r) => r.statusCode)).toEqual(Array(30).fill(200));
    const rows: { used: boolean }[] = await db.query(
      'SELECT used_at IS NOT NULL AS used FROM otp_codes WHERE mobile_number = ANY($1)',
      [mobiles],
    );
    expect(rows).toHaveLength(30);
    expect(rows.every((r) => r.used)).toBe(true);
  });

  it('answers 409 while a code is active, and resends only after the cooldown, voiding the old code', async () => {
    const mobile = randomMobile();
    const first = await codeOf(db, (await send(mobile)).json().message_id);
    const again = await send(mobile);
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('OTP_ACTIVE');
    expect(Number(again.headers['retry-after'])).toBeGreaterThan(290);
    await sleep(1100);
    const resent = await send(mobile, { resend: true });
    expect(resent.statusCode).toBe(200);
    const second = await codeOf(db, resent.json().message_id);
    if (second !== first) expect((await verify(mobile, first)).statusCode).toBe(400);
    expect((await verify(mobile, second)).statusCode).toBe(200);
  });

  it('limits sends per number (3 per 5 minutes) with rate-limit headers', async () => {
    const mobile = randomMobile();
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 4; i++) {
      last = await send(mobile, { resend: true });
      statuses.push(last.statusCode);
      await t.redis.del(RedisKeys.otp(mobile)); // no active code in the way
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last!.json().code).toBe('RATE_LIMITED');
    expect(last!.headers['retry-after']).toBeDefined();
  });

  it('limits the end user, not the caller: one backend sends to 40 numbers, and reads are never counted', async () => {
    // One backend: one key, one address, no `ip` and no trusted proxy, many end users.
    const backend = await startTestApp({ REDIS_KEY_PREFIX: t.config.redis.keyPrefix });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const mobile = randomMobile();
        statuses.push((await send(mobile, {}, backend, '192.0.2.40')).statusCode);
        statuses.push(
          (await call('GET', `/otp/status/${mobile}`, undefined, backend, '192.0.2.40')).statusCode,
        );
        statuses.push(
          (await call('GET', `/otp/remaining/${mobile}`, undefined, backend, '192.0.2.40')).statusCode,
        );
      }
      expect(statuses.every((c) => c === 200)).toBe(true);
      expect(await t.redis.exists(RedisKeys.rateLimit('otp_ip', '192.0.2.40'))).toBe(0);
    } finally {
      await backend.app.close();
    }
  });

  it('limits one end user (the `ip` field) to 10 sends and verifies a minute, whichever backend address calls', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await send(randomMobile(), { ip: '2001:db8::77' })).statusCode);
    for (let i = 0; i < 5; i++)
      codes.push((await verify(randomMobile(), '123456', t, undefined, { ip: '2001:db8::77' })).statusCode);
    expect(codes).toEqual([200, 200, 200, 200, 200, 200, 400, 400, 400, 400, 429]);
    for (let i = 0; i < 3; i++)
      expect((await call('GET', `/otp/status/${randomMobile()}`)).statusCode).toBe(200);
    expect((await send(randomMobile(), { ip: '999.1.1.1' })).json()).toMatchObject({ statusCode: 400 });
    expect((await verify(randomMobile(), '123456', t, undefined, { ip: 'not-an-ip' })).statusCode).toBe(400);
  });

  it('counts a proxy header that holds no address as it came, never answering 500 (found by the fuzz)', async () => {
    const res = await verify(randomMobile(), '000000', t, '!');
    expect(res.statusCode).toBe(400);
    expect((await send(randomMobile(), {}, t, 'not an address')).statusCode).toBe(200);
  });

  it('gives each API key its own send budget per minute', async () => {
    const tuned = await startTestApp({
      REDIS_KEY_PREFIX: t.config.redis.keyPrefix,
      OTP_SENDS_PER_CLIENT_PER_MINUTE: '3',
      API_KEYS: 'client-key-one-0123456789,client-key-two-0123456789',
    });
    try {
      const as = (key: string) =>
        tuned.app.inject({
          method: 'POST',
          url: '/otp/send',
          payload: { mobile_number: randomMobile(), channel: 'sms' },
          headers: { 'x-api-key': key },
        });
      const one: number[] = [];
      for (let i = 0; i < 4; i++) one.push((await as('client-key-one-0123456789')).statusCode);
      expect(one).toEqual([200, 200, 200, 429]);
      expect((await as('client-key-two-0123456789')).statusCode).toBe(200);
    } finally {
      await tuned.app.close();
    }
  });

  it('refuses premium-rate, toll-free and shared-cost numbers, and takes the allowed types from OTP_ALLOWED_NUMBER_TYPES', async () => {
    const open = await startTestApp({
      REDIS_KEY_PREFIX: t.config.redis.keyPrefix,
      OTP_TEST_NUMBERS: '+18005550199:121212',
    });
    try {
      const post = (mobile: string, app = open) =>
        app.request({ method: 'POST', url: '/otp/send', payload: { mobile_number: mobile, channel: 'sms' } });
      for (const n of [
        '+449098790000',
        '+18005550100',
        '+448431234567',
        '+447031234567',
        '+447640123456',
        '+881612345678',
      ]) {
        const res = await post(n);
        expect([n, res.statusCode, res.json().code]).toEqual([n, 400, 'NUMBER_TYPE_NOT_ALLOWED']);
      }
      expect((await post('+447911123456')).statusCode).toBe(200); // mobile
      expect((await post('+12015550123')).statusCode).toBe(200); // fixed-line-or-mobile (US)
      expect((await post('+18005550199')).statusCode).toBe(200); // a test number is exempt
      const landlines = await startTestApp({
        REDIS_KEY_PREFIX: t.config.redis.keyPrefix,
        OTP_ALLOWED_NUMBER_TYPES: 'mobile,fixed_line',
      });
      try {
        expect((await post('+442079460000', landlines)).statusCode).toBe(200); // fixed line, allowed here
        expect((await post('+442079460001', open)).json().code).toBe('NUMBER_TYPE_NOT_ALLOWED');
      } finally {
        await landlines.app.close();
      }
    } finally {
      await open.app.close();
    }
  });

  it('refuses blacklisted numbers and countries outside OTP_ALLOWED_COUNTRIES with 403', async () => {
    const mobile = randomMobile();
    await t.request({ method: 'PUT', url: `/admin/blacklist/${mobile}`, payload: {}, as: 'admin' });
    expect((await send(mobile)).json()).toMatchObject({ statusCode: 403, code: 'BLACKLISTED' });
    expect((await send('+447911123456')).json()).toMatchObject({
      statusCode: 403,
      code: 'COUNTRY_NOT_ALLOWED',
    });
    expect((await send('not a number')).statusCode).toBe(400);
  });

  it('refuses to verify a code issued before an admin blacklisted the number', async () => {
    const mobile = randomMobile();
    const code = await codeOf(db, (await send(mobile)).json().message_id);
    await t.request({ method: 'PUT', url: `/admin/blacklist/${mobile}`, payload: {}, as: 'admin' });
    expect((await verify(mobile, code)).json()).toMatchObject({ statusCode: 403, code: 'BLACKLISTED' });
    await t.request({ method: 'DELETE', url: `/admin/blacklist/${mobile}`, as: 'admin' });
    expect((await verify(mobile, code)).statusCode).toBe(200);
  });

  it('gives test numbers their fixed code, with no message', async () => {
    const sent = await send('+15005550006');
    expect(sent.json().message_id).toBeNull();
    expect((await verify('+15005550006', '424242')).statusCode).toBe(200);
  });

  it('reports an expired code as expired', async () => {
    const short = await startTestApp({
      OTP_VALIDITY_SECONDS: '1',
      REDIS_KEY_PREFIX: t.config.redis.keyPrefix,
      TRUST_PROXY: 'true',
    });
    try {
      const mobile = randomMobile();
      const code = await codeOf(db, (await send(mobile, {}, short)).json().message_id);
      await sleep(1300);
      const res = await verify(mobile, code, short);
      expect(res.statusCode).toBe(400);
      // An expired code is not a wrong one: no attempt is spent on it.
      expect(res.json()).toMatchObject({ code: 'OTP_EXPIRED', attempts_remaining: 5 });
      expect((await call('GET', `/otp/status/${mobile}`, undefined, short)).json().status).toBe('expired');
    } finally {
      await short.app.close();
    }
  });

  it('takes its limits from the configuration (OTP_SENDS_PER_NUMBER, OTP_REQUESTS_PER_IP)', async () => {
    const tuned = await startTestApp({
      REDIS_KEY_PREFIX: t.config.redis.keyPrefix,
      TRUST_PROXY: 'true',
      OTP_SENDS_PER_NUMBER: '1',
      OTP_REQUESTS_PER_IP: '3',
      OTP_REQUESTS_PER_IP_WINDOW_SECONDS: '120',
    });
    try {
      const mobile = randomMobile();
      expect((await send(mobile, {}, tuned)).statusCode).toBe(200);
      await t.redis.del(RedisKeys.otp(mobile));
      expect((await send(mobile, {}, tuned)).json()).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });

      const codes: number[] = [];
      for (let i = 0; i < 4; i++)
        codes.push((await send(randomMobile(), { ip: '192.0.2.55' }, tuned)).statusCode);
      expect(codes).toEqual([200, 200, 200, 429]);
      const ttl = await t.redis.ttl(RedisKeys.rateLimit('otp_ip', '192.0.2.55'));
      expect(ttl).toBeGreaterThan(60);
    } finally {
      await tuned.app.close();
    }
  });

  it('verifies in three Redis round trips: the caller IP, the check-and-consume, the session', async () => {
    const mobile = randomMobile();
    const code = await codeOf(db, (await send(mobile)).json().message_id);
    // Loads the scripts on every server, so the count below sees EVALSHA (on a cluster each master loads a
    // script on its first EVAL): numbers and IPs that hash all over.
    for (let i = 0; i < 30; i++) await verify(randomMobile(), '123456', t, `198.51.100.${i + 1}`);
    const watch = await watchRedis(t.config, () => true);
    const res = await verify(mobile, code, t, '192.0.2.123');
    const seen = await watch.stop();
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-ratelimit-remaining']).toBe('9');
    // Everything the app's client sent (the shared Redis may carry other suites' traffic; on a cluster the
    // client has a connection per master): the caller IP's counter (its own slot), the number's
    // check-and-consume script, then the session's MULTI.
    const ours = (args: string[]) =>
      args.some((a) => typeof a === 'string' && a.startsWith(t.config.redis.keyPrefix));
    const apps = new Set(
      seen.filter((s) => s.source !== 'lua' && ours(s.args)).map((s) => `${s.node} ${s.source}`),
    );
    expect(
      seen
        .filter((s) => apps.has(`${s.node} ${s.source}`))
        .map((s) => s.args[0].toLowerCase())
        .sort(),
    ).toEqual(['evalsha', 'evalsha', 'multi', 'set', 'sadd', 'pexpire', 'zadd', 'exec'].sort());
    expect(await t.redis.get(RedisKeys.rateLimit('otp_ip', '192.0.2.123'))).toBe('1');
  });

  it('counts verify in the per-IP limit it shares with send, without touching the code', async () => {
    const mobile = randomMobile();
    const code = await codeOf(db, (await send(mobile)).json().message_id);
    const ip = '192.0.2.124';
    for (let i = 0; i < 9; i++) await send(randomMobile(), { ip });
    const wrong = await verify(mobile, code === '000000' ? '111111' : '000000', t, undefined, { ip }); // the 10th
    expect(wrong.json()).toMatchObject({ code: 'OTP_INVALID', attempts_remaining: 4 });
    const limited = await verify(mobile, code, t, undefined, { ip }); // the 11th
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    // Refused before the check: the code is still there, and no attempt was spent on it.
    expect(await t.redis.get(RedisKeys.otpAttempts(mobile))).toBe('1');
    expect((await verify(mobile, code)).statusCode).toBe(200);
  });

  it('holds rate limits across two app instances sharing Redis', async () => {
    const other = await startTestApp({ REDIS_KEY_PREFIX: t.config.redis.keyPrefix, TRUST_PROXY: 'true' });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 11; i++) {
        codes.push((await send(randomMobile(), { ip: '192.0.2.99' }, i % 2 ? other : t)).statusCode);
      }
      expect(codes.filter((c) => c === 429)).toHaveLength(1);
      expect(codes[10]).toBe(429);
    } finally {
      await other.app.close();
    }
  });
});

describe('OTP with Redis unreachable', () => {
  let redis: RedisServer;
  let t: TestApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    t = await startTestApp({ REDIS_URL: redis.url });
    await redis.stop();
  });
  afterAll(async () => {
    await t.close();
    await redis.destroy();
  });

  it('a second send while a code is live answers 409 OTP_ACTIVE with the seconds left, from Postgres', async () => {
    const mobile = randomMobile();
    const send = () =>
      t.request({ method: 'POST', url: '/otp/send', payload: { mobile_number: mobile, channel: 'sms' } });
    expect((await send()).statusCode).toBe(200);
    const again = await send();
    expect([again.statusCode, again.json().code]).toEqual([409, 'OTP_ACTIVE']);
    const left = Number(again.headers['retry-after']);
    expect(left).toBeGreaterThan(250);
    expect(left).toBeLessThanOrEqual(t.config.otp.validitySec);
    expect(again.json().retry_after_seconds).toBe(left);
  });

  it('sends and verifies through Postgres, then uses Redis again when it returns', async () => {
    const db = t.app.get(DataSource);
    const mobile = randomMobile();
    const sent = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: mobile, channel: 'sms' },
    });
    expect(sent.statusCode).toBe(200);
    const code = await codeOf(db, sent.json().message_id);
    const wrong = await t.request({
      method: 'POST',
      url: '/otp/verify',
      payload: { mobile_number: mobile, otp: code === '999999' ? '000000' : '999999' },
    });
    expect(wrong.json()).toMatchObject({ statusCode: 400, attempts_remaining: 4 });
    const ok = await t.request({
      method: 'POST',
      url: '/otp/verify',
      payload: { mobile_number: mobile, otp: code },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().verified).toBe(true);
    const health = (await t.request({ url: '/health', as: 'none' })).json();
    expect(health.status).toBe('degraded');

    await redis.startProcess();
    await new Promise((r) => setTimeout(r, 500));
    const next = randomMobile();
    const again = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: next, channel: 'sms' },
    });
    expect(again.statusCode).toBe(200);
    expect(await t.redis.exists(RedisKeys.otp(next))).toBe(1);
  });
});
