// Segments and validity (issue 18 §5): every SMS answer says its encoding and segment count as carriers count
// them, MAX_SEGMENTS refuses longer bodies, a message not handed to a provider within its validity fails with
// EXPIRED and is never sent late (Twilio gets what is left as ValidityPeriod), OTP messages carry their code's
// lifetime, and a Twilio Messaging Service replaces From.
import { DataSource } from 'typeorm';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { TwilioStandIn } from '../helpers/twilio-standin';
import { waitFor } from '../helpers/wait';

const SERVICE_SID = 'MG' + '0123456789abcdef'.repeat(2);

describe('messages: segments and validity', () => {
  let t: TestApp;
  let twilio: TwilioStandIn;
  let db: DataSource;

  beforeAll(async () => {
    twilio = await TwilioStandIn.start();
    t = await startTestApp(
      {
        SMS_PROVIDER: 'twilio',
        TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
        TWILIO_FROM_NUMBER: '',
        TWILIO_MESSAGING_SERVICE_SID: SERVICE_SID,
        TWILIO_BASE_URL: twilio.baseUrl,
        PUBLIC_BASE_URL: 'https://sms-bridge.example.com',
        MAX_SEGMENTS: '3',
        // A refused first attempt is retried after 1.5 s: longer than a 1 s validity.
        MESSAGE_BACKOFF_MS: '1500',
        MESSAGE_RELAY_INTERVAL: '3600',
      },
      { role: 'all' },
    );
    await t.app.get(JobScheduler).idle();
    db = t.app.get(DataSource);
  });
  afterAll(async () => {
    await t?.close();
    await twilio?.stop();
  });

  const send = (payload: object) => t.request({ method: 'POST', url: '/api/v1/messages/send', payload });
  const get = async (id: string) => (await t.request({ url: `/api/v1/messages/${id}` })).json();
  const until = (id: string, status: string) =>
    waitFor(async () => (await get(id)).status === status && get(id), `message ${id} ${status}`, 15000);
  const segmentsMetric = async (encoding: string) => {
    const text = (await t.request({ url: '/metrics', as: 'admin' })).body;
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`smsb_sms_segments_total{provider="twilio",encoding="${encoding}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  it('answers the encoding and segment count of an SMS, as carriers count them', async () => {
    const cases: [string, string, number][] = [
      ['Your parcel arrives today', 'GSM-7', 1],
      ['a'.repeat(161), 'GSM-7', 2],
      ['€'.repeat(81), 'GSM-7', 2],
      ['आपका कोड 123456 है', 'UCS-2', 1],
      ['क'.repeat(71), 'UCS-2', 2],
    ];
    for (const [body, encoding, segments] of cases) {
      const res = await send({ to: randomMobile(), type: 'sms', body });
      expect([body.slice(0, 10), res.statusCode]).toEqual([body.slice(0, 10), 202]);
      expect(res.json()).toMatchObject({ encoding, segments, valid_until: null });
      expect(await get(res.json().id)).toMatchObject({ encoding, segments });
    }
    const mail = await send({ to: 'a@example.com', type: 'email', subject: 's', body: 'é'.repeat(300) });
    expect(mail.json()).toMatchObject({ encoding: null, segments: null });
  });

  it('refuses a body over MAX_SEGMENTS with 400 TOO_MANY_SEGMENTS, storing nothing', async () => {
    const to = randomMobile();
    for (const body of ['a'.repeat(153 * 3 + 1), 'क'.repeat(67 * 3 + 1)]) {
      const res = await send({ to, type: 'sms', body });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'TOO_MANY_SEGMENTS' });
    }
    expect((await send({ to, type: 'sms', body: 'a'.repeat(153 * 3) })).statusCode).toBe(202);
    const [{ n }] = await db.query('SELECT count(*)::int AS n FROM messages WHERE "to" = $1', [to]);
    expect(n).toBe(1);
  });

  it('counts the segments handed to the provider', async () => {
    const before = await segmentsMetric('UCS-2');
    const res = await send({ to: randomMobile(), type: 'sms', body: 'क'.repeat(71) });
    await until(res.json().id, 'sent');
    // (The counter is the process's: other suites' senders may add to it meanwhile, never take from it.)
    expect((await segmentsMetric('UCS-2')) - before).toBeGreaterThanOrEqual(2);
  });

  it('sends through the Messaging Service (no From), with what is left of the validity', async () => {
    const to = randomMobile();
    const res = await send({ to, type: 'sms', body: 'hello', validity_seconds: 120 });
    expect(res.statusCode).toBe(202);
    const accepted = res.json();
    const left = Date.parse(accepted.valid_until) - Date.parse(accepted.created_at);
    expect(Math.abs(left - 120_000)).toBeLessThan(1000); // created_at is Postgres's clock
    await until(accepted.id, 'sent');
    const [request] = twilio.to(to);
    expect(request.form.MessagingServiceSid).toBe(SERVICE_SID);
    expect(request.form.From).toBeUndefined();
    expect(Number(request.form.ValidityPeriod)).toBeGreaterThan(100);
    expect(Number(request.form.ValidityPeriod)).toBeLessThanOrEqual(120);
    // A message's own sender goes as From along with the service (Twilio takes it only from the service's
    // pool: the pool is never bypassed); no validity, no ValidityPeriod.
    const own = randomMobile();
    const mine = await send({ to: own, from: '+15005550006', type: 'sms', body: 'hello' });
    await until(mine.json().id, 'sent');
    expect(twilio.to(own)[0].form).toMatchObject({ From: '+15005550006', MessagingServiceSid: SERVICE_SID });
    expect(twilio.to(own)[0].form.ValidityPeriod).toBeUndefined();
  });

  it('starts the validity clock at send_at', async () => {
    const at = new Date(Date.now() + 3600_000);
    at.setMilliseconds(0);
    const res = await send({
      to: randomMobile(),
      type: 'sms',
      body: 'later',
      send_at: at.toISOString(),
      validity_seconds: 60,
    });
    expect(res.json().valid_until).toBe(new Date(at.getTime() + 60_000).toISOString());
  });

  it('fails a message not handed over within its validity with EXPIRED, never sending it late', async () => {
    const to = randomMobile();
    twilio.failNext(1, { status: 429, code: 20429 }, to); // refused: retried after 1.5 s, past its 1 s
    const res = await send({ to, type: 'sms', body: 'a code', validity_seconds: 1 });
    const failed = await until(res.json().id, 'failed');
    expect(failed.error).toBe('EXPIRED');
    expect(twilio.to(to)).toHaveLength(1); // the refused attempt only
    // And it stays that way.
    await new Promise((r) => setTimeout(r, 500));
    expect(twilio.to(to)).toHaveLength(1);
  });

  it('gives an OTP message its code lifetime as validity', async () => {
    const to = randomMobile();
    const res = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: to, channel: 'sms' },
    });
    expect(res.statusCode).toBe(200);
    const { message_id, expires_at } = res.json();
    const [row] = await db.query('SELECT valid_until FROM messages WHERE id = $1', [message_id]);
    const gap = Date.parse(expires_at) - new Date(row.valid_until).getTime();
    expect(gap).toBeGreaterThanOrEqual(0);
    expect(gap).toBeLessThan(2000);
    await waitFor(() => twilio.to(to).length === 1, 'the code sent');
    expect(Number(twilio.to(to)[0].form.ValidityPeriod)).toBeLessThanOrEqual(
      Math.ceil((Date.parse(expires_at) - Date.now()) / 1000) + 2,
    );
  });
});
