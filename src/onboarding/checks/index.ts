import { abuseCheck } from './abuse.check';
import { blacklistCheck } from './blacklist.check';
import { hashCheck } from './hash.check';
import { headerCheck } from './header.check';
import type { InboundCheck, InboundContext, RejectReason } from './inbound-check';
import { onboardedCheck } from './onboarded.check';
import { tokenHeaderCheck } from './token-header.check';
import { tokenCheck } from './token.check';

export type { BoundToken, InboundCheck, InboundContext, RejectReason } from './inbound-check';

/** The fixed order of SPEC: blacklist → abuse counter → header → hash → not already onboarded. */
export const INBOUND_CHECKS: readonly InboundCheck[] = [
  blacklistCheck,
  abuseCheck,
  headerCheck,
  hashCheck,
  onboardedCheck,
];

/**
 * Device binding (an SMS that carries a token): blacklist → abuse counter → header (optional) → token. No
 * already-onboarded check: binding a new device to an onboarded number (a new phone) is what the flow is for.
 */
export const TOKEN_CHECKS: readonly InboundCheck[] = [
  blacklistCheck,
  abuseCheck,
  tokenHeaderCheck,
  tokenCheck,
];

/** Runs the checks in order and stops at the first rejection. */
export function runInboundChecks(
  ctx: InboundContext,
  checks: readonly InboundCheck[] = INBOUND_CHECKS,
): RejectReason | null {
  for (const c of checks) {
    const reason = c.check(ctx);
    if (reason) return reason;
  }
  return null;
}
