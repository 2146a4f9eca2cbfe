import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DelayedError, Job, Worker } from 'bullmq';
import { AppConfig } from '../config/app-config';
import { bullmqConnection, bullmqPrefix } from '../redis/redis-options';
import {
  MESSAGE_QUEUES,
  QueueName,
  SendMessagePayload,
  StatusCallbackPayload,
} from '../workers/job-catalogue';
import { MessageSender, PacedError } from './message-sender';
import { StatusCallbacks } from './status-callbacks';

/**
 * The BullMQ workers of the worker process: one per message queue, and one for status callbacks. Created
 * here rather than with @Processor because concurrency and the per-provider rate limit come from
 * configuration, which decorator options cannot read. On shutdown they stop taking jobs and wait for the
 * active ones (before Redis and Postgres close).
 */
@Injectable()
export class MessageWorkers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('MessageWorkers');
  private readonly workers: Worker[] = [];

  constructor(
    private readonly config: AppConfig,
    private readonly sender: MessageSender,
    private readonly callbacks: StatusCallbacks,
  ) {}

  onApplicationBootstrap(): void {
    const m = this.config.messages;
    const common = {
      connection: bullmqConnection(this.config.redis, 'worker'),
      concurrency: m.workerConcurrency,
      // A job whose worker died is picked up again after this long (stalled-job recovery).
      stalledInterval: 15_000,
      maxStalledCount: 3,
    };
    for (const name of MESSAGE_QUEUES) {
      const perSecond = name === QueueName.Email ? m.emailPerSecond : m.smsPerSecond;
      this.start(
        new Worker<SendMessagePayload>(name, (job, token) => this.send(job, token), {
          ...common,
          prefix: bullmqPrefix(this.config.redis, name),
          limiter: { max: perSecond, duration: 1000 },
        }),
      );
    }
    this.start(
      new Worker<StatusCallbackPayload>(
        QueueName.Webhooks,
        (job, token) => this.callbacks.deliver(job, token),
        { ...common, prefix: bullmqPrefix(this.config.redis, QueueName.Webhooks) },
      ),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }

  private start(worker: Worker): void {
    worker.on('error', (err) => this.logger.warn(`${worker.name} worker: ${err.message}`));
    worker.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1))
        this.logger.warn(`${worker.name} job ${job.id} gave up: ${err.message}`);
    });
    this.workers.push(worker);
  }

  private async send(job: Job<SendMessagePayload>, token?: string) {
    const number = job.attemptsMade + 1;
    try {
      return await this.sender.send(job.data.messageId, {
        number,
        final: number >= (job.opts.attempts ?? 1),
      });
    } catch (err) {
      if (!(err instanceof PacedError)) throw err;
      // Delayed without using one of its attempts (BullMQ's manual delay: moveToDelayed, then DelayedError).
      await job.moveToDelayed(Date.now() + err.delayMs, token);
      throw new DelayedError();
    }
  }
}
