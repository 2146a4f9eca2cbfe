import { parse } from 'dotenv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppConfig } from './app-config';
import { ENV_KEYS, InvalidConfigError, keyEntries, validateEnv } from './env';

const base = { API_KEYS: 'k1' };

function problems(raw: Record<string, string>): string[] {
  try {
    validateEnv(raw);
  } catch (err) {
    if (err instanceof InvalidConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('validateEnv', () => {
  it('applies SPEC defaults', () => {
    const env = validateEnv(base);
    expect(env.PORT).toBe(3000);
    expect(env.REDIS_KEY_PREFIX).toBe('smsb:');
    expect(env.DATABASE_URL).toBe('postgres://postgres@localhost:5432/sms_bridge');
    expect(env.ABUSE_THRESHOLD).toBe(10);
    expect(env.MONITOR_BATCH_SIZE).toBe(100);
    expect(env.SMS_PROVIDER).toBe('console');
    expect(env.DEFAULT_COUNTRY).toBe('IN');
    expect(env.SYNC_MESSAGE_PROCESSING).toBe(false);
  });

  it('reports one line per bad variable, naming it', () => {
    const found = problems({
      API_KEYS: 'k',
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'http://x',
      SMS_PROVIDER: 'pigeon',
    });
    expect(found).toHaveLength(4);
    expect(found.map((p) => p.split(':')[0]).sort()).toEqual([
      'LOG_LEVEL',
      'PORT',
      'REDIS_URL',
      'SMS_PROVIDER',
    ]);
  });

  it('requires API_KEYS', () => {
    expect(problems({})).toEqual([expect.stringMatching(/^API_KEYS: API_KEYS is required/)]);
  });

  it('never echoes a secret-looking value', () => {
    const found = problems({ ...base, REDIS_URL: 'http://user:hunter2@host' });
    expect(found.join('\n')).not.toContain('hunter2');
  });

  it('requires strong secrets in production', () => {
    const found = problems({ ...base, NODE_ENV: 'production', OTP_SECRET: 'short' });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^OTP_SECRET: must be at least 32/),
        expect.stringMatching(/^JWT_SECRET: required/),
        expect.stringMatching(/^ONBOARDING_SECRET: required/),
      ]),
    );
  });

  it('refuses unsafe production settings, one line per problem', () => {
    const strong = {
      NODE_ENV: 'production',
      OTP_SECRET: 'o'.repeat(32),
      JWT_SECRET: 'j'.repeat(32),
      ONBOARDING_SECRET: 'b'.repeat(32),
      WEBHOOK_SIGNING_SECRET: 'w'.repeat(32),
      SMS_CONSOLE_IN_PRODUCTION: 'true',
    };
    const twilio = {
      SMS_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: 'AC1',
      TWILIO_AUTH_TOKEN: 't',
      TWILIO_FROM_NUMBER: '+1',
    };
    expect(problems({ ...base, ...strong })).toEqual([]);
    const { WEBHOOK_SIGNING_SECRET: _w, ...noWebhookSecret } = strong;
    expect(problems({ ...base, ...noWebhookSecret })).toEqual([
      'WEBHOOK_SIGNING_SECRET: required when NODE_ENV=production',
    ]);
    expect(problems({ ...base, ...strong, ...twilio })).toEqual([
      expect.stringMatching(/^PUBLIC_BASE_URL: required, as an https/),
    ]);
    expect(
      problems({ ...base, ...strong, ...twilio, PUBLIC_BASE_URL: 'http://sms.example.com' }),
    ).toHaveLength(1);
    expect(problems({ ...base, ...strong, ...twilio, PUBLIC_BASE_URL: 'https://sms.example.com' })).toEqual(
      [],
    );
    expect(problems({ ...strong, API_KEYS: 'a1,shared', ADMIN_API_KEYS: 'admin:shared' })).toEqual([
      expect.stringMatching(/^API_KEYS, ADMIN_API_KEYS: a key is in both/),
    ]);
    expect(problems({ ...strong, API_KEYS: 'gw', GATEWAY_API_KEYS: 'gw' })).toEqual([
      expect.stringMatching(/^API_KEYS, GATEWAY_API_KEYS: a key is in both/),
    ]);
    expect(problems({ ...base, API_KEYS: 'a:same,b:same' })).toEqual([
      expect.stringMatching(/^API_KEYS: one key is listed under two ids/),
    ]);
    // Outside production the same settings start (development keeps its conveniences).
    expect(problems({ ...base, ...twilio, API_KEYS: 'same', ADMIN_API_KEYS: 'same' })).toEqual([]);
  });

  it('refuses settings that would fake or drop sends (attack 18 F15)', () => {
    const prod = {
      ...base,
      NODE_ENV: 'production',
      OTP_SECRET: 'o'.repeat(32),
      JWT_SECRET: 'j'.repeat(32),
      ONBOARDING_SECRET: 'b'.repeat(32),
      WEBHOOK_SIGNING_SECRET: 'w'.repeat(32),
    };
    const msg91 = {
      MSG91_AUTH_KEY: 'k',
      MSG91_TEMPLATE_ID: 't',
      MSG91_WEBHOOK_TOKEN: 'x'.repeat(24),
    };
    // console in a route, the * route SMS_PROVIDER adds included: only when asked for, in production.
    expect(problems(prod)).toEqual([expect.stringMatching(/^SMS_ROUTES: the route \*=console uses console/)]);
    expect(problems({ ...prod, ...msg91, SMS_ROUTES: '+91=msg91' })).toEqual([
      expect.stringMatching(/^SMS_ROUTES: the route \*=console uses console/),
    ]);
    expect(problems({ ...prod, ...msg91, SMS_ROUTES: '+91=msg91>console;*=msg91' })).toEqual([
      expect.stringMatching(/^SMS_ROUTES: the route \+91=msg91>console uses console/),
    ]);
    expect(problems({ ...prod, ...msg91, SMS_ROUTES: '*=msg91' })).toEqual([]);
    expect(problems({ ...prod, SMS_CONSOLE_IN_PRODUCTION: 'true' })).toEqual([]);
    expect(problems({ ...base, SMS_ROUTES: '+91=console' })).toEqual([]); // outside production
    // A rate that never sends, or for a provider that is unknown or in no route: in every environment.
    expect(problems({ ...base, SMS_PROVIDER_RATES: 'console:0' })).toEqual([
      'SMS_PROVIDER_RATES: console:0 would never let a send through (at least 1)',
    ]);
    expect(problems({ ...base, SMS_PROVIDER_RATES: 'twillio:100' })).toEqual([
      expect.stringMatching(/^SMS_PROVIDER_RATES: twillio is not a provider/),
    ]);
    expect(problems({ ...base, SMS_PROVIDER_RATES: 'console:5,msg91:5' })).toEqual([
      'SMS_PROVIDER_RATES: msg91 is in no route (SMS_ROUTES, SMS_PROVIDER): its rate limits nothing',
    ]);
    expect(problems({ ...prod, ...msg91, SMS_ROUTES: '*=msg91', SMS_PROVIDER_RATES: 'msg91:5' })).toEqual([]);
    // Enforced DLT without the entity id every Indian SMS carries.
    const dlt = { ...prod, SMS_CONSOLE_IN_PRODUCTION: 'true', DLT_ENFORCE: 'true' };
    expect(problems(dlt)).toEqual([expect.stringMatching(/^DLT_ENTITY_ID: required with DLT_ENFORCE=true/)]);
    expect(problems({ ...dlt, DLT_ENTITY_ID: '1101000000000000001' })).toEqual([]);
  });

  it('takes a blank secret or key for none, in production and out of it', () => {
    const blank = ' '.repeat(40);
    const found = problems({
      ...base,
      NODE_ENV: 'production',
      OTP_SECRET: blank,
      JWT_SECRET: `${' '.repeat(20)}short${' '.repeat(20)}`,
      ONBOARDING_SECRET: 'b'.repeat(32),
      WEBHOOK_SIGNING_SECRET: '\t'.repeat(33),
      SMS_CONSOLE_IN_PRODUCTION: 'true',
    });
    expect(found).toEqual([
      'OTP_SECRET: required when NODE_ENV=production',
      expect.stringMatching(/^JWT_SECRET: must be at least 32 characters/),
      'WEBHOOK_SIGNING_SECRET: required when NODE_ENV=production',
    ]);
    expect(problems({ API_KEYS: 'shop:   ' })).toEqual([
      expect.stringMatching(/^API_KEYS: an entry has an id but no secret/),
    ]);
    expect(problems({ API_KEYS: '  ,  ' })).toEqual([expect.stringMatching(/^API_KEYS/)]);
    // Outside production a blank secret is unset: the process makes a random one and says so.
    expect(new AppConfig(validateEnv({ ...base, OTP_SECRET: '   ' }), 'api').generatedSecrets).toContain(
      'OTP_SECRET',
    );
  });

  it('reads key entries: id:secret gives a stable id, a bare secret has none', () => {
    expect(keyEntries(' shop:s1 , shop:s2,bare ,a:b:c')).toEqual([
      { id: 'shop', secret: 's1' },
      { id: 'shop', secret: 's2' },
      { secret: 'bare' },
      { id: 'a', secret: 'b:c' },
    ]);
  });

  it('requires Twilio credentials when Twilio is the SMS provider', () => {
    expect(problems({ ...base, SMS_PROVIDER: 'twilio' })).toHaveLength(3);
  });

  it('requires SMPP_URL and SMPP_SOURCE_ADDR with smpp, and MSG91 key, template and webhook token with msg91', () => {
    expect(problems({ ...base, SMS_PROVIDER: 'smpp' }).map((p) => p.split(':')[0])).toEqual([
      'SMPP_URL',
      'SMPP_SOURCE_ADDR',
    ]);
    expect(problems({ ...base, SMS_PROVIDER: 'msg91' }).map((p) => p.split(':')[0])).toEqual([
      'MSG91_AUTH_KEY',
      'MSG91_TEMPLATE_ID',
      'MSG91_WEBHOOK_TOKEN',
    ]);
    expect(problems({ ...base, SMS_PROVIDER: 'sms-gateway' })[0]).toMatch(/^SMS_PROVIDER: /);
  });

  it('refuses an SMPP_URL without credentials, a bad sender, and a short webhook token, never echoing them', () => {
    const found = problems({
      ...base,
      SMPP_URL: 'smpp://smsc.example.com:2775',
      SMPP_SOURCE_ADDR: 'a sender far too long',
      MSG91_WEBHOOK_TOKEN: 'short',
    });
    expect(found.map((p) => p.split(':')[0])).toEqual([
      'SMPP_URL',
      'SMPP_SOURCE_ADDR',
      'MSG91_WEBHOOK_TOKEN',
    ]);
    expect(found.join('\n')).not.toMatch(/smsc\.example|short/);
  });

  it('takes a plain prefix with Redis Cluster and refuses a hash tag in it (the service chooses the tags)', () => {
    expect(problems({ ...base, REDIS_CLUSTER_NODES: 'a:7000,b:7001' })).toEqual([]);
    expect(
      problems({ ...base, REDIS_CLUSTER_NODES: 'a:7000,b:7001', REDIS_KEY_PREFIX: '{smsb}:' })[0],
    ).toMatch(/^REDIS_KEY_PREFIX/);
  });

  it('parses booleans and rejects nonsense', () => {
    expect(validateEnv({ ...base, SYNC_MESSAGE_PROCESSING: 'true' }).SYNC_MESSAGE_PROCESSING).toBe(true);
    expect(problems({ ...base, MIGRATIONS_RUN: 'maybe' })[0]).toMatch(/^MIGRATIONS_RUN/);
  });
});

describe('AppConfig', () => {
  it('splits lists and derives the public URL from the port', () => {
    const c = new AppConfig(
      validateEnv({ API_KEYS: 'a, b,,c', PORT: '4000', OTP_TEST_NUMBERS: '+15005550006:123456' }),
      'api',
    );
    expect(c.auth.apiKeys).toEqual([{ secret: 'a' }, { secret: 'b' }, { secret: 'c' }]);
    expect(c.http.publicBaseUrl).toBe('http://localhost:4000');
    expect(c.otp.testNumbers.get('+15005550006')).toBe('123456');
    expect(c.runsApi && !c.runsWorker).toBe(true);
  });

  it('takes SMPP_URL apart: credentials decoded, the port defaulted by scheme', () => {
    const smpp = (url: string) =>
      new AppConfig(validateEnv({ ...base, SMPP_URL: url, SMPP_SOURCE_ADDR: '+15005550006' }), 'worker')
        .messages.smpp;
    expect(smpp('smpp://bridge:p%40ss@smsc.example.com')).toMatchObject({
      host: 'smsc.example.com',
      port: 2775,
      tls: false,
      systemId: 'bridge',
      password: 'p@ss',
      sourceAddr: '+15005550006',
      window: 10,
      enquireLinkSec: 30,
    });
    expect(smpp('ssmpp://bridge:x@smsc.example.com')).toMatchObject({ port: 3550, tls: true });
    expect(smpp('smpp://bridge:x@10.0.0.5:2776/')).toMatchObject({ host: '10.0.0.5', port: 2776 });
  });

  it('ignores OTP test numbers in production unless allowed', () => {
    const prod = {
      API_KEYS: 'a',
      NODE_ENV: 'production',
      OTP_SECRET: 'x'.repeat(32),
      JWT_SECRET: 'y'.repeat(32),
      ONBOARDING_SECRET: 'z'.repeat(32),
      WEBHOOK_SIGNING_SECRET: 'w'.repeat(32),
      OTP_TEST_NUMBERS: '+15005550006:123456',
      SMS_CONSOLE_IN_PRODUCTION: 'true',
    };
    expect(new AppConfig(validateEnv(prod), 'api').otp.testNumbers.size).toBe(0);
    expect(
      new AppConfig(validateEnv({ ...prod, OTP_TEST_NUMBERS_IN_PRODUCTION: 'true' }), 'api').otp.testNumbers
        .size,
    ).toBe(1);
  });
});

describe('the SMS-pumping and CAPTCHA settings', () => {
  it('defaults to a 3-digit prefix judged after 20 sends below a ratio of 0.1, no caps and no CAPTCHA', () => {
    const { pumping, captcha } = new AppConfig(validateEnv(base), 'api').otp;
    expect(pumping).toEqual({
      prefixDigits: 3,
      prefixSendsPerHour: undefined,
      countrySendsPerHour: new Map(),
      minSends: 20,
      minRatio: 0.1,
    });
    expect(captcha).toBeUndefined();
  });

  it('reads caps per country, a ratio and a CAPTCHA verifier', () => {
    const otp = new AppConfig(
      validateEnv({
        ...base,
        OTP_COUNTRY_SENDS_PER_HOUR: 'IN:50000, gb : 200',
        OTP_PUMPING_MIN_RATIO: '0.25',
        OTP_PREFIX_SENDS_PER_HOUR: '100',
        OTP_CAPTCHA_VERIFY_URL: 'https://api.hcaptcha.com/siteverify',
        OTP_CAPTCHA_SECRET: 's3cret',
      }),
      'api',
    ).otp;
    expect([...otp.pumping.countrySendsPerHour]).toEqual([
      ['IN', 50000],
      ['GB', 200],
    ]);
    expect(otp.pumping.minRatio).toBe(0.25);
    expect(otp.pumping.prefixSendsPerHour).toBe(100);
    expect(otp.captcha).toEqual({ verifyUrl: 'https://api.hcaptcha.com/siteverify', secret: 's3cret' });
  });

  it('refuses a bad country list, a ratio above 1, and a CAPTCHA URL without its secret (never echoing it)', () => {
    const found = problems({
      ...base,
      OTP_COUNTRY_SENDS_PER_HOUR: 'India:5',
      OTP_PUMPING_MIN_RATIO: '1.5',
      OTP_PREFIX_DIGITS: '0',
      OTP_CAPTCHA_VERIFY_URL: 'https://challenges.cloudflare.com/turnstile/v0/siteverify',
    });
    expect(found.map((p) => p.split(':')[0]).sort()).toEqual([
      'OTP_CAPTCHA_VERIFY_URL, OTP_CAPTCHA_SECRET',
      'OTP_COUNTRY_SENDS_PER_HOUR',
      'OTP_PREFIX_DIGITS',
      'OTP_PUMPING_MIN_RATIO',
    ]);
    expect(problems({ ...base, OTP_PUMPING_MIN_RATIO: 'lots' })[0]).toMatch(
      /^OTP_PUMPING_MIN_RATIO: .*number/,
    );
  });
});

describe('.env.example', () => {
  it('lists every variable and is itself a valid configuration', () => {
    const text = readFileSync(join(__dirname, '..', '..', '.env.example'), 'utf8');
    const documented = new Set(
      [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m: RegExpMatchArray) => m[1]),
    );
    for (const key of ENV_KEYS) expect([key, documented.has(key)]).toEqual([key, true]);
    const env = validateEnv(parse(text));
    expect(env.PORT).toBe(3000);
    expect(env.LOG_LEVEL).toBe('info');
  });
});
