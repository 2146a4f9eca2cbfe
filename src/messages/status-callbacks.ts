// Status callbacks to clients, signed per Standard Webhooks (https://www.standardwebhooks.com): enqueued
// where the status changes, POSTed and retried by the worker, never from the request path.
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import type { Queue } from 'bullmq';
import { createHmac, randomUUID } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { callbackJobOptions, JobName, QueueName, StatusCallbackPayload } from '../workers/job-catalogue';
import { MESSAGE_STATUS_CHANGED, MessageStatusChanged } from './message-status.service';

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

  /**
   * Every status change of a message that asked for callbacks queues one callback. Never throws (a callback
   * that cannot be queued is logged).
   */
  @OnEvent(MESSAGE_STATUS_CHANGED, { promisify: true })
  async onStatusChanged({ message: m }: MessageStatusChanged): Promise<void> {
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
