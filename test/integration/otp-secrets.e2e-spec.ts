// The built service at LOG_LEVEL=debug, a whole OTP flow through a Twilio stand-in: the code, the API key,
// the auth token, the full phone number and the MSG91 webhook token (a path segment) never reach the logs, and
// the stored body is redacted once sent.
import { Client } from 'pg';
import { randomMobile } from '../helpers/numbers';
import { serviceEnv, spawnService, waitForHttp } from '../helpers/processes';
import { freePort } from '../helpers/redis-server';
import { removeKeys } from '../helpers/test-app';
import { TEST_CLIENT_KEY, testConfig, testDatabaseUrl } from '../helpers/test-env';
import { TwilioStandIn } from '../helpers/twilio-standin';
import { waitFor } from '../helpers/wait';

/** As docs/providers.md suggests making one (openssl rand -hex 24). */
const WEBHOOK_TOKEN = '07f2ff5846f87b11c68594d1d2ba29e41384c39bd886362d';

describe('secrets stay out of logs', () => {
  it('runs an OTP flow at debug level without logging the code, keys or the number, with the request id on a request’s lines', async () => {
    const twilio = await TwilioStandIn.start();
    const port = await freePort();
    const env = serviceEnv(port, {
      APP_ROLE: 'all',
      LOG_LEVEL: 'debug',
      SMS_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
      TWILIO_FROM_NUMBER: '+15005550006',
      TWILIO_BASE_URL: twilio.baseUrl,
      MSG91_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    });
    const svc = spawnService('main', env);
    const db = new Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health/live`);
      const mobile = randomMobile();
      const headers = { 'content-type': 'application/json', 'x-api-key': TEST_CLIENT_KEY };
      const base = `http://127.0.0.1:${port}`;
      const sent: any = await (
        await fetch(`${base}/otp/send`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ mobile_number: mobile, channel: 'sms' }),
        })
      ).json();
      await waitFor(() => twilio.to(mobile).length === 1, 'the code reached the provider');
      const code = /(\d{6})/.exec(String(twilio.to(mobile)[0].form.Body))![1];
      const wrong = code === '000000' ? '111111' : '000000';
      await fetch(`${base}/otp/verify`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ mobile_number: mobile, otp: wrong }),
      });
      const ok = await fetch(`${base}/otp/verify`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ mobile_number: mobile, otp: code }),
      });
      expect(ok.status).toBe(200);
      await fetch(`${base}/onboard/register/${mobile}`, { headers });
      await fetch(`${base}/onboard/register/${mobile}`, { headers: { 'x-api-key': 'wrong-key' } });
      // A webhook answered 400 (a report shape it does not read) is logged with its URL (attack 18 F16).
      const hook = await fetch(`${base}/webhooks/msg91/status/${WEBHOOK_TOKEN}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ unknown: 'shape' }),
      });
      expect(hook.status).toBe(400);

      await waitFor(
        async () =>
          (await db.query('SELECT body FROM messages WHERE id = $1', [sent.message_id])).rows[0]?.body ===
          '[redacted]',
        'body redacted',
      );

      const logs = svc.output();
      expect(logs.length).toBeGreaterThan(0);
      // A line a service writes while serving a request carries that request's id (the AsyncLocalStorage
      // started in the onRequest hook, read by the logger's mixin), also across the awaits before it.
      const verifiedLine = logs
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string; reqId?: string })
        .find((l) => /verified$/.test(l.msg ?? ''));
      expect(verifiedLine?.reqId).toBe(ok.headers.get('x-request-id'));
      expect(logs).not.toContain(code);
      expect(logs).not.toContain(mobile);
      expect(logs).not.toContain(mobile.slice(3));
      expect(logs).not.toContain(TEST_CLIENT_KEY);
      expect(logs).not.toContain('wrong-key');
      expect(logs).not.toContain(TwilioStandIn.AUTH_TOKEN);
      expect(logs).toContain('/webhooks/msg91/status/'); // the line is there, its token is not
      expect(logs).not.toContain(WEBHOOK_TOKEN.slice(0, 16));
    } catch (err) {
      // The service's own output explains a failure here better than the client's view of it.
      throw new Error(`${(err as Error).message}\n--- service output ---\n${svc.output().slice(-4000)}`);
    } finally {
      await db.end();
      await svc.stop();
      await twilio.stop();
      await removeKeys(testConfig({ REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX }));
    }
  });
});
