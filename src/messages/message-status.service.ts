// The one owner of message status: every transition, whoever triggers it (the worker, a provider's report,
// the relay, the API), goes through here. The rule (forward only) is enforced in SQL by a conditional update;
// each transition that happened is counted once in smsb_messages_total and announced once as a typed
// MessageStatusChanged event, which status callbacks and the OTP WhatsApp→SMS fallback subscribe to.
import { isUUID } from 'class-validator';
import { Injectable } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { MetricsService } from '../metrics/metrics.service';
import { SuppressionList } from '../suppression/suppression-list';
import { DELIVERY_UNKNOWN, MessageRow, MessageStatus } from './message.types';
import { MessagesRepository, TransitionedRow, TransitionFields } from './messages.repository';

/** The event name of MessageStatusChanged (for @OnEvent). */
export const MESSAGE_STATUS_CHANGED = 'message.status.changed';

/** A message reached a new status; `message` is the row as the transition left it. */
export class MessageStatusChanged {
  constructor(
    readonly message: MessageRow,
    /** The event's id in message_events: increases with every change of one message. */
    readonly eventId: string,
  ) {}
}

/** What a provider reports about a message (from its signed status callback). */
export interface ProviderReport {
  provider: string;
  providerMessageId: string;
  /** Our id, when the provider carries it back (Twilio's StatusCallback URL holds it). */
  messageId?: string;
  status: MessageStatus;
  /** What to record as the message's error (absent: unchanged, or cleared when it was sent or delivered). */
  error?: string;
  detail?: Record<string, unknown>;
  /** The provider says the person opted out or blocks the sender: the number is suppressed first. */
  optedOut?: boolean;
}

@Injectable()
export class MessageStatusService {
  private readonly reached;

  constructor(
    private readonly repo: MessagesRepository,
    private readonly events: EventEmitter2,
    private readonly suppressions: SuppressionList,
    metrics: MetricsService,
  ) {
    this.reached = metrics.counter(
      'smsb_messages_total',
      'Messages by status reached, type and provider (each transition counted once)',
      ['status', 'type', 'provider'],
    );
  }

  /**
   * Moves a message to `to` if its status is one of `from`; returns the updated row, or null when it was not
   * (someone else moved it first: nothing is counted or announced).
   */
  async move(
    id: string,
    from: MessageStatus[],
    to: MessageStatus,
    fields: TransitionFields = {},
  ): Promise<MessageRow | null> {
    const row = await this.repo.transition(id, from, to, fields);
    if (row) await this.announce(row);
    return row;
  }

  /**
   * A provider's word on a message: moves it forward only, so late, repeated or out-of-order reports change
   * nothing. A message settled as failed with DELIVERY_UNKNOWN is moved on by a report that it was sent or
   * delivered after all (a failure report leaves it failed, as it is).
   */
  async providerReport(r: ProviderReport): Promise<MessageRow | null> {
    const message =
      (await this.repo.findByProviderId(r.provider, r.providerMessageId)) ??
      (r.messageId && isUUID(r.messageId) ? await this.repo.find(r.messageId) : null);
    if (!message) return null;
    // Suppressed before the status moves, so nothing the move sets off (the OTP WhatsApp→SMS fallback) sends
    // to the number again.
    if (r.optedOut)
      await this.suppressions.add(message.to, 'provider', r.error ?? null, {
        // A late report on a message accepted before the person opted in again does not undo their START.
        unlessOptedInAfter: new Date(message.created_at),
      });
    const reached = r.status === 'sent' || r.status === 'delivered';
    return this.move(message.id, MessagesRepository.statusesBefore(r.status), r.status, {
      providerMessageId: r.providerMessageId,
      fromDeliveryUnknown: reached,
      ...(r.error ? { error: r.error } : reached ? { error: null } : {}),
      detail: { source: r.provider, ...r.detail },
    });
  }

  /** A send interrupted while the provider was being called: settled, never sent again. */
  settleInterrupted(id: string): Promise<MessageRow | null> {
    return this.move(id, ['sending'], 'failed', {
      error: `${DELIVERY_UNKNOWN}: the worker stopped while the provider was being called; not sent again to avoid a duplicate`,
      detail: { source: 'relay' },
    });
  }

  private async announce({ event_id: eventId, ...row }: TransitionedRow): Promise<void> {
    this.reached.inc({ status: row.status, type: row.type, provider: row.provider ?? 'none' });
    await this.events.emitAsync(MESSAGE_STATUS_CHANGED, new MessageStatusChanged(row, eventId));
  }
}
