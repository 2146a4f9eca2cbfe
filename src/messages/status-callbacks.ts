// Status callbacks to clients, signed per Standard Webhooks (https://www.standardwebhooks.com): queued where
// the status changes (one job per change), POSTed and retried by the worker, never from the request path.
// One message's callbacks go out one at a time and in the order the changes happened: a job takes the
// message's callback lock and delivers every change not yet delivered, oldest first, recording each in
// Postgres (messages.callback_event_id); a later change waits until the earlier ones are through. So a client
// never receives an older status after a newer one.
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { DelayedError, Job, Queue, UnrecoverableError } from 'bullmq';
import { createHmac } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { JobLock } from '../workers/job-lock';
import { callbackJobOptions, JobName, QueueName, StatusCallbackPayload } from '../workers/job-catalogue';
import { CallbackUrlRefused, postCallback } from './callback-urls';
import { MESSAGE_STATUS_CHANGED, MessageStatusChanged } from './message-status.service';
import { MessagesRepository, UndeliveredCallback } from './messages.repository';

/** How soon a job finding the message's callbacks busy (another job delivering them) looks again. */
const BUSY_RETRY_MS = 250;

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
    private readonly repo: MessagesRepository,
    private readonly lock: JobLock,
  ) {}

  /**
   * Every status change of a message that asked for callbacks queues one job. Never throws: a job that
   * cannot be queued (Redis away) is remembered in Postgres, and the relay queues it once Redis answers.
   */
  @OnEvent(MESSAGE_STATUS_CHANGED, { promisify: true })
  async onStatusChanged({ message: m, eventId }: MessageStatusChanged): Promise<void> {
    if (!m.status_callback) return;
    try {
      await this.enqueue(m.id, eventId);
    } catch (err) {
      this.logger.warn(
        `status callback for ${m.id} (${m.status}) not queued: ${(err as Error).message}; the relay will`,
      );
      await this.repo
        .rememberCallback(m.id, eventId)
        .catch((e: Error) =>
          this.logger.error(`status callback for ${m.id} neither queued nor remembered: ${e.message}`),
        );
    }
  }

  private async enqueue(messageId: string, eventId: string): Promise<void> {
    const payload: StatusCallbackPayload = { messageId, eventId };
    await this.queue.add(JobName.StatusCallback, payload, {
      ...callbackJobOptions(this.config),
      jobId: `${messageId}.${eventId}`, // BullMQ refuses ":" in job ids
    });
  }

  /** Queues the callbacks remembered while Redis was away (relay); returns how many. */
  async requeueRemembered(limit: number): Promise<number> {
    let queued = 0;
    for (const r of await this.repo.rememberedCallbacks(limit)) {
      await this.enqueue(r.message_id, r.event_id);
      await this.repo.forgetCallback(r.message_id, r.event_id);
      queued++;
    }
    return queued;
  }

  /**
   * Delivers, in order, the message's status changes not delivered yet (worker). Another job delivering them
   * now: this one waits a moment (without using an attempt). A non-2xx answer or a network error throws, so
   * BullMQ retries, and later changes wait behind it.
   */
  async deliver(job: Job<StatusCallbackPayload>, token?: string): Promise<void> {
    const { messageId } = job.data;
    const lockName = `callbacks:${messageId}`;
    // Longer than one POST (bounded by PROVIDER_TIMEOUT_MS), and confirmed before each one.
    const ttlMs = this.config.messages.providerTimeoutMs * 2 + 5000;
    const owner = await this.lock.acquire(lockName, ttlMs);
    if (!owner) {
      await job.moveToDelayed(Date.now() + BUSY_RETRY_MS, token);
      throw new DelayedError();
    }
    try {
      for (const change of await this.repo.undeliveredCallbacks(messageId)) {
        // Still ours? A worker that stalled (a network blip, a pause) past the lock's lease has lost it, and
        // another may have delivered newer changes since: posting its older list now would send an older
        // status after a newer one. It stops; the owner delivers what is left.
        if (!(await this.lock.extend(lockName, owner, ttlMs))) return;
        await this.post(messageId, change);
        await this.repo.callbackDelivered(messageId, change.event_id);
      }
    } finally {
      await this.lock.release(lockName, owner).catch(() => undefined);
    }
  }

  private async post(messageId: string, c: UndeliveredCallback): Promise<void> {
    const body = JSON.stringify({
      type: 'message.status',
      timestamp: new Date(c.created_at).toISOString(),
      data: { id: messageId, status: c.status, sequence: Number(c.event_id) },
    });
    const id = `msg_${messageId}_${c.event_id}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = signWebhook(
      webhookSecret(this.config.secrets.webhook, c.client_id),
      id,
      timestamp,
      body,
    );
    let status: number;
    try {
      status = await postCallback(
        c.status_callback,
        {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signature,
        },
        body,
        {
          timeoutMs: this.config.messages.providerTimeoutMs,
          allowPrivate: this.config.messages.allowPrivateCallbackUrls,
        },
      );
    } catch (err) {
      // The URL now leads somewhere it must not (its DNS changed): no retry will make it safe.
      if (err instanceof CallbackUrlRefused) throw new UnrecoverableError(err.message);
      throw err;
    }
    if (status < 200 || status >= 300) throw new Error(`status callback answered ${status}`);
  }
}
