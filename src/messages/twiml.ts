// The TwiML the Twilio inbound webhook answers with: nothing, or one reply message.

export const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

/**
 * XML 1.0 allows no C0 control but tab, newline and carriage return, not even as a character reference: a
 * template body holding one (a form feed is a GSM-7 character) would make the whole answer unreadable to
 * Twilio, so they are left out of the reply.
 */
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

const ESCAPES: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  "'": '&apos;',
  '"': '&quot;',
};

/** One reply message, escaped. */
export function twimlReply(body: string): string {
  const text = body.replace(NOT_XML, '').replace(/[<>&'"]/g, (c) => ESCAPES[c]);
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Message>${text}</Message></Response>`;
}
