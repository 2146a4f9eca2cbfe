// Messages end to end: accepted over HTTP, stored, queued, sent by the worker through a local Twilio
// stand-in and a local SMTP server, tracked to delivery through signed webhooks.
import { OTP_WHATSAPP_SID, otpTemplateForWhatsApp } from '../helpers/templates';
import { createHmac } from 'node:crypto';
import { DataSource } from 'typeorm';
import { requestHash } from '../../src/messages/idempotency';
import { RedisKeys } from '../../src/redis/redis-keys';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { HttpRecorder } from '../helpers/http-recorder';
import { randomMobile } from '../helpers/numbers';
import { SmtpStandIn } from '../helpers/smtp-standin';
import { startTestApp, TestApp } from '../helpers/test-app';
import { signedTwilioForm, TwilioStandIn } from '../helpers/twilio-standin';
import { sleep, waitFor } from '../helpers/wait';

const PUBLIC = 'https://sms-bridge.example.com';

describe('messages', () => {
  let t: TestApp;
  let twilio: TwilioStandIn;
  let smtp: SmtpStandIn;
  let hooks: HttpRecorder;
  let db: DataSource;

  beforeAll(async () => {
    [twilio, smtp, hooks] = await Promise.all([
      TwilioStandIn.start(),
      SmtpStandIn.start(),
      HttpRecorder.start(),
    ]);
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
      },
      { role: 'all' },
    );
    await t.app.get(JobScheduler).idle();
    db = t.app.get(DataSource);
  });
  afterAll(async () => {
    await t?.close();
    await Promise.all([twilio?.stop(), smtp?.stop(), hooks?.stop()]);
  });

  const send = (payload: object, headers: Record<string, string> = {}) =>
    t.request({ method: 'POST', url: '/api/v1/messages/send', payload, headers });
  const get = async (id: string) => (await t.request({ url: `/api/v1/messages/${id}` })).json();
  const until = (id: string, status: string) =>
    waitFor(async () => (await get(id)).status === status && get(id), `message ${id} ${status}`, 15000);
  const twilioCallback = (query: string, params: Record<string, string>) => {
    const url = `/webhooks/twilio/status${query}`;
    const signed = signedTwilioForm(`${PUBLIC}${url}`, params);
    return t.request({ method: 'POST', url, as: 'none', ...signed });
  };

  it('sends an SMS through Twilio: pending → sending → sent → delivered, with signed status callbacks', async () => {
    const to = randomMobile();
    const res = await send({
      to: to.slice(3),
      type: 'sms',
      body: 'hello there',
      status_callback: hooks.url,
      metadata: { order: 7 },
    });
    expect(res.statusCode).toBe(202);
    const accepted = res.json();
    expect(accepted).toMatchObject({ status: 'pending', type: 'sms', to });

    const sent = await until(accepted.id, 'sent');
    const [request] = twilio.to(to);
    expect(request.form).toMatchObject({ To: to, From: '+15005550006', Body: 'hello there' });
    expect(request.form.StatusCallback).toBe(`${PUBLIC}/webhooks/twilio/status?message_id=${accepted.id}`);
    expect(request.auth).toBe(
      `Basic ${Buffer.from(`${TwilioStandIn.ACCOUNT_SID}:${TwilioStandIn.AUTH_TOKEN}`).toString('base64')}`,
    );
    expect(sent).toMatchObject({
      provider: 'twilio',
      provider_message_id: request.sid,
      metadata: { order: 7 },
    });

    const cb = await twilioCallback(`?message_id=${accepted.id}`, {
      MessageSid: request.sid!,
      MessageStatus: 'delivered',
    });
    expect(cb.statusCode).toBe(200);
    // A signed report whose message_id is no UUID is ignored, never a 500 (Twilio retries those).
    for (const odd of ['-'.repeat(36), 'a'.repeat(36)]) {
      const ignored = await twilioCallback(`?message_id=${odd}`, {
        MessageSid: 'SMnone',
        MessageStatus: 'sent',
      });
      expect([odd, ignored.statusCode]).toEqual([odd, 200]);
    }
    const delivered = await until(accepted.id, 'delivered');
    expect(delivered.events.map((e: any) => e.status)).toEqual(['pending', 'sending', 'sent', 'delivered']);
    expect(delivered.delivered_at).toBeTruthy();

    // Status callbacks to the client: one per change, signed per Standard Webhooks with this client's secret.
    const { secret } = (await t.request({ url: '/api/v1/webhooks/secret' })).json();
    await waitFor(
      () => hooks.received.filter((r) => JSON.parse(r.body).data.id === accepted.id).length >= 3,
      'status callbacks',
    );
    const mine = hooks.received.filter((r) => JSON.parse(r.body).data.id === accepted.id);
    expect(mine.map((r) => JSON.parse(r.body).data.status)).toEqual(
      expect.arrayContaining(['sending', 'sent', 'delivered']),
    );
    for (const r of mine) {
      const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
      const expected = createHmac('sha256', key)
        .update(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`)
        .digest('base64');
      expect(r.headers['webhook-signature']).toBe(`v1,${expected}`);
    }
  });

  it('ignores late, out-of-order and repeated callbacks', async () => {
    const to = randomMobile();
    const { id } = (await send({ to, type: 'sms', body: 'x' })).json();
    await until(id, 'sent');
    const sid = twilio.to(to)[0].sid!;
    await twilioCallback('', { MessageSid: sid, MessageStatus: 'delivered' });
    await twilioCallback('', { MessageSid: sid, MessageStatus: 'delivered' });
    await twilioCallback('', { MessageSid: sid, MessageStatus: 'sent' });
    await twilioCallback('', { MessageSid: sid, MessageStatus: 'undelivered', ErrorCode: '30003' });
    const m = await get(id);
    expect(m.status).toBe('delivered');
    expect(m.events.filter((e: any) => e.status === 'delivered')).toHaveLength(1);
  });

  it('refuses a forged, missing or replayed-with-other-params signature with 403', async () => {
    const params = { MessageSid: 'SMx', MessageStatus: 'delivered' };
    const good = signedTwilioForm(`${PUBLIC}/webhooks/twilio/status`, params);
    const missing = await t.request({
      method: 'POST',
      url: '/webhooks/twilio/status',
      as: 'none',
      payload: good.payload,
      headers: { 'content-type': good.headers['content-type'] },
    });
    expect(missing.statusCode).toBe(403);
    expect(missing.json().code).toBe('INVALID_SIGNATURE');
    const forged = await t.request({
      method: 'POST',
      url: '/webhooks/twilio/status',
      as: 'none',
      payload: good.payload,
      headers: { ...good.headers, 'x-twilio-signature': 'Zm9yZ2Vk' },
    });
    expect(forged.statusCode).toBe(403);
    const replayed = await t.request({
      method: 'POST',
      url: '/webhooks/twilio/status',
      as: 'none',
      payload: new URLSearchParams({ ...params, MessageStatus: 'failed' }).toString(),
      headers: good.headers,
    });
    expect(replayed.statusCode).toBe(403);
    const ok = await t.request({ method: 'POST', url: '/webhooks/twilio/status', as: 'none', ...good });
    expect(ok.statusCode).toBe(200);
  });

  it('retries provider errors with backoff, then fails after the last attempt', async () => {
    const to = randomMobile();
    twilio.failNext(5, { status: 500 });
    const { id } = (await send({ to, type: 'sms', body: 'retry me' })).json();
    const failed = await until(id, 'failed');
    expect(twilio.to(to)).toHaveLength(5);
    expect(failed.retry_count).toBe(4);
    expect(failed.error).toMatch(/Twilio 500/);
    expect(failed.events.map((e: any) => e.status)).toEqual([
      'pending',
      ...Array(4).fill(['sending', 'pending']).flat(),
      'sending',
      'failed',
    ]);
  });

  it('recovers when a retry succeeds', async () => {
    const to = randomMobile();
    twilio.failNext(2, { status: 429, code: 20429 });
    const { id } = (await send({ to, type: 'sms', body: 'eventually' })).json();
    await until(id, 'sent');
    expect(twilio.to(to)).toHaveLength(3);
  });

  it('fails at once on a permanent error', async () => {
    const to = randomMobile();
    twilio.failNext(1, { status: 400, code: 21211 });
    const { id } = (await send({ to, type: 'sms', body: 'bad number' })).json();
    const failed = await until(id, 'failed');
    expect(twilio.to(to)).toHaveLength(1);
    expect(failed.error).toMatch(/21211/);
  });

  it('sends MMS with media and WhatsApp in the whatsapp: form', async () => {
    const a = randomMobile();
    const mms = (
      await send({
        to: a,
        type: 'mms',
        body: 'pic',
        media_urls: ['https://example.com/a.png', 'https://example.com/b.png'],
      })
    ).json();
    await until(mms.id, 'sent');
    expect(twilio.to(a)[0].form.MediaUrl).toEqual(['https://example.com/a.png', 'https://example.com/b.png']);
    const b = randomMobile();
    await otpTemplateForWhatsApp(t);
    const wa = (
      await send({ to: b, type: 'whatsapp', template: 'otp', variables: { code: '123456', minutes: 5 } })
    ).json();
    await until(wa.id, 'sent');
    expect(twilio.to(b)[0].form).toMatchObject({
      To: `whatsapp:${b}`,
      From: 'whatsapp:+15005550006',
      ContentSid: OTP_WHATSAPP_SID,
      ContentVariables: JSON.stringify({ 1: '123456', 2: '5' }),
    });
    expect(twilio.to(b)[0].form.Body).toBeUndefined();
    // Free text is refused for WhatsApp: a business may start a conversation with an approved template only.
    const free = await send({ to: b, type: 'whatsapp', body: 'hi' });
    expect([free.statusCode, free.json().code]).toEqual([400, 'WHATSAPP_TEMPLATE_REQUIRED']);
  });

  it('sends e-mail through SMTP', async () => {
    const { id } = (
      await send({ to: 'Person@Example.com', type: 'email', subject: 'Welcome', body: 'Hello by mail' })
    ).json();
    await until(id, 'sent');
    const mail = smtp.messages.find((m) => m.to.includes('person@example.com'))!;
    expect(mail.from).toBe('noreply@sms-bridge.test');
    expect(mail.raw).toContain('Subject: Welcome');
    expect(mail.raw).toContain('Hello by mail');
  });

  it('fails an e-mail the server refuses permanently', async () => {
    smtp.rejectNext = 1;
    const { id } = (await send({ to: 'nobody@example.com', type: 'email', body: 'x' })).json();
    const failed = await until(id, 'failed');
    expect(failed.error).toMatch(/550/);
  });

  it('does not send a message with a future send_at early', async () => {
    const to = randomMobile();
    const sendAt = new Date(Date.now() + 2500).toISOString();
    const { id, send_at } = (await send({ to, type: 'sms', body: 'later', send_at: sendAt })).json();
    expect(send_at).toBe(sendAt);
    await sleep(1200);
    expect(twilio.to(to)).toHaveLength(0);
    expect((await get(id)).status).toBe('pending');
    await until(id, 'sent');
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(sendAt));
  });

  // Keys of this run only: the cluster project runs this file again on the same database.
  const run = `${Date.now().toString(36)}-`;
  describe('Idempotency-Key', () => {
    it('returns the first answer for a repeat and creates nothing new', async () => {
      const body = { to: randomMobile(), type: 'sms', body: 'once' };
      const first = await send(body, { 'idempotency-key': `${run}k-1` });
      const again = await send(body, { 'idempotency-key': `${run}k-1` });
      expect(again.statusCode).toBe(202);
      expect(again.json().id).toBe(first.json().id);
      const rows = await db.query(`SELECT count(*)::int AS n FROM messages WHERE "to" = $1`, [body.to]);
      expect(rows[0].n).toBe(1);
    });

    it('answers 422 for another body, 409 while the first is in flight', async () => {
      const body = { to: randomMobile(), type: 'sms', body: 'a' };
      await send(body, { 'idempotency-key': `${run}k-2` });
      const other = await send({ ...body, body: 'b' }, { 'idempotency-key': `${run}k-2` });
      expect(other.statusCode).toBe(422);
      expect(other.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
      // A first request still being handled (its claim is in Redis, no answer yet).
      const clientId = (await db.query(`SELECT client_id FROM messages WHERE "to" = $1`, [body.to]))[0]
        .client_id;
      await t.redis.set(
        RedisKeys.idempotency(clientId, `${run}k-3`),
        JSON.stringify({ state: 'processing', hash: requestHash(body) }),
      );
      const inFlight = await send(body, { 'idempotency-key': `${run}k-3` });
      expect([inFlight.statusCode, inFlight.json().code]).toEqual([409, 'IDEMPOTENCY_KEY_IN_FLIGHT']);
      expect(inFlight.headers['retry-after']).toBe('1');
    });

    it('falls back on Postgres when the Redis entry is gone', async () => {
      const body = { to: randomMobile(), type: 'sms', body: 'durable' };
      const first = (await send(body, { 'idempotency-key': `${run}k-4` })).json();
      const clientId = (await db.query(`SELECT client_id FROM messages WHERE id = $1`, [first.id]))[0]
        .client_id;
      await until(first.id, 'sent'); // the message moved on meanwhile
      await t.redis.del(RedisKeys.idempotency(clientId, `${run}k-4`));
      const again = await send(body, { 'idempotency-key': `${run}k-4` });
      expect(again.json()).toEqual(first); // the first answer, as it was
      expect((await send({ ...body, body: 'other' }, { 'idempotency-key': `${run}k-4` })).statusCode).toBe(
        422,
      );
    });
  });

  it('validates per type', async () => {
    const to = randomMobile();
    const cases: [object, string][] = [
      [{ to, type: 'mms', body: 'x' }, 'MEDIA_REQUIRED'],
      [{ to, type: 'sms', body: 'x', media_urls: ['https://e.com/a.png'] }, 'MEDIA_NOT_ALLOWED'],
      [{ to: 'not-mail', type: 'email', body: 'x' }, 'INVALID_EMAIL'],
      [{ to: 'abc', type: 'sms', body: 'x' }, 'INVALID_MOBILE_NUMBER'],
      [{ to, type: 'sms', body: 'x'.repeat(1601) }, 'BODY_TOO_LONG'],
      [{ to, type: 'sms', body: 'x', send_at: '2001-01-01T00:00:00Z' }, 'SEND_AT_IN_PAST'],
      [{ to, type: 'fax', body: 'x' }, 'VALIDATION_FAILED'],
      [{ to, type: 'sms' }, 'BODY_OR_TEMPLATE'],
      [{ to, type: 'sms', body: 'x', template: 'otp' }, 'BODY_OR_TEMPLATE'],
      [{ to, type: 'sms', body: 'x', variables: { a: 1 } }, 'BODY_OR_TEMPLATE'],
      [{ to, type: 'sms', body: 'x', status_callback: 'ftp://x' }, 'INVALID_CALLBACK_URL'],
    ];
    // ISO 8601 forms JavaScript cannot read (weeks, ordinal days, basic format, hour only, decimal comma).
    for (const sendAt of [
      '2026-W49-5',
      '2026-W49',
      '2026-340',
      '2026-12-04T05',
      '20261204T050000Z',
      '2026-12-04T05:00:00,5Z',
    ])
      cases.push([{ to, type: 'sms', body: 'x', send_at: sendAt }, 'VALIDATION_FAILED']);
    for (const [body, code] of cases) {
      const res = await send(body);
      expect([JSON.stringify(body).slice(0, 60), res.statusCode, res.json().code]).toEqual([
        JSON.stringify(body).slice(0, 60),
        400,
        code,
      ]);
    }
  });

  it("never lets one request's bad input fail the others it shares an INSERT with", async () => {
    const to = randomMobile();
    const valid = Array.from({ length: 150 }, (_, i) => send({ to, type: 'sms', body: `v${i}` }));
    const bad = Array.from({ length: 10 }, () => send({ to, type: 'sms', body: 'x', send_at: '2026-W49-5' }));
    const [v, b] = await Promise.all([Promise.all(valid), Promise.all(bad)]);
    expect(v.map((r) => r.statusCode)).toEqual(v.map(() => 202));
    expect(b.map((r) => r.statusCode)).toEqual(b.map(() => 400));
  });

  it('lists newest first with a cursor and filters, and counts queues', async () => {
    const to = randomMobile();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await send({ to, type: 'sms', body: `n${i}` })).json().id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = (
        await t.request({
          url: `/api/v1/messages?to=${encodeURIComponent(to)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        })
      ).json();
      seen.push(...page.items.map((m: any) => m.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    expect((await t.request({ url: '/api/v1/messages?cursor=garbage' })).statusCode).toBe(400);
    expect((await t.request({ url: '/api/v1/messages/not-a-uuid' })).statusCode).toBe(400);
    expect(
      (await t.request({ url: '/api/v1/messages/00000000-0000-4000-8000-000000000000' })).statusCode,
    ).toBe(404);
    const queues = (await t.request({ url: '/api/v1/messages/queues' })).json();
    expect(Object.keys(queues).sort()).toEqual(['email', 'mms', 'sms', 'webhooks']);
    expect(queues.sms).toEqual(
      expect.objectContaining({ waiting: expect.any(Number), completed: expect.any(Number) }),
    );
    const metrics = (await t.request({ url: '/metrics', as: 'none' })).body;
    expect(metrics).toMatch(/smsb_queue_jobs\{queue="sms",state="completed"\} [1-9]/);
    expect(metrics).toMatch(/smsb_messages_total\{status="sent",type="sms",provider="twilio"\} [1-9]/);
    expect(metrics).toMatch(/smsb_provider_latency_seconds_count\{provider="twilio",outcome="ok"\} [1-9]/);
  });

  it('re-sends an OTP by SMS when its WhatsApp message fails', async () => {
    const mobile = randomMobile();
    // failNext fails whatever Twilio gets next: let the sends earlier tests left queued go first.
    await waitFor(async () => {
      const q = (await t.request({ url: '/api/v1/messages/queues' })).json();
      return [q.sms, q.mms].every((c: any) => c.waiting + c.active + c.delayed === 0);
    }, 'no earlier send still on its way to Twilio');
    await otpTemplateForWhatsApp(t);
    twilio.failNext(1, { status: 400, code: 63016 });
    const sent = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: mobile, channel: 'whatsapp' },
    });
    expect(sent.statusCode).toBe(200);
    await waitFor(() => twilio.to(mobile).some((r) => r.form.To === mobile), 'the SMS fallback');
    const [wa, sms] = twilio.to(mobile);
    expect(wa.form.To).toBe(`whatsapp:${mobile}`);
    expect(sms.form.To).toBe(mobile);
    const code = /(\d{6})/.exec(String(sms.form.Body))![1];
    const ok = await t.request({
      method: 'POST',
      url: '/otp/verify',
      payload: { mobile_number: mobile, otp: code },
    });
    expect(ok.statusCode).toBe(200);
    expect(twilio.to(mobile)).toHaveLength(2); // once, not a loop
  });

  it('hands Twilio inbound SMS to the onboarding pipeline and answers empty TwiML', async () => {
    const mobile = randomMobile();
    const { hash } = (await t.request({ url: `/onboard/register/${mobile}` })).json();
    const signed = signedTwilioForm(`${PUBLIC}/webhooks/twilio/inbound`, {
      From: mobile,
      Body: `ONBOARD ${hash}`,
      MessageSid: 'SMin1',
    });
    const res = await t.request({ method: 'POST', url: '/webhooks/twilio/inbound', as: 'none', ...signed });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/xml/);
    expect(res.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    expect((await t.request({ url: `/onboard/status/${mobile}` })).json().status).toBe('verified');
  });

  it('serves the queue dashboard to admins only', async () => {
    expect((await t.request({ url: '/admin/queues', as: 'none' })).statusCode).toBe(401);
    expect((await t.request({ url: '/admin/queues', as: 'client' })).statusCode).toBe(403);
    const page = await t.request({ url: '/admin/queues', as: 'admin' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/html/);
    // Its page runs inline scripts: its own policy stays, the rest of the page headers are added.
    expect(page.headers['content-security-policy']).toContain("script-src 'self' 'unsafe-inline'");
    expect(page.headers['cross-origin-opener-policy']).toBe('same-origin');
    const basic = Buffer.from(`admin:${t.config.auth.adminApiKeys[0].secret}`).toString('base64');
    const api = await t.request({
      url: '/admin/queues/api/queues',
      as: 'none',
      headers: { authorization: `Basic ${basic}` },
    });
    expect(api.statusCode).toBe(200);
    expect(JSON.stringify(api.json())).toContain('"sms"');
  });
});
