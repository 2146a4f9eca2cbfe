import type { AppConfig } from '../../config/app-config';
import { ConsoleProvider } from './console.provider';
import { Msg91Provider } from './msg91.provider';
import type { MessageProvider, NumberBlockCode } from './provider';
import { CircuitState, SmsRouter } from './router';
import type { ProviderReports } from './provider-reports';
import { InboundSink, SmppProvider } from './smpp.provider';
import { SmtpProvider } from './smtp.provider';
import { TwilioProvider } from './twilio.provider';

/**
 * SMS, MMS and WhatsApp go through the router: every provider SMS_ROUTES names (SMS_PROVIDER alone by
 * default), each made once; `reports` takes the reports they receive themselves; `onCircuit` hears their
 * circuit breakers change.
 */
export function smsProvider(
  config: AppConfig,
  reports: ProviderReports,
  onCircuit?: (provider: string, state: CircuitState) => void,
  takeRate?: (provider: string) => Promise<boolean>,
  inbound?: InboundSink,
  mayStillSend?: (to: string) => Promise<NumberBlockCode | null>,
): SmsRouter {
  const m = config.messages;
  const names = new Set(m.routes.flatMap((r) => r.providers));
  const providers = new Map(
    [...names].map((name) => [name, oneProvider(name, config, reports, inbound, mayStillSend)]),
  );
  return new SmsRouter(m.routes, providers, m.circuit, onCircuit, takeRate);
}

function oneProvider(
  name: string,
  config: AppConfig,
  reports: ProviderReports,
  inbound?: InboundSink,
  mayStillSend?: (to: string) => Promise<NumberBlockCode | null>,
): MessageProvider {
  const m = config.messages;
  switch (name) {
    case 'twilio':
      return new TwilioProvider({
        accountSid: m.twilio.accountSid!,
        authToken: m.twilio.authToken!,
        fromNumber: m.twilio.fromNumber,
        messagingServiceSid: m.twilio.messagingServiceSid,
        baseUrl: m.twilio.baseUrl,
        statusCallbackUrl: `${config.http.publicBaseUrl}/webhooks/twilio/status`,
        timeoutMs: m.providerTimeoutMs,
      });
    case 'smpp':
      // The worker holds the bind (receipts come in on it); the API binds only if it sends (sync mode).
      return new SmppProvider(
        { ...m.smpp!, timeoutMs: m.providerTimeoutMs, hold: config.runsWorker, dltEntityId: m.dlt.entityId },
        (r) => reports.record(r),
        inbound,
        mayStillSend,
      );
    case 'msg91':
      return new Msg91Provider({
        authKey: m.msg91.authKey!,
        baseUrl: m.msg91.baseUrl,
        templateId: m.msg91.templateId!,
        senderId: m.msg91.senderId,
        dltEntityId: m.dlt.entityId,
        timeoutMs: m.providerTimeoutMs,
      });
    default:
      return new ConsoleProvider();
  }
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
