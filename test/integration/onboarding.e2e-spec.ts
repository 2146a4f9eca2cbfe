// Reverse-SMS onboarding end to end on the real Redis and Postgres.
import { DataSource } from 'typeorm';
import { QueryCounter } from '../../src/database/query-counter';
import { RedisKeys } from '../../src/redis/redis-keys';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { numberKeys } from '../helpers/number-keys';
import { waitFor } from '../helpers/wait';
import { watchRedis } from '../helpers/redis-monitor';

describe('onboarding', () => {
  let t: TestApp;
  let db: DataSource;

  beforeAll(async () => {
    t = await startTestApp({ ABUSE_THRESHOLD: '5' });
    db = t.app.get(DataSource);
  });
  afterAll(() => t.close());

  const register = (mobile: string) => t.request({ url: `/onboard/register/${encodeURIComponent(mobile)}` });
  const sms = (mobile_number: string, message: string, extra: object = {}) =>
    t.request({ method: 'POST', url: '/onboard/sms', payload: { mobile_number, message, ...extra } });
  const status = async (mobile: string) =>
    (await t.request({ url: `/onboard/status/${encodeURIComponent(mobile)}` })).json();

  it('runs the whole flow: register → inbound SMS → verified → register again is 409', async () => {
    const mobile = randomMobile();
    expect((await status(mobile)).status).toBe('unknown');

    const reg = await register(mobile);
    expect(reg.statusCode).toBe(200);
    expect(Object.keys(reg.json())).toEqual(['hash']);
    const { hash } = reg.json();
    expect(hash).toMatch(/^[ABCDEFGHJKMNPQRSTUVWXYZ2-9]{10}$/);
    expect((await status(mobile)).status).toBe('pending');

    const inbound = await sms(mobile, `onboard ${hash.toLowerCase()}`, { sms_id: `sm-${mobile}` });
    expect(inbound.statusCode).toBe(200);
    expect(inbound.json()).toEqual({ status: 'verified' });

    expect(await numberKeys(t.redis).onboarded(mobile)).toBe(1);
    expect(await t.redis.exists(RedisKeys.onboardHash(mobile))).toBe(0);
    const rows = await db.query('SELECT sms_id FROM out_sms WHERE mobile_number = $1', [mobile]);
    expect(rows).toEqual([{ sms_id: `sm-${mobile}` }]);
    const st = await status(mobile);
    expect(st).toMatchObject({ mobile_number: mobile, status: 'verified' });
    expect(Date.parse(st.verified_at)).not.toBeNaN();

    const again = await register(mobile);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ statusCode: 409, code: 'ALREADY_ONBOARDED' });
  });

  it('accepts national format and answers the same hash within 24 h', async () => {
    const mobile = randomMobile();
    const first = (await register(mobile.slice(3))).json().hash; // national: 9XXXXXXXXX, read as IN
    const second = (await register(mobile)).json().hash;
    expect(second).toBe(first);
    const ttl = await t.redis.ttl(RedisKeys.onboardHash(mobile));
    expect(ttl).toBeGreaterThan(86400 - 10);
    expect(ttl).toBeLessThanOrEqual(86400);
  });

  it('keeps the deprecated POST /onboarding/register working', async () => {
    const mobile = randomMobile();
    const res = await t.request({
      method: 'POST',
      url: '/onboarding/register',
      payload: { mobile_number: mobile },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().hash).toBe((await register(mobile)).json().hash);
  });

  it('answers 400 for numbers that are not numbers', async () => {
    for (const bad of ['12', 'hello', '+1234567890123456789', '%E0%A5%AF%E0%A5%AE']) {
      const res = await register(bad);
      expect([bad, res.statusCode]).toEqual([bad, 400]);
      expect(res.json().code).toBe('INVALID_MOBILE_NUMBER');
    }
  });

  it('gives one hash to concurrent registers of one number', async () => {
    const mobile = randomMobile();
    const answers = await Promise.all(Array.from({ length: 30 }, () => register(mobile)));
    expect(new Set(answers.map((a) => a.json().hash)).size).toBe(1);
  });

  it('registers with exactly one Redis command and no SQL', async () => {
    // The start-up warm-up (which writes every blacklist entry of the shared test database) is over first.
    await waitFor(
      async () => (await t.request({ url: '/health/ready', as: 'none' })).statusCode === 200,
      'warmed up',
    );
    // The script loaded on every server first (on a cluster each master loads it on its first EVAL).
    for (let i = 0; i < 30; i++) await register(randomMobile());
    const watch = await watchRedis(t.config, (args) =>
      args.some((a) => typeof a === 'string' && a.startsWith(t.config.redis.keyPrefix)),
    );
    const sqlBefore = QueryCounter.instance.count;
    const mobiles = [randomMobile(), randomMobile(), randomMobile()];
    await register(mobiles[0]); // fresh
    await register(mobiles[0]); // repeated
    await register(mobiles[1]);
    await register(mobiles[2]);
    const seen = await watch.stop();
    const fromClient = seen.filter((s) => s.source !== 'lua');
    expect(fromClient.map((s) => s.args[0].toLowerCase())).toEqual([
      'evalsha',
      'evalsha',
      'evalsha',
      'evalsha',
    ]);
    expect(QueryCounter.instance.count - sqlBefore).toBe(0);
  });

  describe('inbound SMS rejections', () => {
    const rejected = (reason: string) => ({ status: 'rejected', reason });

    it('hash_mismatch, unknown_header, malformed_message, hash_expired', async () => {
      const mobile = randomMobile();
      const { hash } = (await register(mobile)).json();
      expect((await sms(mobile, 'ONBOARD WRONGHASH2')).json()).toEqual(rejected('hash_mismatch'));
      expect((await sms(mobile, `HELLO ${hash}`)).json()).toEqual(rejected('unknown_header'));
      expect((await sms(mobile, hash)).json()).toEqual(rejected('malformed_message'));
      expect((await sms(randomMobile(), `ONBOARD ${hash}`)).json()).toEqual(rejected('hash_expired'));
      await t.redis.del(RedisKeys.onboardHash(mobile)); // as after 24 h
      expect((await sms(mobile, `ONBOARD ${hash}`)).json()).toEqual(rejected('hash_expired'));
    });

    it('blacklisted (admin) and then register is 403', async () => {
      const mobile = randomMobile();
      const { hash } = (await register(mobile)).json();
      const put = await t.request({
        method: 'PUT',
        url: `/admin/blacklist/${mobile}`,
        payload: { reason: 'fraud' },
        as: 'admin',
      });
      expect(put.statusCode).toBe(200);
      expect((await sms(mobile, `ONBOARD ${hash}`)).json()).toEqual(rejected('blacklisted'));
      const reg = await register(mobile);
      expect(reg.statusCode).toBe(403);
      expect(reg.json().code).toBe('BLACKLISTED');
      expect((await status(mobile)).status).toBe('blacklisted');
    });

    it('already_onboarded when the number is onboarded but a hash still stands', async () => {
      const mobile = randomMobile();
      const { hash } = (await register(mobile)).json();
      await numberKeys(t.redis).setOnboarded(mobile); // e.g. restored by the warm-up meanwhile
      expect((await sms(mobile, `ONBOARD ${hash}`)).json()).toEqual(rejected('already_onboarded'));
    });

    it('abuse_threshold_exceeded past the threshold, and the number becomes a detector candidate', async () => {
      const mobile = randomMobile();
      for (let i = 0; i < 5; i++)
        expect((await sms(mobile, 'ONBOARD NOPE')).json().reason).not.toBe('abuse_threshold_exceeded');
      expect((await sms(mobile, 'ONBOARD NOPE')).json()).toEqual(rejected('abuse_threshold_exceeded'));
      expect(await numberKeys(t.redis).isCandidate(mobile)).toBe(1);
      const ttl = await t.redis.ttl(RedisKeys.abuseCounter(mobile));
      expect(ttl).toBeGreaterThan(86400 - 10);
    });

    it('processes a repeated sms_id once and answers it the same', async () => {
      const mobile = randomMobile();
      const { hash } = (await register(mobile)).json();
      const body = { sms_id: `dup-${mobile}` };
      const [a, b] = await Promise.all([
        sms(mobile, `ONBOARD ${hash}`, body),
        sms(mobile, `ONBOARD ${hash}`, body),
      ]);
      expect(a.json()).toEqual({ status: 'verified' });
      expect(b.json()).toEqual({ status: 'verified' });
      const c = await sms(mobile, `ONBOARD ${hash}`, body);
      expect(c.json()).toEqual({ status: 'verified' });
      expect(await t.redis.get(RedisKeys.abuseCounter(mobile))).toBe('1');
    });

    it('writes an audit event for every outcome', async () => {
      const mobile = randomMobile();
      const { hash } = (await register(mobile)).json();
      await sms(mobile, 'ONBOARD BAD');
      await sms(mobile, `ONBOARD ${hash}`);
      const events = (await numberKeys(t.redis).auditEvents())
        .map((e) => JSON.parse(e))
        .filter((e) => e.mobile_number === mobile);
      expect(events.map((e) => [e.event_type, e.outcome, e.reason ?? null])).toEqual([
        ['register', 'created', null],
        ['inbound_sms', 'rejected', 'hash_mismatch'],
        ['inbound_sms', 'verified', null],
      ]);
      expect(JSON.stringify(events)).not.toContain(hash);
    });

    it('validates the body', async () => {
      const res = await t.request({
        method: 'POST',
        url: '/onboard/sms',
        payload: { mobile_number: randomMobile(), message: 5 },
      });
      expect(res.statusCode).toBe(400);
      const extra = await t.request({
        method: 'POST',
        url: '/onboard/sms',
        payload: { mobile_number: randomMobile(), message: 'x', x: 1 },
      });
      expect(extra.statusCode).toBe(400);
    });
  });
});
