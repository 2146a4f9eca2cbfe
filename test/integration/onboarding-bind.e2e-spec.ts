// Device binding (the app-sent mode of reverse SMS) end to end on the real Redis and Postgres: the token's
// rules (bound number, expiry, single use), the device's limit and flag, the status, and the Redis commands of
// the inbound path for both flows.
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { deviceDigest, tokenBucket, tokenDigest } from '../../src/onboarding/bind-token';
import { numberBucket, RedisKeys } from '../../src/redis/redis-keys';
import { randomMobile } from '../helpers/numbers';
import { numberKeys } from '../helpers/number-keys';
import { RedisServer } from '../helpers/redis-server';
import { watchRedis } from '../helpers/redis-monitor';
import { startTestApp, TestApp } from '../helpers/test-app';
import { signedTwilioForm, TwilioStandIn } from '../helpers/twilio-standin';
import { waitFor } from '../helpers/wait';

const VMN = '+919000012345';

describe('device binding', () => {
  let t: TestApp;
  let db: DataSource;

  beforeAll(async () => {
    t = await startTestApp({ ONBOARDING_VMN: VMN, ABUSE_THRESHOLD: '1000' });
    db = t.app.get(DataSource);
  });
  afterAll(() => t.close());

  const newDevice = () => `dev-${randomUUID()}`;
  const bind = (mobile_number: string, device_id: string) =>
    t.request({ method: 'POST', url: '/onboard/bind', payload: { mobile_number, device_id } });
  const token = async (mobile: string, device = newDevice()) => {
    const res = await bind(mobile, device);
    expect(res.statusCode).toBe(200);
    return { token: res.json().token as string, device };
  };
  const sms = async (mobile_number: string, message: string, extra: object = {}) =>
    (
      await t.request({ method: 'POST', url: '/onboard/sms', payload: { mobile_number, message, ...extra } })
    ).json();
  const deviceStatus = async (device: string) =>
    (await t.request({ url: `/onboard/bind/${encodeURIComponent(device)}` })).json().status;
  const rejected = (reason: string) => ({ status: 'rejected', reason });
  /** Another number of the same block: the same bucket, so the same Redis slot as `mobile`. */
  const neighbour = (mobile: string) =>
    mobile.slice(0, -3) + String((Number(mobile.slice(-3)) + 1) % 1000).padStart(3, '0');
  /** A number in another bucket. */
  const elsewhere = (mobile: string) => {
    for (;;) {
      const m = randomMobile();
      if (numberBucket(m) !== numberBucket(mobile)) return m;
    }
  };
  const stored = (tok: string) => t.redis.hgetall(RedisKeys.bindToken(tokenBucket(tok), tokenDigest(tok)));
  const device = (id: string) => deviceDigest(t.config.secrets.onboarding, id);

  it('issues a long token bound to the device and number, for 15 minutes, with the VMN to text', async () => {
    const mobile = randomMobile();
    const id = newDevice();
    expect(await deviceStatus(id)).toBe('unknown');
    const res = await bind(mobile.slice(3), id); // national format, read as IN
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['expires_in', 'token', 'vmn']);
    expect(body).toMatchObject({ vmn: VMN, expires_in: 900 });
    expect(body.token.length).toBeGreaterThanOrEqual(35);
    expect(body.token).toMatch(/^[0-9A-HJKMNP-TV-Z]+$/); // digits and capitals: GSM-7, nothing escaped
    expect(tokenBucket(body.token)).toBe(numberBucket(mobile));

    const key = RedisKeys.bindToken(tokenBucket(body.token), tokenDigest(body.token));
    expect(await t.redis.hgetall(key)).toEqual({ m: mobile, d: device(id), s: 'live' });
    const ttl = await t.redis.ttl(key);
    expect(ttl).toBeGreaterThan(890);
    expect(ttl).toBeLessThanOrEqual(900);
    expect(await deviceStatus(id)).toBe('pending');
    // Redis holds a digest of the token only, nowhere the token itself.
    const keys = await t.redis.keys(`${t.config.redis.keyPrefix}*`);
    expect(keys.join(' ')).not.toContain(body.token);
  });

  it('verifies the number when the token comes from the bound number, alone or after a header', async () => {
    for (const withHeader of [false, true]) {
      const mobile = randomMobile();
      const { token: tok, device: id } = await token(mobile);
      const message = withHeader ? `onboard ${tok}` : `  ${tok.toLowerCase()}\n`;
      expect(await sms(mobile, message, { sms_id: `bind-${mobile}` })).toEqual({ status: 'verified' });
      expect(await numberKeys(t.redis).onboarded(mobile)).toBe(1);
      expect((await stored(tok)).s).toBe('used');
      expect(await deviceStatus(id)).toBe('verified');
      const rows = await db.query('SELECT sms_id FROM out_sms WHERE mobile_number = $1', [mobile]);
      expect(rows).toEqual([{ sms_id: `bind-${mobile}` }]);
      expect((await t.request({ url: `/onboard/status/${mobile}` })).json().status).toBe('verified');
    }
  });

  it('is used once: the same token again is token_used', async () => {
    const mobile = randomMobile();
    const { token: tok } = await token(mobile);
    expect(await sms(mobile, tok)).toEqual({ status: 'verified' });
    expect(await sms(mobile, tok)).toEqual(rejected('token_used'));
  });

  it('verifies exactly one of many concurrent deliveries of one token', async () => {
    const mobile = randomMobile();
    const { token: tok, device: id } = await token(mobile);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => sms(mobile, tok, { sms_id: `conc-${mobile}-${i}` })),
    );
    const verified = answers.filter((a) => a.status === 'verified');
    expect(verified).toHaveLength(1);
    expect(answers.filter((a) => a.reason === 'token_used')).toHaveLength(39);
    expect(await deviceStatus(id)).toBe('verified');
    const events = (await numberKeys(t.redis).auditEvents())
      .map((e) => JSON.parse(e))
      .filter((e) => e.mobile_number === mobile && e.event_type === 'inbound_sms');
    expect(events.filter((e) => e.outcome === 'verified')).toHaveLength(1);
    expect(events).toHaveLength(40);
  });

  it('rejects a token from another number (token_sender_mismatch), burns it and flags the device', async () => {
    // A sender in the bound number's own bucket (the same slot) and one in another bucket.
    for (const other of [neighbour, elsewhere]) {
      const mobile = randomMobile();
      const id = newDevice();
      const { token: first } = await token(mobile, id);
      const { token: second } = await token(randomMobile(), id); // another live token of the same device
      const intruder = other(mobile);
      expect(await sms(intruder, first)).toEqual(rejected('token_sender_mismatch'));
      expect((await stored(first)).s).toBe('burned');
      expect((await stored(second)).s).toBe('burned'); // a flagged device's live tokens go with it
      // The bound number itself is now refused too: the token is burned.
      expect(await sms(mobile, first)).toEqual(rejected('token_burned'));
      expect(await numberKeys(t.redis).onboarded(mobile)).toBe(0);
      expect(await numberKeys(t.redis).onboarded(intruder)).toBe(0);

      expect(await deviceStatus(id)).toBe('blocked');
      const again = await bind(mobile, id);
      expect(again.statusCode).toBe(403);
      expect(again.json()).toMatchObject({ code: 'DEVICE_BLOCKED' });
      expect(Number(again.headers['retry-after'])).toBeGreaterThan(86400 - 10);
      const flagTtl = await t.redis.ttl(RedisKeys.deviceFlag(device(id)));
      expect(flagTtl).toBeGreaterThan(86400 - 10);
    }
  });

  it('flags the device when a used token comes back from another number', async () => {
    const mobile = randomMobile();
    const { token: tok, device: id } = await token(mobile);
    expect(await sms(mobile, tok)).toEqual({ status: 'verified' });
    expect(await sms(neighbour(mobile), tok)).toEqual(rejected('token_sender_mismatch'));
    expect(await deviceStatus(id)).toBe('blocked');
  });

  it('rejects expired and never-issued tokens (token_expired)', async () => {
    const mobile = randomMobile();
    const { token: tok, device: id } = await token(mobile);
    await t.redis.del(RedisKeys.bindToken(tokenBucket(tok), tokenDigest(tok))); // as after 15 minutes
    expect(await sms(mobile, tok)).toEqual(rejected('token_expired'));
    expect(await sms(mobile, '0'.repeat(40))).toEqual(rejected('token_expired'));
    expect(await sms(mobile, 'U'.repeat(40))).toEqual(rejected('token_expired'));
    expect(await sms(elsewhere(mobile), tok)).toEqual(rejected('token_expired'));
    expect(await deviceStatus(id)).toBe('pending'); // until its own marker expires with the token
    await t.redis.del(RedisKeys.devicePending(device(id)));
    expect(await deviceStatus(id)).toBe('unknown');
  });

  it('runs the shared checks first: blacklist, abuse counter, header', async () => {
    const mobile = randomMobile();
    const { token: tok } = await token(mobile);
    expect(await sms(mobile, `HELLO ${tok}`)).toEqual(rejected('unknown_header'));
    expect(await sms(mobile, `ONBOARD X ${tok}`)).toEqual(rejected('malformed_message'));
    await numberKeys(t.redis).setBlacklisted(mobile);
    expect(await sms(mobile, tok)).toEqual(rejected('blacklisted'));
    await numberKeys(t.redis).setBlacklisted(mobile, false);
    expect(await sms(mobile, tok)).toEqual({ status: 'verified' });
  });

  it('binds a new device to a number already onboarded (a new phone)', async () => {
    const mobile = randomMobile();
    await numberKeys(t.redis).setOnboarded(mobile);
    const { token: tok, device: id } = await token(mobile);
    expect(await sms(mobile, tok)).toEqual({ status: 'verified' });
    expect(await deviceStatus(id)).toBe('verified');
  });

  it('gives a device 3 tokens per 24 h, then 429 DEVICE_LIMIT until the window ends', async () => {
    const id = newDevice();
    for (let i = 0; i < 3; i++) expect((await bind(randomMobile(), id)).statusCode).toBe(200);
    expect(await deviceStatus(id)).toBe('pending');
    const refused = await bind(randomMobile(), id);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ statusCode: 429, code: 'DEVICE_LIMIT' });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(86400 - 10);
    expect(retryAfter).toBeLessThanOrEqual(86400);
    expect(await deviceStatus(id)).toBe('blocked');
    // Refusals do not move the window's end.
    expect(await t.redis.ttl(RedisKeys.deviceTokens(device(id)))).toBeLessThanOrEqual(86400);
    // The window over: tokens again.
    await t.redis.del(RedisKeys.deviceTokens(device(id)));
    expect((await bind(randomMobile(), id)).statusCode).toBe(200);
  });

  it('keeps the limit exact under concurrent requests of one device', async () => {
    const id = newDevice();
    const answers = await Promise.all(Array.from({ length: 30 }, () => bind(randomMobile(), id)));
    expect(answers.filter((a) => a.statusCode === 200)).toHaveLength(3);
    expect(answers.filter((a) => a.statusCode === 429)).toHaveLength(27);
  });

  it('audits binds and both flows, with the device digest and never the token', async () => {
    const mobile = randomMobile();
    const id = newDevice();
    const { token: tok } = await token(mobile, id);
    await sms(mobile, `ONBOARD ${tok}`);
    const { hash } = (await t.request({ url: `/onboard/register/${elsewhere(mobile)}` })).json();
    const events = (await numberKeys(t.redis).auditEvents())
      .map((e) => JSON.parse(e))
      .filter((e) => e.mobile_number === mobile);
    expect(events.map((e) => [e.event_type, e.outcome, e.details?.flow ?? null, e.details?.device])).toEqual([
      ['bind', 'issued', null, device(id)],
      ['inbound_sms', 'verified', 'token', device(id)],
    ]);
    const all = JSON.stringify(await numberKeys(t.redis).auditEvents());
    expect(all).not.toContain(tok);
    expect(all).not.toContain(id);
    expect(hash).toBeTruthy();
  });

  it('validates the body and the device id', async () => {
    const mobile = randomMobile();
    for (const bad of ['short', 'x'.repeat(129), 'has space 123', 'ünicode-device', 5, null]) {
      const res = await bind(mobile, bad as string);
      expect([bad, res.statusCode]).toEqual([bad, 400]);
    }
    const badNumber = await bind('12', newDevice());
    expect(badNumber.statusCode).toBe(400);
    expect(badNumber.json().code).toBe('INVALID_MOBILE_NUMBER');
    const extra = await t.request({
      method: 'POST',
      url: '/onboard/bind',
      payload: { mobile_number: mobile, device_id: newDevice(), x: 1 },
    });
    expect(extra.statusCode).toBe(400);
    expect((await t.request({ url: '/onboard/bind/short' })).statusCode).toBe(400);
    expect((await t.request({ url: '/onboard/bind/abc%20defgh' })).statusCode).toBe(400);
    expect((await t.request({ url: `/onboard/bind/${newDevice()}`, as: 'none' })).statusCode).toBe(401);
  });

  describe('Redis commands of an inbound SMS', () => {
    const watch = () =>
      watchRedis(t.config, (args) =>
        args.some((a) => typeof a === 'string' && a.startsWith(t.config.redis.keyPrefix)),
      );
    const names = (seen: { args: string[]; source: string }[]) =>
      seen.filter((s) => s.source !== 'lua').map((s) => s.args[0].toLowerCase());
    // The snapshot's MULTI (MULTI and EXEC carry no key, so the filter leaves them out; the commands between
    // them are these, in one transaction).
    const SNAPSHOT = ['getbit', 'incr', 'expire', 'get', 'getbit', 'exists', 'exists'];

    beforeAll(async () => {
      await waitFor(
        async () => (await t.request({ url: '/health/ready', as: 'none' })).statusCode === 200,
        'warmed up',
      );
      // Scripts loaded first (on a cluster each master loads them on first use).
      for (let i = 0; i < 5; i++) {
        const m = randomMobile();
        const { token: tok } = await token(m);
        await sms(m, tok);
        await sms(neighbour(m), (await token(m)).token);
      }
    });

    it('the typed-hash flow: claim, one MULTI, the outcome, the answer', async () => {
      const mobile = randomMobile();
      const w = await watch();
      await sms(mobile, 'ONBOARD ABCDEFGHJK', { sms_id: randomUUID() });
      expect(names(await w.stop())).toEqual(['set', ...SNAPSHOT, 'rpush', 'set']);
    });

    it('the token flow: the token read inside the same MULTI, consumed in one script, the device marked', async () => {
      const mobile = randomMobile();
      const { token: tok } = await token(mobile);
      const w = await watch();
      await sms(mobile, tok, { sms_id: randomUUID() });
      expect(names(await w.stop())).toEqual([
        'set',
        'hgetall',
        ...SNAPSHOT,
        'evalsha', // consume: token used, number onboarded, audit event
        'evalsha', // device verified (the device's slot)
        'set',
      ]);
    });

    it('a rejected token: the same commands as a rejected hash, plus a read of the token', async () => {
      const mobile = randomMobile();
      const { token: tok } = await token(mobile);
      await sms(mobile, tok);
      const w = await watch();
      await sms(mobile, tok, { sms_id: randomUUID() });
      expect(names(await w.stop())).toEqual(['set', 'hgetall', ...SNAPSHOT, 'rpush', 'set']);
    });
  });
});

describe('device binding: faults and configuration', () => {
  it('answers 503 REDIS_UNAVAILABLE while Redis is down, and binds again once it is back', async () => {
    const redis = await RedisServer.start();
    const t = await startTestApp({ REDIS_URL: redis.url, ONBOARDING_VMN: VMN });
    try {
      const mobile = randomMobile();
      expect(
        (await t.request({ method: 'POST', url: '/onboard/bind', payload: body(mobile) })).statusCode,
      ).toBe(200);
      await redis.stop();
      const res = await t.request({ method: 'POST', url: '/onboard/bind', payload: body(mobile) });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ statusCode: 503, code: 'REDIS_UNAVAILABLE' });
      expect(res.headers['retry-after']).toBeDefined();
      const status = await t.request({ url: '/onboard/bind/device-0001' });
      expect(status.statusCode).toBe(503);

      await redis.startProcess();
      await waitFor(
        async () =>
          (await t.request({ method: 'POST', url: '/onboard/bind', payload: body(mobile) })).statusCode ===
          200,
        'binds again',
        10000,
      );
    } finally {
      await t.close();
      await redis.destroy();
    }
  });

  it('answers 503 BINDING_NOT_CONFIGURED without ONBOARDING_VMN', async () => {
    const t = await startTestApp({ ONBOARDING_VMN: '' });
    try {
      const res = await t.request({ method: 'POST', url: '/onboard/bind', payload: body(randomMobile()) });
      expect(res.statusCode).toBe(503);
      expect(res.json().code).toBe('BINDING_NOT_CONFIGURED');
    } finally {
      await t.close();
    }
  });

  it("takes the token through Twilio's inbound webhook too (the shared pipeline)", async () => {
    const PUBLIC = 'https://sms-bridge.example.com';
    const t = await startTestApp({
      ONBOARDING_VMN: VMN,
      TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
      PUBLIC_BASE_URL: PUBLIC,
    });
    try {
      const mobile = randomMobile();
      const bound = await t.request({ method: 'POST', url: '/onboard/bind', payload: body(mobile) });
      const { token } = bound.json();
      const signed = signedTwilioForm(`${PUBLIC}/webhooks/twilio/inbound`, {
        MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
        From: mobile,
        Body: token,
        AccountSid: TwilioStandIn.ACCOUNT_SID,
      });
      const res = await t.request({
        method: 'POST',
        url: '/webhooks/twilio/inbound',
        payload: signed.payload,
        headers: signed.headers,
        as: 'none',
      });
      expect(res.statusCode).toBe(200);
      expect(await numberKeys(t.redis).onboarded(mobile)).toBe(1);
      expect((await t.request({ url: '/onboard/bind/device-0001' })).json().status).toBe('verified');
    } finally {
      await t.close();
    }
  });

  it('verifies a token bound before an API restart (tokens live in Redis only)', async () => {
    const first = await startTestApp({ ONBOARDING_VMN: VMN });
    const prefix = first.config.redis.keyPrefix;
    const mobile = randomMobile();
    const { token } = (
      await first.request({ method: 'POST', url: '/onboard/bind', payload: body(mobile) })
    ).json();
    await first.app.close(); // a restart: the keys stay (close() would remove them)
    const second = await startTestApp({ ONBOARDING_VMN: VMN, REDIS_KEY_PREFIX: prefix });
    try {
      const res = await second.request({
        method: 'POST',
        url: '/onboard/sms',
        payload: { mobile_number: mobile, message: token },
      });
      expect(res.json()).toEqual({ status: 'verified' });
    } finally {
      await second.close();
    }
  });

  const body = (mobile_number: string) => ({ mobile_number, device_id: 'device-0001' });
});
