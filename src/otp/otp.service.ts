import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AppException } from '../common/app.exception';
import { maskPhone } from '../common/mask';
import { normalizePhone, parsePhone } from '../common/phone';
import { RateLimiters } from '../common/rate-limit/rate-limit';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import type { MessageRow } from '../messages/message.types';
import { MessagesService } from '../messages/messages.service';
import { StatusCallbacks } from '../messages/status-callbacks';
import { SessionService } from '../session/session.service';
import { TokenService } from '../session/token.service';
import { hashCode, newCode, sameHash } from './otp-code';
import { OTP_IP_LIMIT, OtpRepository, StoredOtp } from './otp.repository';
import type { VerifyResult } from './otp.scripts';

export const MAX_ATTEMPTS = 5;
/** The API key id OTP messages are stored under (they are the service's own, not a client's). */
export const OTP_CLIENT_ID = 'otp';

const DELIVERY: Record<string, string> = {
  pending: 'queued',
  sending: 'queued',
  sent: 'sent',
  delivered: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
};

export interface SendOtpInput {
  mobile_number: string;
  channel: 'sms' | 'whatsapp';
  user_id?: string;
  resend?: boolean;
}

const isRedisDown = (err: unknown) => err instanceof Error && !(err instanceof AppException);

/**
 * One-time codes: 6 digits from the CSPRNG, valid 5 minutes, stored only as an HMAC (Redis, and Postgres as
 * the backup), delivered as a queued message whose stored body is redacted once sent. Verification checks and
 * consumes in one Lua step; the fifth failure locks the number for the rest of the hour. When Redis is
 * unreachable, send and verify run on the Postgres rows instead.
 */
@Injectable()
export class OtpService implements OnModuleInit {
  private readonly logger = new Logger('Otp');
  private readonly sends;
  private readonly verifies;
  private readonly fallbacks;
  private readonly budgetExceeded;

  constructor(
    private readonly repo: OtpRepository,
    private readonly limits: RateLimiters,
    private readonly messages: MessagesService,
    private readonly sessions: SessionService,
    private readonly tokens: TokenService,
    private readonly config: AppConfig,
    private readonly statusChanges: StatusCallbacks,
    metrics: MetricsService,
  ) {
    this.sends = metrics.counter('smsb_otp_sends_total', 'OTP codes sent', ['channel', 'store']);
    this.verifies = metrics.counter('smsb_otp_verifications_total', 'OTP verifications by result', [
      'result',
    ]);
    this.fallbacks = metrics.counter(
      'smsb_otp_postgres_fallbacks_total',
      'OTP operations served by Postgres while Redis was down',
      ['operation'],
    );
    this.budgetExceeded = metrics.counter(
      'smsb_otp_budget_exceeded_total',
      'OTP sends refused by the global hourly budget (SMS pumping alert)',
    );
  }

  onModuleInit(): void {
    if (this.config.otp.whatsappSmsFallback) this.statusChanges.onStatus((m) => this.whatsappFallback(m));
  }

  /**
   * A WhatsApp code that comes back undelivered or failed is sent again once, by SMS: a new code (the old
   * one was never seen, and only its HMAC is kept), through the same pipeline, without the send limits.
   */
  private async whatsappFallback(m: MessageRow): Promise<void> {
    if (
      m.client_id !== OTP_CLIENT_ID ||
      m.type !== 'whatsapp' ||
      !['undelivered', 'failed'].includes(m.status)
    )
      return;
    const row = await this.repo.rowForMessage(m.id);
    if (!row || row.used_at) return;
    this.logger.log(`WhatsApp code to ${maskPhone(m.to)} ${m.status}: sending a new one by SMS`);
    const redisUp = await this.redisUsable(() => this.repo.isBlacklisted(m.to));
    await this.issue(m.to, 'sms', row.user_id, Date.now(), redisUp !== undefined);
  }

  async send(input: SendOtpInput) {
    const mobile = this.checkNumber(input.mobile_number);
    const testCode = this.config.otp.testNumbers.get(mobile);
    const useRedis = await this.redisUsable(() => this.repo.isBlacklisted(mobile));
    const blacklisted = useRedis ?? (await this.repo.blacklistedInDb(mobile));
    if (blacklisted) throw new AppException(403, 'BLACKLISTED', 'This number is blacklisted');

    if (!testCode) await this.enforceSendLimits(mobile, useRedis !== undefined);
    const now = Date.now();
    if (useRedis !== undefined) {
      const active = await this.repo.active(mobile);
      if (active && active.expires_ms > now) {
        const left = Math.ceil((active.expires_ms - now) / 1000);
        const age = (now - Date.parse(active.created_at)) / 1000;
        if (!input.resend) {
          throw new AppException(
            409,
            'OTP_ACTIVE',
            `A code is still active for ${left} s`,
            { retry_after_seconds: left },
            left,
          );
        }
        if (age < this.config.otp.resendCooldownSec) {
          const wait = Math.ceil(this.config.otp.resendCooldownSec - age);
          throw new AppException(
            409,
            'RESEND_COOLDOWN',
            `A new code can be sent in ${wait} s`,
            { retry_after_seconds: wait },
            wait,
          );
        }
      }
    }

    return this.issue(mobile, input.channel, input.user_id ?? null, now, useRedis !== undefined, testCode);
  }

  /** Makes a code, stores it (Postgres, and Redis when up) and queues the message that carries it. */
  private async issue(
    mobile: string,
    channel: 'sms' | 'whatsapp',
    userId: string | null,
    now: number,
    redisUp: boolean,
    testCode?: string,
  ) {
    const code = testCode ?? newCode();
    const otp: Omit<StoredOtp, 'row_id'> = {
      otp_hash: hashCode(this.config.secrets.otp, mobile, code),
      mobile_number: mobile,
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + this.config.otp.validitySec * 1000).toISOString(),
      expires_ms: now + this.config.otp.validitySec * 1000,
      channel: channel,
      user_id: userId,
      message_id: null,
    };
    const rowId = await this.repo.insertRow(otp);
    if (!testCode) {
      // Queued like any message; the request never waits on a provider, and the body is redacted once sent.
      const accepted = await this.messages.accept(
        OTP_CLIENT_ID,
        {
          to: mobile,
          type: channel,
          body: `Your verification code is ${code}. It expires in ${Math.round(this.config.otp.validitySec / 60)} minutes.`,
        },
        { sensitive: true },
      );
      otp.message_id = accepted.id;
      await this.repo.setMessageId(rowId, accepted.id);
    }
    if (redisUp)
      await this.repo.store({ ...otp, row_id: rowId }, this.config.otp.validitySec).catch(() => undefined);
    this.sends.inc({ channel: channel, store: redisUp ? 'redis' : 'postgres' });
    return {
      expires_in_seconds: this.config.otp.validitySec,
      expires_at: otp.expires_at,
      message_id: otp.message_id,
    };
  }

  /**
   * Verify. `client.ip` is the caller's IP: its /otp/* request is counted in the same round trip as the check
   * (the guard skips this route), and `client.setHeaders` receives the X-RateLimit-* headers.
   */
  async verify(
    rawMobile: string,
    otp: string,
    client: { ip?: string; setHeaders?: (h: Record<string, string>) => void } = {},
  ) {
    const mobile = normalizePhone(rawMobile, this.config.defaultCountry);
    const candidate = hashCode(this.config.secrets.otp, mobile, otp);
    const ipRule = this.config.otp.requestsPerIp;
    let result: VerifyResult;
    try {
      result = await this.repo.verify(
        mobile,
        candidate,
        MAX_ATTEMPTS,
        client.ip ? { id: client.ip, ...ipRule } : undefined,
      );
    } catch (err) {
      if (!isRedisDown(err)) throw err;
      this.fallbacks.inc({ operation: 'verify' });
      return this.verifyInPostgres(mobile, candidate);
    }
    const [outcome, n, raw, ipUsed, ipMsLeft] = result;
    if (client.ip) client.setHeaders?.(RateLimiters.headers(ipRule.limit, ipUsed, ipMsLeft));
    if (outcome === 'rate_limited') throw this.limits.rejection(OTP_IP_LIMIT, ipMsLeft);
    if (outcome === 'locked') throw this.locked(n);
    if (outcome !== 'ok') return this.failure(outcome, n);
    const stored = JSON.parse(raw!) as StoredOtp;
    // Redis has consumed the code; the row's used-mark (the Postgres fallback's record) and the session are
    // written side by side rather than one after the other: the answer waits for the slower of the two, not
    // for their sum.
    const [, approved] = await Promise.all([
      this.repo.markConsumed(stored.row_id).catch(() => undefined),
      this.approve(mobile, stored.user_id),
    ]);
    return approved;
  }

  async remaining(rawMobile: string) {
    const mobile = normalizePhone(rawMobile, this.config.defaultCountry);
    const active = await this.repo.active(mobile);
    const left = active ? Math.ceil((active.expires_ms - Date.now()) / 1000) : 0;
    if (left <= 0) throw new AppException(404, 'NO_ACTIVE_OTP', 'No code is active for this number');
    return { remaining_seconds: left };
  }

  async status(rawMobile: string) {
    const mobile = normalizePhone(rawMobile, this.config.defaultCountry);
    const s = await this.repo.status(mobile);
    if (!s) return { status: 'none' as const };
    let status = s.status;
    if (status === 'pending' && s.expires_ms !== undefined && s.expires_ms < Date.now()) status = 'expired';
    const messageStatus = s.message_id ? await this.repo.messageStatus(s.message_id) : null;
    return {
      status,
      ...(s.message_id && { message_id: s.message_id }),
      ...(messageStatus && { delivery_status: DELIVERY[messageStatus] ?? messageStatus }),
    };
  }

  async userVerified(userId: string) {
    const cached = await this.repo.cachedVerified(userId).catch(() => null);
    if (cached !== null) return { user_id: userId, verified: cached };
    const verified = await this.repo.everVerified(userId);
    await (verified ? this.repo.cacheVerified(userId) : this.repo.cacheUnverified(userId)).catch(
      () => undefined,
    );
    return { user_id: userId, verified };
  }

  // --- internals ---

  private checkNumber(raw: string): string {
    const parsed = parsePhone(raw, this.config.defaultCountry);
    if (!parsed) return normalizePhone(raw, this.config.defaultCountry); // throws the 400
    const allowed = this.config.otp.allowedCallingCodes;
    if (allowed.length && !allowed.includes(parsed.callingCode)) {
      throw new AppException(
        403,
        'COUNTRY_NOT_ALLOWED',
        `Codes are not sent to +${parsed.callingCode} numbers`,
      );
    }
    return parsed.e164;
  }

  /** Undefined when Redis cannot be reached (the caller then uses Postgres); otherwise the probe's answer. */
  private async redisUsable<T>(probe: () => Promise<T>): Promise<T | undefined> {
    try {
      return await probe();
    } catch (err) {
      if (!isRedisDown(err)) throw err;
      this.fallbacks.inc({ operation: 'send' });
      return undefined;
    }
  }

  private async enforceSendLimits(mobile: string, redisUp: boolean): Promise<void> {
    if (!redisUp) {
      const { limit, windowSeconds } = this.config.otp.sendsPerNumber;
      if ((await this.repo.recentSends(mobile, windowSeconds)) >= limit) {
        throw new AppException(429, 'RATE_LIMITED', 'Too many codes for this number; retry later', {}, 60);
      }
      return;
    }
    await this.limits.consume({ action: 'otp_send', ...this.config.otp.sendsPerNumber }, mobile);
    const hour = new Date().toISOString().slice(0, 13);
    if ((await this.repo.hourlySends(hour)) > this.config.otp.maxSendsPerHour) {
      this.budgetExceeded.inc();
      this.logger.warn('the hourly OTP send budget is exhausted: refusing sends (possible SMS pumping)');
      throw new AppException(
        429,
        'OTP_BUDGET_EXHAUSTED',
        'The service is not sending codes right now; retry later',
        {},
        300,
      );
    }
  }

  private async verifyInPostgres(mobile: string, candidate: string) {
    if ((await this.repo.recentFailures(mobile)) >= MAX_ATTEMPTS) throw this.locked(3600);
    const row = await this.repo.latestRow(mobile);
    const fail = async (outcome: string) => {
      if (row) await this.repo.recordFailure(row.id);
      return this.failure(outcome, (await this.repo.recentFailures(mobile)) || 1);
    };
    if (!row || row.used_at) return fail('none');
    if (row.expires_at.getTime() < Date.now()) return fail('expired');
    if (!sameHash(row.otp_hash, candidate)) return fail('wrong');
    if (!(await this.repo.markUsed(row.id))) return fail('none'); // a concurrent verify won
    return this.approve(mobile, row.user_id);
  }

  private async approve(mobile: string, userId: string | null) {
    const subject = userId ?? mobile;
    if (userId) await this.repo.cacheVerified(userId).catch(() => undefined);
    const session = await this.sessions.create({ userId: subject, context: { via: 'otp' } });
    const token = this.tokens.issue(subject, session.session_id);
    this.verifies.inc({ result: 'ok' });
    this.logger.log(`number ${maskPhone(mobile)} verified`);
    return {
      verified: true,
      access_token: token.access_token,
      session_id: session.session_id,
      expires_in: token.expires_in,
    };
  }

  private failure(outcome: string, attempts: number): never {
    this.verifies.inc({ result: outcome === 'expired' ? 'expired' : 'wrong' });
    const remaining = Math.max(0, MAX_ATTEMPTS - attempts);
    const message =
      outcome === 'expired'
        ? 'The code has expired'
        : outcome === 'none'
          ? 'No code is active for this number'
          : 'The code is wrong';
    throw new AppException(400, outcome === 'expired' ? 'OTP_EXPIRED' : 'OTP_INVALID', message, {
      verified: false,
      attempts_remaining: remaining,
    });
  }

  private locked(ttlSeconds: number): AppException {
    this.verifies.inc({ result: 'locked' });
    return new AppException(
      429,
      'OTP_LOCKED',
      'Too many wrong codes: this number is locked for the rest of the hour',
      { verified: false, attempts_remaining: 0 },
      Math.max(1, ttlSeconds),
    );
  }
}
