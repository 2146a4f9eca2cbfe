// The msg91 provider end to end: messages sent by the worker through a local MSG91 Flow API stand-in, moved on
// by MSG91's delivery-report webhook (both of its shapes) through the status service; the at-most-once rule
// (a 5xx is retried, an error answer is not, a drop after the request was read is never sent again); and the
// webhook's door: a wrong token is an unknown route, an unknown request id changes nothing, a bad body is a 400.
import { RedisKeys } from '../../src/redis/redis-keys';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { Msg91StandIn, msg91FormReport, msg91JsonReport } from '../helpers/msg91-standin';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { sleep, waitFor } from '../helpers/wait';

const TOKEN = 'msg91-webhook-token-0123456789abcdef';
const HOOK = `/webhooks/msg91/status/${TOKEN}`;

describe('providers: msg91', () => {
  let t: TestApp;
  let msg91: Msg91StandIn;

  beforeAll(async () => {
    msg91 = await Msg91StandIn.start();
    t = await startTestApp(
      {
        SMS_PROVIDER: 'msg91',
        MSG91_AUTH_KEY: Msg91StandIn.AUTH_KEY,
        MSG91_BASE_URL: msg91.baseUrl,
        MSG91_TEMPLATE_ID: Msg91StandIn.TEMPLATE_ID,
        MSG91_SENDER_ID: 'SMSBRG',
        DLT_ENTITY_ID: '1101000000000000007',
        MSG91_WEBHOOK_TOKEN: TOKEN,
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
    await msg91?.stop();
  });

  const send = (payload: object) => t.request({ method: 'POST', url: '/api/v1/messages/send', payload });
  const get = async (id: string) => (await t.request({ url: `/api/v1/messages/${id}` })).json();
  const until = async (id: string, status: string): Promise<any> => {
    let last: { status?: string; error?: string } = {};
    return waitFor(
      async () => {
        last = await get(id);
        return last.status === status && last;
      },
      `message ${id} ${status}`,
      15000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: it is ${last.status} (${last.error})`);
    });
  };
  const sms = async (to: string, body: string) => {
    const res = await send({ to, type: 'sms', body });
    expect(res.statusCode).toBe(202);
    return res.json().id as string;
  };
  const formHook = (payload: string, url = HOOK) =>
    t.request({
      method: 'POST',
      url,
      as: 'none',
      payload,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  const jsonHook = (payload: unknown, url = HOOK) =>
    t.request({
      method: 'POST',
      url,
      as: 'none',
      payload: JSON.stringify(payload),
      headers: { 'content-type': 'application/json' },
    });

  it('sends through the Flow API and a delivered report (form webhook) moves the message to delivered', async () => {
    const to = randomMobile();
    const id = await sms(to, 'Your code is 123456');
    const sent = await until(id, 'sent');
    const [request] = msg91.to(to);
    expect(request.authkey).toBe(Msg91StandIn.AUTH_KEY);
    expect(request.body).toEqual({
      template_id: Msg91StandIn.TEMPLATE_ID,
      short_url: '0',
      sender: 'SMSBRG',
      PE_ID: '1101000000000000007',
      recipients: [{ mobiles: to.slice(1), content: 'Your code is 123456' }],
    });
    expect(sent).toMatchObject({ provider: 'msg91', provider_message_id: request.requestId });

    const res = await formHook(msg91FormReport(request.requestId!, '1', to.slice(1)));
    expect(res.statusCode).toBe(200);
    const delivered = await until(id, 'delivered');
    expect(delivered.error).toBeNull();
  });

  it("passes a template's DLT content-template id as DLT_TE_ID", async () => {
    await t.request({
      method: 'PUT',
      url: '/admin/templates/dlt-msg91',
      as: 'admin',
      payload: { variables: [], locales: { en: { body: 'Hello', dlt_template_id: '1107000000000000088' } } },
    });
    const to = randomMobile();
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: { to, type: 'sms', template: 'dlt-msg91' },
    });
    await until(res.json().id, 'sent');
    expect(msg91.to(to)[0].body).toMatchObject({
      PE_ID: '1101000000000000007',
      DLT_TE_ID: '1107000000000000088',
    });
  });

  it('marks a UCS-2 text unicode and passes a long text whole', async () => {
    const [a, b] = [randomMobile(), randomMobile()];
    const hindi = 'आपका कोड 123456 है';
    const long = 'A long message that takes more than one segment. '.repeat(5).trim();
    const [ida, idb] = await Promise.all([sms(a, hindi), sms(b, long)]);
    await Promise.all([until(ida, 'sent'), until(idb, 'sent')]);
    expect(msg91.to(a)[0].body).toMatchObject({ unicode: 1, recipients: [{ content: hindi }] });
    expect(msg91.to(b)[0].body.unicode).toBeUndefined();
    expect(msg91.to(b)[0].body.recipients?.[0].content).toBe(long);
  });

  it('a JSON report of a failure moves the message to undelivered, with its reason', async () => {
    const to = randomMobile();
    const id = await sms(to, 'to an unreachable handset');
    await until(id, 'sent');
    expect((await jsonHook(msg91JsonReport(msg91.to(to)[0].requestId!, '2'))).statusCode).toBe(200);
    const undelivered = await until(id, 'undelivered');
    expect(undelivered.error).toBe('MSG91 2 FAILED');
  });

  it('retries a 5xx, which proves MSG91 did not take it', async () => {
    const to = randomMobile();
    msg91.failNext(1, { status: 503, raw: 'Service Unavailable' }, to);
    const id = await sms(to, 'retry me');
    const sent = await until(id, 'sent');
    expect(msg91.to(to)).toHaveLength(2);
    expect(sent.retry_count).toBe(1);
  });

  it('fails, without a retry, a send MSG91 answers with an error', async () => {
    const to = randomMobile();
    msg91.failNext(
      1,
      { status: 400, body: { type: 'error', message: 'Template ID Missing or Invalid' } },
      to,
    );
    const id = await sms(to, 'refused for good');
    const failed = await until(id, 'failed');
    expect(failed.error).toBe('MSG91 400 error: Template ID Missing or Invalid');
    await sleep(300);
    expect(msg91.to(to)).toHaveLength(1);
  });

  it('retries what is the account’s problem (no balance), not the message’s: MSG91 did not take it', async () => {
    const to = randomMobile();
    msg91.failNext(1, { status: 200, body: { type: 'error', message: 'Insufficient balance' } }, to);
    const sent = await until(await sms(to, 'top up'), 'sent');
    expect(sent.retry_count).toBe(1);
    expect(sent.attempts[0]).toEqual({ provider: 'msg91', outcome: 'failed', error: 'MSG91_ACCOUNT' });
    expect(msg91.to(to)).toHaveLength(2);
  });

  it('never sends again a 5xx that names a request id (MSG91 took it; the answer broke on the way back)', async () => {
    const to = randomMobile();
    msg91.failNext(1, { status: 503, body: { type: 'success', message: '3c6a1f0e9b7d2a4c5e8f0a1b' } }, to);
    const failed = await until(await sms(to, 'taken'), 'failed');
    expect(failed.error).toMatch(/^DELIVERY_UNKNOWN.*3c6a1f0e9b7d2a4c5e8f0a1b/);
    await sleep(300);
    expect(msg91.to(to)).toHaveLength(1);
  });

  it('fails an MMS at once: MSG91 sends SMS only', async () => {
    const to = randomMobile();
    const res = await send({ to, type: 'mms', body: 'a picture', media_urls: ['https://example.com/a.jpg'] });
    expect(res.statusCode).toBe(202);
    const failed = await until(res.json().id, 'failed');
    expect(failed.error).toBe('MSG91 sends SMS only, not mms');
    expect(msg91.to(to)).toHaveLength(0);
  });

  it('never sends again when the connection drops after MSG91 read the request', async () => {
    const to = randomMobile();
    msg91.failNext(1, { fault: 'drop' }, to);
    const id = await sms(to, 'dropped');
    const failed = await until(id, 'failed');
    expect(failed.error).toMatch(/^DELIVERY_UNKNOWN/);
    await sleep(300);
    expect(msg91.to(to)).toHaveLength(1);
  });

  it('applies a report that arrives before MSG91 answered the send', async () => {
    const to = randomMobile();
    msg91.failNext(1, { delayMs: 400 }, to);
    const id = await sms(to, 'report first');
    const request = await waitFor(() => msg91.to(to)[0], 'the request reaches MSG91');
    expect((await formHook(msg91FormReport(request.requestId!, '1'))).statusCode).toBe(200);
    const delivered = await until(id, 'delivered');
    expect(delivered.provider_message_id).toBe(request.requestId);
  });

  it('answers a wrong token as an unknown route (404), and changes nothing', async () => {
    const to = randomMobile();
    const id = await sms(to, 'guarded');
    await until(id, 'sent');
    const body = msg91FormReport(msg91.to(to)[0].requestId!, '1');
    for (const token of [`${TOKEN.slice(0, -1)}x`, 'short', `${TOKEN}0`]) {
      const res = await formHook(body, `/webhooks/msg91/status/${token}`);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ code: 'NOT_FOUND' });
    }
    await sleep(200);
    expect((await get(id)).status).toBe('sent');
  });

  it('applies a webhook of 3,000 reports side by side, each message still seeing its own in order (F13)', async () => {
    const ids = await Promise.all([0, 1, 2].map(() => sms(randomMobile(), 'many reports')));
    const rows = await Promise.all(ids.map((id) => until(id, 'sent')));
    const [a, b, c] = rows.map((m) => m.provider_message_id as string);
    // Each message's reports in a different order; the first wins (forward only), so a reordering shows.
    const own = [
      [a, '1'],
      [b, '9'],
      [c, '2'],
      [a, '9'],
      [b, '1'],
      [c, '1'],
    ];
    const body = Array.from({ length: 2994 }, (_, i) => ({
      requestId: `unknown-${Date.now()}-${i}`,
      status: '1',
    }));
    own.forEach(([requestId, status], i) => body.splice(i * 500, 0, { requestId, status }));
    expect((await jsonHook(body)).statusCode).toBe(200);
    expect((await get(ids[0])).status).toBe('delivered');
    expect((await get(ids[1])).status).toBe('failed');
    expect((await get(ids[2])).status).toBe('undelivered');
  });

  it('acknowledges a report on an unknown request id and changes nothing', async () => {
    const res = await formHook(msg91FormReport('ffffffffffffffffffffffff', '1'));
    expect(res.statusCode).toBe(200);
    expect(await t.redis.exists(RedisKeys.earlyProviderReports('msg91', 'ffffffffffffffffffffffff'))).toBe(1);
  });

  it('answers a body that is not a report with 400, never 5xx', async () => {
    const bad: [string, string][] = [
      ['application/x-www-form-urlencoded', 'data=not-json'],
      ['application/x-www-form-urlencoded', 'data=%5B%7B%22requestId%22%3A%22x%22%7D%5D'], // no report
      ['application/x-www-form-urlencoded', 'nothing=here'],
      ['application/json', '{"requestId": "abc"}'],
      ['application/json', '{"status": "1"}'],
      ['application/json', '[]'],
      ['application/json', '"just a string"'],
      ['application/json', '{"requestId": {"$ne": 1}, "status": "1"}'],
      ['application/json', '{"requestId": "a\\u0000b", "status": "1"}'],
      ['application/json', '{not json'],
      ['application/json', '[1, 2, 3]'],
    ];
    for (const [type, payload] of bad) {
      const res = await t.request({
        method: 'POST',
        url: HOOK,
        as: 'none',
        payload,
        headers: { 'content-type': type },
      });
      expect([payload, res.statusCode]).toEqual([payload, 400]);
    }
  });
});
