// The message model: kinds, statuses and the order statuses move in.

export type MessageType = 'sms' | 'mms' | 'email' | 'whatsapp';
export const MESSAGE_TYPES: MessageType[] = ['sms', 'mms', 'email', 'whatsapp'];

export type MessageStatus = 'pending' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed';
export const MESSAGE_STATUSES: MessageStatus[] = [
  'pending',
  'sending',
  'sent',
  'delivered',
  'undelivered',
  'failed',
];
export const TERMINAL_STATUSES: MessageStatus[] = ['delivered', 'undelivered', 'failed'];

/** How far along a status is: a callback may only move a message forward (terminal states are final). */
export const STATUS_RANK: Record<MessageStatus, number> = {
  pending: 0,
  sending: 1,
  sent: 2,
  delivered: 3,
  undelivered: 3,
  failed: 3,
};

export interface MessageRow {
  id: string;
  client_id: string;
  type: MessageType;
  from: string | null;
  to: string;
  subject: string | null;
  body: string;
  media_urls: string[] | null;
  metadata: Record<string, unknown> | null;
  status_callback: string | null;
  sensitive: boolean;
  status: MessageStatus;
  provider: string | null;
  provider_message_id: string | null;
  retry_count: number;
  error: string | null;
  send_at: Date | null;
  /** SMS only: the encoding and segment count carriers bill (null for other types). */
  encoding: 'GSM-7' | 'UCS-2' | null;
  segments: number | null;
  /** Not handed to a provider by then: failed with EXPIRED, never sent late (null: no limit). */
  valid_until: Date | null;
  /** Rendered from a template: its name and locale. */
  template: string | null;
  locale: string | null;
  /** WhatsApp: the approved template Twilio sends (ContentSid), and its positional variables. */
  whatsapp_content_sid: string | null;
  content_variables: Record<string, string> | null;
  /** India DLT: the content-template id of the text. */
  dlt_template_id: string | null;
  /** Every provider tried, in order (SMS_ROUTES failover). */
  attempts: { provider: string; outcome: 'sent' | 'failed' | 'skipped'; error?: string }[];
  idempotency_key: string | null;
  request_hash: string | null;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
  delivered_at: Date | null;
}

export interface MessageEventRow {
  id: string;
  message_id: string;
  status: string;
  detail: Record<string, unknown> | null;
  created_at: Date;
}

/** What a body looks like once a sensitive message (an OTP code) has been sent. */
export const REDACTED_BODY = '[redacted]';

/**
 * The error of a send whose outcome is unknown (the worker died, or the provider did not answer in time, while
 * it was being called). It is settled as failed rather than sent again, which could duplicate it; the
 * provider's own status callback, when it comes, still says what happened.
 */
export const DELIVERY_UNKNOWN = 'DELIVERY_UNKNOWN';

/** The error of a message whose validity ran out before it could be handed to a provider. */
export const EXPIRED = 'EXPIRED';
/**
 * The error of a message to a number on the suppression list (it opted out after the message was accepted), or
 * that a provider refused because the person opted out or blocks the sender: failed, never retried.
 */
export const OPTED_OUT = 'OPTED_OUT';
