// SMS through MSG91's Flow API (POST {MSG91_BASE_URL}/api/v5/flow): the text rides in the template's
// `content` variable, the answer's `message` is MSG91's request id, which its delivery reports carry back.
import type { MessageRow } from '../message.types';
import { countSegments } from '../segments';
import { MessageProvider, ProviderError, SendResult } from './provider';
import { ProviderHttp, unknownOutcome } from './provider-http';

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

  private readonly http: ProviderHttp;

  constructor(private readonly opts: Msg91Options) {
    this.http = new ProviderHttp('MSG91', opts.timeoutMs);
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
    const res = await this.http.post<{ type?: string; message?: unknown }>(
      `${this.opts.baseUrl}/api/v5/flow`,
      { authkey: this.opts.authKey, 'content-type': 'application/json', accept: 'application/json' },
      JSON.stringify(body),
    );
    const answer = res.body;
    const text = typeof answer.message === 'string' ? answer.message : '';
    if (res.ok && answer.type === 'success') {
      if (!text) throw unknownOutcome(`MSG91 answered success without a request id`);
      return { providerMessageId: text };
    }
    const detail = `MSG91 ${res.status}${answer.type ? ` ${answer.type}` : ''}: ${text || res.statusText}`;
    // A 5xx that says "success" with a request id: MSG91 took it, and the answer went wrong on the way back.
    // Sending it through another provider would send it twice.
    if (answer.type === 'success' && text)
      throw unknownOutcome(`MSG91 answered ${res.status} with request id ${text}; not sent again`);
    // 429 and 5xx are MSG91 refusing for now; the account's own problems (a rejected key, no balance, a
    // suspended account) refuse every message until someone acts. Neither took the message, and another
    // provider of the route would not refuse it the same way: failed over, counted against MSG91's circuit.
    if (
      res.status === 429 ||
      res.status >= 500 ||
      res.status === 401 ||
      res.status === 403 ||
      accountProblem(text)
    )
      throw new ProviderError(detail, 'refused', res.ok ? 'MSG91_ACCOUNT' : `HTTP_${res.status}`);
    // Any other error (a bad number, template or content) is the message's: another provider would refuse it too.
    if (answer.type === 'error' || !res.ok)
      throw new ProviderError(detail, 'rejected', res.ok ? 'MSG91_ERROR' : `HTTP_${res.status}`);
    throw unknownOutcome(`MSG91 answered ${res.status} without saying it took the message`);
  }
}

/** MSG91's answers about the account rather than the message (its API says so only in words). */
function accountProblem(text: string): boolean {
  return /balance|auth|authkey|suspend|blocked account|account (is )?(inactive|disabled)|ip not whitelisted/i.test(
    text,
  );
}
