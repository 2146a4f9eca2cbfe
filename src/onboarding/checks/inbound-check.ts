// One check of the inbound-SMS pipeline: a pure function of what the pipeline read, returning a reason
// code to reject, or null to pass.
import type { OnboardingSettings } from '../settings.service';

export interface InboundContext {
  mobile: string;
  message: string;
  blacklisted: boolean;
  inboundCount: number;
  storedHash: string | null;
  onboarded: boolean;
  settings: OnboardingSettings;
  /** The device-binding flow only: the token the SMS carries, as Redis holds it (null: gone or never issued). */
  token?: BoundToken | null;
}

/** A device-binding token as stored: the number and device it is bound to, and whether it is still usable. */
export interface BoundToken {
  mobile: string;
  /** The keyed digest of the device id. */
  device: string;
  state: 'live' | 'used' | 'burned';
}

export type RejectReason =
  | 'blacklisted'
  | 'abuse_threshold_exceeded'
  | 'malformed_message'
  | 'unknown_header'
  | 'hash_expired'
  | 'hash_mismatch'
  | 'already_onboarded'
  | 'token_expired'
  | 'token_sender_mismatch'
  | 'token_used'
  | 'token_burned';

export interface InboundCheck {
  readonly name: string;
  check(ctx: InboundContext): RejectReason | null;
}
