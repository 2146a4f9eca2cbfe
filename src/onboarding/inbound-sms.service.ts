import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { MobileOriginated, SMS_RECEIVED } from '../messages/providers/smpp.provider';
import { AppException } from '../common/app.exception';
import { AppConfig } from '../config/app-config';
import { maskPhone } from '../common/mask';
import { AuditEvent, auditEvent } from './audit-event';
import { RejectReason, runInboundChecks, TOKEN_CHECKS } from './checks';
import { tokenKey } from './device-binding.repository';
import { DeviceBindingService, PresentedToken } from './device-binding.service';
import { OnboardingMetrics } from './onboarding.metrics';
import { InboundSnapshot, OnboardingRepository } from './onboarding.repository';
import { SettingsService } from './settings.service';
import { WarmupService } from './warmup.service';
import { Keyword, keywordOf } from '../suppression/keywords';
import { SuppressionList } from '../suppression/suppression-list';

export interface InboundSms {
  /** E.164 (read at the door). */
  mobile_number: string;
  message: string;
  sms_id?: string;
  received_at?: string;
  /** Which door it came through: the gateway endpoint, Twilio's webhook, or an SMPP bind. */
  source?: 'gateway' | 'twilio' | 'smpp';
}

export type InboundAnswer =
  | { status: 'verified' }
  | { status: 'rejected'; reason: RejectReason }
  /** An opt-out keyword (STOP, START, HELP…): handled before onboarding, which never sees it. */
  | { status: KeywordStatus };

export type KeywordStatus = 'opted_out' | 'opted_in' | 'help';
const KEYWORD_STATUS: Record<Keyword, KeywordStatus> = {
  opt_out: 'opted_out',
  opt_in: 'opted_in',
  help: 'help',
};

/** Whether the SMS was an opt-out keyword (handled before onboarding). */
export const isKeywordAnswer = (a: InboundAnswer): a is { status: KeywordStatus } =>
  Object.values(KEYWORD_STATUS).includes(a.status as KeywordStatus);

/** How long a repeated sms_id waits for the first delivery's answer before being told to retry. */
const DUPLICATE_WAIT_MS = 3000;

/**
 * The inbound-SMS pipeline shared by POST /onboard/sms and Twilio's inbound webhook. Opt-out keywords first
 * (STOP suppresses the number, START lifts it, HELP only answers): such an SMS goes no further. Then one Redis round trip
 * reads everything the checks need (and counts the SMS), the checks run in SPEC's order, and the outcome is
 * written (onboarded set, hash consumed, out_sms) and audited. The same sms_id is processed once. An SMS that
 * carries a device-binding token instead of a typed hash takes the token flow's checks (processToken).
 */
@Injectable()
export class InboundSmsService {
  private readonly logger = new Logger('InboundSms');

  constructor(
    private readonly repo: OnboardingRepository,
    private readonly settings: SettingsService,
    private readonly metrics: OnboardingMetrics,
    private readonly warmup: WarmupService,
    private readonly suppressions: SuppressionList,
    private readonly config: AppConfig,
    private readonly binding: DeviceBindingService,
  ) {}

  async handle(sms: InboundSms): Promise<InboundAnswer> {
    const mobile = sms.mobile_number; // E.164 (read at the door: the DTO, or the Twilio webhook)
    if (sms.sms_id && !(await this.repo.claimSms(sms.sms_id))) return this.answerOfDuplicate(sms.sms_id);
    try {
      const answer = await this.process(mobile, sms);
      if (sms.sms_id) await this.repo.storeSmsAnswer(sms.sms_id, answer);
      return answer;
    } catch (err) {
      // Not processed: let the gateway's retry process it.
      if (sms.sms_id) await this.repo.releaseSms(sms.sms_id).catch(() => undefined);
      throw err;
    }
  }

  private async process(mobile: string, sms: InboundSms): Promise<InboundAnswer> {
    const keyword = keywordOf(sms.message);
    if (keyword) return this.keyword(mobile, keyword, sms);
    const token = this.binding.presented(sms.message, mobile);
    if (token) return this.processToken(mobile, sms, token);
    const settings = this.settings.current;
    const snapshot = await this.snapshot(mobile);
    const reason = runInboundChecks({ mobile, message: sms.message, settings, ...snapshot });
    const details = { ...this.details(sms), flow: 'hash' };

    if (reason) return this.reject(mobile, reason, details);

    const event = auditEvent('inbound_sms', mobile, 'verified', { details });
    await this.repo.completeOnboarding(mobile, event);
    return this.verified(mobile, sms, event);
  }

  /**
   * Device binding: the SMS carries a token (DeviceBindingService). The token is read in the sender's snapshot
   * when it is in the sender's bucket, else beside it in its own; it is consumed (or found taken by a concurrent
   * delivery) in one step, and burned with its device flagged when it came from a number it is not bound to.
   */
  private async processToken(mobile: string, sms: InboundSms, token: PresentedToken): Promise<InboundAnswer> {
    const [snapshot, elsewhere] = await Promise.all([
      this.snapshot(mobile, token.sameSlot ? tokenKey(token) : undefined),
      token.sameSlot ? undefined : this.binding.readToken(token),
    ]);
    const bound = (token.sameSlot ? snapshot.token : elsewhere) ?? null;
    const ctx = { mobile, message: sms.message, settings: this.settings.current, ...snapshot, token: bound };
    // The device's digest, never the token: the token is the proof, and the audit trail outlives it.
    const details = { ...this.details(sms), flow: 'token', device: bound?.device ?? null };
    let reason = runInboundChecks(ctx, TOKEN_CHECKS);
    if (!reason) {
      const event = auditEvent('inbound_sms', mobile, 'verified', { details });
      reason = await this.binding.consume(token, mobile, event);
      if (!reason) {
        // The device's slot and Postgres at once.
        const [answer] = await Promise.all([
          this.verified(mobile, sms, event),
          this.binding.markVerified(token, bound!.device, event.created_at),
        ]);
        return answer;
      }
    }
    const [answer] = await Promise.all([
      this.reject(mobile, reason, details),
      reason === 'token_sender_mismatch' && this.binding.burnAndFlag(token, bound!.device),
    ]);
    return answer;
  }

  /**
   * One round trip: what the checks read (and the SMS counted); when Redis lost the number's flags and the
   * warm-up has not restored them yet, Postgres says.
   */
  private async snapshot(mobile: string, tokenKey?: string): Promise<InboundSnapshot> {
    const snapshot = await this.repo.inboundSnapshot(mobile, tokenKey);
    if (!snapshot.warm) {
      // Redis lost the number's flags and the warm-up has not restored them yet: Postgres says.
      void this.warmup.ensureWarm().catch(() => undefined);
      const pg = await this.repo.postgresStatus(mobile);
      snapshot.onboarded ||= pg.onboarded;
      snapshot.blacklisted ||= pg.blacklisted;
    }
    if (snapshot.inboundCount > this.settings.current.abuse_threshold)
      await this.repo.markAbuseCandidate(mobile);
    return snapshot;
  }

  private details(sms: InboundSms) {
    return {
      sms_id: sms.sms_id ?? null,
      source: sms.source ?? 'gateway',
      received_at: sms.received_at ?? null,
    };
  }

  private async reject(
    mobile: string,
    reason: RejectReason,
    details: Record<string, unknown>,
  ): Promise<InboundAnswer> {
    await this.repo.pushAudit(auditEvent('inbound_sms', mobile, 'rejected', { reason, details }));
    this.metrics.inbound.inc({ outcome: 'rejected', reason });
    return { status: 'rejected', reason };
  }

  /** The number is onboarded in Redis: its durable record, now or from the audit event later. */
  private async verified(mobile: string, sms: InboundSms, event: AuditEvent): Promise<InboundAnswer> {
    // Durable record now; if Postgres is unreachable the monitor-logger writes it from the audit event.
    await this.repo.insertOutSms(mobile, sms.sms_id ?? null, event.created_at).catch((err: Error) => {
      this.logger.warn(
        `out_sms write for ${maskPhone(mobile)} deferred to the monitor-logger: ${err.message}`,
      );
    });
    this.metrics.inbound.inc({ outcome: 'verified', reason: 'none' });
    return { status: 'verified' };
  }

  /** What to text back for an opt-out keyword's answer (OPT_OUT_REPLY, OPT_IN_REPLY, HELP_REPLY); null: nothing. */
  keywordReply(answer: InboundAnswer): string | null {
    const keyword = (Object.keys(KEYWORD_STATUS) as Keyword[]).find(
      (k) => KEYWORD_STATUS[k] === answer.status,
    );
    return (keyword && this.config.keywordReplies[keyword]) || null;
  }

  /**
   * A mobile-originated SMS from an SMPP bind (SmppProvider, whose readMobileOriginated read the sender into
   * E.164): handled like the other doors' SMS; the keyword's reply, if any, goes back on the bind.
   */
  @OnEvent(SMS_RECEIVED, { promisify: true, suppressErrors: false })
  async smppInbound(mo: MobileOriginated): Promise<string | null> {
    return this.keywordReply(await this.handle({ mobile_number: mo.from, message: mo.text, source: 'smpp' }));
  }

  private async keyword(mobile: string, keyword: Keyword, sms: InboundSms): Promise<InboundAnswer> {
    if (keyword === 'opt_out') await this.suppressions.add(mobile, 'keyword');
    else if (keyword === 'opt_in') await this.suppressions.remove(mobile, 'keyword');
    else
      await this.repo.pushAudit(
        auditEvent('inbound_sms', mobile, 'help', {
          details: { sms_id: sms.sms_id ?? null, source: sms.source ?? 'gateway' },
        }),
      );
    this.metrics.inbound.inc({ outcome: 'keyword', reason: keyword });
    return { status: KEYWORD_STATUS[keyword] };
  }

  private async answerOfDuplicate(smsId: string): Promise<InboundAnswer> {
    const until = Date.now() + DUPLICATE_WAIT_MS;
    for (;;) {
      const stored = await this.repo.smsAnswer(smsId);
      if (stored) return JSON.parse(stored) as InboundAnswer;
      // Released (the first delivery failed) or still running after the wait: the caller retries, and the
      // retry is processed normally once the claim is free.
      if (stored === null || Date.now() > until) {
        throw new AppException(
          409,
          'SMS_IN_PROGRESS',
          'This sms_id is being processed; retry shortly',
          {},
          1,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
