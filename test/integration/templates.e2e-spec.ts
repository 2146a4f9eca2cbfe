// Templates with locales (issue 18 §3, §4): the admin API, sending from a template, OTP codes in the asked
// locale with their autofill lines, WhatsApp needing an approved template, India's DLT enforcement, and a
// change reaching another replica.
import { DataSource } from 'typeorm';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { randomMobile } from '../helpers/numbers';
import { OTP_TEXT } from '../helpers/templates';
import { startTestApp, TestApp } from '../helpers/test-app';
import { uniquePrefix } from '../helpers/test-env';
import { signedTwilioForm, TwilioStandIn } from '../helpers/twilio-standin';
import { waitFor } from '../helpers/wait';

const SID = 'HX' + 'ab'.repeat(16);
/** Outside India: DLT_ENFORCE (on here) does not ask these sends for a DLT template id. */
const US = '+14155550123';
const ORIGINAL_OTP = { variables: ['code', 'minutes'], locales: { en: { body: OTP_TEXT } } };

describe('templates', () => {
  let t: TestApp;
  let replica: TestApp;
  let twilio: TwilioStandIn;
  let db: DataSource;

  beforeAll(async () => {
    twilio = await TwilioStandIn.start();
    const env = {
      SMS_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
      TWILIO_FROM_NUMBER: '+15005550006',
      TWILIO_BASE_URL: twilio.baseUrl,
      PUBLIC_BASE_URL: 'https://sms-bridge.example.com',
      MESSAGE_RELAY_INTERVAL: '3600',
      DLT_ENFORCE: 'true',
      DLT_ENTITY_ID: '1101000000000000001',
      OTP_WEBOTP_DOMAIN: 'app.example.com',
      OTP_ALLOWED_COUNTRIES: '',
      REDIS_KEY_PREFIX: uniquePrefix(), // one deployment: the replica hears the other's changes
    };
    t = await startTestApp(env, { role: 'all' });
    replica = await startTestApp(env);
    await t.app.get(JobScheduler).idle();
    db = t.app.get(DataSource);
  });
  afterAll(async () => {
    await t?.request({ method: 'PUT', url: '/admin/templates/otp', as: 'admin', payload: ORIGINAL_OTP });
    await Promise.all([t?.close(), replica?.close()]);
    await twilio?.stop();
  });

  const put = (name: string, payload: object, app = t) =>
    app.request({ method: 'PUT', url: `/admin/templates/${name}`, as: 'admin', payload });
  const send = (payload: object) => t.request({ method: 'POST', url: '/api/v1/messages/send', payload });
  const sentTo = (to: string) => waitFor(() => twilio.to(to)[0], `the send to ${to}`);

  it('creates, replaces, lists, reads and deletes templates (admin only)', async () => {
    const name = `welcome-${Date.now()}`;
    const body = {
      variables: ['name'],
      locales: {
        en: { body: 'Hello {{name}}' },
        hi: { body: 'नमस्ते {{name}}', dlt_template_id: '1107000000000000001' },
      },
    };
    expect((await put(name, body)).statusCode).toBe(201);
    const replaced = await put(name, { ...body, variables: ['name'] });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ name, variables: ['name'], locales: body.locales });
    expect(Object.keys(replaced.json().locales)).toEqual(['en', 'hi']); // their order is kept
    expect((await t.request({ url: `/admin/templates/${name}`, as: 'admin' })).json().locales.hi.body).toBe(
      'नमस्ते {{name}}',
    );
    const list = (await t.request({ url: '/admin/templates', as: 'admin' })).json();
    expect(list.items.map((i: { name: string }) => i.name)).toEqual(expect.arrayContaining(['otp', name]));
    expect((await t.request({ url: '/admin/templates', as: 'client' })).statusCode).toBe(403);
    expect(
      (await t.request({ method: 'PUT', url: `/admin/templates/${name}`, payload: body })).statusCode,
    ).toBe(403);
    expect(
      (await t.request({ method: 'DELETE', url: `/admin/templates/${name}`, as: 'admin' })).statusCode,
    ).toBe(204);
    expect((await t.request({ url: `/admin/templates/${name}`, as: 'admin' })).statusCode).toBe(404);
    expect(
      (await t.request({ method: 'DELETE', url: `/admin/templates/${name}`, as: 'admin' })).statusCode,
    ).toBe(404);
  });

  it('refuses templates that could not be used, with 400 and a code', async () => {
    const ok = { variables: ['a'], locales: { en: { body: '{{a}}' } } };
    const cases: [string, object, string][] = [
      ['Bad Name', ok, 'INVALID_TEMPLATE'],
      ['t1', { variables: ['a'], locales: { en: { body: '{{a}} {{b}}' } } }, 'UNKNOWN_VARIABLE'],
      ['t1', { variables: ['a'], locales: {} }, 'INVALID_TEMPLATE'],
      ['t1', { variables: ['a'], locales: { 'english!': { body: 'x' } } }, 'INVALID_TEMPLATE'],
      ['t1', { variables: ['a'], locales: { en: { body: '' } } }, 'INVALID_TEMPLATE'],
      ['t1', { variables: ['a'], locales: { en: { body: 'x', colour: 'red' } } }, 'INVALID_TEMPLATE'],
      [
        't1',
        { variables: ['a'], locales: { en: { body: 'x', whatsapp_content_sid: 'HXnot' } } },
        'INVALID_TEMPLATE',
      ],
      [
        't1',
        { variables: ['a'], locales: { en: { body: 'x', dlt_template_id: 'abc' } } },
        'INVALID_TEMPLATE',
      ],
      ['t1', { variables: ['a', 'a'], locales: { en: { body: 'x' } } }, 'INVALID_TEMPLATE'],
      ['t1', { variables: ['no spaces'], locales: { en: { body: 'x' } } }, 'VALIDATION_FAILED'],
      ['t1', { variables: ['a'], locales: 'en' }, 'VALIDATION_FAILED'],
    ];
    for (const [name, body, code] of cases) {
      const res = await put(encodeURIComponent(name), body);
      expect([name, JSON.stringify(body).slice(0, 50), res.statusCode, res.json().code]).toEqual([
        name,
        JSON.stringify(body).slice(0, 50),
        400,
        code,
      ]);
    }
  });

  it('sends from a template in the asked locale, its language, or its first locale', async () => {
    await put('shipping', {
      variables: ['day'],
      locales: {
        en: { body: 'Your parcel arrives {{day}}', dlt_template_id: '1107000000000000002' },
        hi: { body: 'आपका पार्सल {{day}} पहुंचेगा', dlt_template_id: '1107000000000000003' },
      },
    });
    const cases: [string | undefined, string, string][] = [
      ['hi', 'hi', 'आपका पार्सल today पहुंचेगा'],
      ['hi-IN', 'hi', 'आपका पार्सल today पहुंचेगा'],
      ['fr', 'en', 'Your parcel arrives today'],
      [undefined, 'en', 'Your parcel arrives today'],
    ];
    for (const [locale, used, text] of cases) {
      const to = randomMobile();
      const res = await send({ to, type: 'sms', template: 'shipping', variables: { day: 'today' }, locale });
      expect(res.statusCode).toBe(202);
      expect(res.json()).toMatchObject({ encoding: used === 'hi' ? 'UCS-2' : 'GSM-7' });
      const stored = (await t.request({ url: `/api/v1/messages/${res.json().id}` })).json();
      expect([locale, stored.template, stored.locale, stored.body]).toEqual([locale, 'shipping', used, text]);
      expect((await sentTo(to)).form.Body).toBe(text);
    }
  });

  it('refuses a missing template, a missing variable and an unknown one', async () => {
    const to = randomMobile();
    const cases: [object, string][] = [
      [{ template: 'no-such-template', variables: {} }, 'TEMPLATE_NOT_FOUND'],
      [{ template: 'shipping', variables: {} }, 'MISSING_VARIABLE'],
      [{ template: 'shipping', variables: { day: 'today', extra: 1 } }, 'UNKNOWN_VARIABLE'],
      [{ template: 'shipping', variables: { day: { nested: true } } }, 'MISSING_VARIABLE'],
    ];
    for (const [extra, code] of cases) {
      const res = await send({ to, type: 'sms', ...extra });
      expect([JSON.stringify(extra), res.statusCode, res.json().code]).toEqual([
        JSON.stringify(extra),
        400,
        code,
      ]);
    }
    const [{ n }] = await db.query('SELECT count(*)::int AS n FROM messages WHERE "to" = $1', [to]);
    expect(n).toBe(0);
  });

  it('answers 400, never 500, to variables of the wrong shape or size (attack 18 F11)', async () => {
    await put('shipping-repeat', {
      variables: ['day'],
      locales: { en: { body: '{{day}} '.repeat(200) } },
    });
    const to = randomMobile();
    const cases: [object, string][] = [
      [{ template: 'otp', variables: null }, 'VALIDATION_FAILED'],
      [{ template: 'otp', variables: ['1', '2'] }, 'VALIDATION_FAILED'],
      [{ template: 'otp', variables: 'code=1' }, 'VALIDATION_FAILED'],
      [{ template: 'otp', variables: 12 }, 'VALIDATION_FAILED'],
      [{ template: 'otp', variables: { code: { a: { b: 1 } }, minutes: 1 } }, 'MISSING_VARIABLE'],
      [{ template: 'otp', variables: { code: ['1'], minutes: 1 } }, 'MISSING_VARIABLE'],
      [{ template: 'otp', variables: { code: 'x'.repeat(200_000), minutes: 1 } }, 'BODY_TOO_LONG'],
      // 200 placeholders × 500 KB would be 100 MB of text: refused before it is built.
      [{ template: 'shipping-repeat', variables: { day: 'x'.repeat(500_000) } }, 'BODY_TOO_LONG'],
      [
        {
          type: 'email',
          to: 'a@example.com',
          template: 'shipping-repeat',
          variables: { day: 'x'.repeat(600) },
        },
        'BODY_TOO_LONG',
      ],
    ];
    for (const [extra, code] of cases) {
      const res = await send({ to, type: 'sms', ...extra });
      expect([JSON.stringify(extra).slice(0, 80), res.statusCode, res.json().code]).toEqual([
        JSON.stringify(extra).slice(0, 80),
        400,
        code,
      ]);
      expect(res.json()).toMatchObject({
        statusCode: 400,
        error: 'Bad Request',
        code,
        message: expect.any(String),
      });
    }
  });

  it('stores locales in canonical case, refuses one twice, and finds them whatever the case (F13)', async () => {
    const twice = await put('loc-twice', {
      variables: [],
      locales: { 'pt-BR': { body: 'um' }, 'pt-br': { body: 'dois' } },
    });
    expect([twice.statusCode, twice.json().code]).toEqual([400, 'INVALID_TEMPLATE']);
    const stored = await put('loc-case', {
      variables: [],
      locales: { en: { body: 'one' }, 'pt-br': { body: 'um' }, 'zh-hant-tw': { body: '一' } },
    });
    expect(stored.statusCode).toBeLessThan(300);
    expect(Object.keys(stored.json().locales)).toEqual(['en', 'pt-BR', 'zh-Hant-TW']);
    for (const [locale, body] of [
      ['PT-BR', 'um'],
      ['pt-br', 'um'],
      ['zh-hant-TW', '一'],
    ]) {
      const res = await send({
        to: US,
        type: 'sms',
        template: 'loc-case',
        variables: {},
        locale,
      });
      expect([locale, res.statusCode]).toEqual([locale, 202]);
      const m = (await t.request({ url: `/api/v1/messages/${res.json().id}` })).json();
      expect([locale, m.body]).toEqual([locale, body]);
    }
  });

  it('refuses variable names every object inherits, which no request could fill (F13)', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const res = await put('proto-names', {
        variables: ['a', name],
        locales: { en: { body: `x {{a}} {{${name}}}` } },
      });
      expect([name, res.statusCode, res.json().code]).toEqual([name, 400, 'INVALID_TEMPLATE']);
    }
  });

  it('enforces DLT: an SMS to +91 needs a template with a dlt_template_id; other countries do not', async () => {
    const res = await send({ to: randomMobile(), type: 'sms', body: 'free text' });
    expect([res.statusCode, res.json().code]).toEqual([400, 'DLT_TEMPLATE_REQUIRED']);
    expect((await send({ to: '+14155550123', type: 'sms', body: 'free text' })).statusCode).toBe(202);
    await put('no-dlt', { variables: [], locales: { en: { body: 'hello' } } });
    const noId = await send({ to: randomMobile(), type: 'sms', template: 'no-dlt' });
    expect(noId.json().code).toBe('DLT_TEMPLATE_REQUIRED');
    // So is an OTP to +91 while the otp template has no DLT id: refused before any code is issued.
    const mobile = randomMobile();
    const otp = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: mobile, channel: 'sms' },
    });
    expect([otp.statusCode, otp.json().code]).toEqual([400, 'DLT_TEMPLATE_REQUIRED']);
    const [{ n }] = await db.query('SELECT count(*)::int AS n FROM otp_codes WHERE mobile_number = $1', [
      mobile,
    ]);
    expect(n).toBe(0);
  });

  it('sends OTP codes in the asked locale, with the app hash and the WebOTP line last', async () => {
    await put('otp', {
      variables: ['code', 'minutes'],
      locales: {
        en: { body: OTP_TEXT, dlt_template_id: '1107000000000000010' },
        hi: { body: 'आपका कोड {{code}} है ({{minutes}} मिनट)', dlt_template_id: '1107000000000000011' },
      },
    });
    const mobile = randomMobile();
    const res = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: mobile, channel: 'sms', locale: 'hi', app_hash: 'FA+9qCX9VSu' },
    });
    expect(res.statusCode).toBe(200);
    const lines = String((await sentTo(mobile)).form.Body).split('\n');
    const code = /आपका कोड (\d{6}) है \(5 मिनट\)/.exec(lines[0])?.[1];
    expect(code).toMatch(/^\d{6}$/);
    expect(lines.slice(1)).toEqual(['FA+9qCX9VSu', `@app.example.com #${code}`]);
    const bad = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: randomMobile(), channel: 'sms', app_hash: 'short' },
    });
    expect(bad.statusCode).toBe(400);
  });

  it('refuses a WhatsApp code while the otp template has no approved WhatsApp template, issuing nothing', async () => {
    const mobile = randomMobile();
    const res = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: mobile, channel: 'whatsapp' },
    });
    expect([res.statusCode, res.json().code]).toEqual([400, 'WHATSAPP_TEMPLATE_REQUIRED']);
    const [{ n }] = await db.query('SELECT count(*)::int AS n FROM otp_codes WHERE mobile_number = $1', [
      mobile,
    ]);
    expect(n).toBe(0);
    // With one, the code goes as the approved template, its variables in their declared order.
    await put('otp', {
      variables: ['code', 'minutes'],
      locales: { en: { body: OTP_TEXT, whatsapp_content_sid: SID, dlt_template_id: '1107000000000000010' } },
    });
    const sent = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: mobile, channel: 'whatsapp' },
    });
    expect(sent.statusCode).toBe(200);
    const form = (await sentTo(mobile)).form;
    expect(form.ContentSid).toBe(SID);
    expect(JSON.parse(String(form.ContentVariables))).toEqual({
      1: expect.stringMatching(/^\d{6}$/),
      2: '5',
    });
    // The code in its variables is redacted once sent, as the body is.
    await waitFor(
      async () =>
        (await db.query('SELECT content_variables FROM messages WHERE id = $1', [sent.json().message_id]))[0]
          .content_variables === null,
      'the code redacted',
    );
  });

  it('reaches another replica at once when a template changes', async () => {
    const name = `replicated-${Date.now()}`;
    await put(name, { variables: [], locales: { en: { body: 'first' } } });
    const via = (app: TestApp) =>
      app.request({
        method: 'POST',
        url: '/api/v1/messages/send',
        payload: { to: '+14155550124', type: 'sms', template: name },
      });
    const readBody = async (app: TestApp) =>
      (await app.request({ url: `/api/v1/messages/${(await via(app)).json().id}` })).json().body;
    expect(await readBody(replica)).toBe('first'); // read through on first use
    await put(name, { variables: [], locales: { en: { body: 'second' } } });
    await waitFor(
      async () => (await readBody(replica)) === 'second',
      'the replica sees the change',
      3000,
      50,
    );
  });

  it('replies to an onboarding SMS from the onboarding templates, when they exist (TwiML, escaped)', async () => {
    const PUBLIC = 'https://sms-bridge.example.com';
    const inbound = async (from: string, body: string, sid: string) => {
      const signed = signedTwilioForm(`${PUBLIC}/webhooks/twilio/inbound`, {
        From: from,
        Body: body,
        MessageSid: sid,
      });
      return (await t.request({ method: 'POST', url: '/webhooks/twilio/inbound', as: 'none', ...signed }))
        .body;
    };
    const mobile = randomMobile();
    const { hash } = (await t.request({ url: `/onboard/register/${mobile}` })).json();
    expect(await inbound(mobile, 'ONBOARD WRONGHASH1', `SMr${Date.now()}a`)).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response/>', // no template yet: no reply
    );
    await put('onboarding_rejected', {
      variables: ['reason'],
      locales: { en: { body: 'Not verified <{{reason}}> & try again' } },
    });
    await put('onboarding_verified', { variables: [], locales: { en: { body: 'Welcome aboard' } } });
    try {
      expect(await inbound(mobile, 'ONBOARD WRONGHASH2', `SMr${Date.now()}b`)).toBe(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Not verified &lt;hash_mismatch&gt; &amp; try again</Message></Response>',
      );
      expect(await inbound(mobile, `ONBOARD ${hash}`, `SMr${Date.now()}c`)).toBe(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Welcome aboard</Message></Response>',
      );
    } finally {
      for (const name of ['onboarding_rejected', 'onboarding_verified'])
        await t.request({ method: 'DELETE', url: `/admin/templates/${name}`, as: 'admin' });
    }
  });
});
