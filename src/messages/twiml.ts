// The TwiML the Twilio inbound webhook answers with: nothing, or one reply message.

export const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

/**
 * XML 1.0 allows no C0 control but tab, newline and carriage return, not even as a character reference: a
 * template body holding one (a form feed is a GSM-7 character) would make the whole answer unreadable to
 * Twilio, so they are left out of the reply.
 */
const xmlChar = (c: string) => {
  const n = c.charCodeAt(0);
  return n >= 0x20 ? n !== 0xfffe && n !== 0xffff : n === 0x9 || n === 0xa || n === 0xd;
};

const ESCAPES: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  "'": '&apos;',
  '"': '&quot;',
};

/** One reply message, escaped. */
export function twimlReply(body: string): string {
  const text = Array.from(body)
    .filter(xmlChar)
    .join('')
    .replace(/[<>&'"]/g, (c) => ESCAPES[c]);
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Message>${text}</Message></Response>`;
}
