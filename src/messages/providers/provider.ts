// The provider boundary: every way a message leaves the service implements MessageProvider.
import { EXPIRED, type MessageRow } from '../message.types';
import type { Attempt } from './router';

export interface SendResult {
  providerMessageId: string;
  /** Which provider sent it, and every provider tried (SmsRouter). */
  provider?: string;
  attempts?: Attempt[];
  /** The console provider has nothing to wait for: it reports delivery at once. */
  deliveredNow?: boolean;
}

export interface MessageProvider {
  readonly name: string;
  /** Whether it carries this type at all (absent: every type); a route skips a provider that does not. */
  carries?(type: MessageRow['type']): boolean;
  send(message: MessageRow): Promise<SendResult>;
}

/**
 * What a failed send proves about the message, which decides whether it may be sent again (at most once):
 * - `not_sent`: nothing of the request left (connection refused, DNS failure): retried;
 * - `refused`: the provider answered that it did not take the message now (Twilio 429, 5xx without a sid,
 *   an SMTP 4xx): retried;
 * - `rejected`: the provider answered that it never will (an invalid number, a 5xx SMTP answer): failed;
 * - `unknown`: the request was written and no clear answer came back (a reset, a timeout, an unreadable
 *   answer): the provider may have the message, so it is never sent again; failed with DELIVERY_UNKNOWN.
 */
export type ProviderErrorKind = 'not_sent' | 'refused' | 'rejected' | 'unknown';

/** A send that failed, with what it proves (see ProviderErrorKind). */
export class ProviderError extends Error {
  /** Which provider failed, and every provider tried (SmsRouter). */
  provider?: string;
  attempts?: Attempt[];
  /** An `unknown` send whose answer may still come (an SMSC's late submit_sm_resp): true once it was recorded `sent`. */
  sentLate?: Promise<boolean>;
  /** The send was given up because the number became blocked (blockedError). */
  blocked?: boolean;

  constructor(
    message: string,
    readonly kind: ProviderErrorKind,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ProviderError';
  }

  /** Only errors that prove the message did not leave may be retried. */
  get retryable(): boolean {
    return this.kind === 'not_sent' || this.kind === 'refused';
  }
}

/** Why a number gets nothing now (the message's error): an admin's blacklist entry, or an opt-out. */
export type NumberBlockCode = 'BLACKLISTED' | 'OPTED_OUT';

/**
 * A send given up because its number became blocked while it waited inside a provider (an SMPP window slot):
 * nothing was written; failed with the block as its error, never retried, and the number is not suppressed again.
 */
export function blockedError(code: NumberBlockCode): ProviderError {
  const err = new ProviderError(
    `the number is ${code === 'BLACKLISTED' ? 'blacklisted' : 'opted out'} now`,
    'rejected',
    code,
  );
  err.blocked = true;
  return err;
}

/** Connection errors raised before any byte of a request was written (fetch's cause, nodemailer's code). */
const BEFORE_WRITE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EAI_FAIL',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Certificate and TLS protocol failures: raised by the handshake, before the request is written (an expired or
 * self-signed certificate, a wrong name, a proxy speaking something else).
 */
const TLS_HANDSHAKE = /^(ERR_TLS_|ERR_SSL_)|CERT|^UNABLE_TO_(GET|VERIFY)_/;

/** Whether a network error proves the request never left (fetch wraps the socket error as `cause`). */
export function failedBeforeWrite(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 4; depth++) {
    if (e.code && (BEFORE_WRITE.has(e.code) || TLS_HANDSHAKE.test(e.code))) return true;
    e = e.cause as typeof e;
  }
  return false;
}

/**
 * The message's validity ran out before a provider took it (found by the router between providers, or by a
 * provider that waited for a slot): it is failed with EXPIRED and never sent late, nor retried.
 */
export function expiredError(): ProviderError {
  return new ProviderError(EXPIRED, 'rejected', EXPIRED);
}

/** Whether the message's validity has run out (`within`: ms it must still have left). */
export function expired(m: Pick<MessageRow, 'valid_until'>, within = 0): boolean {
  return !!m.valid_until && new Date(m.valid_until).getTime() - Date.now() <= within;
}

export const SMS_PROVIDER = Symbol('SMS_PROVIDER');
export const EMAIL_PROVIDER = Symbol('EMAIL_PROVIDER');
