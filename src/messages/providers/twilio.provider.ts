import { DELIVERY_UNKNOWN, MessageRow } from '../message.types';
import { MessageProvider, ProviderError, SendResult } from './provider';

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  fromNumber: string;
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

  constructor(private readonly opts: TwilioOptions) {}

  async send(m: MessageRow): Promise<SendResult> {
    const form = new URLSearchParams();
    const whatsapp = m.type === 'whatsapp';
    const address = (n: string) => (whatsapp ? `whatsapp:${n}` : n);
    form.set('To', address(m.to));
    form.set('From', address(m.from ?? this.opts.fromNumber));
    form.set('Body', m.body);
    for (const url of m.media_urls ?? []) form.append('MediaUrl', url);
    // The message id rides along, so a callback finds the message even if the worker died before it could
    // record Twilio's sid.
    form.set('StatusCallback', `${this.opts.statusCallbackUrl}?message_id=${m.id}`);

    let res: Response;
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
        },
      );
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') {
        // The request went out and Twilio did not answer in time: it may well have created the message, and
        // its Messages API has no idempotency key, so sending again could duplicate it. Settled like a send
        // interrupted by a dying worker; Twilio's status callback (it carries the message id) still tells.
        throw new ProviderError(
          `${DELIVERY_UNKNOWN}: Twilio did not answer within ${this.opts.timeoutMs} ms; not sent again to avoid a duplicate`,
          true,
          DELIVERY_UNKNOWN,
        );
      }
      throw new ProviderError(`Twilio unreachable: ${(err as Error).message}`, false, 'NETWORK');
    }
    const body = (await res.json().catch(() => ({}))) as { sid?: string; code?: number; message?: string };
    if (res.ok && body.sid) return { providerMessageId: body.sid };
    const code = body.code;
    const detail = `Twilio ${res.status}${code ? ` error ${code}` : ''}: ${body.message ?? res.statusText}`;
    const retryable =
      res.status === 429 || res.status >= 500 || (code !== undefined && RETRYABLE_CODES.has(code));
    throw new ProviderError(detail, !retryable, code ? String(code) : `HTTP_${res.status}`);
  }
}
