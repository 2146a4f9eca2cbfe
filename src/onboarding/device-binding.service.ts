// Device binding, the app-sent mode of reverse SMS: the app asks for a long token bound to its device and the
// person's number, then sends it by SMS from that number to ONBOARDING_VMN. The inbound side runs in the shared
// pipeline (InboundSmsService); this service owns the token's life and the device's keys.
import { Injectable, Logger } from '@nestjs/common';
import { AppException } from '../common/app.exception';
import { AppConfig } from '../config/app-config';
import { numberBucket } from '../redis/redis-keys';
import { AuditEvent, auditEvent } from './audit-event';
import { canonicalToken, deviceDigest, generateToken, tokenBucket, tokenDigest } from './bind-token';
import { parseTokenMessage } from './checks/message';
import { DeviceBindingRepository, TokenId } from './device-binding.repository';
import { OnboardingMetrics } from './onboarding.metrics';
import { OnboardingRepository } from './onboarding.repository';

/** A device's window for ONBOARDING_DEVICE_TOKENS_PER_DAY, from its first token. */
const DAY_SECONDS = 86400;
/** How long a flagged device (one of its tokens came from a number it was not bound to) is refused tokens. */
export const DEVICE_FLAG_SECONDS = 86400;
/** How long a device is reported verified after one of its tokens completed onboarding. */
export const DEVICE_VERIFIED_SECONDS = 30 * 86400;

export type DeviceStatus = 'verified' | 'pending' | 'blocked' | 'unknown';

/** The token an inbound SMS carries, as Redis knows it (never the token itself past this point). */
export interface PresentedToken extends TokenId {
  /** The token's bucket is the sender's: it is read and consumed in the sender's slot. */
  sameSlot: boolean;
}

@Injectable()
export class DeviceBindingService {
  private readonly logger = new Logger('DeviceBinding');

  constructor(
    private readonly config: AppConfig,
    private readonly repo: DeviceBindingRepository,
    private readonly onboarding: OnboardingRepository,
    private readonly metrics: OnboardingMetrics,
  ) {}

  /** POST /onboard/bind: a token for this device and number, within the device's daily allowance. */
  async bind(mobile: string, deviceId: string): Promise<{ token: string; vmn: string; expires_in: number }> {
    const { vmn, tokensPerDay, tokenTtlSec } = this.config.binding;
    if (!vmn) {
      throw new AppException(
        503,
        'BINDING_NOT_CONFIGURED',
        'Device binding is not configured on this service (ONBOARDING_VMN)',
      );
    }
    const device = this.device(deviceId);
    const bucket = numberBucket(mobile);
    const token = generateToken(bucket);
    const id = { bucket, digest: tokenDigest(token) };
    const reservation = await this.repo.reserve(device, id, tokensPerDay, DAY_SECONDS, tokenTtlSec);
    if (reservation.outcome !== 'ok') {
      this.metrics.bind.inc({ outcome: reservation.outcome });
      await this.onboarding.pushAudit(
        auditEvent('bind', mobile, 'refused', { reason: reservation.outcome, details: { device } }),
      );
      const retryAfter = Math.max(1, Math.ceil(reservation.retryAfterMs / 1000));
      if (reservation.outcome === 'flagged') {
        throw new AppException(
          403,
          'DEVICE_BLOCKED',
          'This device is blocked: one of its tokens was sent from a number it was not bound to',
          {},
          retryAfter,
        );
      }
      throw new AppException(
        429,
        'DEVICE_LIMIT',
        `This device has had its ${tokensPerDay} tokens for these 24 hours`,
        {},
        retryAfter,
      );
    }
    await this.repo.storeToken(
      id,
      mobile,
      device,
      tokenTtlSec,
      auditEvent('bind', mobile, 'issued', { details: { device } }),
    );
    this.metrics.bind.inc({ outcome: 'issued' });
    return { token, vmn, expires_in: tokenTtlSec };
  }

  /** GET /onboard/bind/{device_id}: blocked (flagged, or past its daily allowance) > pending > verified > unknown. */
  async status(deviceId: string): Promise<{ status: DeviceStatus }> {
    const s = await this.repo.snapshot(this.device(deviceId));
    if (s.flagged || s.tokens > this.config.binding.tokensPerDay) return { status: 'blocked' };
    if (s.pending) return { status: 'pending' };
    return { status: s.verified ? 'verified' : 'unknown' };
  }

  /**
   * The token an inbound SMS carries, or null when it carries none (the typed-hash flow's SMS). A word of a
   * token's shape with a character no token has is a token never issued: it reads as gone.
   */
  presented(message: string, sender: string): PresentedToken | null {
    const parsed = parseTokenMessage(message);
    if (!parsed) return null;
    const token = canonicalToken(parsed.token);
    // Never issued: a digest of the raw word finds nothing, in the sender's own bucket.
    const id = token
      ? { bucket: tokenBucket(token), digest: tokenDigest(token) }
      : { bucket: numberBucket(sender), digest: tokenDigest(parsed.token) };
    return { ...id, sameSlot: id.bucket === numberBucket(sender) };
  }

  /** A token outside the sender's bucket, read in its own slot (alongside the sender's snapshot). */
  readToken(id: TokenId) {
    return this.repo.readToken(id);
  }

  /**
   * Consumes the token and onboards the number, in one step in the number's slot. Returns null when verified,
   * else the rejection a concurrent delivery caused (it consumed or burned the token first).
   */
  async consume(
    id: TokenId,
    mobile: string,
    verified: AuditEvent,
  ): Promise<'token_used' | 'token_burned' | 'token_expired' | 'token_sender_mismatch' | null> {
    const outcome = await this.repo.consume(id, mobile, verified);
    if (outcome === 'verified') return null;
    return outcome === 'burned'
      ? 'token_burned'
      : outcome === 'expired'
        ? 'token_expired'
        : outcome === 'mismatch'
          ? 'token_sender_mismatch'
          : 'token_used';
  }

  /**
   * After consume: the device is verified. Never throws: the number is onboarded whatever happens here, so a
   * failure leaves the device pending until the token's expiry and must not make the gateway deliver the SMS
   * again (the retry would find the token used).
   */
  async markVerified(id: TokenId, device: string, at: string): Promise<void> {
    await this.repo
      .markVerified(device, id, at, DEVICE_VERIFIED_SECONDS)
      .catch((err: Error) =>
        this.logger.warn(`device ${device.slice(0, 8)} not marked verified: ${err.message}`),
      );
  }

  /**
   * A token from a number it is not bound to: burned, its device flagged and the device's other live tokens
   * burned too. Idempotent, so a delivery retried after a failure here does it again safely.
   */
  async burnAndFlag(id: TokenId, device: string): Promise<void> {
    const [, others] = await Promise.all([this.repo.burn(id), this.repo.flag(device, DEVICE_FLAG_SECONDS)]);
    await Promise.all(others.map((t) => this.repo.burn(t)));
    this.metrics.devicesFlagged.inc();
  }

  private device(deviceId: string): string {
    return deviceDigest(this.config.secrets.onboarding, deviceId);
  }
}
