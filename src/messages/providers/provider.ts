// The provider boundary: every way a message leaves the service implements MessageProvider.
import type { MessageRow } from '../message.types';

export interface SendResult {
  providerMessageId: string;
  /** The console provider has nothing to wait for: it reports delivery at once. */
  deliveredNow?: boolean;
}

export interface MessageProvider {
  readonly name: string;
  send(message: MessageRow): Promise<SendResult>;
}

/** A send that failed; `permanent` failures (an invalid number, a refused address) are not retried. */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export const SMS_PROVIDER = Symbol('SMS_PROVIDER');
export const EMAIL_PROVIDER = Symbol('EMAIL_PROVIDER');
