// Guessing OTP codes: five wrong guesses lock the number for the hour, whoever makes them. Spreading the guesses
// over many client addresses, racing them, or writing the number another way does not buy a sixth guess; and
// behind no trusted proxy a forged X-Forwarded-For does not buy more requests from one address either.
import { DataSource } from 'typeorm';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';

const codeOf = async (db: DataSource, messageId: string): Promise<string> => {
  const [row] = await db.query('SELECT body FROM messages WHERE id = $1', [messageId]);
  return /(\d{6})/.exec(row.body)![1];
};

/** Six-digit codes other than the right one. */
const wrongCodes = (right: string, n: number) =>
  Array.from({ length: n + 1 }, (_, i) => String((Number(right) + 1 + i * 7919) % 1_000_000).padStart(6, '0'))
    .filter((c) => c !== right)
    .slice(0, n);

describe('OTP brute force', () => {
  let proxied: TestApp; // behind a trusted proxy: the client address is X-Forwarded-For's
  let direct: TestApp; // no trusted proxy: the client address is the TCP peer's
  let db: DataSource;
  let host = 0;
  const nextIp = () => `198.18.${Math.floor(++host / 250)}.${(host % 250) + 1}`;

  beforeAll(async () => {
    [proxied, direct] = await Promise.all([startTestApp({ TRUST_PROXY: 'true' }), startTestApp()]);
    db = proxied.app.get(DataSource);
  });
  afterAll(async () => {
    await proxied?.close();
    await direct?.close();
  });

  /** A request from its own address: through the proxy's header, or as the TCP peer. */
  const post = async (app: TestApp, url: string, payload: object, ip = nextIp()) => {
    const res =
      app === proxied
        ? await app.request({
            method: 'POST',
            url,
            payload,
            headers: { 'x-forwarded-for': `${ip}, 10.0.0.1` },
          })
        : await app.app.inject({
            method: 'POST',
            url,
            payload,
            remoteAddress: ip,
            headers: { 'x-api-key': app.config.auth.apiKeys[0].secret },
          });
    return { statusCode: res.statusCode, headers: res.headers, json: () => res.json() };
  };
  const sendCode = async (app: TestApp, mobile: string) => {
    const sent = await post(app, '/otp/send', { mobile_number: mobile, channel: 'sms' });
    expect(sent.statusCode).toBe(200);
    return codeOf(db, sent.json().message_id);
  };
  const verify = (app: TestApp, mobile: string, otp: string, ip?: string) =>
    post(app, '/otp/verify', { mobile_number: mobile, otp }, ip);

  it.each([
    ['a new X-Forwarded-For address', () => proxied],
    ['a new TCP peer', () => direct],
  ])('refuses the sixth guess, right or not, when each guess comes from %s', async (_, app) => {
    const mobile = randomMobile();
    const code = await sendCode(app(), mobile);
    const answers = [];
    for (const wrong of wrongCodes(code, 5)) answers.push(await verify(app(), mobile, wrong));
    expect(answers.map((a) => [a.statusCode, a.json().attempts_remaining])).toEqual([
      [400, 4],
      [400, 3],
      [400, 2],
      [400, 1],
      [400, 0],
    ]);
    // The right code, from yet more addresses: locked every time, and never a token.
    for (let i = 0; i < 10; i++) {
      const res = await verify(app(), mobile, code);
      expect(res.statusCode).toBe(429);
      expect(res.json()).toMatchObject({ code: 'OTP_LOCKED', verified: false, attempts_remaining: 0 });
      expect(res.json().access_token).toBeUndefined();
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(3000);
    }
  });

  it('judges only five of 40 simultaneous wrong guesses from 40 addresses; the rest are refused as locked', async () => {
    const mobile = randomMobile();
    const code = await sendCode(proxied, mobile);
    const answers = await Promise.all(wrongCodes(code, 40).map((w) => verify(proxied, mobile, w)));
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 400)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(35);
    expect((await verify(proxied, mobile, code)).statusCode).toBe(429);
  });

  it('counts guesses against the number however it is written', async () => {
    const mobile = randomMobile(); // +91XXXXXXXXXX
    const national = mobile.slice(3);
    const spellings = [
      national,
      `+91 ${national.slice(0, 5)} ${national.slice(5)}`,
      `+91 (${national.slice(0, 5)}) ${national.slice(5)}`,
      `+91-${national.slice(0, 5)}-${national.slice(5)}`,
      ` ${mobile} `,
    ];
    const code = await sendCode(proxied, mobile);
    const wrong = wrongCodes(code, 5);
    for (const [i, spelling] of spellings.entries()) {
      const res = await verify(proxied, spelling, wrong[i]);
      expect([spelling, res.statusCode, res.json().code]).toEqual([spelling, 400, 'OTP_INVALID']);
    }
    expect((await verify(proxied, `0${national}`, code)).statusCode).toBe(429);
    expect((await verify(proxied, mobile, code)).statusCode).toBe(429);
  });

  it('keeps the lock when a new code is sent, so guessing cannot start over', async () => {
    const mobile = randomMobile();
    const first = await sendCode(proxied, mobile);
    for (const wrong of wrongCodes(first, 5)) await verify(proxied, mobile, wrong);
    const resent = await post(proxied, '/otp/send', { mobile_number: mobile, channel: 'sms', resend: true });
    // Whether or not the send is allowed (cooldown, send limits), no code works for the rest of the hour.
    if (resent.statusCode === 200) {
      expect((await verify(proxied, mobile, await codeOf(db, resent.json().message_id))).statusCode).toBe(
        429,
      );
    }
    expect((await verify(proxied, mobile, first)).statusCode).toBe(429);
  });

  it('limits the end user named by `ip`, which a forged X-Forwarded-For cannot change when no proxy is trusted', async () => {
    const user = nextIp();
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await direct.app.inject({
        method: 'POST',
        url: '/otp/verify',
        remoteAddress: nextIp(),
        payload: { mobile_number: randomMobile(), otp: '123456', ip: user },
        headers: { 'x-api-key': direct.config.auth.apiKeys[0].secret, 'x-forwarded-for': nextIp() },
      });
      statuses.push(res.statusCode);
    }
    expect(statuses.slice(0, 10).every((s) => s === 400)).toBe(true); // judged: no code was sent
    expect(statuses[10]).toBe(429);
  });
});
