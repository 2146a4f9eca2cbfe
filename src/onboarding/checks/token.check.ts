import type { InboundCheck } from './inbound-check';

/**
 * Device binding: the token was issued, has not expired, is bound to the sender, and is unused. A token from a
 * number it is not bound to is a mismatch whatever its state (the caller burns it and flags its device).
 */
export const tokenCheck: InboundCheck = {
  name: 'token',
  check: (ctx) => {
    const token = ctx.token;
    if (!token) return 'token_expired';
    if (token.mobile !== ctx.mobile) return 'token_sender_mismatch';
    if (token.state === 'used') return 'token_used';
    if (token.state === 'burned') return 'token_burned';
    return null;
  },
};
