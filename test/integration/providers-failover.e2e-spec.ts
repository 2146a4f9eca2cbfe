// Routing and failover (issue 18 §2): SMS_ROUTES picks providers by the longest destination prefix; a send the
// first provider refuses before accepting the message goes to the next, exactly once; an answer whose outcome
// is unknown never does; a provider failing again and again has its circuit opened (skipped, a health
// component and a metric say so) and probed once its open time has passed.
import { DataSource } from 'typeorm';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { msg91FormReport, Msg91StandIn } from '../helpers/msg91-standin';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { TwilioStandIn } from '../helpers/twilio-standin';
import { sleep, waitFor } from '../helpers/wait';

describe('providers: routes and failover', () => {
  let t: TestApp;
  let twilio: TwilioStandIn;
  let msg91: Msg91StandIn;

  beforeAll(async () => {
    [twilio, msg91] = await Promise.all([TwilioStandIn.start(), Msg91StandIn.start()]);
    t = await appWith({
      SMS_PROVIDER: 'console',
      SMS_ROUTES: '+91=twilio>msg91; *=twilio',
      CIRCUIT_FAILURES: '3',
      CIRCUIT_OPEN_SECONDS: '2',
      PROVIDER_TIMEOUT_MS: '1000',
      MESSAGE_BACKOFF_MS: '20',
    });
  });
  afterAll(async () => {
    await t?.close();
    await Promise.all([twilio?.stop(), msg91?.stop()]);
  });

  /** Another app on the same stand-ins, with its own routes and rates. */
  const appWith = async (env: Record<string, string>) => {
    const app = await startTestApp(
      {
        TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
        TWILIO_FROM_NUMBER: '+15005550006',
        TWILIO_BASE_URL: twilio.baseUrl,
        PUBLIC_BASE_URL: 'https://sms-bridge.example.com',
        MSG91_AUTH_KEY: Msg91StandIn.AUTH_KEY,
        MSG91_BASE_URL: msg91.baseUrl,
        MSG91_TEMPLATE_ID: Msg91StandIn.TEMPLATE_ID,
        MSG91_WEBHOOK_TOKEN: 'failover-webhook-token-0123456789',
        MESSAGE_RELAY_INTERVAL: '3600',
        ...env,
      },
      { role: 'all' },
    );
    await app.app.get(JobScheduler).idle();
    return app;
  };

  const get = async (id: string) => (await t.request({ url: `/api/v1/messages/${id}` })).json();
  const until = (id: string, status: string) =>
    waitFor(async () => {
      const m = await get(id);
      return m.status === status && m;
    }, `message ${id} ${status}`);
  const sms = async (to: string) => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: { to, type: 'sms', body: 'hi' },
    });
    expect(res.statusCode).toBe(202);
    return res.json().id as string;
  };

  it('routes by the longest prefix: +91 to twilio first, others to twilio alone', async () => {
    const indian = randomMobile();
    const us = '+14155550111';
    const [a, b] = [await sms(indian), await sms(us)];
    expect(await until(a, 'sent')).toMatchObject({
      provider: 'twilio',
      attempts: [{ provider: 'twilio', outcome: 'sent' }],
    });
    expect(await until(b, 'sent')).toMatchObject({ provider: 'twilio' });
    expect(msg91.to(indian)).toHaveLength(0);
  });

  it('fails over when the first provider refuses before accepting (a 5xx without a sid): sent once, by the second', async () => {
    const to = randomMobile();
    twilio.failNext(1, { status: 500 }, to);
    const id = await sms(to);
    const sent = await until(id, 'sent');
    expect(sent).toMatchObject({
      provider: 'msg91',
      attempts: [
        { provider: 'twilio', outcome: 'failed', error: 'HTTP_500' },
        { provider: 'msg91', outcome: 'sent' },
      ],
    });
    await sleep(300);
    expect(twilio.to(to)).toHaveLength(1);
    expect(msg91.to(to)).toHaveLength(1);
    // A success of twilio's resets its count of consecutive failures.
    await until(await sms(randomMobile()), 'sent');
  });

  it('never fails over an answer whose outcome is unknown (the first provider may have it)', async () => {
    const to = randomMobile();
    twilio.failNext(1, { status: 0, fault: 'drop' }, to);
    const failed = await until(await sms(to), 'failed');
    expect(failed.error).toMatch(/^DELIVERY_UNKNOWN/);
    expect(failed.attempts).toEqual([{ provider: 'twilio', outcome: 'failed', error: 'DELIVERY_UNKNOWN' }]);
    expect(msg91.to(to)).toHaveLength(0);
    await until(await sms(randomMobile()), 'sent'); // and reset the count
  });

  it('opens a failing provider’s circuit: skipped, said by health and a metric, probed after its open time', async () => {
    const numbers = [randomMobile(), randomMobile(), randomMobile()];
    for (const to of numbers) {
      twilio.failNext(1, { status: 503, raw: 'Service Unavailable' }, to);
      await until(await sms(to), 'sent'); // each by msg91
    }
    // Three consecutive failures: open. The next message does not try twilio at all.
    const skipped = randomMobile();
    const s = await until(await sms(skipped), 'sent');
    expect(s.attempts).toEqual([
      { provider: 'twilio', outcome: 'skipped', error: 'CIRCUIT_OPEN' },
      { provider: 'msg91', outcome: 'sent' },
    ]);
    expect(twilio.to(skipped)).toHaveLength(0);
    const health = (await t.request({ url: '/health', as: 'none' })).json();
    expect(health.components.sms_providers).toEqual({
      status: 'degraded',
      circuits: { twilio: 'open', msg91: 'closed' },
    });
    const metrics = (await t.request({ url: '/metrics', as: 'none' })).body;
    expect(metrics).toMatch(/smsb_provider_circuit_open\{provider="twilio"\} 1/);
    // After CIRCUIT_OPEN_SECONDS one probe goes to twilio; its success closes the circuit. Health does not
    // say open any longer once that time is over, before any probe.
    await sleep(2100);
    expect(
      (await t.request({ url: '/health', as: 'none' })).json().components.sms_providers.circuits.twilio,
    ).not.toBe('open');
    const probe = randomMobile();
    expect(await until(await sms(probe), 'sent')).toMatchObject({ provider: 'twilio' });
    const after = (await t.request({ url: '/health', as: 'none' })).json();
    expect(after.components.sms_providers.circuits.twilio).toBe('closed');
  });

  it('fails over the account’s own problems (a rejected key): another provider takes the message', async () => {
    const to = randomMobile();
    twilio.failNext(1, { status: 401, code: 20003 }, to);
    expect(await until(await sms(to), 'sent')).toMatchObject({
      provider: 'msg91',
      attempts: [
        { provider: 'twilio', outcome: 'failed', error: '20003' },
        { provider: 'msg91', outcome: 'sent' },
      ],
    });
    await until(await sms(randomMobile()), 'sent'); // and reset twilio's count
  });

  it('never follows a provider’s redirect: one POST, read as a refusal, the next provider sends it', async () => {
    const to = randomMobile();
    twilio.failNext(1, { status: 307, raw: '', headers: { location: `${twilio.baseUrl}/elsewhere` } }, to);
    expect(await until(await sms(to), 'sent')).toMatchObject({
      provider: 'msg91',
      attempts: [
        { provider: 'twilio', outcome: 'failed', error: 'HTTP_307' },
        { provider: 'msg91', outcome: 'sent' },
      ],
    });
    expect(twilio.to(to)).toHaveLength(1);
    await until(await sms(randomMobile()), 'sent');
  });

  it('matches a delivery report by its provider and id: an MSG91 report naming a Twilio sid moves nothing', async () => {
    const id = await sms(randomMobile());
    const sent = await until(id, 'sent');
    const sid = twilio.requests.find((r) => r.form.StatusCallback?.toString().endsWith(id))!.sid!;
    expect(sent.provider).toBe('twilio');
    const report = await t.request({
      method: 'POST',
      url: '/webhooks/msg91/status/failover-webhook-token-0123456789',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: msg91FormReport(sid, '2'),
      as: 'none',
    });
    expect(report.statusCode).toBe(200);
    expect((await get(id)).status).toBe('sent');
  });

  it('applies a report on a reused id to the newest message of that provider (an SMSC whose counter restarted)', async () => {
    const [older, newer] = [randomMobile(), randomMobile()];
    const a = await sms(older);
    await until(a, 'sent');
    const b = await sms(newer);
    await until(b, 'sent');
    // Both messages carry one id of msg91's, as when a provider reuses its ids.
    const reused = 'reused-request-id-0001';
    await t.app
      .get(DataSource)
      .query(`UPDATE messages SET provider = 'msg91', provider_message_id = $1 WHERE id = ANY($2)`, [
        reused,
        [a, b],
      ]);
    await t.request({
      method: 'POST',
      url: '/webhooks/msg91/status/failover-webhook-token-0123456789',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: msg91FormReport(reused, '1'),
      as: 'none',
    });
    await until(b, 'delivered');
    expect((await get(a)).status).toBe('sent');
  });

  describe('per-provider send rates', () => {
    let limited: TestApp;
    beforeAll(async () => {
      limited = await appWith({ SMS_ROUTES: '*=twilio>msg91', SMS_PROVIDER_RATES: 'twilio:1' });
    });
    afterAll(() => limited?.close());

    it('sends past a provider’s rate through the next provider of the route', async () => {
      const send = async (to: string) => {
        const res = await limited.request({
          method: 'POST',
          url: '/api/v1/messages/send',
          payload: { to, type: 'sms', body: 'burst' },
        });
        return res.json().id as string;
      };
      const sentOf = (id: string) =>
        waitFor(async () => {
          const m = (await limited.request({ url: `/api/v1/messages/${id}` })).json();
          return m.status === 'sent' && m;
        }, `message ${id} sent`);
      const numbers = Array.from({ length: 6 }, () => randomMobile());
      const sent = await Promise.all((await Promise.all(numbers.map(send))).map(sentOf));
      const byTwilio = sent.filter((m) => m.provider === 'twilio').length;
      expect(byTwilio).toBeLessThanOrEqual(2); // one a second: the burst spans at most two windows
      for (const m of sent.filter((x) => x.provider === 'msg91'))
        expect(m.attempts).toEqual([
          { provider: 'twilio', outcome: 'skipped', error: 'RATE_LIMITED' },
          { provider: 'msg91', outcome: 'sent' },
        ]);
      expect(numbers.reduce((n, to) => n + twilio.to(to).length + msg91.to(to).length, 0)).toBe(6); // once each
      // Once the second has passed, twilio takes a message again.
      await sleep(1200);
      expect((await sentOf(await send(randomMobile()))).provider).toBe('twilio');
    });
  });

  describe('validity and pacing', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await appWith({
        SMS_ROUTES: '+91=twilio>msg91;*=twilio',
        SMS_PROVIDER_RATES: 'twilio:2',
        MESSAGE_MAX_ATTEMPTS: '2',
        MESSAGE_BACKOFF_MS: '20',
      });
    });
    afterAll(() => app?.close());
    const send = async (payload: object) => {
      const res = await app.request({ method: 'POST', url: '/api/v1/messages/send', payload });
      expect(res.statusCode).toBe(202);
      return res.json().id as string;
    };
    const settled = (id: string) =>
      waitFor(
        async () => {
          const m = (await app.request({ url: `/api/v1/messages/${id}` })).json();
          return ['sent', 'failed'].includes(m.status) && m;
        },
        `message ${id} settled`,
        20_000,
      );

    it('never hands an expired message to the next provider: the first failed slowly, the code ran out', async () => {
      const to = randomMobile();
      twilio.failNext(1, { status: 503, raw: 'Service Unavailable', delayMs: 2100 }, to);
      const m = await settled(await send({ to, type: 'sms', body: 'code 123456', validity_seconds: 2 }));
      expect([m.status, m.error]).toEqual(['failed', 'EXPIRED']);
      expect(m.attempts).toEqual([{ provider: 'twilio', outcome: 'failed', error: 'HTTP_503' }]);
      expect(msg91.to(to)).toHaveLength(0);
    });

    it('paces a burst above a provider’s rate without failing any of it (no attempt used)', async () => {
      const numbers = Array.from(
        { length: 8 },
        () => `+1415555${String(1000 + Math.floor(Math.random() * 8999))}`,
      );
      const ids = await Promise.all(numbers.map((to) => send({ to, type: 'sms', body: 'burst' })));
      const done = await Promise.all(ids.map(settled));
      expect(done.map((m) => m.status)).toEqual(Array(8).fill('sent'));
      for (const m of done) expect(m.retry_count).toBe(0);
      for (const to of new Set(numbers))
        expect(twilio.to(to).length).toBe(numbers.filter((n) => n === to).length);
    });
  });
});
