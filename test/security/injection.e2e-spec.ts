// SQL-looking and Lua-looking input is data: stored as sent and answered back unchanged wherever a client may put
// free text (message bodies, subjects and metadata, session contexts and user agents, blacklist reasons, settings,
// Idempotency-Key, inbound SMS ids and texts), and nothing it spells out ever runs: every table and key is still
// there afterwards. A NUL character, which Postgres cannot store, is a clear 400 there, and data in Redis.
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { MonitorLoggerTask } from '../../src/onboarding/monitor-logger.task';
import { SettingsService } from '../../src/onboarding/settings.service';
import { RedisKeys } from '../../src/redis/redis-keys';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { randomMobile } from '../helpers/numbers';
import { keepSettings } from '../helpers/settings-snapshot';
import { startTestApp, TestApp } from '../helpers/test-app';
import { numberKeys } from '../helpers/number-keys';

const SQL = [
  "'; DROP TABLE messages;--",
  "' OR '1'='1",
  '1; DELETE FROM settings; --',
  '"; TRUNCATE out_sms CASCADE; --',
  "Robert'); DROP TABLE blacklist_sms;--",
  "$1 $$ ::text E'\\x00' \\'; SELECT pg_sleep(10);--",
  '%_% LIKE \\',
];
const LUA = [
  "redis.call('FLUSHALL')",
  ']]',
  ']==] --[[',
  '\\0',
  "return redis.call('DEL', KEYS[1])",
  "'..redis.call('FLUSHDB')..'",
  '%s %d %q %%',
  "cjson.decode('{') \\u0000",
];
const HOSTILE = [...SQL, ...LUA];
/** One string holding all of them, for fields that take one value per request. */
const ALL_IN_ONE = HOSTILE.join(' | ');

const TABLES = [
  'settings',
  'out_sms',
  'blacklist_sms',
  'count_sms',
  'sms_monitor',
  'messages',
  'message_events',
  'otp_codes',
];

describe('injection: hostile text is stored and answered as plain data', () => {
  let t: TestApp;
  let db: DataSource;
  const sentinel = RedisKeys.cache('injection', 'sentinel');

  beforeAll(async () => {
    // API and worker in one process (long intervals: the test runs the monitor-logger's tick itself).
    t = await startTestApp({ MONITOR_LOG_INTERVAL: '3600', ABUSE_CHECK_INTERVAL: '3600' }, { role: 'all' });
    await t.app.get(JobScheduler).idle();
    db = t.app.get(DataSource);
    await t.redis.set(sentinel, 'still here');
  });
  afterAll(async () => {
    // Nothing any of it spelled out ran: every table answers, the Redis keys written before and during are there.
    for (const table of TABLES)
      await expect(db.query(`SELECT count(*) FROM ${table}`)).resolves.toBeDefined();
    expect(Number((await db.query('SELECT count(*) FROM messages'))[0].count)).toBeGreaterThan(0);
    expect(await t.redis.get(sentinel)).toBe('still here');
    await t?.close();
  });

  const send = (payload: object, headers: Record<string, string> = {}) =>
    t.request({ method: 'POST', url: '/api/v1/messages/send', payload, headers });

  it('keeps message bodies, subjects and metadata as sent', async () => {
    for (const text of HOSTILE) {
      const accepted = await send({
        to: randomMobile(),
        type: 'sms',
        body: text,
        metadata: { [text]: text, nested: { list: [text, 1, null] } },
      });
      expect([text, accepted.statusCode]).toEqual([text, 202]);
      const got = (await t.request({ url: `/api/v1/messages/${accepted.json().id}` })).json();
      expect([text, got.body, got.metadata]).toEqual([
        text,
        text,
        { [text]: text, nested: { list: [text, 1, null] } },
      ]);
      const [row] = await db.query('SELECT body FROM messages WHERE id = $1', [accepted.json().id]);
      expect(row.body).toBe(text);
    }
    const email = await send({
      to: 'someone@example.com',
      type: 'email',
      subject: ALL_IN_ONE,
      body: ALL_IN_ONE,
    });
    expect(email.statusCode).toBe(202);
    const got = (await t.request({ url: `/api/v1/messages/${email.json().id}` })).json();
    expect([got.subject, got.body]).toEqual([ALL_IN_ONE, ALL_IN_ONE]);
  });

  it('finds nothing for a hostile list filter or cursor, and fails nothing', async () => {
    for (const text of HOSTILE) {
      const list = await t.request({ url: `/api/v1/messages?to=${encodeURIComponent(text)}` });
      expect([text, list.statusCode, list.json().items]).toEqual([text, 200, []]);
      const cursor = await t.request({ url: `/api/v1/messages?cursor=${encodeURIComponent(text)}` });
      expect([text, cursor.statusCode, cursor.json().code]).toEqual([text, 400, 'INVALID_CURSOR']);
      const blacklist = await t.request({
        url: `/admin/blacklist?cursor=${encodeURIComponent(text.slice(0, 32))}`,
        as: 'admin',
      });
      expect([text, blacklist.statusCode]).toEqual([text, 200]);
    }
  });

  it('keeps an Idempotency-Key as sent: a repeat replays, another body is refused', async () => {
    // Visible ASCII only (SPEC's header rule), so the hostile strings without their spaces.
    for (const text of HOSTILE.map((h) => h.replace(/\s/g, '/**/'))) {
      const key = `${text}${randomBytes(3).toString('hex')}`;
      const body = { to: randomMobile(), type: 'sms', body: 'idempotent' };
      const first = await send(body, { 'idempotency-key': key });
      expect([key, first.statusCode]).toEqual([key, 202]);
      const again = await send(body, { 'idempotency-key': key });
      expect([key, again.statusCode, again.json().id]).toEqual([key, 202, first.json().id]);
      expect((await send({ ...body, body: 'other' }, { 'idempotency-key': key })).statusCode).toBe(422);
      const [row] = await db.query('SELECT idempotency_key FROM messages WHERE id = $1', [first.json().id]);
      expect(row.idempotency_key).toBe(key);
    }
  });

  it('keeps session contexts and user agents as sent, through create, merge and list (Redis and its scripts)', async () => {
    const user = `user-${randomBytes(4).toString('hex')}`;
    const context = Object.fromEntries(HOSTILE.map((h, i) => [`k${i}${h}`, h]));
    // In Redis a NUL is just a character: kept too.
    context['nul'] = 'a\u0000b';
    const created = await t.request({
      method: 'POST',
      url: '/sessions',
      payload: { user_id: user, context, user_agent: ALL_IN_ONE },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().session_id;
    expect((await t.request({ url: `/sessions/${id}` })).json().context).toEqual(context);

    const patch = Object.fromEntries(LUA.map((l, i) => [l, `${l}${i}`]));
    const merged = await t.request({ method: 'PATCH', url: `/sessions/${id}`, payload: { context: patch } });
    expect(merged.statusCode).toBe(200);
    expect(merged.json().context).toEqual({ ...context, ...patch });
    expect((await t.request({ url: `/sessions/${id}` })).json().context).toEqual({ ...context, ...patch });
    const listed = (await t.request({ url: `/users/${user}/sessions` })).json();
    expect(listed.sessions.map((s: any) => s.user_agent)).toEqual([ALL_IN_ONE]);
    expect(await t.redis.exists(RedisKeys.session(id))).toBe(1);
  });

  it('keeps blacklist reasons as sent, in Postgres and in the list', async () => {
    for (const reason of HOSTILE) {
      const mobile = randomMobile();
      const put = await t.request({
        method: 'PUT',
        url: `/admin/blacklist/${mobile}`,
        as: 'admin',
        payload: { reason },
      });
      expect([reason, put.statusCode]).toEqual([reason, 200]);
      const [row] = await db.query('SELECT reason FROM blacklist_sms WHERE mobile_number = $1', [mobile]);
      expect([reason, row.reason]).toEqual([reason, reason]);
      // Listed from a prefix of the number (which sorts just before it), so the entry is on the first page.
      const page = (
        await t.request({
          url: `/admin/blacklist?cursor=${encodeURIComponent(mobile.slice(0, -1))}&limit=20`,
          as: 'admin',
        })
      ).json();
      expect([reason, page.items.find((i: any) => i.mobile_number === mobile)?.reason]).toEqual([
        reason,
        reason,
      ]);
      expect(await numberKeys(t.redis).blacklisted(mobile)).toBe(1);
    }
  });

  it('stores settings only as validated, and SQL keywords in them as plain words', async () => {
    const before = (await t.request({ url: '/admin/settings', as: 'admin' })).json();
    const restore = await keepSettings();
    try {
      for (const bad of HOSTILE) {
        const res = await t.request({
          method: 'PUT',
          url: '/admin/settings',
          as: 'admin',
          payload: { permitted_headers: [bad] },
        });
        expect([bad, res.statusCode, res.json().code]).toEqual([bad, 400, 'VALIDATION_FAILED']);
      }
      expect((await t.request({ url: '/admin/settings', as: 'admin' })).json()).toEqual(before);
      const words = ['DROP', 'TABLE', 'FLUSHALL', 'EVAL', 'SELECT1'];
      const put = await t.request({
        method: 'PUT',
        url: '/admin/settings',
        as: 'admin',
        payload: { permitted_headers: words },
      });
      expect(put.json().permitted_headers).toEqual(words);
      expect((await t.request({ url: '/admin/settings', as: 'admin' })).json().permitted_headers).toEqual(
        words,
      );
    } finally {
      await restore();
      await t.redis.del(RedisKeys.cache('settings', 'onboarding'));
      await t.app.get(SettingsService).refresh();
    }
  });

  it('treats hostile inbound SMS texts and ids as data: rejected, recorded once, answered the same', async () => {
    for (const text of HOSTILE) {
      const mobile = randomMobile();
      await t.request({ url: `/onboard/register/${mobile}` });
      const smsId = `${text}${randomBytes(3).toString('hex')}`;
      const sms = { mobile_number: mobile, message: `ONBOARD ${text}`, sms_id: smsId };
      const first = await t.request({ method: 'POST', url: '/onboard/sms', payload: sms });
      expect([text, first.statusCode, first.json().status]).toEqual([text, 200, 'rejected']);
      const again = await t.request({ method: 'POST', url: '/onboard/sms', payload: sms });
      expect(again.json()).toEqual(first.json());
    }
    // A verified one, whose hostile sms_id goes into out_sms as it is.
    const mobile = randomMobile();
    const { hash } = (await t.request({ url: `/onboard/register/${mobile}` })).json();
    const smsId = ALL_IN_ONE.slice(0, 120);
    const ok = await t.request({
      method: 'POST',
      url: '/onboard/sms',
      payload: { mobile_number: mobile, message: `ONBOARD ${hash}`, sms_id: smsId },
    });
    expect(ok.json()).toEqual({ status: 'verified' });
    const [row] = await db.query('SELECT sms_id FROM out_sms WHERE mobile_number = $1', [mobile]);
    expect(row.sms_id).toBe(smsId);
    expect(await numberKeys(t.redis).onboarded(mobile)).toBe(1);
    // The audit trail carries the hostile ids into sms_monitor (jsonb) as they are.
    await t.app.get(MonitorLoggerTask).tick();
    const audit = await db.query(
      "SELECT details->>'sms_id' AS sms_id FROM sms_monitor WHERE mobile_number = $1 AND event_type = 'inbound_sms'",
      [mobile],
    );
    expect(audit.map((a: { sms_id: string }) => a.sms_id)).toEqual([smsId]);
  });

  it('refuses a NUL character with a clear 400 where Postgres would have to store it', async () => {
    const withNul = "'; DROP TABLE messages;--\u0000";
    const cases: [string, Parameters<TestApp['request']>[0]][] = [
      [
        'message body',
        {
          method: 'POST',
          url: '/api/v1/messages/send',
          payload: { to: randomMobile(), type: 'sms', body: withNul },
        },
      ],
      [
        'metadata',
        {
          method: 'POST',
          url: '/api/v1/messages/send',
          payload: { to: randomMobile(), type: 'sms', body: 'x', metadata: { a: withNul } },
        },
      ],
      [
        'blacklist reason',
        {
          method: 'PUT',
          url: `/admin/blacklist/${randomMobile()}`,
          as: 'admin',
          payload: { reason: withNul },
        },
      ],
      [
        'sms_id',
        {
          method: 'POST',
          url: '/onboard/sms',
          payload: { mobile_number: randomMobile(), message: 'x', sms_id: withNul },
        },
      ],
    ];
    for (const [label, req] of cases) {
      const res = await t.request(req);
      expect([label, res.statusCode, res.json().code]).toEqual([label, 400, 'VALIDATION_FAILED']);
      expect(res.json().message).toMatch(/NUL/);
    }
  });
});
