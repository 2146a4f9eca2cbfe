// The SMS-pumping defence of OTP on the real Redis and Postgres: velocity caps per number prefix and per
// country, the verified ÷ sent ratio that blocks a prefix, the admin list and release, and the CAPTCHA hook
// against a local siteverify stand-in.
import { DataSource } from 'typeorm';
import { parsePhone, phoneRegion } from '../../src/common/phone';
import { hoursAt } from '../../src/otp/otp.repository';
import { numberBlock, RedisKeys } from '../../src/redis/redis-keys';
import { CaptchaStandIn } from '../helpers/captcha-standin';
import { randomMobile } from '../helpers/numbers';
import { RedisServer } from '../helpers/redis-server';
import { watchRedis } from '../helpers/redis-monitor';
import { startTestApp, TestApp } from '../helpers/test-app';

const codeOf = async (db: DataSource, messageId: string): Promise<string> => {
  const [row] = await db.query('SELECT body FROM messages WHERE id = $1', [messageId]);
  return /(\d{6})/.exec(row.body)![1];
};

/** A fresh prefix (an Indian mobile number without its last `digits` digits) and its valid numbers. */
function freshPrefix(digits = 3): { prefix: string; number: (i: number) => string } {
  const prefix = randomMobile().slice(0, -digits);
  const number = (i: number) => {
    const n = prefix + String(i).padStart(digits, '0');
    if (parsePhone(n)?.e164 !== n) throw new Error(`${n} is not a valid number`);
    return n;
  };
  return { prefix, number };
}

const send = (app: TestApp, mobile: string, extra: object = {}) =>
  app.request({
    method: 'POST',
    url: '/otp/send',
    payload: { mobile_number: mobile, channel: 'sms', ...extra },
  });
const verify = (app: TestApp, mobile: string, otp: string) =>
  app.request({ method: 'POST', url: '/otp/verify', payload: { mobile_number: mobile, otp } });
const admin = (app: TestApp, method: 'GET' | 'DELETE', url: string) =>
  app.request({ method, url, as: 'admin' });

const metric = async (app: TestApp, name: string, labels: string): Promise<number> => {
  const text = (await app.request({ url: '/metrics', as: 'none' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
};

describe('OTP SMS-pumping defence', () => {
  let t: TestApp;
  let db: DataSource;

  beforeAll(async () => {
    // The defaults of the ratio rule (20 sends, 0.1); no per-IP limit (no ip field, no TRUST_PROXY).
    t = await startTestApp({ OTP_TEST_NUMBERS: '+919999000001:424242,+919999000002:424242' });
    db = t.app.get(DataSource);
  });
  afterAll(() => t.close());

  it('blocks a prefix pumped with no verifications, leaves the others alone, lists it and releases it', async () => {
    const pumped = freshPrefix();
    const other = freshPrefix();
    const before = await metric(t, 'smsb_otp_pumping_blocked_total', 'country="IN"');
    for (let i = 0; i < 20; i++) expect((await send(t, pumped.number(i))).statusCode).toBe(200);

    const refused = await send(t, pumped.number(20));
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ code: 'PUMPING_SUSPECTED' });
    // Until the 20 sends age out of the sliding hour, at most two hours.
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(7201);
    // Refused sends count against nothing, and issue no code.
    expect((await send(t, pumped.number(21))).statusCode).toBe(429);
    expect(await t.redis.exists(RedisKeys.otp(pumped.number(20)))).toBe(0);
    const hour = hoursAt(Date.now()).hour;
    expect(await t.redis.hget(RedisKeys.otpPrefixStats(pumped.prefix, 3, hour), 'sent')).toBe('20');
    expect(await metric(t, 'smsb_otp_pumping_blocked_total', 'country="IN"')).toBe(before + 2);

    // Another prefix, and the next block of the same country, are untouched.
    expect((await send(t, other.number(1))).statusCode).toBe(200);

    const listed = await admin(t, 'GET', '/admin/otp/pumping?limit=500');
    expect(listed.statusCode).toBe(200);
    const entry = listed.json().items.find((i: { prefix: string }) => i.prefix === pumped.prefix);
    expect(entry).toEqual({
      prefix: pumped.prefix,
      country: 'IN',
      sends: 20,
      verified: 0,
      ratio: 0,
      since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(listed.json().items.some((i: { prefix: string }) => i.prefix === other.prefix)).toBe(false);

    expect(
      (await admin(t, 'DELETE', `/admin/otp/pumping/${encodeURIComponent(pumped.prefix)}`)).statusCode,
    ).toBe(204);
    expect(
      (await admin(t, 'DELETE', `/admin/otp/pumping/${encodeURIComponent(pumped.prefix)}`)).statusCode,
    ).toBe(404);
    const after = (await admin(t, 'GET', '/admin/otp/pumping?limit=500')).json();
    expect(after.items.some((i: { prefix: string }) => i.prefix === pumped.prefix)).toBe(false);
    // Released with its counts: judged again only after another 20 sends.
    for (let i = 100; i < 120; i++) expect((await send(t, pumped.number(i))).statusCode).toBe(200);
    expect((await send(t, pumped.number(120))).json().code).toBe('PUMPING_SUSPECTED');
  });

  it('keeps sending to a prefix whose codes are verified often enough', async () => {
    const p = freshPrefix();
    const codes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await send(t, p.number(i));
      expect(res.statusCode).toBe(200);
      codes.push(await codeOf(db, res.json().message_id));
    }
    // 2 of 20 verified: a ratio of 0.1, not below the minimum.
    for (const i of [3, 7]) expect((await verify(t, p.number(i), codes[i])).statusCode).toBe(200);
    const hour = hoursAt(Date.now()).hour;
    expect(await t.redis.hget(RedisKeys.otpPrefixStats(p.prefix, 3, hour), 'verified')).toBe('2');
    expect((await send(t, p.number(20))).statusCode).toBe(200);
    // 2 of 21 is below 0.1: the next is refused.
    expect((await send(t, p.number(21))).json().code).toBe('PUMPING_SUSPECTED');
  });

  it('counts a verified code for its country with the next send there (no Redis command on verify)', async () => {
    const mobile = randomMobile();
    const hour = hoursAt(Date.now()).hour;
    const key = RedisKeys.otpCountryStats('IN', hour);
    const code = await codeOf(db, (await send(t, mobile)).json().message_id);
    expect((await verify(t, mobile, code)).statusCode).toBe(200);
    const verified = Number((await t.redis.hget(key, 'verified')) ?? 0);
    const sent = Number(await t.redis.hget(key, 'sent'));
    expect((await send(t, randomMobile())).statusCode).toBe(200);
    expect(Number(await t.redis.hget(key, 'verified'))).toBe(verified + 1);
    expect(Number(await t.redis.hget(key, 'sent'))).toBe(sent + 1);
  });

  it('exempts test numbers: they are not counted and never blocked', async () => {
    const prefix = numberBlock('+919999000001');
    const hour = hoursAt(Date.now()).hour;
    for (let i = 0; i < 3; i++) {
      for (const n of ['+919999000001', '+919999000002'])
        expect((await send(t, n, { resend: true })).statusCode).not.toBe(429);
    }
    expect(await t.redis.exists(RedisKeys.otpPrefixStats(prefix, 3, hour))).toBe(0);
  });

  it('sends in the same round trips: the reserve step (now with the country) in parallel, then the number', async () => {
    const mobile = randomMobile();
    // Loads the scripts on every server (EVAL the first time), as the verify count does.
    for (let i = 0; i < 5; i++) await send(t, randomMobile());
    const watch = await watchRedis(t.config, (args) =>
      args.some((a) => typeof a === 'string' && a.startsWith(t.config.redis.keyPrefix)),
    );
    const res = await send(t, mobile);
    const seen = await watch.stop();
    expect(res.statusCode).toBe(200);
    const scripts = seen.filter((s) => s.source !== 'lua' && s.args[0].toLowerCase() === 'evalsha');
    const kind = (args: string[]) => {
      const first = args[3];
      if (first.includes('rate_limit:{otp_budget')) return 'budget';
      if (first.includes('rate_limit:{otp_client')) return 'client';
      if (first.includes('{otp_country:IN}')) return 'country';
      if (first.endsWith(`:otp:${mobile}`)) return 'number';
      return 'other';
    };
    const otpScripts = scripts.map((s) => kind(s.args)).filter((k) => k !== 'other');
    // The reserve step (the API key, the budget, the country) goes out before the number's script.
    expect(otpScripts.slice(0, 3).sort()).toEqual(['budget', 'client', 'country']);
    expect(otpScripts.slice(3)).toEqual(['number']);
    // No command of its own for the prefix: its rules ran inside the number's script.
    const prefixKey = RedisKeys.otpPrefixStats(numberBlock(mobile), 3, hoursAt(Date.now()).hour);
    const others = seen.filter((s) => s.source !== 'lua' && kind(s.args) !== 'number');
    expect(others.filter((s) => s.args.some((a) => a.endsWith(prefixKey)))).toEqual([]);
    expect(await t.redis.hget(prefixKey, 'sent')).toBe('1');
  });
});

describe('OTP velocity caps per prefix and per country', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({
      OTP_PREFIX_SENDS_PER_HOUR: '5',
      OTP_COUNTRY_SENDS_PER_HOUR: 'GB:3,in:100000',
      OTP_ALLOWED_COUNTRIES: '91,44',
    });
  });
  afterAll(() => t.close());

  it('caps a prefix exactly under 20 concurrent sends, with Retry-After, and leaves other prefixes alone', async () => {
    const p = freshPrefix();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => send(t, p.number(i))));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(5);
    const refused = results.filter((r) => r.statusCode !== 200);
    expect(refused.every((r) => r.statusCode === 429 && r.json().code === 'RATE_LIMITED')).toBe(true);
    // The 5 sends are all in this hour: they stop counting fully once it ends.
    const retryAfter = Number(refused[0].headers['retry-after']);
    const hourLeft = (3_600_000 - (Date.now() % 3_600_000)) / 1000;
    expect(retryAfter).toBeGreaterThanOrEqual(Math.floor(hourLeft));
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(hourLeft) + 2);
    const hour = hoursAt(Date.now()).hour;
    expect(await t.redis.hget(RedisKeys.otpPrefixStats(p.prefix, 3, hour), 'sent')).toBe('5');
    expect((await send(t, freshPrefix().number(1))).statusCode).toBe(200);
  });

  it('caps a country (OTP_COUNTRY_SENDS_PER_HOUR), giving back what a refused send reserved', async () => {
    const gb = () => {
      const n = `+447400${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
      if (phoneRegion(n) !== 'GB' || parsePhone(n)?.e164 !== n) throw new Error(`${n} is not a GB mobile`);
      return n;
    };
    const first = gb();
    expect((await send(t, first)).statusCode).toBe(200);
    // Refused by the number's own rule (a code is active): the country's unit is given back.
    expect((await send(t, first)).statusCode).toBe(409);
    const hour = hoursAt(Date.now()).hour;
    expect(await t.redis.hget(RedisKeys.otpCountryStats('GB', hour), 'sent')).toBe('1');
    expect((await send(t, gb())).statusCode).toBe(200);
    expect((await send(t, gb())).statusCode).toBe(200);
    const capped = await send(t, gb());
    expect(capped.statusCode).toBe(429);
    expect(capped.json().code).toBe('RATE_LIMITED');
    expect(Number(capped.headers['retry-after'])).toBeGreaterThan(0);
    expect(await t.redis.hget(RedisKeys.otpCountryStats('GB', hour), 'sent')).toBe('3');
    // India has its own cap, far away.
    expect((await send(t, randomMobile())).statusCode).toBe(200);
  });
});

describe('OTP pumping with a prefix on its own slot (OTP_PREFIX_DIGITS=4)', () => {
  let t: TestApp;
  let db: DataSource;

  beforeAll(async () => {
    t = await startTestApp({
      OTP_PREFIX_DIGITS: '4',
      OTP_PUMPING_MIN_SENDS: '4',
      OTP_PUMPING_MIN_RATIO: '0.5',
    });
    db = t.app.get(DataSource);
  });
  afterAll(() => t.close());

  it('judges the prefix in the reserve step, counts verifies for it, and lists and releases it', async () => {
    const p = freshPrefix(4);
    const codes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await send(t, p.number(i * 1000 + 7)); // four different blocks of one 4-digit prefix
      expect(res.statusCode).toBe(200);
      codes.push(await codeOf(db, res.json().message_id));
    }
    expect((await verify(t, p.number(7), codes[0])).statusCode).toBe(200);
    const hour = hoursAt(Date.now()).hour;
    const key = RedisKeys.otpPrefixStats(p.prefix, 4, hour);
    // The verified count goes out without the verify waiting for it.
    for (let i = 0; i < 50 && (await t.redis.hget(key, 'verified')) !== '1'; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await t.redis.hget(key, 'verified')).toBe('1');
    // 1 of 4 verified is below 0.5.
    const refused = await send(t, p.number(9999));
    expect(refused.json().code).toBe('PUMPING_SUSPECTED');
    expect(await t.redis.hget(key, 'sent')).toBe('4');
    const listed = (await admin(t, 'GET', '/admin/otp/pumping')).json();
    expect(listed.items.find((i: { prefix: string }) => i.prefix === p.prefix)).toMatchObject({
      sends: 4,
      verified: 1,
      ratio: 0.25,
    });
    expect((await admin(t, 'DELETE', `/admin/otp/pumping/${encodeURIComponent(p.prefix)}`)).statusCode).toBe(
      204,
    );
    expect((await send(t, p.number(9999))).statusCode).toBe(200);
  });
});

describe('OTP blocked prefixes, as admins list them', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ OTP_PUMPING_MIN_SENDS: '2', OTP_PUMPING_MIN_RATIO: '0.5' });
  });
  afterAll(() => t.close());

  it('pages by prefix with a cursor, and drops a block that lapsed by itself', async () => {
    const blocked: string[] = [];
    for (let k = 0; k < 3; k++) {
      const p = freshPrefix();
      for (let i = 0; i < 2; i++) expect((await send(t, p.number(i))).statusCode).toBe(200);
      expect((await send(t, p.number(2))).json().code).toBe('PUMPING_SUSPECTED');
      blocked.push(p.prefix);
    }
    blocked.sort();
    const first = (await admin(t, 'GET', '/admin/otp/pumping?limit=2')).json();
    expect(first.items.map((i: { prefix: string }) => i.prefix)).toEqual(blocked.slice(0, 2));
    expect(first.next_cursor).toBe(blocked[1]);
    const second = (
      await admin(t, 'GET', `/admin/otp/pumping?limit=2&cursor=${encodeURIComponent(first.next_cursor)}`)
    ).json();
    expect(second).toEqual({
      items: [expect.objectContaining({ prefix: blocked[2], sends: 2 })],
      next_cursor: null,
    });

    // The block's marker expires when its sends have aged out: the list forgets it.
    await t.redis.del(RedisKeys.otpPumpingBlock(blocked[0], 3));
    const after = (await admin(t, 'GET', '/admin/otp/pumping')).json();
    expect(after.items.map((i: { prefix: string }) => i.prefix)).toEqual(blocked.slice(1));
    expect(await t.redis.zrange(RedisKeys.otpPumpingIndex(), 0, -1)).toEqual(blocked.slice(1));
    expect((await admin(t, 'GET', '/admin/otp/pumping?cursor=91')).statusCode).toBe(400);
  });
});

describe('OTP pumping with Redis unreachable', () => {
  let redis: RedisServer;
  let t: TestApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    t = await startTestApp({
      REDIS_URL: redis.url,
      OTP_PUMPING_MIN_SENDS: '3',
      OTP_PREFIX_SENDS_PER_HOUR: '10',
    });
    await redis.stop();
  });
  afterAll(async () => {
    await redis.startProcess(); // (the queues close over a live connection)
    await new Promise((r) => setTimeout(r, 500));
    await t.close();
    await redis.destroy();
  });

  it('judges the prefix on Postgres (its codes of the last hour) and still leaves other prefixes alone', async () => {
    const p = freshPrefix();
    for (let i = 0; i < 3; i++) expect((await send(t, p.number(i))).statusCode).toBe(200);
    const refused = await send(t, p.number(3));
    expect(refused.statusCode).toBe(429);
    expect(refused.json().code).toBe('PUMPING_SUSPECTED');
    expect((await send(t, freshPrefix().number(0))).statusCode).toBe(200);
  });
});

describe('OTP CAPTCHA hook', () => {
  let captcha: CaptchaStandIn;
  let t: TestApp;

  beforeAll(async () => {
    captcha = await CaptchaStandIn.start();
    t = await startTestApp({
      OTP_CAPTCHA_VERIFY_URL: captcha.verifyUrl,
      OTP_CAPTCHA_SECRET: CaptchaStandIn.SECRET,
      OTP_TEST_NUMBERS: '+919999000003:424242',
    });
  });
  afterAll(async () => {
    await t.close();
    await captcha.close();
  });

  it('requires a token, verifies it server-to-server as hCaptcha and Turnstile do, and takes it once', async () => {
    const mobile = randomMobile();
    const missing = await send(t, mobile);
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe('CAPTCHA_REQUIRED');
    expect(captcha.requests).toHaveLength(0);

    const wrong = await send(t, mobile, { captcha_token: 'not-a-real-token' });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().code).toBe('CAPTCHA_FAILED');
    // Refused before anything was counted.
    expect(await t.redis.exists(RedisKeys.otpSendsPerNumber(mobile))).toBe(0);

    const token = captcha.issue();
    const ok = await send(t, mobile, { captcha_token: token, ip: '203.0.113.9' });
    expect(ok.statusCode).toBe(200);
    expect(captcha.requests.at(-1)).toEqual({
      path: '/siteverify',
      contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
      form: { secret: CaptchaStandIn.SECRET, response: token, remoteip: '203.0.113.9' },
    });
    // The verifier takes a token once.
    const again = await send(t, randomMobile(), { captcha_token: token });
    expect(again.json().code).toBe('CAPTCHA_FAILED');
  });

  it('fails closed when the verifier cannot be asked, and spares test numbers', async () => {
    captcha.fault = 'error';
    try {
      const down = await send(t, randomMobile(), { captcha_token: captcha.issue() });
      expect(down.statusCode).toBe(503);
      expect(down.json().code).toBe('CAPTCHA_UNAVAILABLE');
      expect(Number(down.headers['retry-after'])).toBeGreaterThan(0);
      captcha.fault = 'garbage';
      expect((await send(t, randomMobile(), { captcha_token: captcha.issue() })).statusCode).toBe(503);
    } finally {
      captcha.fault = null;
    }
    expect((await send(t, '+919999000003')).statusCode).toBe(200);
  });
});
