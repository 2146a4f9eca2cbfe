// OTP verify's decisions with fakes (no Redis, no Postgres): what each answer of the Redis script and of
// Postgres leads to. The same rules under real faults and races are in test/integration/otp-invariants.e2e-spec.ts.
import { TemplatesService } from '../templates/templates.service';
import { AppException } from '../common/app.exception';
import type { RateLimiters } from '../common/rate-limit/rate-limit';
import type { CaptchaVerifier } from './captcha.verifier';
import { AppConfig } from '../config/app-config';
import { validateEnv } from '../config/env';
import type { MessagesService } from '../messages/messages.service';
import type { MetricsService } from '../metrics/metrics.service';
import type { NumberBlocks } from '../suppression/number-blocks';
import type { SessionService } from '../session/session.service';
import type { TokenService } from '../session/token.service';
import type { Failures, FallbackVerify, OtpRepository } from './otp.repository';
import type { VerifyResult } from './otp.scripts';
import { OtpService } from './otp.service';

const MOBILE = '+919876543210';
const stored = (rowId = 'row-1') =>
  JSON.stringify({ row_id: rowId, user_id: 'u1', otp_hash: 'h', expires_ms: Date.now() + 60_000 });

/** The repository, reduced to scripted answers and a log of what was asked. */
class FakeRepo {
  readonly calls: string[] = [];
  verifyAnswers: (VerifyResult | Error)[] = [];
  consumed = true;
  failuresAfterWrong: Failures | null = { failures: 1, ttl: 3600 };
  postgresCount: Failures | null = null;
  postgresVerify: FallbackVerify = { outcome: 'wrong', failures: 1 };

  onRedisReady() {}
  ipCounts: [number, number][] = [];
  async countVerifyIp() {
    this.calls.push('countVerifyIp');
    return this.ipCounts.shift() ?? [1, 60_000];
  }
  async verify(_m: string, _h: string, _max: number, notBlacklisted = false) {
    this.calls.push(notBlacklisted ? 'verify(not blacklisted)' : 'verify');
    const next = this.verifyAnswers.shift();
    if (!next) throw new Error('no scripted answer');
    if (next instanceof Error) throw next;
    return next;
  }
  async recordFailure() {
    this.calls.push('recordFailure');
    return this.failuresAfterWrong;
  }
  async dropStaleCode() {
    this.calls.push('dropStaleCode');
  }
  async verifyInPostgres() {
    this.calls.push('verifyInPostgres');
    return this.postgresVerify;
  }
  async failures() {
    this.calls.push('failures');
    return this.postgresCount;
  }
  async syncAttempts() {
    this.calls.push('syncAttempts');
  }
  async markConsumed() {
    this.calls.push('markConsumed');
    return this.consumed;
  }
  async cacheVerified() {}
  async countPrefixVerified() {}
}

const redisDown = () => Object.assign(new Error('Connection is closed.'), { name: 'Error' });

function setup(blacklistedInPostgres = false) {
  const repo = new FakeRepo();
  const config = new AppConfig(
    validateEnv({ API_KEYS: 'k', OTP_SECRET: 'o'.repeat(40), JWT_SECRET: 'j'.repeat(40) }),
    'api',
  );
  const counter = { inc: () => undefined };
  const metrics = { counter: () => counter } as unknown as MetricsService;
  const limits = {
    countLocally: () => [1, 60_000],
    rejection: () => new AppException(429, 'RATE_LIMITED', 'slow down'),
  } as unknown as RateLimiters;
  const sessions = { create: async () => ({ session_id: 's1' }) } as unknown as SessionService;
  const tokens = { issue: () => ({ access_token: 't1', expires_in: 900 }) } as unknown as TokenService;
  const blacklist = {
    inPostgres: async () => {
      repo.calls.push('blacklist in Postgres');
      return blacklistedInPostgres ? 'blacklisted' : null;
    },
  } as unknown as NumberBlocks;
  const otp = new OtpService(
    repo as unknown as OtpRepository,
    limits,
    {} as MessagesService,
    sessions,
    tokens,
    config,
    blacklist,
    {} as TemplatesService, // verify renders no message
    {} as CaptchaVerifier, // nor checks a CAPTCHA
    metrics,
  );
  return { otp, repo };
}

/** The AppException a verify ends with: [status, code, attempts_remaining]. */
async function refusal(p: Promise<unknown>): Promise<[number, string, unknown]> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof AppException)) throw err;
    const body = err.getResponse() as { attempts_remaining?: number };
    return [err.getStatus(), err.code, body.attempts_remaining];
  }
  throw new Error('verify succeeded');
}

describe('OtpService.verify', () => {
  it('approves a right code once Postgres marks it used: a session and a token', async () => {
    const { otp, repo } = setup();
    repo.verifyAnswers = [['ok', 0, stored()]];
    expect(await otp.verify(MOBILE, '123456')).toEqual({
      verified: true,
      access_token: 't1',
      session_id: 's1',
      expires_in: 900,
    });
    expect(repo.calls).toEqual(['verify', 'markConsumed']);
  });

  it('refuses a right code Postgres already saw used (a second use across stores)', async () => {
    const { otp, repo } = setup();
    repo.verifyAnswers = [['ok', 0, stored()]];
    repo.consumed = false;
    expect(await refusal(otp.verify(MOBILE, '123456'))).toEqual([400, 'OTP_INVALID', 5]);
  });

  it('refuses a right code when Postgres has locked the number (429, not a session)', async () => {
    const { otp, repo } = setup();
    repo.verifyAnswers = [['ok', 0, stored()]];
    repo.consumed = false;
    repo.postgresCount = { failures: 5, ttl: 1200 };
    expect(await refusal(otp.verify(MOBILE, '123456'))).toEqual([429, 'OTP_LOCKED', 0]);
  });

  it('counts a wrong code in Postgres too, and answers with the tries left', async () => {
    const { otp, repo } = setup();
    repo.verifyAnswers = [['wrong', 2, 'row-1']];
    repo.failuresAfterWrong = { failures: 2, ttl: 3600 };
    expect(await refusal(otp.verify(MOBILE, '000000'))).toEqual([400, 'OTP_INVALID', 3]);
    expect(repo.calls).toEqual(['verify', 'recordFailure']);
  });

  it('raises Redis to Postgres when Postgres counted more, and locks past the five', async () => {
    const { otp, repo } = setup();
    repo.verifyAnswers = [['wrong', 2, 'row-1']];
    repo.failuresAfterWrong = { failures: 6, ttl: 900 };
    expect(await refusal(otp.verify(MOBILE, '000000'))).toEqual([429, 'OTP_LOCKED', 0]);
    expect(repo.calls).toEqual(['verify', 'recordFailure', 'syncAttempts']);
  });

  it('lets Postgres decide when Redis judged a stale code (replaced during an outage)', async () => {
    const { otp, repo } = setup();
    repo.verifyAnswers = [['wrong', 1, 'old-row']];
    repo.failuresAfterWrong = null;
    repo.postgresVerify = { outcome: 'ok', userId: 'u1' };
    expect((await otp.verify(MOBILE, '123456')).verified).toBe(true);
    expect(repo.calls).toEqual(['verify', 'recordFailure', 'dropStaleCode', 'verifyInPostgres']);
  });

  it('asks Postgres when Redis has no code (one sent during an outage), spending nothing in Redis', async () => {
    const { otp, repo } = setup();
    repo.verifyAnswers = [['miss', 0, null]];
    repo.postgresVerify = { outcome: 'ok', userId: null };
    expect((await otp.verify(MOBILE, '123456')).verified).toBe(true);
    expect(repo.calls).toEqual(['verify', 'verifyInPostgres']);
  });

  it.each([
    ['expired', 400, 'OTP_EXPIRED'],
    ['none', 400, 'OTP_INVALID'],
    ['locked', 429, 'OTP_LOCKED'],
    ['blacklisted', 403, 'BLACKLISTED'],
  ] as const)('answers a %s code with %d %s and asks Postgres nothing', async (outcome, status, code) => {
    const { otp, repo } = setup();
    repo.verifyAnswers = [[outcome, 1, null]];
    expect((await refusal(otp.verify(MOBILE, '123456'))).slice(0, 2)).toEqual([status, code]);
    expect(repo.calls).toEqual(['verify']);
  });

  it('refuses an end-user IP past its limit before the code is looked at (429 RATE_LIMITED, nothing consumed)', async () => {
    const { otp, repo } = setup();
    repo.ipCounts = [[1_000_000, 30_000]];
    expect((await refusal(otp.verify(MOBILE, '123456', { ip: '203.0.113.9' }))).slice(0, 2)).toEqual([
      429,
      'RATE_LIMITED',
    ]);
    expect(repo.calls).toEqual(['countVerifyIp']);
  });

  it('asks Postgres for the blacklist while Redis is not warm again, then runs the check once more', async () => {
    const clean = setup(false);
    clean.repo.verifyAnswers = [
      ['cold', 0, null],
      ['ok', 0, stored()],
    ];
    expect((await clean.otp.verify(MOBILE, '123456')).verified).toBe(true);
    expect(clean.repo.calls).toEqual([
      'verify',
      'blacklist in Postgres',
      'verify(not blacklisted)',
      'markConsumed',
    ]);
    const listed = setup(true);
    listed.repo.verifyAnswers = [['cold', 0, null]];
    expect((await refusal(listed.otp.verify(MOBILE, '123456'))).slice(0, 2)).toEqual([403, 'BLACKLISTED']);
  });

  it('falls back to Postgres when Redis is unreachable, and brings Redis up to date before it judges again', async () => {
    const { otp, repo } = setup();
    repo.verifyAnswers = [redisDown(), ['wrong', 1, 'row-1']];
    expect(await refusal(otp.verify(MOBILE, '000000'))).toEqual([400, 'OTP_INVALID', 4]);
    expect(repo.calls).toEqual(['verify', 'blacklist in Postgres', 'verifyInPostgres']);
    repo.calls.length = 0;
    repo.postgresCount = { failures: 1, ttl: 3500 };
    await refusal(otp.verify(MOBILE, '000000'));
    expect(repo.calls.slice(0, 3)).toEqual(['failures', 'syncAttempts', 'verify']);
  });

  it('never takes a bug for an outage: any other error is thrown, not served from Postgres', async () => {
    const { otp, repo } = setup();
    repo.verifyAnswers = [new TypeError("Cannot read properties of undefined (reading 'x')")];
    await expect(otp.verify(MOBILE, '123456')).rejects.toThrow(TypeError);
    expect(repo.calls).toEqual(['verify']);
  });
});
