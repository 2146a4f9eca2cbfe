// Routing and failover (issue 18 §2): SMS_ROUTES picks providers by the longest destination prefix; a send the
// first provider refuses before accepting the message goes to the next, exactly once; an answer whose outcome
// is unknown never does; a provider failing again and again has its circuit opened (skipped, a health
// component and a metric say so) and probed once its open time has passed.
import { JobScheduler } from '../../src/workers/job-scheduler';
import { Msg91StandIn } from '../helpers/msg91-standin';
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
    t = await startTestApp(
      {
        SMS_PROVIDER: 'console',
        SMS_ROUTES: '+91=twilio>msg91; *=twilio',
        TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
        TWILIO_FROM_NUMBER: '+15005550006',
        TWILIO_BASE_URL: twilio.baseUrl,
        PUBLIC_BASE_URL: 'https://sms-bridge.example.com',
        MSG91_AUTH_KEY: Msg91StandIn.AUTH_KEY,
        MSG91_BASE_URL: msg91.baseUrl,
        MSG91_TEMPLATE_ID: Msg91StandIn.TEMPLATE_ID,
        MSG91_WEBHOOK_TOKEN: 'failover-webhook-token-0123456789',
        CIRCUIT_FAILURES: '3',
        CIRCUIT_OPEN_SECONDS: '2',
        PROVIDER_TIMEOUT_MS: '1000',
        MESSAGE_BACKOFF_MS: '20',
        MESSAGE_RELAY_INTERVAL: '3600',
      },
      { role: 'all' },
    );
    await t.app.get(JobScheduler).idle();
  });
  afterAll(async () => {
    await t?.close();
    await Promise.all([twilio?.stop(), msg91?.stop()]);
  });

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
    // After CIRCUIT_OPEN_SECONDS one probe goes to twilio; its success closes the circuit.
    await sleep(2100);
    const probe = randomMobile();
    expect(await until(await sms(probe), 'sent')).toMatchObject({ provider: 'twilio' });
    const after = (await t.request({ url: '/health', as: 'none' })).json();
    expect(after.components.sms_providers.circuits.twilio).toBe('closed');
  });

  describe('per-provider send rates', () => {
    let limited: TestApp;
    beforeAll(async () => {
      limited = await startTestApp(
        {
          SMS_ROUTES: '*=twilio>msg91',
          SMS_PROVIDER_RATES: 'twilio:1',
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
        },
        { role: 'all' },
      );
      await limited.app.get(JobScheduler).idle();
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
});
