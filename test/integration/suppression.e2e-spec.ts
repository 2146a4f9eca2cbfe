// Opt-out and the suppression list end to end: STOP, START and HELP through the signed Twilio inbound webhook
// and the gateway door, what suppression blocks (SMS, MMS, WhatsApp and OTP codes, not e-mail; queued messages
// at send time), a provider's opt-out error and status callback, the admin API, the audit trail, Redis losing
// the list, and the one round trip the check rides in.
import { DataSource } from 'typeorm';
import { RedisKeys } from '../../src/redis/redis-keys';
import { WarmupService } from '../../src/onboarding/warmup.service';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { randomMobile } from '../helpers/numbers';
import { RedisServer } from '../helpers/redis-server';
import { otpTemplateForWhatsApp } from '../helpers/templates';
import { SmtpStandIn } from '../helpers/smtp-standin';
import { startTestApp, TestApp } from '../helpers/test-app';
import { signedTwilioForm, TwilioStandIn } from '../helpers/twilio-standin';
import { sleep, waitFor } from '../helpers/wait';

const PUBLIC = 'https://sms-bridge.example.com';
const OPT_OUT_REPLY = 'You are out. Text START to come back & stay <safe>.';

describe('suppression: opt-out keywords and the suppression list', () => {
  let t: TestApp;
  let twilio: TwilioStandIn;
  let smtp: SmtpStandIn;
  let db: DataSource;

  beforeAll(async () => {
    [twilio, smtp] = await Promise.all([TwilioStandIn.start(), SmtpStandIn.start()]);
    t = await startTestApp(
      {
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
        TWILIO_FROM_NUMBER: '+15005550006',
        TWILIO_BASE_URL: twilio.baseUrl,
        PUBLIC_BASE_URL: PUBLIC,
        EMAIL_PROVIDER: 'smtp',
        SMTP_URL: smtp.url,
        EMAIL_FROM: 'noreply@sms-bridge.test',
        MESSAGE_BACKOFF_MS: '20',
        MESSAGE_RELAY_INTERVAL: '3600',
        MONITOR_LOG_INTERVAL: '1',
        OPT_OUT_REPLY,
        HELP_REPLY: '',
      },
      { role: 'all' },
    );
    await t.app.get(JobScheduler).idle();
    db = t.app.get(DataSource);
    await otpTemplateForWhatsApp(t);
  });
  afterAll(async () => {
    await t?.close();
    await Promise.all([twilio?.stop(), smtp?.stop()]);
  });

  const twilioInbound = (from: string, body: string, sid = `SM${Math.random().toString(16).slice(2)}`) => {
    const signed = signedTwilioForm(`${PUBLIC}/webhooks/twilio/inbound`, {
      From: from,
      Body: body,
      MessageSid: sid,
    });
    return t.request({ method: 'POST', url: '/webhooks/twilio/inbound', as: 'none', ...signed });
  };
  const gateway = (mobile: string, message: string) =>
    t.request({ method: 'POST', url: '/onboard/sms', payload: { mobile_number: mobile, message } });
  const send = (payload: object) => t.request({ method: 'POST', url: '/api/v1/messages/send', payload });
  const otp = (mobile: string) =>
    t.request({ method: 'POST', url: '/otp/send', payload: { mobile_number: mobile, channel: 'sms' } });
  const get = async (id: string) => (await t.request({ url: `/api/v1/messages/${id}` })).json();
  const until = (id: string, status: string) =>
    waitFor(async () => (await get(id)).status === status && get(id), `message ${id} ${status}`, 15000);
  const sends = () => ({
    sms: (to: string) => send({ to, type: 'sms', body: 'hello' }),
    mms: (to: string) => send({ to, type: 'mms', body: 'look', media_urls: ['https://example.com/a.png'] }),
    whatsapp: (to: string) =>
      send({ to, type: 'whatsapp', template: 'otp', variables: { code: '123456', minutes: 5 } }),
  });
  const suppressedInPostgres = async (mobile: string) =>
    (await db.query('SELECT source FROM suppressions WHERE mobile_number = $1', [mobile]))[0]?.source ?? null;

  it('STOP through the signed Twilio webhook: the reply as TwiML, then SMS, MMS, WhatsApp and codes refused 403 OPTED_OUT, e-mail not', async () => {
    const mobile = randomMobile();
    expect((await sends().sms(mobile)).statusCode).toBe(202);

    const res = await twilioInbound(mobile, '  Stop! ');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/xml/);
    expect(res.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Message>You are out. Text START to come back &amp; stay &lt;safe&gt;.</Message></Response>',
    );
    expect(await suppressedInPostgres(mobile)).toBe('keyword');

    for (const [type, attempt] of Object.entries(sends())) {
      const refused = await attempt(mobile);
      expect([type, refused.statusCode]).toEqual([type, 403]);
      expect(refused.json()).toMatchObject({ statusCode: 403, code: 'OPTED_OUT' });
    }
    const code = await otp(mobile);
    expect(code.statusCode).toBe(403);
    expect(code.json().code).toBe('OPTED_OUT');
    const mail = await send({ to: 'person@example.com', type: 'email', subject: 's', body: 'b' });
    expect(mail.statusCode).toBe(202);
  });

  it('START lifts it: the opt-in reply, and sends are allowed again', async () => {
    const mobile = randomMobile();
    await twilioInbound(mobile, 'UNSUBSCRIBE');
    expect((await sends().sms(mobile)).statusCode).toBe(403);

    const res = await twilioInbound(mobile, 'start');
    expect(res.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Message>You are subscribed again. Reply STOP to unsubscribe, HELP for help.</Message></Response>',
    );
    expect(await suppressedInPostgres(mobile)).toBeNull();
    expect((await sends().sms(mobile)).statusCode).toBe(202);
    expect((await otp(mobile)).statusCode).toBe(200);
  });

  it('STOP over WhatsApp (From whatsapp:+…) suppresses the number too', async () => {
    const mobile = randomMobile();
    const res = await twilioInbound(`whatsapp:${mobile}`, 'STOP');
    expect(res.body).toContain('<Message>');
    expect(await suppressedInPostgres(mobile)).toBe('keyword');
    expect((await sends().whatsapp(mobile)).statusCode).toBe(403);
  });

  it('HELP answers only (an empty HELP_REPLY: empty TwiML), and changes nothing', async () => {
    const mobile = randomMobile();
    const res = await twilioInbound(mobile, 'help');
    expect(res.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    expect(await suppressedInPostgres(mobile)).toBeNull();
    expect((await sends().sms(mobile)).statusCode).toBe(202);
  });

  it('the gateway door answers {status}; keywords never reach onboarding, other texts still do', async () => {
    const mobile = randomMobile();
    const { hash } = (await t.request({ url: `/onboard/register/${mobile}` })).json();
    expect((await gateway(mobile, 'opt  out.')).json()).toEqual({ status: 'opted_out' });
    expect((await gateway(mobile, 'INFO')).json()).toEqual({ status: 'help' });
    expect((await gateway(mobile, 'Yes')).json()).toEqual({ status: 'opted_in' });
    expect((await gateway(mobile, 'please stop')).json()).toMatchObject({ status: 'rejected' });
    // Onboarding was not touched by the keywords: the hash is still pending and still works.
    expect((await gateway(mobile, `ONBOARD ${hash}`)).json()).toEqual({ status: 'verified' });
  });

  it('a queued message whose number opted out meanwhile fails at send time with OPTED_OUT, never sent, never retried', async () => {
    const mobile = randomMobile();
    const sendAt = new Date(Date.now() + 1500).toISOString();
    const res = await send({ to: mobile, type: 'sms', body: 'later', send_at: sendAt });
    expect(res.statusCode).toBe(202);
    const { id } = res.json();
    expect((await gateway(mobile, 'STOP')).json()).toEqual({ status: 'opted_out' });
    const failed = await until(id, 'failed');
    expect(failed.error).toBe('OPTED_OUT');
    expect(failed.retry_count ?? 0).toBe(0);
    await sleep(300);
    expect(twilio.to(mobile)).toHaveLength(0);
  });

  it("a provider's opt-out error (21610) fails the message for good and suppresses the number", async () => {
    const mobile = randomMobile();
    twilio.failNext(1, { status: 400, code: 21610 }, mobile);
    const { id } = (await sends().sms(mobile)).json();
    const failed = await until(id, 'failed');
    expect(failed.error).toBe('OPTED_OUT');
    expect(twilio.to(mobile)).toHaveLength(1); // tried once, never again
    expect(await suppressedInPostgres(mobile)).toBe('provider');
    expect((await sends().whatsapp(mobile)).json().code).toBe('OPTED_OUT');
  });

  it("a status callback with WhatsApp's block code (63014) fails the message and suppresses the number", async () => {
    const mobile = randomMobile();
    const { id } = (await sends().whatsapp(mobile)).json();
    await until(id, 'sent');
    const [request] = twilio.to(mobile);
    const url = `/webhooks/twilio/status?message_id=${id}`;
    const signed = signedTwilioForm(`${PUBLIC}${url}`, {
      MessageSid: request.sid!,
      MessageStatus: 'undelivered',
      ErrorCode: '63014',
    });
    expect((await t.request({ method: 'POST', url, as: 'none', ...signed })).statusCode).toBe(200);
    const failed = await get(id);
    expect([failed.status, failed.error]).toEqual(['failed', 'OPTED_OUT']);
    expect(await suppressedInPostgres(mobile)).toBe('provider');
    expect((await sends().sms(mobile)).statusCode).toBe(403);
  });

  it("a late repeat of a provider's opt-out report on an old message does not undo a later START", async () => {
    const mobile = randomMobile();
    const { id } = (await sends().sms(mobile)).json();
    await until(id, 'sent');
    const [request] = twilio.to(mobile);
    const url = `/webhooks/twilio/status?message_id=${id}`;
    const callback = () =>
      t.request({
        method: 'POST',
        url,
        as: 'none',
        ...signedTwilioForm(`${PUBLIC}${url}`, {
          MessageSid: request.sid!,
          MessageStatus: 'undelivered',
          ErrorCode: '21610',
        }),
      });
    await callback();
    expect(await suppressedInPostgres(mobile)).toBe('provider');
    expect((await twilioInbound(mobile, 'START')).statusCode).toBe(200);
    expect(await suppressedInPostgres(mobile)).toBeNull();
    await callback(); // Twilio repeats it, late
    expect(await suppressedInPostgres(mobile)).toBeNull();
    expect((await sends().sms(mobile)).statusCode).toBe(202);
  });

  it('admin API: PUT, GET with cursor pagination, DELETE (404 when absent); admins only; bad numbers 400', async () => {
    const numbers = [randomMobile(), randomMobile(), randomMobile()].sort();
    for (const n of numbers) {
      const put = await t.request({
        method: 'PUT',
        url: `/admin/suppressions/${encodeURIComponent(n)}`,
        as: 'admin',
        payload: { reason: 'asked by phone' },
      });
      expect(put.statusCode).toBe(200);
      expect(put.json()).toEqual({ mobile_number: n, suppressed: true });
    }
    expect((await sends().sms(numbers[0])).json().code).toBe('OPTED_OUT');

    const seen: { mobile_number: string; source: string; reason: string | null }[] = [];
    let cursor = numbers[0].slice(0, -1) + String(Number(numbers[0].slice(-1)) - 1);
    if (numbers[0].endsWith('0')) cursor = numbers[0].slice(0, -2);
    for (let page = 0; page < 10; page++) {
      const res = await t.request({
        url: `/admin/suppressions?limit=1&cursor=${encodeURIComponent(cursor)}`,
        as: 'admin',
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      seen.push(...body.items);
      if (!body.next_cursor || seen.length >= 3) break;
      cursor = body.next_cursor;
    }
    const ours = seen.filter((s) => numbers.includes(s.mobile_number));
    expect(ours.map((s) => s.mobile_number)).toEqual(numbers.slice(0, ours.length));
    expect(ours[0]).toMatchObject({ source: 'admin', reason: 'asked by phone' });

    const del = await t.request({
      method: 'DELETE',
      url: `/admin/suppressions/${encodeURIComponent(numbers[0])}`,
      as: 'admin',
    });
    expect(del.statusCode).toBe(204);
    expect((await sends().sms(numbers[0])).statusCode).toBe(202);
    const again = await t.request({
      method: 'DELETE',
      url: `/admin/suppressions/${encodeURIComponent(numbers[0])}`,
      as: 'admin',
    });
    expect(again.statusCode).toBe(404);
    expect(again.json().code).toBe('NOT_SUPPRESSED');

    expect((await t.request({ url: '/admin/suppressions', as: 'client' })).statusCode).toBe(403);
    expect((await t.request({ url: '/admin/suppressions', as: 'none' })).statusCode).toBe(401);
    const bad = await t.request({ method: 'PUT', url: '/admin/suppressions/12ab', as: 'admin', payload: {} });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('INVALID_MOBILE_NUMBER');
  });

  it('each change is an audit event in sms_monitor (opt_out, opt_in, with their source)', async () => {
    const mobile = randomMobile();
    await gateway(mobile, 'STOP');
    await gateway(mobile, 'START');
    const rows = await waitFor(
      async () => {
        const r: { event_type: string; outcome: string }[] = await db.query(
          `SELECT event_type, outcome FROM sms_monitor WHERE mobile_number = $1 ORDER BY created_at`,
          [mobile],
        );
        return r.length >= 2 ? r : undefined;
      },
      'audit events in sms_monitor',
      15000,
    );
    expect(rows!.map((r) => [r.event_type, r.outcome])).toEqual([
      ['opt_out', 'keyword'],
      ['opt_in', 'keyword'],
    ]);
  });

  it('Redis losing the list: Postgres answers until the warm-up restores the bits', async () => {
    const mobile = randomMobile();
    await gateway(mobile, 'STOP');
    // The number's block string and its bucket's warm-up marker gone (a flush or a shard's data loss).
    await t.redis.del(
      RedisKeys.suppressionFlags(mobile),
      RedisKeys.suppressionChanged(mobile),
      RedisKeys.warmupMarkerOf(mobile),
    );
    expect((await sends().sms(mobile)).json().code).toBe('OPTED_OUT');
    expect((await otp(mobile)).json().code).toBe('OPTED_OUT');
    // The warm-up's periodic check (every 30 s), or the next register or inbound SMS that finds the bucket cold.
    await t.app.get(WarmupService).ensureWarm();
    expect(await t.redis.exists(RedisKeys.warmupMarkerOf(mobile))).toBe(1);
    await waitFor(
      async () => (await t.redis.getbit(RedisKeys.suppressionFlags(mobile), Number(mobile.slice(-3)))) === 1,
      'the bit is back',
    );
  });

  it('concurrent STOP and START for one number leave Redis and Postgres agreeing', async () => {
    for (let round = 0; round < 5; round++) {
      const mobile = randomMobile();
      await Promise.all([gateway(mobile, 'STOP'), gateway(mobile, 'START'), gateway(mobile, 'STOP')]);
      const pg = (await suppressedInPostgres(mobile)) !== null;
      const bit = (await t.redis.getbit(RedisKeys.suppressionFlags(mobile), Number(mobile.slice(-3)))) === 1;
      expect([round, bit]).toEqual([round, pg]);
    }
  });
});

describe('suppression: Redis down', () => {
  let redis: RedisServer;
  let t: TestApp;
  let db: DataSource;

  beforeAll(async () => {
    redis = await RedisServer.start();
    t = await startTestApp({ REDIS_URL: redis.url, MESSAGE_RELAY_INTERVAL: '3600' }, { role: 'all' });
    await t.app.get(JobScheduler).idle();
    db = t.app.get(DataSource);
  });
  afterAll(async () => {
    await redis?.startProcess().catch(() => undefined);
    await t?.close();
    await redis?.destroy();
  });

  const gateway = (mobile: string, message: string) =>
    t.request({ method: 'POST', url: '/onboard/sms', payload: { mobile_number: mobile, message } });

  it('Postgres answers for the list: sends and codes to a suppressed number are still refused', async () => {
    const mobile = randomMobile();
    expect((await gateway(mobile, 'STOP')).json()).toEqual({ status: 'opted_out' });
    await redis.stop();
    const sms = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: { to: mobile, type: 'sms', body: 'x' },
    });
    expect([sms.statusCode, sms.json().code]).toEqual([403, 'OPTED_OUT']);
    const code = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: mobile, channel: 'sms' },
    });
    expect([code.statusCode, code.json().code]).toEqual([403, 'OPTED_OUT']);
    // A number nobody suppressed still gets its code from the Postgres fallback.
    const other = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: randomMobile(), channel: 'sms' },
    });
    expect(other.statusCode).toBe(200);
    await redis.startProcess();
    await waitFor(async () => (await t.redis.ping().catch(() => '')) === 'PONG', 'Redis back');
  });

  it('a STOP that cannot reach Redis is a 503 and leaves Postgres unchanged; delivered again, it lands in both', async () => {
    const mobile = randomMobile();
    await redis.stop();
    const res = await gateway(mobile, 'STOP');
    expect(res.statusCode).toBe(503);
    expect(await db.query('SELECT 1 FROM suppressions WHERE mobile_number = $1', [mobile])).toHaveLength(0);
    await redis.startProcess();
    await waitFor(async () => (await t.redis.ping().catch(() => '')) === 'PONG', 'Redis back');
    expect((await gateway(mobile, 'STOP')).json()).toEqual({ status: 'opted_out' });
    expect(await db.query('SELECT 1 FROM suppressions WHERE mobile_number = $1', [mobile])).toHaveLength(1);
    expect(await t.redis.getbit(RedisKeys.suppressionFlags(mobile), Number(mobile.slice(-3)))).toBe(1);
  });
});
