// The WhatsApp→SMS fallback (a subscriber of message status changes): only for the number's live code, and
// never to a blacklisted number. A late failure of a code already used, replaced or expired sends nothing.
import { OtpService } from '../../src/otp/otp.service';
import { otpTemplateForWhatsApp } from '../helpers/templates';
import { DataSource } from 'typeorm';
import { RedisKeys } from '../../src/redis/redis-keys';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { signedTwilioForm, TwilioStandIn } from '../helpers/twilio-standin';
import { sleep, waitFor } from '../helpers/wait';
import { numberKeys } from '../helpers/number-keys';

const PUBLIC = 'https://sms-bridge.example.com';

describe('OTP WhatsApp→SMS fallback', () => {
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
        TWILIO_FROM_NUMBER: '+15005550006',
        TWILIO_BASE_URL: twilio.baseUrl,
        PUBLIC_BASE_URL: PUBLIC,
        MESSAGE_RELAY_INTERVAL: '3600',
      },
      { role: 'all' },
    );
    await t.app.get(JobScheduler).idle();
    db = t.app.get(DataSource);
    await otpTemplateForWhatsApp(t);
  });
  afterAll(async () => {
    await t?.close();
    await twilio?.stop();
  });

  /** A WhatsApp code sent through Twilio: its message id and Twilio's sid. */
  const whatsappCode = async (mobile: string) => {
    const res = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: mobile, channel: 'whatsapp' },
    });
    expect(res.statusCode).toBe(200);
    const request = await waitFor(() => twilio.to(mobile).find((r) => r.sid), 'the WhatsApp send');
    const [{ message_id }] = await db.query(
      `SELECT message_id FROM otp_codes WHERE mobile_number = $1 ORDER BY created_at DESC LIMIT 1`,
      [mobile],
    );
    await waitFor(
      async () =>
        (await db.query(`SELECT status FROM messages WHERE id = $1`, [message_id]))[0].status === 'sent',
      'the WhatsApp message sent',
    );
    return { messageId: message_id as string, sid: request!.sid! };
  };
  const reportUndelivered = (messageId: string, sid: string) => {
    const url = `/webhooks/twilio/status?message_id=${messageId}`;
    const signed = signedTwilioForm(`${PUBLIC}${url}`, {
      MessageSid: sid,
      MessageStatus: 'undelivered',
      ErrorCode: '63016',
    });
    return t.request({ method: 'POST', url, as: 'none', ...signed });
  };
  const smsTo = (mobile: string) => twilio.to(mobile).filter((r) => r.form.To === mobile);

  it('falls back for the live code', async () => {
    const mobile = randomMobile();
    const { messageId, sid } = await whatsappCode(mobile);
    expect((await reportUndelivered(messageId, sid)).statusCode).toBe(200);
    await waitFor(() => smsTo(mobile).length === 1, 'the SMS fallback');
  });

  it('does not fall back for a code that expired before its failure was reported', async () => {
    const mobile = randomMobile();
    const { messageId, sid } = await whatsappCode(mobile);
    await db.query(`UPDATE otp_codes SET expires_at = now() - interval '1 second' WHERE message_id = $1`, [
      messageId,
    ]);
    expect((await reportUndelivered(messageId, sid)).statusCode).toBe(200);
    await waitFor(
      async () =>
        (await db.query(`SELECT status FROM messages WHERE id = $1`, [messageId]))[0].status ===
        'undelivered',
      'the failure recorded',
    );
    await sleep(1000);
    expect(smsTo(mobile)).toHaveLength(0);
  });

  it('does not fall back to a number blacklisted since', async () => {
    const mobile = randomMobile();
    const { messageId, sid } = await whatsappCode(mobile);
    await Promise.all([mobile].map((m) => numberKeys(t.redis).setBlacklisted(m)));
    try {
      expect((await reportUndelivered(messageId, sid)).statusCode).toBe(200);
      await waitFor(
        async () =>
          (await db.query(`SELECT status FROM messages WHERE id = $1`, [messageId]))[0].status ===
          'undelivered',
        'the failure recorded',
      );
      await sleep(1000);
      expect(smsTo(mobile)).toHaveLength(0);
    } finally {
      await numberKeys(t.redis).setBlacklisted(mobile, false);
    }
  });

  it("never replaces a code the user got meanwhile (the fallback and the user's resend racing)", async () => {
    // The fallback checked that the WhatsApp code was live; before it sends, the user's own resend by SMS
    // lands (their cooldown has passed). The fallback must then leave the user's new code alone.
    const mobile = randomMobile();
    const { messageId } = await whatsappCode(mobile);
    const [failed] = await db.query('SELECT id FROM otp_codes WHERE message_id = $1', [messageId]);
    await db.query(`UPDATE otp_codes SET created_at = now() - interval '2 minutes' WHERE id = $1`, [
      failed.id,
    ]);
    const stored = JSON.parse((await t.redis.get(RedisKeys.otp(mobile)))!);
    await t.redis.set(
      RedisKeys.otp(mobile),
      JSON.stringify({ ...stored, created_ms: Date.now() - 120_000 }),
      'KEEPTTL',
    );
    const resend = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: mobile, channel: 'sms', resend: true },
    });
    expect(resend.statusCode).toBe(200);
    await waitFor(() => smsTo(mobile).length === 1, "the user's SMS code");
    const code = /(\d{6})/.exec(String(smsTo(mobile)[0].form.Body))![1];
    // The fallback's send, for the code that failed.
    const otp = t.app.get(OtpService);
    await expect(
      otp.send(
        { mobile_number: mobile, channel: 'sms', resend: true },
        { fallback: true, replacing: failed.id },
      ),
    ).rejects.toMatchObject({ code: 'OTP_REPLACED' });
    await sleep(300);
    expect(smsTo(mobile)).toHaveLength(1);
    const ok = await t.request({
      method: 'POST',
      url: '/otp/verify',
      payload: { mobile_number: mobile, otp: code },
    });
    expect(ok.statusCode).toBe(200);
  });
});
