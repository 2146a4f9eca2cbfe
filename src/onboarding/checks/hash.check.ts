import { timingSafeEqual } from 'node:crypto';
import { canonicalHash } from '../hash';
import type { InboundCheck } from './inbound-check';
import { parseMessage } from './message';

/** The hash matches the one issued to this number and has not expired (its key lives 24 h). */
export const hashCheck: InboundCheck = {
  name: 'hash',
  check: (ctx) => {
    if (ctx.storedHash === null) return 'hash_expired';
    const typed = Buffer.from(canonicalHash(parseMessage(ctx.message)?.hash ?? ''));
    const issued = Buffer.from(ctx.storedHash);
    // Constant-time when the lengths match; a length mismatch reveals only the length, which is public.
    return typed.length === issued.length && timingSafeEqual(typed, issued) ? null : 'hash_mismatch';
  },
};
