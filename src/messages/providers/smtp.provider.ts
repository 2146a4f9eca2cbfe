import { createTransport, Transporter } from 'nodemailer';
import type { MessageRow } from '../message.types';
import { MessageProvider, ProviderError, SendResult } from './provider';

/** E-mail through an SMTP server (nodemailer). A 5xx answer is permanent; connection trouble and 4xx retry. */
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
      const e = err as Error & { responseCode?: number; code?: string };
      const permanent = e.responseCode !== undefined && e.responseCode >= 500;
      throw new ProviderError(
        `SMTP: ${e.message}`,
        permanent,
        e.responseCode ? `SMTP_${e.responseCode}` : e.code,
      );
    }
  }

  close(): void {
    this.transport.close();
  }
}
