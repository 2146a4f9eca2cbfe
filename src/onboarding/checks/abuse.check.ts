import type { InboundCheck } from './inbound-check';

/** More inbound SMS in 24 h than the abuse threshold: refused now, blacklisted by the detector's next tick. */
export const abuseCheck: InboundCheck = {
  name: 'abuse',
  check: (ctx) => (ctx.inboundCount > ctx.settings.abuse_threshold ? 'abuse_threshold_exceeded' : null),
};
