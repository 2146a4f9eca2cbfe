import type { InboundCheck } from './inbound-check';

/** Numbers on the blacklist are refused before anything else. */
export const blacklistCheck: InboundCheck = {
  name: 'blacklist',
  check: (ctx) => (ctx.blacklisted ? 'blacklisted' : null),
};
