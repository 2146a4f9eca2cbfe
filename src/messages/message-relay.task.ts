import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { AppConfig } from '../config/app-config';
import { ScheduledJobName } from '../workers/job-catalogue';
import { ScheduledJob, ScheduledJobHandler } from '../workers/job-scheduler';
import { MessageType } from './message.types';
import { MessageStatusService } from './message-status.service';
import { DueCursor, MessagesRepository } from './messages.repository';
import { MessagesService } from './messages.service';
import { StatusCallbacks } from './status-callbacks';
import { sendBudgetMs } from './providers/router';

const PAGE = 500;
/** A pending message younger than this (or due for less long) is still being queued by the API. */
const GRACE_SECONDS = 10;

type Due = { id: string; type: MessageType; send_at: Date | null } & DueCursor;

/**
 * Keeps the 202 promise: a due pending message whose job is missing (the API died after the INSERT, Redis was
 * down when it was accepted, or lost its data) or finished without sending it (its job failed on a database
 * error) is queued again. It walks every due pending message in the order they fell due, a page at a time,
 * checking the page's jobs in one pipelined round trip per queue; messages scheduled for later are never
 * read. A tick goes on until the walk ends or its time is up; the next tick continues where it stopped. The
 * job id is the message id, so this never makes a second job for one message. Messages stuck in `sending`
 * longer than a whole route's provider timeouts (sendBudgetMs) were interrupted mid-call: they are settled as failed with
 * DELIVERY_UNKNOWN rather than sent again (a late provider callback still moves them on).
 */
@Injectable()
@ScheduledJob(ScheduledJobName.MessageRelay)
export class MessageRelayTask implements ScheduledJobHandler {
  /** Where the walk stopped when a tick ran out of time (null: start from the oldest due message). */
  private cursor: DueCursor | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly repo: MessagesRepository,
    private readonly messages: MessagesService,
    private readonly status: MessageStatusService,
    private readonly callbacks: StatusCallbacks,
  ) {}

  async tick(signal?: AbortSignal): Promise<string | void> {
    let requeued = 0;
    for (;;) {
      const page: Due[] = await this.repo.duePending(GRACE_SECONDS, this.cursor, PAGE);
      requeued += await this.requeueOrphans(page);
      const last = page[page.length - 1];
      this.cursor = page.length === PAGE ? { due: last.due, id: last.id } : null;
      if (!this.cursor || signal?.aborted) break;
    }
    const m = this.config.messages;
    const stuckAfter = Math.ceil(sendBudgetMs(m.routes, m.providerTimeoutMs) / 1000);
    let settled = 0;
    for (const { id } of await this.repo.stuckSending(stuckAfter, PAGE)) {
      if (signal?.aborted) break;
      if (await this.status.settleInterrupted(id)) settled++;
    }
    const callbacks = signal?.aborted ? 0 : await this.callbacks.requeueRemembered(PAGE);
    if (requeued || settled || callbacks)
      return `message-relay: ${requeued} re-queued, ${settled} interrupted send(s) settled, ${callbacks} callback(s) queued`;
  }

  /** Queues the messages of a page whose job is missing or finished; returns how many. */
  private async requeueOrphans(page: Due[]): Promise<number> {
    const byType = new Map<MessageType, Due[]>();
    for (const m of page) byType.set(m.type, [...(byType.get(m.type) ?? []), m]);
    const orphans: Due[] = [];
    for (const [type, ms] of byType) {
      const queue = this.messages.queueOf(type);
      const pipeline = ((await queue.client) as unknown as Redis).pipeline();
      for (const m of ms) pipeline.hmget(queue.toKey(m.id), 'timestamp', 'finishedOn');
      const answers = (await pipeline.exec()) ?? [];
      for (const [i, m] of ms.entries()) {
        const [err, fields] = answers[i] ?? [];
        if (err) throw err;
        const [created, finished] = (fields as (string | null)[] | undefined) ?? [null, null];
        if (created && !finished) continue; // waiting, delayed or active: it will run
        if (finished) await queue.remove(m.id);
        orphans.push(m);
      }
    }
    await Promise.all(orphans.map((m) => this.messages.enqueue(m)));
    return orphans.length;
  }
}
