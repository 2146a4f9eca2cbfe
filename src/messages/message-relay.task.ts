import { Injectable, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ScheduledJobName } from '../workers/job-catalogue';
import { JobScheduler, ScheduledTask } from '../workers/job-scheduler';
import { MessageStatusService } from './message-status.service';
import { MessagesRepository } from './messages.repository';
import { MessagesService } from './messages.service';

const BATCH = 500;
/** A pending message younger than this is still being queued by the API. */
const GRACE_SECONDS = 10;

/**
 * Keeps the 202 promise: a message stored as pending whose job is missing (Redis was down when it was
 * accepted, or lost its data) or finished without sending it (its job failed on a database error) is queued
 * again. The job id is the message id, so this never makes a second job for one message. Messages stuck in
 * `sending` longer than three provider timeouts were interrupted mid-call: they are marked failed with
 * DELIVERY_UNKNOWN rather than sent again (a late provider callback still moves them on).
 */
@Injectable()
export class MessageRelayTask implements ScheduledTask, OnModuleInit {
  readonly spec;

  constructor(
    private readonly config: AppConfig,
    private readonly scheduler: JobScheduler,
    private readonly repo: MessagesRepository,
    private readonly messages: MessagesService,
    private readonly status: MessageStatusService,
  ) {
    this.spec = { name: ScheduledJobName.MessageRelay, intervalSeconds: config.messages.relayIntervalSec };
  }

  onModuleInit(): void {
    this.scheduler.register(this);
  }

  async tick(): Promise<string | void> {
    let requeued = 0;
    for (const m of await this.repo.stalePending(GRACE_SECONDS, BATCH)) {
      const job = await this.messages.queueOf(m.type).getJob(m.id);
      if (job) {
        const state = await job.getState();
        if (state !== 'completed' && state !== 'failed') continue; // waiting, delayed or active: it will run
        await job.remove();
      }
      await this.messages.enqueue(m);
      requeued++;
    }
    const stuckAfter = Math.ceil((this.config.messages.providerTimeoutMs * 3) / 1000);
    let settled = 0;
    for (const { id } of await this.repo.stuckSending(stuckAfter, BATCH)) {
      if (await this.status.settleInterrupted(id)) settled++;
    }
    if (requeued || settled)
      return `message-relay: ${requeued} re-queued, ${settled} interrupted send(s) settled`;
  }
}
