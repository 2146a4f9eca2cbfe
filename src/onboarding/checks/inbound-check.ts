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
}

export type RejectReason =
  | 'blacklisted'
  | 'abuse_threshold_exceeded'
  | 'malformed_message'
  | 'unknown_header'
  | 'hash_expired'
  | 'hash_mismatch'
  | 'already_onboarded';

export interface InboundCheck {
  readonly name: string;
  check(ctx: InboundContext): RejectReason | null;
}
