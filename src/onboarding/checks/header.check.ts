import type { InboundCheck } from './inbound-check';
import { parseMessage } from './message';

/** The text is `<HEADER> <hash>` and HEADER is one of permitted_headers (case-insensitive). */
export const headerCheck: InboundCheck = {
  name: 'header',
  check: (ctx) => {
    const parsed = parseMessage(ctx.message);
    if (!parsed) return 'malformed_message';
    const header = parsed.header.toUpperCase();
    return ctx.settings.permitted_headers.some((h) => h.toUpperCase() === header) ? null : 'unknown_header';
  },
};
