import type { InboundCheck } from './inbound-check';
import { parseTokenMessage } from './message';

/** Device binding: the text is the token, or `<HEADER> <token>` with HEADER one of permitted_headers. */
export const tokenHeaderCheck: InboundCheck = {
  name: 'token_header',
  check: (ctx) => {
    const parsed = parseTokenMessage(ctx.message);
    if (!parsed) return 'malformed_message';
    if (parsed.header === null) return null;
    const header = parsed.header.toUpperCase();
    return ctx.settings.permitted_headers.some((h) => h.toUpperCase() === header) ? null : 'unknown_header';
  },
};
