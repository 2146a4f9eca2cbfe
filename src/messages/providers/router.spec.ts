import type { MessageRow } from '../message.types';
import { MessageProvider, ProviderError, SendResult } from './provider';
import { Circuit, parseRoutes, routeFor, sendBudgetMs, SmsRouter } from './router';

const KNOWN = ['console', 'twilio', 'smpp', 'msg91'];

class Fake implements MessageProvider {
  calls = 0;
  constructor(
    readonly name: string,
    private readonly answers: (() => Promise<SendResult>)[],
    private readonly smsOnly = false,
  ) {}
  carries(type: string): boolean {
    return !this.smsOnly || type === 'sms';
  }
  send(): Promise<SendResult> {
    const answer = this.answers[Math.min(this.calls, this.answers.length - 1)];
    this.calls++;
    return answer();
  }
}
const ok = (id: string) => async () => ({ providerMessageId: id });
const fail = (kind: ProviderError['kind'], code: string) => async (): Promise<SendResult> => {
  throw new ProviderError(`${kind} ${code}`, kind, code);
};
const sms = { id: 'm1', type: 'sms', to: '+919876543210' } as MessageRow;

describe('SMS_ROUTES', () => {
  it('reads routes, longest prefix first, and adds * when missing', () => {
    const routes = parseRoutes('+91=msg91>smpp; +9198=smpp ;*=twilio>smpp', 'console', KNOWN);
    expect(routes.map((r) => r.prefix)).toEqual(['+9198', '+91', '']);
    expect(routeFor(routes, '+919812345678')).toEqual(['smpp']);
    expect(routeFor(routes, '+917012345678')).toEqual(['msg91', 'smpp']);
    expect(routeFor(routes, '+14155550123')).toEqual(['twilio', 'smpp']);
    expect(parseRoutes('', 'twilio', KNOWN)).toEqual([{ prefix: '', providers: ['twilio'] }]);
  });

  it.each([
    ['+91=sinch', /not a provider/],
    ['91=msg91', /not prefix=provider/],
    ['+91=msg91>msg91', /twice/],
    ['+91=msg91;+91=smpp', /two routes/],
    ['*=', /not prefix=provider/],
  ])('refuses %s', (text, why) => {
    expect(() => parseRoutes(text, 'console', KNOWN)).toThrow(why);
  });
});

describe('Circuit', () => {
  it('opens after N failures, lets one probe through once the open time passed, closes on its success', () => {
    let now = 0;
    const states: string[] = [];
    const c = new Circuit(
      { failures: 3, openMs: 1000 },
      (s) => states.push(s),
      () => now,
    );
    c.failed();
    c.failed();
    expect(c.allow()).toBe(true);
    c.failed();
    expect(c.allow()).toBe(false);
    now = 1000;
    expect(c.allow()).toBe(true); // the probe
    expect(c.allow()).toBe(false); // one at a time
    c.failed(); // the probe failed: open again
    expect(c.allow()).toBe(false);
    now = 2000;
    expect(c.allow()).toBe(true);
    c.succeeded();
    expect(c.allow()).toBe(true);
    expect(states).toEqual(['open', 'half_open', 'open', 'half_open', 'closed']);
  });

  it('a success resets the count of consecutive failures', () => {
    const c = new Circuit({ failures: 2, openMs: 1000 }, () => undefined);
    c.failed();
    c.succeeded();
    c.failed();
    expect(c.allow()).toBe(true);
  });
});

describe('SmsRouter', () => {
  const router = (providers: Fake[], text = '*=twilio>msg91>smpp', failures = 2) =>
    new SmsRouter(parseRoutes(text, 'console', KNOWN), new Map(providers.map((p) => [p.name, p])), {
      failures,
      openMs: 60_000,
    });

  it('fails over on what proves nothing left (not sent, refused), recording each attempt', async () => {
    const twilio = new Fake('twilio', [fail('refused', 'HTTP_500')]);
    const msg91 = new Fake('msg91', [fail('not_sent', 'NETWORK')]);
    const smpp = new Fake('smpp', [ok('s1')]);
    const result = await router([twilio, msg91, smpp]).send(sms);
    expect(result).toMatchObject({ providerMessageId: 's1', provider: 'smpp' });
    expect(result.attempts).toEqual([
      { provider: 'twilio', outcome: 'failed', error: 'HTTP_500' },
      { provider: 'msg91', outcome: 'failed', error: 'NETWORK' },
      { provider: 'smpp', outcome: 'sent' },
    ]);
  });

  it.each(['unknown', 'rejected'] as const)(
    'stops at a %s answer: another provider could duplicate it',
    async (kind) => {
      const twilio = new Fake('twilio', [fail(kind, 'X')]);
      const msg91 = new Fake('msg91', [ok('m1')]);
      const err: ProviderError = await router([twilio, msg91], '*=twilio>msg91')
        .send(sms)
        .catch((e) => e);
      expect([err.kind, err.provider, msg91.calls]).toEqual([kind, 'twilio', 0]);
      expect(err.attempts).toEqual([{ provider: 'twilio', outcome: 'failed', error: 'X' }]);
    },
  );

  it('throws the last retryable error when every provider refused (the queue retries later)', async () => {
    const r = router(
      [new Fake('twilio', [fail('refused', 'A')]), new Fake('msg91', [fail('refused', 'B')])],
      '*=twilio>msg91',
    );
    const err: ProviderError = await r.send(sms).catch((e) => e);
    expect([err.retryable, err.code, err.attempts?.length]).toEqual([true, 'B', 2]);
  });

  it('skips a provider whose circuit is open', async () => {
    const twilio = new Fake('twilio', [fail('refused', 'HTTP_503')]);
    const msg91 = new Fake('msg91', [ok('m')]);
    const r = router([twilio, msg91], '*=twilio>msg91', 2);
    await r.send(sms);
    await r.send(sms); // twilio's second consecutive failure opens its circuit
    expect(r.circuit('twilio')).toBe('open');
    const third = await r.send(sms);
    expect(twilio.calls).toBe(2);
    expect(third.attempts).toEqual([
      { provider: 'twilio', outcome: 'skipped', error: 'CIRCUIT_OPEN' },
      { provider: 'msg91', outcome: 'sent' },
    ]);
  });

  it('tries a route whose every circuit is open anyway (skipping would only delay the message)', async () => {
    const twilio = new Fake('twilio', [fail('refused', 'HTTP_503'), fail('refused', 'HTTP_503'), ok('t')]);
    const r = router([twilio], '*=twilio', 2);
    await r.send(sms).catch(() => undefined);
    await r.send(sms).catch(() => undefined);
    expect(r.circuit('twilio')).toBe('open');
    expect((await r.send(sms)).attempts).toEqual([{ provider: 'twilio', outcome: 'sent' }]);
    expect(r.circuit('twilio')).toBe('closed');
  });

  it('sends WhatsApp and MMS only through providers that carry them', async () => {
    const smpp = new Fake('smpp', [ok('s')], true);
    const twilio = new Fake('twilio', [ok('t')]);
    const r = router([smpp, twilio], '*=smpp>twilio');
    expect((await r.send({ ...sms, type: 'whatsapp' })).provider).toBe('twilio');
    expect(smpp.calls).toBe(0);
    // A route where none carries it: its first provider says why.
    const only = router([new Fake('smpp', [fail('rejected', 'UNSUPPORTED_MESSAGE_TYPE')], true)], '*=smpp');
    const err: ProviderError = await only.send({ ...sms, type: 'mms' }).catch((e) => e);
    expect([err.kind, err.code]).toEqual(['rejected', 'UNSUPPORTED_MESSAGE_TYPE']);
  });

  it('skips a provider whose send rate is used up, to the next, or a retry when none is left', async () => {
    const twilio = new Fake('twilio', [ok('t')]);
    const msg91 = new Fake('msg91', [ok('m')]);
    const left: Record<string, number> = { twilio: 1, msg91: 0 };
    const r = new SmsRouter(
      parseRoutes('*=twilio>msg91', 'console', KNOWN),
      new Map([
        ['twilio', twilio],
        ['msg91', msg91],
      ]),
      { failures: 2, openMs: 1000 },
      undefined,
      async (name) => left[name]-- > 0,
    );
    expect((await r.send(sms)).provider).toBe('twilio');
    left.msg91 = 1;
    const second = await r.send(sms);
    expect(second.attempts).toEqual([
      { provider: 'twilio', outcome: 'skipped', error: 'RATE_LIMITED' },
      { provider: 'msg91', outcome: 'sent' },
    ]);
    const err: ProviderError = await r.send(sms).catch((e) => e);
    expect([err.kind, err.code, err.retryable]).toEqual(['not_sent', 'RATE_LIMITED', true]);
  });

  it('checks the validity again before each provider: an expired message is not handed to the next', async () => {
    const valid_until = new Date(Date.now() + 60);
    const slow = new Fake('twilio', [
      () =>
        new Promise((_, reject) =>
          setTimeout(() => reject(new ProviderError('x', 'not_sent', 'NETWORK')), 100),
        ),
    ]);
    const msg91 = new Fake('msg91', [ok('m')]);
    const r = router([slow, msg91], '*=twilio>msg91', 5);
    const err: ProviderError = await r.send({ ...sms, valid_until }).catch((e) => e);
    expect([err.code, msg91.calls]).toEqual(['EXPIRED', 0]);
    expect(err.attempts).toEqual([{ provider: 'twilio', outcome: 'failed', error: 'NETWORK' }]);
    // Already past: no provider is called at all.
    const past = new Date(Date.now() - 1);
    expect((await r.send({ ...sms, valid_until: past }).catch((e) => e)).code).toBe('EXPIRED');
    expect([slow.calls, msg91.calls]).toEqual([1, 0]);
  });

  it('says RATE_LIMITED only when rates alone held the message back, not when a provider failed', async () => {
    const twilio = new Fake('twilio', [fail('refused', 'HTTP_503')]);
    const r = new SmsRouter(
      parseRoutes('*=twilio>msg91', 'console', KNOWN),
      new Map([
        ['twilio', twilio],
        ['msg91', new Fake('msg91', [ok('m')])],
      ]),
      { failures: 5, openMs: 1000 },
      undefined,
      async (name) => name === 'twilio',
    );
    const err: ProviderError = await r.send(sms).catch((e) => e);
    expect([err.code, err.retryable]).toEqual(['HTTP_503', true]);
  });

  it('sends WhatsApp to a destination whose route carries none (+91=msg91>smpp) through a provider that does', async () => {
    const twilio = new Fake('twilio', [ok('t')]);
    const msg91 = new Fake('msg91', [ok('m')], true);
    const smpp = new Fake('smpp', [ok('s')], true);
    const viaDefault = router([twilio, msg91, smpp], '+91=msg91>smpp;*=twilio');
    expect((await viaDefault.send({ ...sms, type: 'whatsapp' })).provider).toBe('twilio');
    // No route names it: any configured provider that carries the type.
    const anywhere = router([twilio, msg91, smpp], '+91=msg91>smpp;*=smpp');
    expect(anywhere.providersFor({ to: sms.to, type: 'whatsapp' })).toEqual(['twilio']);
    expect([msg91.calls, smpp.calls]).toEqual([0, 0]);
  });

  it('gives a live send the time of its whole route before the relay calls it interrupted', () => {
    const routes = parseRoutes('+44=smpp>msg91>twilio;*=twilio', 'console', KNOWN);
    expect(sendBudgetMs(routes, 4000)).toBe(4000 * 7);
  });
});
