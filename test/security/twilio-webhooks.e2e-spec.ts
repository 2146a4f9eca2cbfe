// Twilio's webhooks are public routes: the X-Twilio-Signature is all that stands between them and anyone. Both
// of them refuse a missing or wrong signature, and a genuine signature replayed over other parameters, another
// query string, another path or another host; and both accept the URL with or without the default port, the two
// ways Twilio may have signed it.
import twilio from 'twilio';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { signedTwilioForm, TwilioStandIn } from '../helpers/twilio-standin';

const twilioEnv = (publicBaseUrl: string) => ({
  SMS_PROVIDER: 'twilio',
  TWILIO_ACCOUNT_SID: TwilioStandIn.ACCOUNT_SID,
  TWILIO_AUTH_TOKEN: TwilioStandIn.AUTH_TOKEN,
  TWILIO_FROM_NUMBER: '+15005550006',
  TWILIO_BASE_URL: 'http://127.0.0.1:9', // nothing is sent in these tests
  PUBLIC_BASE_URL: publicBaseUrl,
});

const PATHS = ['/webhooks/twilio/status', '/webhooks/twilio/inbound'] as const;

const paramsFor = (path: (typeof PATHS)[number]): Record<string, string> =>
  path.endsWith('status')
    ? {
        MessageSid: `SM${'0'.repeat(31)}1`,
        MessageStatus: 'delivered',
        AccountSid: TwilioStandIn.ACCOUNT_SID,
      }
    : {
        MessageSid: 'SMin',
        From: randomMobile(),
        Body: 'ONBOARD ABCDEFGHJK',
        AccountSid: TwilioStandIn.ACCOUNT_SID,
      };

describe('Twilio webhook signatures', () => {
  const PUBLIC = 'https://sms-bridge.example.com';
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(twilioEnv(PUBLIC));
  });
  afterAll(() => t?.close());

  const post = (url: string, payload: string, headers: Record<string, string>) =>
    t.request({ method: 'POST', url, payload, headers, as: 'none' });

  const expect403 = (label: string, res: { statusCode: number; headers: any; json(): any }) => {
    expect([label, res.statusCode]).toEqual([label, 403]);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect([label, res.json()]).toEqual([
      label,
      {
        statusCode: 403,
        error: 'Forbidden',
        code: 'INVALID_SIGNATURE',
        message: expect.any(String),
      },
    ]);
  };

  describe.each(PATHS)('%s', (path) => {
    it('answers 200 to a genuine request', async () => {
      const res = await post(path, ...args(signedTwilioForm(`${PUBLIC}${path}`, paramsFor(path))));
      expect(res.statusCode).toBe(200);
      if (path.endsWith('inbound'))
        expect(res.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    });

    it('answers 403 without a signature, or with an empty, forged or mangled one', async () => {
      const good = signedTwilioForm(`${PUBLIC}${path}`, paramsFor(path));
      const sig = good.headers['x-twilio-signature'];
      const form = { 'content-type': good.headers['content-type'] };
      expect403('missing', await post(path, good.payload, form));
      for (const [label, forged] of [
        ['empty', ''],
        ['forged', 'Zm9yZ2VkLXNpZ25hdHVyZQ=='],
        ['truncated', sig.slice(0, -2)],
        ['one character changed', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1)],
        ['padded', `${sig} `],
        ['hex instead of base64', Buffer.from(sig, 'base64').toString('hex')],
        [
          'other token',
          signedTwilioForm(`${PUBLIC}${path}`, paramsFor(path), 'not-the-token').headers[
            'x-twilio-signature'
          ],
        ],
      ]) {
        expect403(label, await post(path, good.payload, { ...form, 'x-twilio-signature': forged }));
      }
    });

    it('answers 403 to a genuine signature replayed with other parameters', async () => {
      const params = paramsFor(path);
      const good = signedTwilioForm(`${PUBLIC}${path}`, params);
      const replay = (label: string, changed: Record<string, string>) =>
        post(path, new URLSearchParams(changed).toString(), good.headers).then((res) =>
          expect403(label, res),
        );
      const [first, ...rest] = Object.keys(params);
      await replay('a value changed', { ...params, [first]: `${params[first]}x` });
      await replay('a parameter added', { ...params, ErrorCode: '30003' });
      await replay('a parameter removed', Object.fromEntries(rest.map((k) => [k, params[k]])));
      await replay('a name changed', {
        ...Object.fromEntries(rest.map((k) => [k, params[k]])),
        [`${first}x`]: params[first],
      });
      // Names and values run together in what is signed: moving a character across the boundary changes it.
      await replay('a character moved across name and value', { ...params, [first]: params[first].slice(1) });
      // Sent as JSON instead of a form, with a value changed, or nested where a string was signed.
      for (const [label, body] of [
        ['JSON, a value changed', { ...params, [first]: `${params[first]}x` }],
        ['JSON, a value nested', { ...params, [first]: { toString: params[first] } }],
      ] as const) {
        expect403(
          label,
          await post(path, JSON.stringify(body), {
            'content-type': 'application/json',
            'x-twilio-signature': good.headers['x-twilio-signature'],
          }),
        );
      }
    });

    it('answers 403 to a genuine signature replayed on another URL', async () => {
      const params = paramsFor(path);
      const other = PATHS.find((p) => p !== path)!;
      const replayed = [
        [
          'another query string',
          `${path}?message_id=00000000-0000-4000-8000-000000000000`,
          `${PUBLIC}${path}`,
        ],
        ['the other webhook', other, `${PUBLIC}${path}`],
        ['a signature for another host', path, `https://attacker.example.com${path}`],
        ['a signature for http', path, `http://sms-bridge.example.com${path}`],
        ['a signature for another port', path, `https://sms-bridge.example.com:8443${path}`],
        ['a signature with a trailing slash', path, `${PUBLIC}${path}/`],
      ];
      for (const [label, url, signedFor] of replayed) {
        const signed = signedTwilioForm(signedFor, params);
        expect403(label, await post(url, signed.payload, signed.headers));
      }
      // And the other way round: signed with the query string, sent without it.
      const withQuery = signedTwilioForm(`${PUBLIC}${path}?message_id=x`, params);
      expect403('query dropped', await post(path, withQuery.payload, withQuery.headers));
    });
  });

  it.each(PATHS)(
    '%s: refuses a genuinely signed NUL with 400, which Postgres could not store',
    async (path) => {
      for (const bad of ['SMa\u0000b', '\u0000']) {
        const signed = signedTwilioForm(`${PUBLIC}${path}`, { ...paramsFor(path), MessageSid: bad });
        const res = await post(path, signed.payload, signed.headers);
        expect([bad, res.statusCode, res.json().code]).toEqual([bad, 400, 'VALIDATION_FAILED']);
      }
    },
  );

  it('accepts repeated parameters only as signed', async () => {
    const path = '/webhooks/twilio/status';
    const params = { MessageSid: 'SMrep', MessageStatus: ['delivered', 'sent'] };
    // Twilio's algorithm: names sorted, each value of a repeated name appended in sorted order.
    const signature = twilio.getExpectedTwilioSignature(TwilioStandIn.AUTH_TOKEN, `${PUBLIC}${path}`, params);
    const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature };
    const ok = await post(path, 'MessageStatus=sent&MessageSid=SMrep&MessageStatus=delivered', headers);
    expect(ok.statusCode).toBe(200);
    expect403('a repeat dropped', await post(path, 'MessageSid=SMrep&MessageStatus=sent', headers));
    expect403(
      'a repeat added',
      await post(
        path,
        'MessageSid=SMrep&MessageStatus=sent&MessageStatus=delivered&MessageStatus=read',
        headers,
      ),
    );
  });
});

describe.each([
  // [PUBLIC_BASE_URL, URLs Twilio may have signed (accepted), URLs that are not this service's (refused)]
  [
    'https://sms-bridge.example.com',
    ['https://sms-bridge.example.com', 'https://sms-bridge.example.com:443'],
    ['https://sms-bridge.example.com:80', 'http://sms-bridge.example.com'],
  ],
  [
    'https://sms-bridge.example.com:443',
    ['https://sms-bridge.example.com', 'https://sms-bridge.example.com:443'],
    ['https://sms-bridge.example.com:4430'],
  ],
  [
    'http://sms-bridge.example.com',
    ['http://sms-bridge.example.com', 'http://sms-bridge.example.com:80'],
    ['http://sms-bridge.example.com:443', 'https://sms-bridge.example.com'],
  ],
  [
    'http://sms-bridge.example.com:8080',
    ['http://sms-bridge.example.com:8080'],
    ['http://sms-bridge.example.com', 'http://sms-bridge.example.com:80'],
  ],
])('Twilio signatures with PUBLIC_BASE_URL=%s', (publicBaseUrl, accepted, refused) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(twilioEnv(publicBaseUrl));
  });
  afterAll(() => t?.close());

  it.each(PATHS)('%s: accepts the URL as Twilio signs it, with or without the default port', async (path) => {
    for (const base of accepted) {
      const signed = signedTwilioForm(`${base}${path}`, paramsFor(path));
      const res = await t.request({ method: 'POST', url: path, as: 'none', ...signed });
      expect([base, res.statusCode]).toEqual([base, 200]);
    }
    for (const base of refused) {
      const signed = signedTwilioForm(`${base}${path}`, paramsFor(path));
      const res = await t.request({ method: 'POST', url: path, as: 'none', ...signed });
      expect([base, res.statusCode, res.json().code]).toEqual([base, 403, 'INVALID_SIGNATURE']);
    }
  });
});

function args(signed: {
  payload: string;
  headers: Record<string, string>;
}): [string, Record<string, string>] {
  return [signed.payload, signed.headers];
}
