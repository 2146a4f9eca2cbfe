import type { AppConfig } from '../../config/app-config';
import { ConsoleProvider } from './console.provider';
import type { MessageProvider } from './provider';
import { SmtpProvider } from './smtp.provider';
import { TwilioProvider } from './twilio.provider';

/** The provider for SMS, MMS and WhatsApp (SMS_PROVIDER). */
export function smsProvider(config: AppConfig): MessageProvider {
  const t = config.messages.twilio;
  if (config.messages.smsProvider !== 'twilio') return new ConsoleProvider();
  return new TwilioProvider({
    accountSid: t.accountSid!,
    authToken: t.authToken!,
    fromNumber: t.fromNumber,
    messagingServiceSid: t.messagingServiceSid,
    baseUrl: t.baseUrl,
    statusCallbackUrl: `${config.http.publicBaseUrl}/webhooks/twilio/status`,
    timeoutMs: config.messages.providerTimeoutMs,
  });
}

/** The provider for e-mail (EMAIL_PROVIDER). */
export function emailProvider(config: AppConfig): MessageProvider {
  if (config.messages.emailProvider !== 'smtp') return new ConsoleProvider();
  return new SmtpProvider(
    config.messages.smtpUrl!,
    config.messages.emailFrom!,
    config.messages.providerTimeoutMs,
  );
}
