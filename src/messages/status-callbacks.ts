// Status callbacks to clients, signed per Standard Webhooks (https://www.standardwebhooks.com): enqueued
// where the status changes, POSTed and retried by the worker, never from the request path.
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { createHmac, randomUUID } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { callbackJobOptions, JobName, QueueName, StatusCallbackPayload } from '../workers/job-catalogue';
import type { MessageRow } from './message.types';

/** The client's signing secret, derived from WEBHOOK_SIGNING_SECRET and its API key id (whsec_ + base64). */
export function webhookSecret(masterSecret: string, clientId: string): string {
  return `whsec_${createHmac('sha256', masterSecret).update(`webhook:${clientId}`).digest('base64')}`;
}

/** The Standard Webhooks signature header value: v1,<base64 HMAC-SHA256 of "id.timestamp.body">. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

@Injectable()
export class StatusCallbacks {
  private readonly logger = new Logger('StatusCallbacks');

  constructor(
    @InjectQueue(QueueName.Webhooks) private readonly queue: Queue,
    private readonly config: AppConfig,
  ) {}

  private readonly listeners: ((m: MessageRow) => Promise<void>)[] = [];

  /** In-process listeners of status changes (OTP re-sends an undelivered WhatsApp code by SMS). */
  onStatus(listener: (m: MessageRow) => Promise<void>): void {
    this.listeners.push(listener);
  }

  /**
   * Called at every status change: runs the in-process listeners, then queues one callback if the message
   * asked for callbacks. Never throws.
   */
  async notify(m: MessageRow): Promise<void> {
    for (const listener of this.listeners) {
      await listener(m).catch((err: Error) =>
        this.logger.warn(`status listener failed for ${m.id}: ${err.message}`),
      );
    }
    if (!m.status_callback) return;
    const payload: StatusCallbackPayload = {
      messageId: m.id,
      eventId: randomUUID(),
      url: m.status_callback,
      clientId: m.client_id,
      status: m.status,
      at: new Date(m.updated_at ?? Date.now()).toISOString(),
    };
    try {
      await this.queue.add(JobName.StatusCallback, payload, {
        ...callbackJobOptions(this.config),
        jobId: payload.eventId,
      });
    } catch (err) {
      this.logger.warn(`status callback for ${m.id} (${m.status}) not queued: ${(err as Error).message}`);
    }
  }

  /** Delivers one callback (worker). A non-2xx answer or a network error throws, so BullMQ retries it. */
  async deliver(p: StatusCallbackPayload): Promise<void> {
    const body = JSON.stringify({
      type: 'message.status',
      timestamp: p.at,
      data: { id: p.messageId, status: p.status },
    });
    const id = `msg_${p.eventId}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = signWebhook(
      webhookSecret(this.config.secrets.webhook, p.clientId),
      id,
      timestamp,
      body,
    );
    const res = await fetch(p.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signature,
      },
      body,
      signal: AbortSignal.timeout(this.config.messages.providerTimeoutMs),
    });
    if (!res.ok) throw new Error(`status callback answered ${res.status}`);
  }
}
