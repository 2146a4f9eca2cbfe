import { Agent, fetch } from 'undici';
import { DELIVERY_UNKNOWN, MessageRow } from '../message.types';
import { failedBeforeWrite, MessageProvider, ProviderError, SendResult } from './provider';

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

/** Twilio's Messages API over HTTPS (or a local stand-in at TWILIO_BASE_URL in tests). */
export class TwilioProvider implements MessageProvider {
  readonly name = 'twilio';

  /**
   * Connections with a connect timeout well inside the send's own: a connect that never completes (a firewall
   * dropping SYNs, a dead route) then fails as a connect timeout, which proves nothing was written, and is
   * retried; with only the overall timeout it would read as "no answer in time", whose outcome is unknown.
   */
  private readonly dispatcher: Agent;

  constructor(private readonly opts: TwilioOptions) {
    this.dispatcher = new Agent({ connect: { timeout: connectTimeoutMs(opts.timeoutMs) } });
  }

  async send(m: MessageRow): Promise<SendResult> {
    const form = new URLSearchParams();
    const whatsapp = m.type === 'whatsapp';
    const address = (n: string) => (whatsapp ? `whatsapp:${n}` : n);
    form.set('To', address(m.to));
    if (m.from) form.set('From', address(m.from));
    else if (this.opts.messagingServiceSid) form.set('MessagingServiceSid', this.opts.messagingServiceSid);
    else form.set('From', address(this.opts.fromNumber ?? ''));
    if (m.whatsapp_content_sid) {
      // An approved WhatsApp template: the only message a business may start a conversation with.
      form.set('ContentSid', m.whatsapp_content_sid);
      form.set('ContentVariables', JSON.stringify(m.content_variables ?? {}));
    } else form.set('Body', m.body);
    // What is left of the message's validity: Twilio drops it from its own queue after that, so a late code
    // is not delivered. Twilio takes 1 to 36,000 seconds (36,000 is also its default).
    if (m.valid_until) {
      const left = Math.ceil((new Date(m.valid_until).getTime() - Date.now()) / 1000);
      if (left < 36000) form.set('ValidityPeriod', String(Math.max(1, left)));
    }
    for (const url of m.media_urls ?? []) form.append('MediaUrl', url);
    // The message id rides along, so a callback finds the message even if the worker died before it could
    // record Twilio's sid.
    form.set('StatusCallback', `${this.opts.statusCallbackUrl}?message_id=${m.id}`);

    const unknown = (why: string) =>
      new ProviderError(
        `${DELIVERY_UNKNOWN}: ${why}; not sent again to avoid a duplicate`,
        'unknown',
        DELIVERY_UNKNOWN,
      );
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      res = await fetch(
        `${this.opts.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(this.opts.accountSid)}/Messages.json`,
        {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${this.opts.accountSid}:${this.opts.authToken}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: form,
          signal: AbortSignal.timeout(this.opts.timeoutMs),
          dispatcher: this.dispatcher,
        },
      );
    } catch (err) {
      // Refused or unresolvable before a byte was written: Twilio never saw it, so it may be sent again.
      if (failedBeforeWrite(err))
        throw new ProviderError(`Twilio unreachable: ${describe(err)}`, 'not_sent', 'NETWORK');
      // Anything else (a reset, a timeout) happened after the request may have reached Twilio, whose Messages
      // API has no idempotency key: sending again could duplicate it. Twilio's status callback (it carries the
      // message id) still tells what became of it.
      if ((err as Error).name === 'TimeoutError')
        throw unknown(`Twilio did not answer within ${this.opts.timeoutMs} ms`);
      throw unknown(`the connection to Twilio failed after the request was sent (${describe(err)})`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      // The answer broke off (a reset mid-body): whatever its status, the part not read may hold a sid.
      throw unknown(`Twilio's ${res.status} answer broke off (${describe(err)})`);
    }
    let body: { sid?: string; code?: number; message?: string };
    try {
      body = JSON.parse(text) as typeof body;
      if (!body || typeof body !== 'object') throw new Error('not a JSON object');
    } catch (err) {
      // A whole 429 or 5xx answer that is not JSON (a load balancer's page) holds no sid: Twilio's refusal. A
      // success or other answer we cannot read may hold a created message.
      if (res.status === 429 || res.status >= 500)
        throw new ProviderError(`Twilio ${res.status}: ${res.statusText}`, 'refused', `HTTP_${res.status}`);
      throw unknown(`Twilio answered ${res.status} unreadably (${describe(err)})`);
    }
    if (res.ok && body.sid) return { providerMessageId: body.sid };
    if (res.ok) throw unknown(`Twilio answered ${res.status} without a message sid`);
    const code = body.code;
    const detail = `Twilio ${res.status}${code ? ` error ${code}` : ''}: ${body.message ?? res.statusText}`;
    const errorCode = code ? String(code) : `HTTP_${res.status}`;
    if (body.sid) throw unknown(`${detail}, with a message sid`);
    const refused =
      res.status === 429 || res.status >= 500 || (code !== undefined && RETRYABLE_CODES.has(code));
    throw new ProviderError(detail, refused ? 'refused' : 'rejected', errorCode);
  }
}

/** Half the send's timeout, at most 5 s: a connect that takes longer is not coming. */
export const connectTimeoutMs = (timeoutMs: number) => Math.min(5000, Math.floor(timeoutMs / 2));

/** The error and its network cause (fetch reports "fetch failed" with the socket error as `cause`). */
function describe(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  return e.cause ? `${e.message}: ${e.cause.code ?? e.cause.message}` : e.message;
}
