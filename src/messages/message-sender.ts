import { Inject, Injectable, Logger } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service';
import { MessageRow } from './message.types';
import { MessagesRepository } from './messages.repository';
import { EMAIL_PROVIDER, MessageProvider, ProviderError, SMS_PROVIDER } from './providers/provider';
import { BlacklistReader } from '../onboarding/blacklist-reader';
import { StatusCallbacks } from './status-callbacks';

export type SendOutcome = 'sent' | 'failed' | 'skipped';

/**
 * Sends one message. It first moves the message from `pending` to `sending` with a conditional update, so a
 * job delivered twice (a retry, a stalled job taken over, the relay) can never call the provider twice: only
 * the attempt that wins the update sends. A message found in `sending` was interrupted while the provider
 * was being called, so whether it left is unknown; it is not sent again (a provider callback, or the relay's
 * timeout, settles it).
 */
@Injectable()
export class MessageSender {
  private readonly logger = new Logger('MessageSender');
  private readonly outcomes;
  private readonly latency;

  constructor(
    private readonly repo: MessagesRepository,
    private readonly callbacks: StatusCallbacks,
    @Inject(SMS_PROVIDER) private readonly sms: MessageProvider,
    @Inject(EMAIL_PROVIDER) private readonly email: MessageProvider,
    private readonly blacklist: BlacklistReader,
    metrics: MetricsService,
  ) {
    this.outcomes = metrics.counter('smsb_messages_total', 'Messages by status reached, type and provider', [
      'status',
      'type',
      'provider',
    ]);
    this.latency = metrics.histogram(
      'smsb_provider_latency_seconds',
      'Provider send latency',
      ['provider', 'outcome'],
      [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
  }

  providerFor(m: Pick<MessageRow, 'type'>): MessageProvider {
    return m.type === 'email' ? this.email : this.sms;
  }

  /** `final`: the last attempt BullMQ will make, so a retryable error becomes `failed` now. */
  async send(messageId: string, attempt: { number: number; final: boolean }): Promise<SendOutcome> {
    const sending = await this.repo.transition(messageId, ['pending'], 'sending', {
      detail: { attempt: attempt.number },
    });
    if (!sending) return 'skipped';
    await this.callbacks.notify(sending);
    const provider = this.providerFor(sending);
    if (sending.type !== 'email' && (await this.blacklist.manuallyBlacklisted(sending.to))) {
      // Blacklisted by an admin after it was accepted (a scheduled or queued message): it never leaves.
      const refused = await this.repo.transition(messageId, ['sending'], 'failed', {
        provider: provider.name,
        error: 'BLACKLISTED',
      });
      this.outcomes.inc({ status: 'failed', type: sending.type, provider: provider.name });
      if (refused) await this.callbacks.notify(refused);
      return 'failed';
    }
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;

    let result;
    try {
      result = await provider.send(sending);
    } catch (raw) {
      const err = raw instanceof ProviderError ? raw : new ProviderError((raw as Error).message, false);
      this.latency.observe({ provider: provider.name, outcome: 'error' }, seconds());
      const detail = { attempt: attempt.number, code: err.code ?? null, permanent: err.permanent };
      if (err.permanent || attempt.final) {
        const failed = await this.repo.transition(messageId, ['sending'], 'failed', {
          provider: provider.name,
          error: err.message,
          detail,
        });
        this.outcomes.inc({ status: 'failed', type: sending.type, provider: provider.name });
        if (failed) await this.callbacks.notify(failed);
        return 'failed';
      }
      const back = await this.repo.transition(messageId, ['sending'], 'pending', {
        provider: provider.name,
        error: err.message,
        incrementRetry: true,
        detail,
      });
      if (back) await this.callbacks.notify(back);
      throw err; // BullMQ retries with backoff
    }
    this.latency.observe({ provider: provider.name, outcome: 'ok' }, seconds());

    const sent = await this.repo.transition(messageId, ['sending'], 'sent', {
      provider: provider.name,
      providerMessageId: result.providerMessageId,
      error: null,
    });
    if (!sent) return 'sent'; // a provider callback was faster and already moved it on
    this.outcomes.inc({ status: 'sent', type: sent.type, provider: provider.name });
    await this.callbacks.notify(sent);
    if (result.deliveredNow) {
      const delivered = await this.repo.transition(messageId, ['sent'], 'delivered');
      if (delivered) {
        this.outcomes.inc({ status: 'delivered', type: delivered.type, provider: provider.name });
        await this.callbacks.notify(delivered);
      }
    }
    return 'sent';
  }
}
