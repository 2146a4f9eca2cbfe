import { Inject, Injectable, Logger } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service';
import { NumberBlocks } from '../suppression/number-blocks';
import { SuppressionList } from '../suppression/suppression-list';
import { DELIVERY_UNKNOWN, EXPIRED, MessageRow, OPTED_OUT } from './message.types';
import { MessageStatusService } from './message-status.service';
import { EMAIL_PROVIDER, MessageProvider, ProviderError, SMS_PROVIDER } from './providers/provider';
import { RATE_LIMITED } from './providers/router';

/** A provider's rate is counted per second (SMS_PROVIDER_RATES). */
const RATE_WINDOW_MS = 1000;

/** The send was held back by the providers' rates: to be taken up again after `delayMs`, no attempt used. */
export class PacedError extends Error {
  constructor(readonly delayMs: number) {
    super(`held back by the providers' send rates; again in ${delayMs} ms`);
    this.name = 'PacedError';
  }
}

export type SendOutcome = 'sent' | 'failed' | 'skipped';

/**
 * Sends one message, at most once. It first moves the message from `pending` to `sending` with a conditional
 * update, so a job delivered twice (a retry, a stalled job taken over, the relay) can never call the provider
 * twice: only the attempt that wins the update sends. A message found in `sending` was interrupted while the
 * provider was being called, so whether it left is unknown; it is not sent again (a provider callback, or the
 * relay's timeout, settles it). A provider error is retried only when it proves the message did not leave
 * (ProviderError.retryable); any other failure settles it as failed with DELIVERY_UNKNOWN.
 */
@Injectable()
export class MessageSender {
  private readonly logger = new Logger('MessageSender');
  private readonly latency;
  private readonly segments;

  constructor(
    private readonly status: MessageStatusService,
    @Inject(SMS_PROVIDER) private readonly sms: MessageProvider,
    @Inject(EMAIL_PROVIDER) private readonly email: MessageProvider,
    private readonly blocks: NumberBlocks,
    private readonly suppressions: SuppressionList,
    metrics: MetricsService,
  ) {
    this.latency = metrics.histogram(
      'smsb_provider_latency_seconds',
      'Provider send latency',
      ['provider', 'outcome'],
      [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
    this.segments = metrics.counter(
      'smsb_sms_segments_total',
      'SMS segments handed to a provider (what carriers bill)',
      ['provider', 'encoding'],
    );
  }

  providerFor(m: Pick<MessageRow, 'type'>): MessageProvider {
    return m.type === 'email' ? this.email : this.sms;
  }

  /** `final`: the last attempt BullMQ will make, so a retryable error becomes `failed` now. */
  async send(messageId: string, attempt: { number: number; final: boolean }): Promise<SendOutcome> {
    const sending = await this.status.move(messageId, ['pending'], 'sending', {
      detail: { attempt: attempt.number },
    });
    if (!sending) return 'skipped';
    const provider = this.providerFor(sending);
    if (sending.valid_until && new Date(sending.valid_until).getTime() <= Date.now()) {
      // Its validity ran out while it waited (a queue backlog, an outage, retries): never sent late.
      await this.status.move(messageId, ['sending'], 'failed', { error: EXPIRED });
      return 'failed';
    }
    const block = sending.type === 'email' ? null : await this.blocks.of(sending.to);
    if (block) {
      // Blacklisted by an admin, or opted out, after it was accepted (a scheduled or queued message): it never
      // leaves, and is not retried.
      await this.status.move(messageId, ['sending'], 'failed', {
        provider: provider.name,
        error: block === 'blacklisted' ? 'BLACKLISTED' : OPTED_OUT,
      });
      return 'failed';
    }
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;

    let result;
    try {
      result = await provider.send(sending);
    } catch (raw) {
      // An error that is not the provider's verdict (a bug, an unexpected throw) proves nothing: unknown.
      const err =
        raw instanceof ProviderError
          ? raw
          : new ProviderError(
              `${DELIVERY_UNKNOWN}: ${(raw as Error).message}; not sent again to avoid a duplicate`,
              'unknown',
              DELIVERY_UNKNOWN,
            );
      const name = err.provider ?? provider.name;
      this.latency.observe({ provider: name, outcome: 'error' }, seconds());
      // Given up as unknown, then found sent after all (a late answer): its segments count once, then.
      void err.sentLate?.then((sent) => sent && this.countSegments(name, sending));
      const detail = { attempt: attempt.number, code: err.code ?? null, kind: err.kind };
      /** Failed for good, with the provider that answered. */
      const fail = async (error: string): Promise<'failed'> => {
        await this.status.move(messageId, ['sending'], 'failed', {
          provider: name,
          error,
          detail,
          attempts: err.attempts,
        });
        return 'failed';
      };
      if (err.code === EXPIRED) {
        // Its validity ran out between providers, or while one waited for a slot: never sent late.
        await this.status.move(messageId, ['sending'], 'failed', {
          error: EXPIRED,
          detail,
          attempts: err.attempts,
        });
        return 'failed';
      }
      // Blocked while it waited inside the provider (see blockedError): nothing left.
      if (err.blocked) return fail(err.code!);
      if (err.code === OPTED_OUT) {
        // The provider says the person opted out or blocks the sender: failed for good, and no more messages
        // to the number until it opts in again (a failure to record that is logged; the message fails anyway).
        await this.suppressions
          .add(sending.to, 'provider', err.message)
          .catch((e: Error) => this.logger.warn(`suppression not recorded: ${e.message}`));
        return fail(OPTED_OUT);
      }
      if (err.code === RATE_LIMITED) {
        // Every provider it could go to is past its rate this second: pacing, not a failure. Pending again
        // with its attempts untouched; the queue takes it up once the second is over.
        await this.status.move(messageId, ['sending'], 'pending', { detail, attempts: err.attempts });
        throw new PacedError(RATE_WINDOW_MS);
      }
      if (!err.retryable || attempt.final) return fail(err.message);
      await this.status.move(messageId, ['sending'], 'pending', {
        provider: name,
        error: err.message,
        incrementRetry: true,
        detail,
        attempts: err.attempts,
      });
      throw err; // BullMQ retries with backoff
    }
    const name = result.provider ?? provider.name;
    this.latency.observe({ provider: name, outcome: 'ok' }, seconds());
    this.countSegments(name, sending);

    const sent = await this.status.move(messageId, ['sending'], 'sent', {
      provider: name,
      providerMessageId: result.providerMessageId,
      error: null,
      attempts: result.attempts,
    });
    if (sent && result.deliveredNow) await this.status.move(messageId, ['sent'], 'delivered');
    return 'sent';
  }

  private countSegments(provider: string, m: MessageRow): void {
    if (m.segments) this.segments.inc({ provider, encoding: m.encoding ?? 'GSM-7' }, m.segments);
  }
}
