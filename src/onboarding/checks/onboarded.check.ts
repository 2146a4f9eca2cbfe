import type { InboundCheck } from './inbound-check';

/** A number is onboarded once. */
export const onboardedCheck: InboundCheck = {
  name: 'onboarded',
  check: (ctx) => (ctx.onboarded ? 'already_onboarded' : null),
};
