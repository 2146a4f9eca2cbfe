// SMS through MSG91's Flow API (POST {MSG91_BASE_URL}/api/v5/flow): the text rides in the template's
// `content` variable, the answer's `message` is MSG91's request id, which its delivery reports carry back.
import { Agent, fetch } from 'undici';
import { DELIVERY_UNKNOWN, MessageRow } from '../message.types';
import { countSegments } from '../segments';
import { failedBeforeWrite, MessageProvider, ProviderError, SendResult } from './provider';
import { connectTimeoutMs } from './twilio.provider';

export interface Msg91Options {
  authKey: string;
  baseUrl: string;
  templateId: string;
  senderId?: string;
  /** India DLT: the principal entity id (DLT_ENTITY_ID), sent as PE_ID. */
  dltEntityId?: string;
  timeoutMs: number;
}

/** The template variable the message text is passed in (the MSG91 template holds `##content##`). */
export const MSG91_TEXT_VARIABLE = 'content';

export class Msg91Provider implements MessageProvider {
  readonly name = 'msg91';

  /** SMS only: a route sends MMS and WhatsApp through another provider. */
  carries(type: MessageRow['type']): boolean {
    return type === 'sms';
  }

  /** A connect that never completes fails as a connect timeout (nothing written: retried), as with Twilio. */
  private readonly dispatcher: Agent;

  constructor(private readonly opts: Msg91Options) {
    this.dispatcher = new Agent({ connect: { timeout: connectTimeoutMs(opts.timeoutMs) } });
  }

  async send(m: MessageRow): Promise<SendResult> {
    if (m.type !== 'sms')
      throw new ProviderError(`MSG91 sends SMS only, not ${m.type}`, 'rejected', 'UNSUPPORTED_MESSAGE_TYPE');
    const body = {
      template_id: this.opts.templateId,
      short_url: '0',
      ...(this.opts.senderId ? { sender: this.opts.senderId } : {}),
      ...(countSegments(m.body).encoding === 'UCS-2' ? { unicode: 1 } : {}),
      // India DLT, per message (MSG91 otherwise uses what its panel maps to the sender and template).
      ...(this.opts.dltEntityId ? { PE_ID: this.opts.dltEntityId } : {}),
      ...(m.dlt_template_id ? { DLT_TE_ID: m.dlt_template_id } : {}),
      recipients: [{ mobiles: m.to.replace(/^\+/, ''), [MSG91_TEXT_VARIABLE]: m.body }],
    };
    const unknown = (why: string) =>
      new ProviderError(
        `${DELIVERY_UNKNOWN}: ${why}; not sent again to avoid a duplicate`,
        'unknown',
        DELIVERY_UNKNOWN,
      );
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      res = await fetch(`${this.opts.baseUrl}/api/v5/flow`, {
        method: 'POST',
        headers: {
          authkey: this.opts.authKey,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        dispatcher: this.dispatcher,
      });
    } catch (err) {
      // Refused or unresolvable before a byte was written: MSG91 never saw it.
      if (failedBeforeWrite(err))
        throw new ProviderError(`MSG91 unreachable: ${describe(err)}`, 'not_sent', 'NETWORK');
      // Later (a reset, a timeout): MSG91 may have the message and its API has no idempotency key.
      if ((err as Error).name === 'TimeoutError')
        throw unknown(`MSG91 did not answer within ${this.opts.timeoutMs} ms`);
      throw unknown(`the connection to MSG91 failed after the request was sent (${describe(err)})`);
    }
    let raw: string;
    try {
      raw = await res.text();
    } catch (err) {
      // The answer broke off (a reset mid-body): whatever its status, the part not read may hold a request id.
      throw unknown(`MSG91's ${res.status} answer broke off (${describe(err)})`);
    }
    let answer: { type?: string; message?: unknown };
    try {
      answer = JSON.parse(raw) as typeof answer;
      if (!answer || typeof answer !== 'object') throw new Error('not a JSON object');
    } catch (err) {
      // A whole 429 or 5xx that is not JSON (a load balancer's page) holds no request id: a refusal.
      if (res.status === 429 || res.status >= 500)
        throw new ProviderError(`MSG91 ${res.status}: ${res.statusText}`, 'refused', `HTTP_${res.status}`);
      throw unknown(`MSG91 answered ${res.status} unreadably (${describe(err)})`);
    }
    const text = typeof answer.message === 'string' ? answer.message : '';
    if (res.ok && answer.type === 'success') {
      if (!text) throw unknown(`MSG91 answered success without a request id`);
      return { providerMessageId: text };
    }
    const detail = `MSG91 ${res.status}${answer.type ? ` ${answer.type}` : ''}: ${text || res.statusText}`;
    // 429 and 5xx are MSG91 refusing for now; an answer of type "error" (a bad key, template, number or
    // balance) refuses it until someone changes something. Neither took the message.
    if (res.status === 429 || res.status >= 500)
      throw new ProviderError(detail, 'refused', `HTTP_${res.status}`);
    if (answer.type === 'error' || !res.ok)
      throw new ProviderError(detail, 'rejected', res.ok ? 'MSG91_ERROR' : `HTTP_${res.status}`);
    throw unknown(`MSG91 answered ${res.status} without saying it took the message`);
  }
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  return e.cause ? `${e.message}: ${e.cause.code ?? e.cause.message}` : e.message;
}
