import { OPTED_OUT, type MessageRow } from '../message.types';
import { expiredError, MessageProvider, ProviderError, SendResult } from './provider';
import { ProviderHttp, unknownOutcome } from './provider-http';

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  /** The default sender; a message's own `from`, or the Messaging Service below, goes first. */
  fromNumber?: string;
  /** A Messaging Service (sender pool): Twilio picks the sender, so From is not sent. */
  messagingServiceSid?: string;
  baseUrl: string;
  /** Where Twilio posts status callbacks: {PUBLIC_BASE_URL}/webhooks/twilio/status */
  statusCallbackUrl: string;
  timeoutMs: number;
}

/**
 * Twilio error codes that no retry can fix (the number is invalid, unreachable or opted out). Everything
 * else that Twilio refuses with a 4xx is treated as permanent too, except rate limiting (429, 20429).
 * https://www.twilio.com/docs/api/errors
 */
const RETRYABLE_CODES = new Set([20429, 20500, 20503, 30001, 30002]);
/**
 * The account's or its configuration's problems, not the message's (a rejected or rotated key, an inactive
 * account, a wrong account sid, a From that is not the account's): Twilio refuses every message until someone
 * acts, and another provider of the route would take them: refused, so they fail over and count against its
 * circuit. (A 401 or 403 without a code is read the same way.)
 */
const ACCOUNT_CODES = new Set([20003, 20005, 20404, 21212, 21603, 21606]);

/**
 * The person opted out or blocks the sender: 21610 (an SMS to a number that texted STOP to the sender or its
 * Messaging Service), 63014 (a WhatsApp or other channel message blocked by the recipient's action: blocked the
 * business, withdrew consent). Failed for good with OPTED_OUT, and the number is suppressed.
 */
export const TWILIO_OPT_OUT_CODES = new Set([21610, 63014]);

/** Twilio's Messages API over HTTPS (or a local stand-in at TWILIO_BASE_URL in tests). */
export class TwilioProvider implements MessageProvider {
  readonly name = 'twilio';

  private readonly http: ProviderHttp;

  constructor(private readonly opts: TwilioOptions) {
    this.http = new ProviderHttp('Twilio', opts.timeoutMs);
  }

  async send(m: MessageRow): Promise<SendResult> {
    const form = new URLSearchParams();
    const whatsapp = m.type === 'whatsapp';
    const address = (n: string) => (whatsapp ? `whatsapp:${n}` : n);
    form.set('To', address(m.to));
    // With a Messaging Service, its sender pool replaces the default From; a request's own `from` goes along
    // with it, and Twilio accepts it only if it belongs to the pool.
    if (this.opts.messagingServiceSid) form.set('MessagingServiceSid', this.opts.messagingServiceSid);
    if (m.from) form.set('From', address(m.from));
    else if (!this.opts.messagingServiceSid) form.set('From', address(this.opts.fromNumber ?? ''));
    if (m.whatsapp_content_sid) {
      // An approved WhatsApp template: the only message a business may start a conversation with.
      form.set('ContentSid', m.whatsapp_content_sid);
      form.set('ContentVariables', JSON.stringify(m.content_variables ?? {}));
    } else form.set('Body', m.body);
    // What is left of the message's validity: Twilio drops it from its own queue after that, so a late code
    // is not delivered. Twilio takes 1 to 36,000 seconds (36,000 is also its default).
    if (m.valid_until) {
      const ms = new Date(m.valid_until).getTime() - Date.now();
      if (ms <= 0) throw expiredError(); // never handed over late
      const left = Math.ceil(ms / 1000);
      if (left < 36000) form.set('ValidityPeriod', String(left));
    }
    for (const url of m.media_urls ?? []) form.append('MediaUrl', url);
    // The message id rides along, so a callback finds the message even if the worker died before it could
    // record Twilio's sid.
    form.set('StatusCallback', `${this.opts.statusCallbackUrl}?message_id=${m.id}`);

    const res = await this.http.post<{ sid?: string; code?: number; message?: string }>(
      `${this.opts.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(this.opts.accountSid)}/Messages.json`,
      {
        authorization: `Basic ${Buffer.from(`${this.opts.accountSid}:${this.opts.authToken}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      form,
    );
    const body = res.body;
    if (res.ok && body.sid) return { providerMessageId: body.sid };
    if (res.ok) throw unknownOutcome(`Twilio answered ${res.status} without a message sid`);
    const code = body.code;
    const detail = `Twilio ${res.status}${code ? ` error ${code}` : ''}: ${body.message ?? res.statusText}`;
    const errorCode = code ? String(code) : `HTTP_${res.status}`;
    if (body.sid) throw unknownOutcome(`${detail}, with a message sid`);
    if (code !== undefined && TWILIO_OPT_OUT_CODES.has(code))
      throw new ProviderError(detail, 'rejected', OPTED_OUT);
    const refused =
      res.status === 429 ||
      res.status >= 500 ||
      res.status === 401 ||
      res.status === 403 ||
      (code !== undefined && (RETRYABLE_CODES.has(code) || ACCOUNT_CODES.has(code)));
    throw new ProviderError(detail, refused ? 'refused' : 'rejected', errorCode);
  }
}
