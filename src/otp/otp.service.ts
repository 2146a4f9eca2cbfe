import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { AppException } from '../common/app.exception';
import { maskPhone } from '../common/mask';
import { phoneRegion, phoneType } from '../common/phone';
import { RateLimiters } from '../common/rate-limit/rate-limit';
import { AppConfig } from '../config/app-config';
import { OTP_CLIENT_ID } from '../config/env';
import { blockedError, NumberBlocks } from '../suppression/number-blocks';
import { MetricsService } from '../metrics/metrics.service';
import { Content, MessagesService } from '../messages/messages.service';
import { contentVariables, OTP_TEMPLATE, render, TemplateError } from '../templates/template';
import { TemplatesService } from '../templates/templates.service';
import { MESSAGE_STATUS_CHANGED, MessageStatusChanged } from '../messages/message-status.service';
import { SessionService } from '../session/session.service';
import { TokenService } from '../session/token.service';
import { randomUUID } from 'node:crypto';
import { isRedisUnavailable } from '../redis/redis-errors';
import { BLOCK_DIGITS, RedisKeys } from '../redis/redis-keys';
import { hashCode, newCode } from './otp-code';
import { CaptchaVerifier } from './captcha.verifier';
import {
  Failures,
  hoursAt,
  ORPHAN_GRACE_MS,
  OTP_IP_LIMIT,
  OtpRepository,
  PumpingRules,
  SendRequest,
  StoredOtp,
} from './otp.repository';
import type { VerifyResult } from './otp.scripts';

export const MAX_ATTEMPTS = 5;

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
  locale?: string;
  app_hash?: string;
  /** The CAPTCHA / attestation token, required when OTP_CAPTCHA_VERIFY_URL is set. */
  captcha_token?: string;
}

/** Who asks: the end user's IP (absent: no per-IP limit) and the API key's client id (its own budget). */
export interface OtpCaller {
  ip?: string;
  clientId?: string;
  setHeaders?: (h: Record<string, string>) => void;
  /** The service's own WhatsApp→SMS fallback: replaces the live code at once, outside the limits. */
  fallback?: boolean;
  /** With `fallback`: the failed code's row id; the send replaces that code only, never a newer one. */
  replacing?: string;
}

/**
 * One-time codes: 6 digits from the CSPRNG, valid 5 minutes, stored only as an HMAC (Redis, and Postgres as
 * the backup), delivered as a queued message whose stored body is redacted once sent. Verification checks and
 * consumes in one Lua step; the fifth failure locks the number for the rest of the hour. When Redis is
 * unreachable, send and verify run on the Postgres rows instead.
 */
@Injectable()
export class OtpService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Otp');
  private readonly sends;
  private readonly verifies;
  private readonly fallbacks;
  private readonly budgetExceeded;
  private readonly pumpingBlocked;
  /**
   * Verified codes per country this replica has not yet added to Redis: they go with its next send to that
   * country (inside the send's existing country step), so a verify spends no Redis command on them.
   */
  private readonly countryVerified = new Map<string, number>();

  constructor(
    private readonly repo: OtpRepository,
    private readonly limits: RateLimiters,
    private readonly messages: MessagesService,
    private readonly sessions: SessionService,
    private readonly tokens: TokenService,
    private readonly config: AppConfig,
    private readonly blocks: NumberBlocks,
    private readonly templates: TemplatesService,
    private readonly captcha: CaptchaVerifier,
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
    this.pumpingBlocked = metrics.counter(
      'smsb_otp_pumping_blocked_total',
      'OTP sends refused because their prefix looks like SMS pumping (few codes verified)',
      ['country'],
    );
  }

  onModuleInit(): void {
    this.repo.onRedisReady(() => this.syncAllAfterOutage());
  }

  /** The verified counts this replica still holds go to Redis as it stops (best effort). */
  async onModuleDestroy(): Promise<void> {
    const held = [...this.countryVerified];
    this.countryVerified.clear();
    await Promise.all(
      held.map(([country, n]) => this.repo.addCountryVerified(country, n, Date.now()).catch(() => undefined)),
    );
  }

  /**
   * A WhatsApp code that comes back undelivered or failed is sent again once, by SMS: a new code (the old
   * one was never seen, and only its HMAC is kept), through the same pipeline, without the send limits.
   */
  @OnEvent(MESSAGE_STATUS_CHANGED, { promisify: true })
  async whatsappFallback({ message: m }: MessageStatusChanged): Promise<void> {
    if (
      !this.config.otp.whatsappSmsFallback ||
      m.client_id !== OTP_CLIENT_ID ||
      m.type !== 'whatsapp' ||
      !['undelivered', 'failed'].includes(m.status)
    )
      return;
    const row = await this.repo.rowForMessage(m.id);
    // Only the live code falls back: not one used, replaced (voided) or expired meanwhile, whose failure
    // arrives late; and never to a number an admin blacklisted, or that opted out, since.
    if (!row || row.used_at || row.voided_at || new Date(row.expires_at).getTime() <= Date.now()) return;
    if (await this.blocks.of(m.to)) return;
    this.logger.log(`WhatsApp code to ${maskPhone(m.to)} ${m.status}: sending a new one by SMS`);
    const input = {
      mobile_number: m.to,
      channel: 'sms' as const,
      user_id: row.user_id ?? undefined,
      resend: true,
    };
    await this.send(input, { fallback: true, replacing: row.id }).catch((err: Error) =>
      this.logger.warn(`no SMS fallback for ${maskPhone(m.to)}: ${err.message}`),
    );
  }

  /**
   * The code's message: the `otp` template (built-in text when it was deleted) in the asked locale. An SMS
   * gets the autofill lines after it: the Android app hash (SMS Retriever), then WebOTP's origin-bound line
   * `@domain #code`, which must be the last. WhatsApp sends the locale's approved template.
   */
  private async compose(input: SendOtpInput, code: string, minutes: number): Promise<Content> {
    const t = (await this.templates.find('otp').catch(() => null)) ?? OTP_TEMPLATE;
    const r = render(t, { code, minutes }, input.locale);
    if (input.channel === 'whatsapp') {
      if (!r.whatsappContentSid)
        throw new TemplateError(
          'WHATSAPP_TEMPLATE_REQUIRED',
          `the otp template (${r.locale}) has no whatsapp_content_sid: WhatsApp codes need an approved template`,
        );
      return {
        body: r.body,
        template: t.name,
        locale: r.locale,
        whatsappContentSid: r.whatsappContentSid,
        contentVariables: JSON.parse(contentVariables(t, r.variables)) as Record<string, string>,
        dltTemplateId: r.dltTemplateId,
      };
    }
    const lines = [r.body];
    if (input.app_hash) lines.push(input.app_hash);
    if (this.config.otp.webOtpDomain) lines.push(`@${this.config.otp.webOtpDomain} #${code}`);
    return {
      body: lines.join('\n'),
      template: t.name,
      locale: r.locale,
      whatsappContentSid: null,
      contentVariables: null,
      dltTemplateId: r.dltTemplateId,
    };
  }

  /**
   * Send. Redis up: one script checks the blacklist, the active code and every limit and stores the code
   * (concurrent sends issue one code; a refused send counts nothing), then Postgres records the code's row
   * and the message, and the message is queued. Redis unreachable: the same rules on Postgres, under a lock.
   */
  async send(input: SendOtpInput, caller: OtpCaller = {}) {
    const mobile = this.checkNumber(input.mobile_number);
    const testCode = this.config.otp.testNumbers.get(mobile);
    const code = testCode ?? newCode();
    const now = Date.now();
    const validity = this.config.otp.validitySec;
    // What the message will say, and whether it can be sent at all (a WhatsApp template, India's DLT, its
    // length), settled before any code is issued or any limit counted.
    const content = testCode ? null : await this.compose(input, code, Math.round(validity / 60));
    const message = (c: Content) => ({
      to: mobile,
      type: input.channel,
      body: c.body,
      // Never delivered after the code expired: the code's remaining lifetime.
      validity_seconds: validity,
    });
    if (content) await this.messages.check(message(content), content);
    const otp: StoredOtp = {
      otp_hash: hashCode(this.config.secrets.otp, mobile, code),
      mobile_number: mobile,
      created_at: new Date(now).toISOString(),
      created_ms: now,
      expires_at: new Date(now + validity * 1000).toISOString(),
      expires_ms: now + validity * 1000,
      channel: input.channel,
      user_id: input.user_id ?? null,
      message_id: testCode ? null : randomUUID(),
      row_id: randomUUID(),
    };
    const o = this.config.otp;
    const unlimited = !!testCode || !!caller.fallback;
    // The CAPTCHA last before anything is counted: a request refused for another reason spends no token.
    // (Test numbers send nothing; the WhatsApp fallback is the service's own send.)
    if (!unlimited) await this.captcha.check(input.captcha_token, caller.ip);
    const pumping = unlimited ? undefined : this.pumpingRules(mobile, now);
    const request: SendRequest = {
      pumping,
      otp,
      validitySec: validity,
      resend: input.resend === true,
      cooldownSec: caller.fallback ? 0 : o.resendCooldownSec,
      unlimited,
      replacing: caller.replacing,
      counters: [
        { key: RedisKeys.otpSendsPerNumber(mobile), ...o.sendsPerNumber },
        caller.ip
          ? { key: RedisKeys.rateLimit(OTP_IP_LIMIT, caller.ip), ...o.requestsPerIp }
          : { key: RedisKeys.rateLimit(OTP_IP_LIMIT, ''), limit: '', windowSeconds: 0 },
        caller.clientId
          ? {
              key: RedisKeys.rateLimit('otp_client', caller.clientId),
              limit: o.sendsPerClientPerMinute,
              windowSeconds: 60,
            }
          : { key: RedisKeys.rateLimit('otp_client', ''), limit: '', windowSeconds: 0 },
        {
          key: RedisKeys.otpHourlyBudget(otp.created_at.slice(0, 13)),
          limit: o.maxSendsPerHour,
          windowSeconds: 7200,
        },
      ],
    };

    let redisUp = true;
    try {
      let result = await this.repo.send(request).catch((err: unknown) => {
        this.keepCountryVerified(pumping);
        throw err;
      });
      if (result[0] === 'cold') {
        // Redis lost its data and the warm-up has not restored the lists yet: Postgres answers for them.
        const block = await this.blocks.inPostgres(mobile);
        if (block) throw blockedError(block);
        request.notBlocked = true;
        result = await this.repo.send(request);
      }
      const [first, , , live] = result;
      if ((first === 'active' || first === 'cooldown') && (await this.droppedOrphan(mobile, live)))
        result = await this.repo.send(request);
      if (result[0] === 'pumping')
        throw await this.pumpingRefusal(pumping!, result[1], { newBlock: result[4] === 1, index: true });
      this.refuseSend(result[0], result[1], result[2]);
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      redisUp = false;
      this.fallbacks.inc({ operation: 'send' });
    }
    if (!redisUp) {
      const block = await this.blocks.inPostgres(mobile);
      if (block) throw blockedError(block);
      // The per-IP and per-key limits hold per replica meanwhile (checked here, counted once a code is issued).
      const local = request.unlimited
        ? []
        : [
            { which: 'ip', action: OTP_IP_LIMIT, id: caller.ip, ...o.requestsPerIp },
            {
              which: 'client',
              action: 'otp_client',
              id: caller.clientId,
              limit: o.sendsPerClientPerMinute,
              windowSeconds: 60,
            },
          ].filter((c) => c.id);
      for (const c of local) {
        const [used, left] = this.limits.countLocally(c.action, c.id!, 0, c.windowSeconds);
        if (used >= c.limit) this.refuseSend('limited', left, c.which);
      }
      const r = await this.repo.sendInPostgres(otp, {
        resend: request.resend,
        cooldownSec: request.cooldownSec,
        unlimited: request.unlimited,
        perNumber: o.sendsPerNumber,
        perHour: o.maxSendsPerHour,
        replacing: caller.replacing,
        pumping,
      });
      if (r.outcome === 'pumping')
        throw await this.pumpingRefusal(pumping!, r.seconds * 1000, { newBlock: false, index: false });
      if (r.outcome === 'prefix') this.refuseSend('limited', r.seconds * 1000, 'prefix');
      if (r.outcome !== 'ok')
        this.refuseSend(
          r.outcome === 'budget' ? 'limited' : r.outcome,
          // (refuseSend reads seconds for active and cooldown, milliseconds for limits)
          r.outcome === 'active' || r.outcome === 'cooldown' ? r.seconds : r.seconds * 1000,
          r.outcome === 'budget' ? 'budget' : 'number',
        );
      for (const c of local) this.limits.countLocally(c.action, c.id!, 1, c.windowSeconds);
    } else {
      try {
        await this.repo.insertRow(otp);
      } catch (err) {
        // The code cannot be backed up: take it back, with what it counted, and answer 503.
        await this.repo.undoSend(request).catch(() => undefined);
        throw err;
      }
    }
    if (!testCode) {
      // Queued like any message; the request never waits on a provider, and the body is redacted once sent.
      await this.messages.accept(
        OTP_CLIENT_ID,
        {
          ...message(content!),
          validity_seconds: Math.max(1, Math.floor((Date.parse(otp.expires_at) - Date.now()) / 1000)),
        },
        { sensitive: true, id: otp.message_id!, content: content! },
      );
    }
    this.sends.inc({ channel: input.channel, store: redisUp ? 'redis' : 'postgres' });
    return { expires_in_seconds: validity, expires_at: otp.expires_at, message_id: otp.message_id };
  }

  /**
   * Whether the live code that refused a send was an orphan, now dropped: a code whose message was still not
   * recorded ORPHAN_GRACE_MS after it was issued (its send crashed in between), which nobody will receive.
   */
  private async droppedOrphan(mobile: string, live: string | null): Promise<boolean> {
    if (!live) return false;
    const code = JSON.parse(live) as StoredOtp;
    if (!code.message_id || Date.now() - code.created_ms < ORPHAN_GRACE_MS) return false;
    if (await this.repo.messageExists(code.message_id)) return false;
    this.logger.warn(`dropping a code to ${maskPhone(mobile)} whose message was never recorded`);
    return this.repo.dropOrphan(mobile, code.row_id);
  }

  /** The SMS-pumping rules of a send to this number (docs/otp.md). */
  private pumpingRules(mobile: string, now: number): PumpingRules {
    const p = this.config.otp.pumping;
    const country = phoneRegion(mobile);
    return {
      prefix: mobile.slice(0, -p.prefixDigits),
      digits: p.prefixDigits,
      country,
      prefixCap: p.prefixSendsPerHour ?? '',
      countryCap: p.countrySendsPerHour.get(country) ?? '',
      minSends: p.minRatio > 0 ? p.minSends : '',
      minRatio: p.minRatio,
      ...hoursAt(now),
      countryVerified: this.takeCountryVerified(country),
    };
  }

  private takeCountryVerified(country: string): number {
    const n = this.countryVerified.get(country) ?? 0;
    this.countryVerified.delete(country);
    return n;
  }

  /** A send that failed before its country step ran keeps the verified counts it was to carry. */
  private keepCountryVerified(p: PumpingRules | undefined): void {
    if (p?.countryVerified) this.countVerified(p.country, p.countryVerified);
  }

  private countVerified(country: string, n = 1): void {
    this.countryVerified.set(country, (this.countryVerified.get(country) ?? 0) + n);
  }

  /**
   * The answer to a send whose prefix is blocked as suspected SMS pumping: counted, logged and listed for admins
   * the first time (GET /admin/otp/pumping), with Retry-After until the prefix's sends age out of the hour.
   */
  /**
   * `newBlock`: this send began the block (logged once). `index`: Redis answered, so the prefix is listed for
   * admins (on every refusal, not only the first: the send that began the block may have been retried, e.g. after
   * a cold bucket, and then reads the block as not new).
   */
  private async pumpingRefusal(
    p: PumpingRules,
    ms: number,
    { newBlock, index }: { newBlock: boolean; index: boolean },
  ): Promise<AppException> {
    this.pumpingBlocked.inc({ country: p.country });
    if (newBlock)
      this.logger.warn(
        `OTP sends to ${p.prefix}${'x'.repeat(p.digits)} (${p.country}) blocked: few codes sent there are verified (suspected SMS pumping)`,
      );
    if (index) {
      await this.repo
        .indexPumpingBlock(p.prefix)
        .catch((err: Error) =>
          this.logger.warn(`blocked prefix ${p.prefix} not listed for admins: ${err.message}`),
        );
    }
    const seconds = Math.max(1, Math.ceil(ms / 1000));
    return new AppException(
      429,
      'PUMPING_SUSPECTED',
      `Codes to this number range are paused: too few of those sent were verified; retry in ${seconds} s`,
      { retry_after_seconds: seconds },
      seconds,
    );
  }

  /** Throws the answer for a send the rules refused (`n`: seconds for active/cooldown, ms for limited). */
  private refuseSend(outcome: string, n: number, which: string | null): void {
    if (outcome === 'ok') return;
    throw this.refusal(outcome, n, which);
  }

  private refusal(outcome: string, n: number, which: string | null): AppException {
    switch (outcome) {
      case 'blacklisted':
      case 'opted_out':
        return blockedError(outcome);
      case 'active':
        return new AppException(
          409,
          'OTP_ACTIVE',
          `A code is still active for ${n} s`,
          { retry_after_seconds: n },
          n,
        );
      case 'replaced':
        return new AppException(409, 'OTP_REPLACED', 'The code to replace was replaced meanwhile');
      case 'cooldown':
        return new AppException(
          409,
          'RESEND_COOLDOWN',
          `A new code can be sent in ${n} s`,
          { retry_after_seconds: n },
          n,
        );
      default:
        if (which === 'budget') {
          this.budgetExceeded.inc();
          this.logger.warn('the hourly OTP send budget is exhausted: refusing sends (possible SMS pumping)');
          return new AppException(
            429,
            'OTP_BUDGET_EXHAUSTED',
            'The service is not sending codes right now; retry later',
            {},
            300,
          );
        }
        return this.limits.rejection(
          which === 'number'
            ? 'otp_send'
            : which === 'ip'
              ? OTP_IP_LIMIT
              : which === 'prefix' || which === 'country'
                ? `otp_${which}`
                : 'otp_client',
          n,
        );
    }
  }

  /**
   * Verify. Redis checks and consumes in one step (its counters: the number's failures, the end-user IP); then
   * Postgres, where every code has its row, decides: the used-mark succeeds once across both stores, and every
   * wrong code is counted there too, so the five-try lock adds up across stores and survives a Redis restart.
   * When Redis is unreachable, or has no code (one sent during an outage), Postgres answers alone.
   */
  async verify(mobile: string, otp: string, caller: OtpCaller = {}) {
    const candidate = hashCode(this.config.secrets.otp, mobile, otp);
    const ipRule = this.config.otp.requestsPerIp;
    let result: VerifyResult;
    try {
      // Failures this replica counted in Postgres while Redis was away reach Redis before Redis judges again.
      if (this.unsynced.has(mobile)) await this.syncAfterOutage(mobile);
      // The end-user IP's counter first (its own slot): past its limit the code is not even looked at.
      if (caller.ip) {
        const [used, left] = await this.repo.countVerifyIp(caller.ip, ipRule.windowSeconds);
        caller.setHeaders?.(RateLimiters.headers(ipRule.limit, used, left));
        if (used > ipRule.limit) throw this.limits.rejection(OTP_IP_LIMIT, left);
      }
      result = await this.repo.verify(mobile, candidate, MAX_ATTEMPTS, false, this.countsInBlock(mobile));
      if (result[0] === 'cold') {
        // As in send: the blacklist is not in Redis again yet, so Postgres answers for it. (An opt-out stops
        // new codes, not the check of one sent before.)
        if ((await this.blocks.inPostgres(mobile)) === 'blacklisted') throw blockedError('blacklisted');
        result = await this.repo.verify(mobile, candidate, MAX_ATTEMPTS, true, this.countsInBlock(mobile));
      }
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      this.fallbacks.inc({ operation: 'verify' });
      if (caller.ip) {
        // The end user's limit holds per replica meanwhile.
        const [used, left] = this.limits.countLocally(OTP_IP_LIMIT, caller.ip, 1, ipRule.windowSeconds);
        caller.setHeaders?.(RateLimiters.headers(ipRule.limit, used, left));
        if (used > ipRule.limit) throw this.limits.rejection(OTP_IP_LIMIT, left);
      }
      return this.verifyInPostgres(mobile, candidate, false);
    }
    const [outcome, n, raw] = result;
    if (outcome === 'blacklisted') throw this.refusal('blacklisted', 0, null);
    if (outcome === 'locked') throw this.locked(n);
    if (outcome === 'miss') return this.verifyInPostgres(mobile, candidate, true);
    if (outcome === 'wrong') {
      // Counted once more in Postgres, if the code Redis judged is still the live one; Redis catches up when
      // Postgres counted failures it did not see.
      const f = await this.repo.recordFailure(mobile, undefined, raw);
      if (!f) {
        // Postgres replaced or used that code while Redis was away: Redis judged a stale code. Take its count
        // back and let Postgres, which has the live code, decide.
        await this.repo.dropStaleCode(mobile, raw!);
        return this.verifyInPostgres(mobile, candidate, true);
      }
      if (f.failures > n) await this.syncAttempts(mobile, f);
      if (Math.max(n, f.failures) > MAX_ATTEMPTS) throw this.locked(f.ttl);
      return this.failure('wrong', Math.max(n, f.failures));
    }
    if (outcome !== 'ok') return this.failure(outcome, n);
    const stored = JSON.parse(raw!) as StoredOtp;
    if (!(await this.repo.markConsumed(stored.row_id, MAX_ATTEMPTS))) {
      // Used through Postgres already, replaced, or the number is locked there.
      const f = await this.repo.failures(mobile);
      if (f && f.failures >= MAX_ATTEMPTS) throw this.locked(f.ttl);
      return this.failure('none', f?.failures ?? 0);
    }
    return this.approve(mobile, stored.user_id, this.countsInBlock(mobile));
  }

  /** Whether the verify script counts a success for the number's prefix (its block: OTP_PREFIX_DIGITS=3). */
  private countsInBlock(mobile: string): boolean {
    return this.config.otp.pumping.prefixDigits === BLOCK_DIGITS && !this.config.otp.testNumbers.has(mobile);
  }

  /** The blocked prefixes after `cursor` (GET /admin/otp/pumping). */
  async pumpingBlocks(cursor: string | undefined, limit: number) {
    const page = await this.repo.pumpingBlocks(
      cursor ?? '',
      limit,
      this.config.otp.pumping.prefixDigits,
      Date.now(),
    );
    return { items: page.items, next_cursor: page.full ? page.last : null };
  }

  /** Releases a blocked prefix: it is judged again after OTP_PUMPING_MIN_SENDS new sends. */
  async clearPumpingBlock(prefix: string): Promise<void> {
    const cleared = await this.repo.clearPumpingBlock(
      prefix,
      this.config.otp.pumping.prefixDigits,
      Date.now(),
    );
    if (!cleared) throw new AppException(404, 'NOT_BLOCKED', 'This prefix is not blocked');
    this.logger.log(
      `OTP sends to ${prefix}${'x'.repeat(this.config.otp.pumping.prefixDigits)} released by an admin`,
    );
  }

  async remaining(mobile: string) {
    const active = await this.repo.active(mobile);
    const left = active ? Math.ceil((active.expires_ms - Date.now()) / 1000) : 0;
    if (left <= 0) throw new AppException(404, 'NO_ACTIVE_OTP', 'No code is active for this number');
    return { remaining_seconds: left };
  }

  async status(mobile: string) {
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

  /** The number (E.164), when codes may go to it: a country and a number type the configuration allows. */
  private checkNumber(mobile: string): string {
    const { allowedCallingCodes, allowedNumberTypes, testNumbers } = this.config.otp;
    if (testNumbers.has(mobile)) return mobile;
    const { callingCode, type } = phoneType(mobile);
    if (allowedCallingCodes.length && !allowedCallingCodes.includes(callingCode)) {
      throw new AppException(403, 'COUNTRY_NOT_ALLOWED', `Codes are not sent to +${callingCode} numbers`);
    }
    if (!allowedNumberTypes.includes(type)) {
      throw new AppException(
        400,
        'NUMBER_TYPE_NOT_ALLOWED',
        `Codes are not sent to ${type.replace(/_/g, '-')} numbers (allowed: ${allowedNumberTypes.join(', ')})`,
      );
    }
    return mobile;
  }

  private async verifyInPostgres(mobile: string, candidate: string, redisUp: boolean) {
    if (!redisUp && (await this.blocks.inPostgres(mobile)) === 'blacklisted')
      throw blockedError('blacklisted');
    const r = await this.repo.verifyInPostgres(mobile, candidate, MAX_ATTEMPTS);
    if (r.outcome === 'ok') return this.approve(mobile, r.userId);
    if (r.outcome === 'locked') throw this.locked(r.ttl);
    if (r.outcome === 'wrong') {
      if (redisUp) await this.syncAttempts(mobile, { failures: r.failures, ttl: 3600 });
      else this.unsynced.add(mobile);
    }
    return this.failure(r.outcome, r.failures);
  }

  /**
   * Numbers whose failures this replica counted in Postgres while Redis was unreachable: Redis's own count of
   * them is behind, so it is raised from Postgres when Redis is back (at once on reconnect, and before any
   * later verify of one of them), lest Redis admit more guesses than the five.
   */
  private readonly unsynced = new Set<string>();

  private async syncAfterOutage(mobile: string): Promise<void> {
    const f = await this.repo.failures(mobile);
    if (f) await this.repo.syncAttempts(mobile, f, MAX_ATTEMPTS);
    this.unsynced.delete(mobile);
  }

  private syncAllAfterOutage(): void {
    for (const mobile of [...this.unsynced])
      void this.syncAfterOutage(mobile).catch((err: Error) =>
        this.logger.warn(`failures of ${maskPhone(mobile)} not yet back in Redis: ${err.message}`),
      );
  }

  private async syncAttempts(mobile: string, f: Failures): Promise<void> {
    await this.repo.syncAttempts(mobile, f, MAX_ATTEMPTS).catch((err: unknown) => {
      if (!isRedisUnavailable(err)) throw err;
    });
  }

  /**
   * A verified code counts for the SMS-pumping ratio of its prefix and its country: the prefix's in the verify
   * script when it is the number's block (`countedForPrefix`), else here without waiting; the country's with
   * this replica's next send there.
   */
  private countForPumping(mobile: string, countedForPrefix: boolean): void {
    if (this.config.otp.testNumbers.has(mobile)) return;
    const p = this.config.otp.pumping;
    this.countVerified(phoneRegion(mobile));
    if (!countedForPrefix)
      void this.repo
        .countPrefixVerified(mobile.slice(0, -p.prefixDigits), p.prefixDigits, Date.now())
        .catch(() => undefined);
  }

  private async approve(mobile: string, userId: string | null, countedForPrefix = false) {
    this.countForPumping(mobile, countedForPrefix);
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
