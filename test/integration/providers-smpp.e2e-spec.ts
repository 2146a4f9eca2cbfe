// The smpp provider end to end: messages accepted over HTTP, sent by the worker over its bind_transceiver to a
// local SMSC (the smpp package's server side), moved to delivered by the SMSC's deliver_sm receipts through the
// status service; GSM-7 and UCS-2, long texts, the window, enquire_link, and the at-most-once rule: a refusal
// is retried, a drop or a timeout after submit_sm is never sent again, a refused connection is.
import { SmsRouter } from '../../src/messages/providers/router';
import * as smpp from 'smpp';
import { SMS_PROVIDER } from '../../src/messages/providers/provider';
import { SmppProvider } from '../../src/messages/providers/smpp.provider';
import { RedisKeys } from '../../src/redis/redis-keys';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { randomMobile } from '../helpers/numbers';
import { freePort, RedisServer } from '../helpers/redis-server';
import { SmppStandIn } from '../helpers/smpp-standin';
import { startTestApp, TestApp } from '../helpers/test-app';
import { sleep, waitFor } from '../helpers/wait';

describe('providers: smpp', () => {
  let t: TestApp;
  let smsc: SmppStandIn;
  let provider: SmppProvider;

  beforeAll(async () => {
    smsc = await SmppStandIn.start();
    t = await startTestApp(
      {
        SMS_PROVIDER: 'smpp',
        SMPP_URL: smsc.url,
        SMPP_SOURCE_ADDR: 'SMSBRG',
        DLT_ENTITY_ID: '1101000000000000007',
        SMPP_WINDOW: '2',
        SMPP_ENQUIRE_LINK_SECONDS: '5',
        PROVIDER_TIMEOUT_MS: '1000',
        MESSAGE_BACKOFF_MS: '20',
        MESSAGE_MAX_ATTEMPTS: '10',
        MESSAGE_RELAY_INTERVAL: '3600',
      },
      { role: 'all' },
    );
    await t.app.get(JobScheduler).idle();
    provider = t.app.get<SmsRouter>(SMS_PROVIDER).provider('smpp') as SmppProvider;
    await waitFor(() => provider.isBound, 'the worker binds at start');
  });
  afterAll(async () => {
    await t?.close();
    await smsc?.stop();
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
      throw new Error(`${err.message}: it is ${last.status} (${last.error}) ${JSON.stringify(last)}`);
    });
  };
  const sms = async (to: string, body: string) => {
    const res = await send({ to, type: 'sms', body });
    expect(res.statusCode).toBe(202);
    return res.json().id as string;
  };
  const smppSegments = async () => {
    const text = (await t.request({ url: '/metrics', as: 'admin' })).body;
    const line = text
      .split('\n')
      .find((l) => l.startsWith('smsb_sms_segments_total{provider="smpp",encoding="GSM-7"}'));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  it('holds one bind_transceiver from the start, with the credentials of SMPP_URL', () => {
    expect(smsc.binds).toBe(1);
    expect(smsc.sessionCount).toBe(1);
  });

  it('sends a GSM-7 text in short_message with a receipt requested; the receipt moves it to delivered', async () => {
    const to = randomMobile();
    const id = await sms(to, 'Your code is 123456 @ £5 {ok}');
    const delivered = await until(id, 'delivered');
    const [submit] = smsc.to(to);
    expect(submit).toMatchObject({
      source: 'SMSBRG',
      sourceTon: 5,
      dataCoding: 0,
      registeredDelivery: 1,
      field: 'short_message',
      text: 'Your code is 123456 @ £5 {ok}',
    });
    expect(delivered).toMatchObject({ provider: 'smpp', provider_message_id: submit.messageId, error: null });
    expect(delivered.events.map((e: { status: string }) => e.status)).toEqual([
      'pending',
      'sending',
      'sent',
      'delivered',
    ]);
  });

  it("sends India's DLT ids as TLVs: the entity id always, a template's content-template id with its text", async () => {
    const put = await t.request({
      method: 'PUT',
      url: '/admin/templates/dlt-smpp',
      as: 'admin',
      payload: {
        variables: ['n'],
        locales: { en: { body: 'Order {{n}} shipped', dlt_template_id: '1107000000000000077' } },
      },
    });
    expect(put.statusCode).toBeLessThan(300);
    const to = randomMobile();
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: { to, type: 'sms', template: 'dlt-smpp', variables: { n: 42 } },
    });
    await until(res.json().id, 'delivered');
    expect(smsc.to(to)[0]).toMatchObject({
      text: 'Order 42 shipped',
      dltEntityId: '1101000000000000007',
      dltTemplateId: '1107000000000000077',
    });
  });

  it('sends a text outside GSM 03.38 as UCS-2 (data_coding 8)', async () => {
    const to = randomMobile();
    const body = 'आपका कोड 123456 है 😀';
    const id = await sms(to, body);
    await until(id, 'delivered');
    expect(smsc.to(to)[0]).toMatchObject({ dataCoding: 8, field: 'short_message', text: body });
  });

  it('sends a text longer than one segment whole in message_payload (GSM-7 and UCS-2)', async () => {
    const [a, b] = [randomMobile(), randomMobile()];
    const gsm = 'The quick brown fox jumps over the lazy dog. '.repeat(9).trim(); // 404 septets
    const ucs = 'नमस्ते दुनिया, '.repeat(12).trim(); // 179 UTF-16 units
    const [ida, idb] = await Promise.all([sms(a, gsm), sms(b, ucs)]);
    await Promise.all([until(ida, 'delivered'), until(idb, 'delivered')]);
    expect(smsc.to(a)).toEqual([
      expect.objectContaining({ field: 'message_payload', dataCoding: 0, text: gsm }),
    ]);
    expect(smsc.to(b)).toEqual([
      expect.objectContaining({ field: 'message_payload', dataCoding: 8, text: ucs }),
    ]);
    expect((await get(ida)).segments).toBe(3);
  });

  it('retries a submit_sm the SMSC refused for now (ESME_RTHROTTLED): sent once it takes it', async () => {
    const to = randomMobile();
    smsc.failNext(1, { status: smpp.errors.ESME_RTHROTTLED }, to);
    const id = await sms(to, 'throttled first');
    const delivered = await until(id, 'delivered');
    expect(smsc.to(to)).toHaveLength(2);
    expect(delivered.retry_count).toBe(1);
  });

  it('fails, without a retry, a submit_sm the SMSC rejected (ESME_RINVDSTADR)', async () => {
    const to = randomMobile();
    smsc.failNext(1, { status: smpp.errors.ESME_RINVDSTADR }, to);
    const id = await sms(to, 'bad destination');
    const failed = await until(id, 'failed');
    expect(failed.error).toMatch(/ESME_RINVDSTADR/);
    expect(failed.retry_count).toBe(0);
    await sleep(300);
    expect(smsc.to(to)).toHaveLength(1);
  });

  it('never sends again when the connection drops after the SMSC read submit_sm; the bind is made again', async () => {
    const to = randomMobile();
    const binds = smsc.binds;
    smsc.failNext(1, { drop: true }, to);
    const id = await sms(to, 'dropped after read');
    const failed = await until(id, 'failed');
    expect(failed.error).toMatch(/^DELIVERY_UNKNOWN: the connection to the SMSC closed after submit_sm/);
    expect(failed.retry_count).toBe(0);
    await waitFor(() => smsc.binds === binds + 1 && provider.isBound, 'bound again');
    await sleep(300);
    expect(smsc.to(to)).toHaveLength(1);
    const next = randomMobile();
    await until(await sms(next, 'after the drop'), 'delivered');
    expect(smsc.to(next)).toHaveLength(1);
  });

  it('never sends again when submit_sm_resp is late; the late answer and the receipt still move it on', async () => {
    const to = randomMobile();
    const segments = await smppSegments();
    smsc.failNext(1, { delayMs: 1500 }, to);
    const id = await sms(to, 'slow smsc');
    const failed = await until(id, 'failed');
    expect(failed.error).toMatch(/^DELIVERY_UNKNOWN: the SMSC did not answer submit_sm within 1000 ms/);
    const delivered = await until(id, 'delivered');
    expect(delivered.provider_message_id).toBe(smsc.to(to)[0].messageId);
    expect(smsc.to(to)).toHaveLength(1);
    // Sent after all: its segment is counted, once.
    await waitFor(async () => (await smppSegments()) === segments + 1, 'the late send counted');
    await sleep(300);
    expect(await smppSegments()).toBe(segments + 1);
  });

  it('applies a receipt that arrives before submit_sm_resp', async () => {
    const to = randomMobile();
    smsc.failNext(1, { receiptFirst: true, delayMs: 100 }, to);
    const id = await sms(to, 'receipt first');
    const delivered = await until(id, 'delivered');
    expect(delivered.provider_message_id).toBe(smsc.to(to)[0].messageId);
    expect(smsc.receiptsRefused).toBe(0);
  });

  it('maps a failure receipt (UNDELIV) to undelivered with its error', async () => {
    const to = randomMobile();
    smsc.failNext(1, { stat: 'UNDELIV' }, to);
    const id = await sms(to, 'unreachable handset');
    const undelivered = await until(id, 'undelivered');
    expect(undelivered.error).toBe('SMPP UNDELIV err:001');
  });

  it('acknowledges a receipt for a message id it does not know, and changes nothing', async () => {
    const refused = smsc.receiptsRefused;
    smsc.sendReceipt(
      undefined,
      { messageId: 'ffff0001', destination: '919000000001', source: 'SMSBRG' } as never,
      'DELIVRD',
    );
    await sleep(300);
    expect(smsc.receiptsRefused).toBe(refused);
    // Kept for a while, in case a message records that id later (see the receipt-first case).
    expect(await t.redis.exists(RedisKeys.earlyProviderReports('smpp', 'ffff0001'))).toBe(1);
  });

  it('fails an MMS at once: SMPP sends SMS only', async () => {
    const to = randomMobile();
    const res = await send({ to, type: 'mms', body: 'a picture', media_urls: ['https://example.com/a.jpg'] });
    expect(res.statusCode).toBe(202);
    const failed = await until(res.json().id, 'failed');
    expect(failed.error).toBe('SMPP sends SMS only, not mms');
    expect(smsc.to(to)).toHaveLength(0);
  });

  it('keeps at most SMPP_WINDOW submit_sm unanswered', async () => {
    const numbers = Array.from({ length: 6 }, () => randomMobile());
    for (const n of numbers) smsc.failNext(1, { delayMs: 200 }, n);
    smsc.maxOutstanding = 0;
    const ids = await Promise.all(numbers.map((n) => sms(n, 'windowed')));
    await Promise.all(ids.map((id) => until(id, 'delivered')));
    expect(smsc.maxOutstanding).toBe(2);
  });

  it('keeps the window slot of a submit_sm given up as unknown until its answer comes: never more than SMPP_WINDOW unanswered on the bind', async () => {
    const [late, a, b] = [randomMobile(), randomMobile(), randomMobile()];
    smsc.failNext(1, { delayMs: 2500 }, late);
    for (const n of [a, b]) smsc.failNext(1, { delayMs: 300 }, n);
    const lateId = await sms(late, 'answered late');
    await until(lateId, 'failed'); // given up at 1 s, still unanswered on the bind
    smsc.maxOutstanding = 0;
    const ids = await Promise.all([sms(a, 'after a give-up'), sms(b, 'after a give-up')]);
    await Promise.all(ids.map((id) => until(id, 'delivered')));
    expect(smsc.maxOutstanding).toBe(2); // the late one and one other; the third waited for a slot
    await until(lateId, 'delivered');
  });

  it('binds again when every window slot waits on a submit_sm given up as unknown (an SMSC that stopped answering)', async () => {
    const [a, b, next] = [randomMobile(), randomMobile(), randomMobile()];
    for (const n of [a, b]) smsc.failNext(1, { silent: true }, n);
    const binds = smsc.binds;
    smsc.maxOutstanding = 0;
    const ids = await Promise.all([sms(a, 'never answered'), sms(b, 'never answered')]);
    for (const id of ids)
      expect((await until(id, 'failed')).error).toMatch(
        /^DELIVERY_UNKNOWN: the SMSC did not answer submit_sm/,
      );
    await waitFor(() => smsc.binds === binds + 1 && provider.isBound, 'bound again, the window free');
    await until(await sms(next, 'on the new bind'), 'delivered');
    expect(smsc.maxOutstanding).toBe(2);
    expect(smsc.to(a)).toHaveLength(1);
    expect(smsc.to(b)).toHaveLength(1);
  });

  it('sends enquire_link on the bind every SMPP_ENQUIRE_LINK_SECONDS', async () => {
    await waitFor(() => smsc.enquireLinks >= 1, 'an enquire_link', 8000);
  });

  it("answers the SMSC's enquire_link, refuses what a transceiver does not take, and binds again after its unbind", async () => {
    expect(await smsc.request('enquire_link')).toEqual({ command: 'enquire_link_resp', status: 0 });
    expect(await smsc.request('query_sm', { message_id: '1', source_addr: 'x' })).toEqual({
      command: 'query_sm_resp',
      status: smpp.errors.ESME_RINVCMDID,
    });
    const binds = smsc.binds;
    expect(await smsc.request('unbind')).toEqual({ command: 'unbind_resp', status: 0 });
    await waitFor(() => smsc.binds === binds + 1 && provider.isBound, 'bound again after the unbind');
    const to = randomMobile();
    await until(await sms(to, 'after an unbind'), 'delivered');
  });

  it('binds again after the SMSC restarts; a send while it is down is retried (nothing was written)', async () => {
    await smsc.stop();
    await waitFor(() => !provider.isBound, 'the bind is seen lost');
    const to = randomMobile();
    const id = await sms(to, 'while the smsc is down');
    await waitFor(async () => (await get(id)).retry_count >= 1, 'a first attempt refused and retried');
    await smsc.listen();
    const delivered = await until(id, 'delivered');
    expect(delivered.retry_count).toBeGreaterThanOrEqual(1);
    expect(smsc.to(to)).toHaveLength(1);
    expect(provider.isBound).toBe(true);
  });
  it('takes mobile-originated SMS into the inbound pipeline: STOP suppresses the number and is answered on the bind, a hash onboards', async () => {
    const person = randomMobile();
    expect(await smsc.sendMobileOriginated(person, '15005550006', ' stop. ')).toBe(0);
    const reply = await waitFor(() => smsc.to(person)[0], 'the opt-out reply submitted');
    expect(reply).toMatchObject({ source: '15005550006', registeredDelivery: 0 });
    expect(reply.text).toMatch(/unsubscribed/);
    const refused = await send({ to: person, type: 'sms', body: 'x' });
    expect([refused.statusCode, refused.json().code]).toEqual([403, 'OPTED_OUT']);

    const other = randomMobile();
    const { hash } = (await t.request({ url: `/onboard/register/${other}` })).json();
    expect(await smsc.sendMobileOriginated(other, '15005550006', `ONBOARD ${hash}`)).toBe(0);
    expect((await t.request({ url: `/onboard/status/${other}` })).json().status).toBe('verified');
    expect(smsc.to(other)).toHaveLength(0); // no keyword: no reply

    // A sender the SMSC gives in national format (TON 2) is read with DEFAULT_COUNTRY (IN here).
    const national = randomMobile();
    expect(await smsc.sendMobileOriginated(national.slice(3), '15005550006', 'STOP', 2)).toBe(0);
    await waitFor(() => smsc.to(national)[0], 'the reply to the E.164 number');
    const blocked = await send({ to: national, type: 'sms', body: 'x' });
    expect([blocked.statusCode, blocked.json().code]).toEqual([403, 'OPTED_OUT']);
  });
});

describe('providers: smpp, validity used up while waiting for a window slot', () => {
  // A window of one, held by a slow answer, and a route that could fail over: an expired message must go nowhere.
  let t: TestApp;
  let smsc: SmppStandIn;

  beforeAll(async () => {
    smsc = await SmppStandIn.start();
    t = await startTestApp(
      {
        SMS_PROVIDER: 'smpp',
        SMS_ROUTES: '*=smpp>console',
        SMPP_URL: smsc.url,
        SMPP_SOURCE_ADDR: 'SMSBRG',
        SMPP_WINDOW: '1',
        PROVIDER_TIMEOUT_MS: '4000',
        MESSAGE_RELAY_INTERVAL: '3600',
      },
      { role: 'all' },
    );
    const provider = t.app.get<SmsRouter>(SMS_PROVIDER).provider('smpp') as SmppProvider;
    await waitFor(() => provider.isBound, 'bound');
  });
  afterAll(async () => {
    await t?.close();
    await smsc?.stop();
  });

  const send = async (payload: object) => {
    const res = await t.request({ method: 'POST', url: '/api/v1/messages/send', payload });
    expect(res.statusCode).toBe(202);
    return res.json() as { id: string; valid_until: string | null };
  };
  const until = (id: string, status: string): Promise<any> =>
    waitFor(async () => {
      const m = (await t.request({ url: `/api/v1/messages/${id}` })).json();
      return m.status === status && m;
    }, `message ${id} ${status}`);

  it('fails it OPTED_OUT when its number opted out while it waited for its slot: nothing written, no failover', async () => {
    const [slow, person] = [randomMobile(), randomMobile()];
    smsc.failNext(1, { delayMs: 2500 }, slow);
    const filler = await send({ to: slow, type: 'sms', body: 'holds the window' });
    await waitFor(() => smsc.to(slow).length === 1, 'the window taken');
    const waiting = await send({ to: person, type: 'sms', body: 'marketing' });
    await until(waiting.id, 'sending'); // checked at send time, now waiting for the window
    const stop = await t.request({
      method: 'POST',
      url: '/onboard/sms',
      payload: { mobile_number: person, message: 'STOP' },
    });
    expect(stop.json()).toEqual({ status: 'opted_out' });
    const failed = await until(waiting.id, 'failed');
    expect(failed).toMatchObject({ error: 'OPTED_OUT', retry_count: 0 });
    expect(failed.attempts).toEqual([{ provider: 'smpp', outcome: 'failed', error: 'OPTED_OUT' }]);
    await until(filler.id, 'delivered');
    expect(smsc.to(person)).toHaveLength(0);
  });

  it('fails it EXPIRED when its slot comes after valid_until: nothing written to the SMSC, no failover', async () => {
    const [slow, short, long] = [randomMobile(), randomMobile(), randomMobile()];
    smsc.failNext(1, { delayMs: 2500 }, slow);
    const filler = await send({ to: slow, type: 'sms', body: 'holds the window' });
    await waitFor(() => smsc.to(slow).length === 1, 'the window taken');
    const expiring = await send({ to: short, type: 'sms', body: 'valid 1 s', validity_seconds: 1 });
    const lasting = await send({ to: long, type: 'sms', body: 'valid 60 s', validity_seconds: 60 });
    const failed = await until(expiring.id, 'failed');
    expect(failed).toMatchObject({ error: 'EXPIRED', retry_count: 0 });
    expect(failed.attempts).toEqual([{ provider: 'smpp', outcome: 'failed', error: 'EXPIRED' }]);
    await until(filler.id, 'delivered');
    await until(lasting.id, 'delivered');
    expect(smsc.to(short)).toHaveLength(0);
    // The next in line still goes, with what is left of its validity.
    const [submit] = smsc.to(long);
    expect(submit.validityPeriod).toBeInstanceOf(Date);
    const left = (submit.validityPeriod as Date).getTime() - new Date(lasting.valid_until!).getTime();
    expect(Math.abs(left)).toBeLessThan(2000);
    await sleep(300);
    expect(smsc.to(short)).toHaveLength(0);
  });
});

describe('providers: smpp, a receipt that cannot be stored', () => {
  // A redis-server of its own (in 6700-6709, never the shared one), cut while the bind stays up.
  let redis: RedisServer;
  let smsc: SmppStandIn;
  let t: TestApp;

  beforeAll(async () => {
    const port = await firstFreePort(6700, 6709);
    [redis, smsc] = await Promise.all([RedisServer.start({ port }), SmppStandIn.start()]);
    t = await startTestApp(
      {
        REDIS_URL: redis.url,
        SMS_PROVIDER: 'smpp',
        SMPP_URL: smsc.url,
        SMPP_SOURCE_ADDR: '+15005550006',
        PROVIDER_TIMEOUT_MS: '1000',
        MESSAGE_RELAY_INTERVAL: '3600',
      },
      { role: 'all' },
    );
    const provider = t.app.get<SmsRouter>(SMS_PROVIDER).provider('smpp') as SmppProvider;
    await waitFor(() => provider.isBound, 'bound');
  });
  afterAll(async () => {
    await redis?.startProcess().catch(() => undefined);
    await t?.close();
    await Promise.all([smsc?.stop(), redis?.destroy()]);
  });

  it('answers deliver_sm with ESME_RX_T_APPN, so the SMSC sends it again, and takes it once it can be kept', async () => {
    const receipt = { messageId: 'abcd0001', destination: '919000000002', source: '15005550006' } as never;
    await redis.stop();
    smsc.sendReceipt(undefined, receipt, 'DELIVRD');
    await waitFor(() => smsc.receiptsRefused === 1, 'the receipt refused for now', 10000);
    await redis.startProcess();
    await waitFor(async () => (await t.redis.ping().catch(() => '')) === 'PONG', 'Redis back');
    smsc.sendReceipt(undefined, receipt, 'DELIVRD');
    await waitFor(
      async () => (await t.redis.exists(RedisKeys.earlyProviderReports('smpp', 'abcd0001'))) === 1,
      'the receipt kept',
    );
    expect(smsc.receiptsRefused).toBe(1);
  });

  it('answers a mobile-originated SMS it cannot handle with ESME_RX_T_APPN, and handles it when delivered again', async () => {
    const person = randomMobile();
    await redis.stop();
    expect(await smsc.sendMobileOriginated(person, '15005550006', 'STOP')).toBe(smpp.errors.ESME_RX_T_APPN);
    await redis.startProcess();
    await waitFor(async () => (await t.redis.ping().catch(() => '')) === 'PONG', 'Redis back');
    expect(await smsc.sendMobileOriginated(person, '15005550006', 'STOP')).toBe(0);
    const res = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: person, channel: 'sms' },
    });
    expect([res.statusCode, res.json().code]).toEqual([403, 'OPTED_OUT']);
  });
});

/** The first port of the range nobody listens on. */
async function firstFreePort(from: number, to: number): Promise<number> {
  const { createServer } = await import('node:net');
  for (let port = from; port <= to; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  return freePort();
}
