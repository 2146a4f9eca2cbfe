// Secrets and personal data stay out of the logs: the built API and worker run as in production, at LOG_LEVEL=debug,
// through every flow that handles them (OTP send and verify, register and inbound SMS from a gateway and from
// Twilio, messages sent through the console provider, sessions, end-user tokens, refused keys, failed requests),
// and their whole output is searched for the OTP codes, the API keys, the tokens, the Twilio auth token, the
// message text and every phone number, written any way.
import { Client } from 'pg';
import { randomMobile } from '../helpers/numbers';
import { ServiceProcess, serviceEnv, spawnService, waitForHttp } from '../helpers/processes';
import { freePort } from '../helpers/redis-server';
import { removeKeys } from '../helpers/test-app';
import { TEST_ADMIN_KEY, TEST_CLIENT_KEY, testConfig, testDatabaseUrl } from '../helpers/test-env';
import { signedTwilioForm } from '../helpers/twilio-standin';
import { waitFor } from '../helpers/wait';

const TWILIO_TOKEN = 'sec-twilio-auth-token-5f1c0a';
const TEST_NUMBER_CODE = '918273';
const BODY_MARKER = 'private-text-7d1e29b4';

/** The national digits of a number, with anything but digits allowed between them (spaces, %20, dashes). */
const digitsAnyHow = (mobile: string) => new RegExp(mobile.slice(3).split('').join('\\D{0,3}'));

describe('secrets stay out of the logs', () => {
  let api: ServiceProcess;
  let worker: ServiceProcess;
  let port: number;
  let env: Record<string, string | undefined>;
  let db: Client;
  let base: string;

  beforeAll(async () => {
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = serviceEnv(port, {
      LOG_LEVEL: 'debug',
      SMS_PROVIDER: 'console',
      EMAIL_PROVIDER: 'console',
      TWILIO_AUTH_TOKEN: TWILIO_TOKEN, // checks Twilio's webhooks; nothing is sent through Twilio here
      PUBLIC_BASE_URL: base,
      OTP_TEST_NUMBERS: `${(testNumber = randomMobile())}:${TEST_NUMBER_CODE}`,
      OTP_RESEND_COOLDOWN_SECONDS: '0',
      MONITOR_LOG_INTERVAL: '1',
    });
    db = new Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    // The API alone first: an OTP message then waits in Postgres, unsent, where the test can read its code.
    api = spawnService('main', env);
    await waitForHttp(`${base}/health/live`);
  });
  afterAll(async () => {
    await db?.end();
    await Promise.all([api?.stop(), worker?.stop()]);
    if (env) await removeKeys(testConfig({ REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX }));
  });

  let testNumber: string;
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = { 'x-api-key': TEST_CLIENT_KEY },
  ) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) };
  };

  it('runs every flow at debug level without logging a secret or a phone number', async () => {
    const numbers: string[] = [testNumber];
    const secrets: string[] = [TEST_CLIENT_KEY, TEST_ADMIN_KEY, TWILIO_TOKEN, TEST_NUMBER_CODE, BODY_MARKER];
    const mobile = () => {
      const n = randomMobile();
      numbers.push(n);
      return n;
    };
    try {
      // --- OTP: send (the message waits, unsent, with its code), a wrong guess, the right one ---
      const otpNumber = mobile();
      const sent = await call('POST', '/otp/send', {
        mobile_number: otpNumber,
        channel: 'sms',
        user_id: 'user-sec',
      });
      expect(sent.status).toBe(200);
      const [row] = (await db.query('SELECT body FROM messages WHERE id = $1', [sent.json().message_id]))
        .rows;
      const code = /(\d{6})/.exec(row.body)![1];
      secrets.push(code);
      // The worker starts now: it sends the code through the console provider, and redacts the stored body.
      worker = spawnService('worker', env);
      await waitFor(
        async () =>
          (await db.query('SELECT body FROM messages WHERE id = $1', [sent.json().message_id])).rows[0]
            .body === '[redacted]',
        'the OTP message sent and its body redacted',
        20000,
      );
      const wrong = code === '000000' ? '111111' : '000000';
      expect((await call('POST', '/otp/verify', { mobile_number: otpNumber, otp: wrong })).status).toBe(400);
      const verified = await call('POST', '/otp/verify', { mobile_number: otpNumber.slice(3), otp: code });
      expect(verified.status).toBe(200);
      const { access_token, session_id } = verified.json();
      secrets.push(access_token, session_id);
      // A test number: its fixed code is a secret too.
      await call('POST', '/otp/send', { mobile_number: testNumber, channel: 'sms' });
      const testVerified = await call('POST', '/otp/verify', {
        mobile_number: testNumber,
        otp: TEST_NUMBER_CODE,
      });
      expect(testVerified.status).toBe(200);
      secrets.push(testVerified.json().access_token);

      // --- end-user token: used, refused when wrong, revoked, refused when revoked ---
      const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
      expect((await call('GET', '/auth/me', undefined, bearer(access_token))).status).toBe(200);
      expect((await call('GET', '/auth/me', undefined, bearer(`${access_token}x`))).status).toBe(401);
      expect((await call('POST', '/auth/logout', undefined, bearer(access_token))).status).toBe(204);
      expect((await call('GET', '/auth/me', undefined, bearer(access_token))).status).toBe(401);

      // --- onboarding: register, inbound SMS from a gateway (right, then wrong), and from Twilio ---
      const onboard = mobile();
      const { hash } = (await call('GET', `/onboard/register/${encodeURIComponent(onboard)}`)).json();
      secrets.push(hash);
      const smsId = `sms-${Date.now()}`;
      const inbound = await call('POST', '/onboard/sms', {
        mobile_number: onboard,
        message: `ONBOARD ${hash}`,
        sms_id: smsId,
      });
      expect(inbound.json()).toEqual({ status: 'verified' });
      // Again, now onboarded: 409 on register, written the ways people write numbers (logged as client errors).
      const national = onboard.slice(3);
      for (const written of [
        onboard,
        national,
        `${national.slice(0, 5)} ${national.slice(5)}`,
        `+91-${national}`,
      ]) {
        expect((await call('GET', `/onboard/register/${encodeURIComponent(written)}`)).status).toBe(409);
      }
      const rejected = mobile();
      await call('GET', `/onboard/register/${rejected}`);
      await call('POST', '/onboard/sms', { mobile_number: rejected, message: 'ONBOARD WRONGHASH00' });
      const viaTwilio = mobile();
      const twilioHash = (await call('GET', `/onboard/register/${viaTwilio}`)).json().hash;
      secrets.push(twilioHash);
      const signed = signedTwilioForm(
        `${base}/webhooks/twilio/inbound`,
        { From: viaTwilio, Body: `ONBOARD ${twilioHash}`, MessageSid: 'SMsecrets1' },
        TWILIO_TOKEN,
      );
      const twilioInbound = await fetch(`${base}/webhooks/twilio/inbound`, {
        method: 'POST',
        headers: signed.headers,
        body: signed.payload,
      });
      expect(twilioInbound.status).toBe(200);
      expect((await call('GET', `/onboard/status/${viaTwilio}`)).json().status).toBe('verified');
      // A forged Twilio request (refused, and logged as a client error).
      await fetch(`${base}/webhooks/twilio/inbound`, {
        method: 'POST',
        headers: { ...signed.headers, 'x-twilio-signature': 'Zm9yZ2Vk' },
        body: signed.payload,
      });
      // Blacklisting by an admin.
      const banned = mobile();
      await call('PUT', `/admin/blacklist/${banned}`, { reason: 'test' }, { 'x-api-key': TEST_ADMIN_KEY });
      expect((await call('POST', '/otp/send', { mobile_number: banned, channel: 'sms' })).status).toBe(403);

      // --- messages through the console provider: SMS and e-mail, with a status callback URL ---
      const to = mobile();
      const sms = await call('POST', '/api/v1/messages/send', {
        to,
        type: 'sms',
        body: `hello ${BODY_MARKER}`,
      });
      expect(sms.status).toBe(202);
      const email = await call('POST', '/api/v1/messages/send', {
        to: 'person@example.com',
        type: 'email',
        subject: BODY_MARKER,
        body: BODY_MARKER,
      });
      expect(email.status).toBe(202);
      for (const id of [sms.json().id, email.json().id]) {
        await waitFor(
          async () => (await call('GET', `/api/v1/messages/${id}`)).json().status === 'delivered',
          `message ${id} delivered by the console provider`,
          20000,
        );
      }
      await call('GET', `/api/v1/messages?to=${encodeURIComponent(to)}`);
      await call(
        'GET',
        `/api/v1/messages?to=${encodeURIComponent(`${to.slice(3, 8)} ${to.slice(8)}`)}&limit=0`,
      ); // 400
      const secret = (await call('GET', '/api/v1/webhooks/secret')).json().secret;
      secrets.push(secret);

      // --- sessions, with a phone number as the user id ---
      const user = mobile();
      const created = await call('POST', '/sessions', { user_id: user, context: { note: BODY_MARKER } });
      expect(created.status).toBe(201);
      const sid = created.json().session_id;
      secrets.push(sid);
      await call('GET', `/sessions/${sid}`);
      await call('PATCH', `/sessions/${sid}`, { context: { more: 1 } });
      await call('GET', `/users/${encodeURIComponent(user)}/sessions`);
      await call('GET', `/users/${encodeURIComponent(user)}/sessions?except=bad`); // 400
      await call('DELETE', `/users/${encodeURIComponent(user)}/sessions`);
      await call('GET', `/sessions/${sid}`); // 404

      // --- refused keys, in both headers, and on the admin routes ---
      for (const headers of [
        { 'x-api-key': 'wrong-key-3b9d' } as Record<string, string>,
        { authorization: 'Bearer wrong-key-3b9d' },
        { 'x-api-key': TEST_CLIENT_KEY },
      ]) {
        await call('GET', '/admin/settings', undefined, headers);
      }
      secrets.push('wrong-key-3b9d');
      await call('GET', '/admin/queues', undefined, {
        authorization: `Basic ${Buffer.from(`admin:${TEST_CLIENT_KEY}`).toString('base64')}`,
      });

      // Let the worker's scheduled jobs (the monitor-logger moving the audit trail) run over all of it.
      await waitFor(
        async () =>
          Number(
            (await db.query('SELECT count(*) FROM sms_monitor WHERE mobile_number = $1', [viaTwilio])).rows[0]
              .count,
          ) > 0,
        'the audit trail moved to Postgres',
        20000,
      );

      const logs = `${api.output()}\n${worker.output()}`;
      expect(logs).toMatch(/"level":20/); // debug lines were written: the level really was debug
      expect(logs).toMatch(/"statusCode":40[139]/); // and client errors were logged
      for (const s of secrets) expect([s.slice(0, 12), logs.includes(s)]).toEqual([s.slice(0, 12), false]);
      // Numbers also as they appear in logged URLs: percent-encoded (%2B91…, 98765%2043210).
      const decoded = logs.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
        String.fromCharCode(parseInt(hex, 16)),
      );
      // And in the URLs logged for client errors, a number keeps no more than the four digits of its mask.
      const urls = logs
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l).req?.url as string | undefined)
        .filter((u): u is string => !!u)
        .map((u) =>
          u.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
        );
      const numberParams = urls.flatMap(
        (u) => /^\/onboard\/register\/([^?]*)|[?&]to=([^&]*)/.exec(u)?.slice(1, 3) ?? [],
      );
      expect(numberParams.filter(Boolean).length).toBeGreaterThanOrEqual(4);
      for (const p of numberParams.filter(Boolean))
        expect([p, p.replace(/\D/g, '').length <= 4]).toEqual([p, true]);
      for (const n of numbers) {
        expect([n, logs.includes(n)]).toEqual([n, false]);
        expect([n, digitsAnyHow(n).exec(logs)?.[0]]).toEqual([n, undefined]);
        expect([n, digitsAnyHow(n).exec(decoded)?.[0]]).toEqual([n, undefined]);
      }
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\n--- api output ---\n${api.output().slice(-3000)}\n--- worker output ---\n${worker?.output().slice(-2000)}`,
      );
    }
  });
});
