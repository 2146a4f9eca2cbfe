import { createTransport, Transporter } from 'nodemailer';
import { DELIVERY_UNKNOWN, MessageRow } from '../message.types';
import { failedBeforeWrite, MessageProvider, ProviderError, SendResult } from './provider';

/**
 * E-mail through an SMTP server (nodemailer). A 5xx answer is permanent; a 4xx, or no connection, retries; a
 * connection lost once the message may have been handed over is not sent again.
 */
export class SmtpProvider implements MessageProvider {
  readonly name = 'smtp';
  private readonly transport: Transporter;

  constructor(
    smtpUrl: string,
    private readonly from: string,
    timeoutMs: number,
  ) {
    this.transport = createTransport(smtpUrl, {
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    } as object);
  }

  async send(m: MessageRow): Promise<SendResult> {
    try {
      const info = await this.transport.sendMail({
        from: m.from ?? this.from,
        to: m.to,
        subject: m.subject ?? '',
        text: m.body,
      });
      return { providerMessageId: String(info.messageId) };
    } catch (err) {
      const e = err as Error & { responseCode?: number; code?: string; command?: string };
      const code = e.responseCode ? `SMTP_${e.responseCode}` : e.code;
      // An answer from the server: 5xx is a refusal for good, 4xx a refusal for now.
      if (e.responseCode !== undefined && e.responseCode >= 500)
        throw new ProviderError(`SMTP: ${e.message}`, 'rejected', code);
      if (e.responseCode !== undefined && e.responseCode >= 400)
        throw new ProviderError(`SMTP: ${e.message}`, 'refused', code);
      // No connection (refused, DNS) or lost before the message was handed over (while connecting or
      // greeting): it did not leave. Lost later (during DATA or after): it may have, so it is not sent again.
      if (failedBeforeWrite(err) || e.code === 'EDNS' || e.command === 'CONN')
        throw new ProviderError(`SMTP: ${e.message}`, 'not_sent', code);
      throw new ProviderError(
        `${DELIVERY_UNKNOWN}: SMTP failed after the message may have been handed over (${e.message}); not sent again to avoid a duplicate`,
        'unknown',
        DELIVERY_UNKNOWN,
      );
    }
  }

  close(): void {
    this.transport.close();
  }
}
