import { Injectable } from '@nestjs/common';
import { ScheduledJobName } from '../workers/job-catalogue';
import { ScheduledJob, ScheduledJobHandler } from '../workers/job-scheduler';
import { allSessionBuckets } from '../redis/redis-keys';
import { SessionRepository } from './session.repository';

const BATCH = 500;
/** At most this many batches per bucket and tick; what is left waits for the next tick. */
const MAX_BATCHES = 4;
/** Buckets walked at once. */
const PARALLEL = 16;

/**
 * Drops expired sessions from their users' indexes, so an index does not grow without bound for a user who keeps
 * signing in and never lists or revokes. It walks only the sessions whose expected expiry has passed (each user
 * bucket's session_expiry sorted set), so its cost grows with the sessions that expired, never with the keyspace.
 */
@Injectable()
@ScheduledJob(ScheduledJobName.SessionCleanup)
export class SessionCleanupTask implements ScheduledJobHandler {
  constructor(private readonly repo: SessionRepository) {}

  async tick(_signal?: AbortSignal, now = Date.now()): Promise<string | void> {
    let checked = 0;
    let removed = 0;
    // Every user bucket's expiry set, a few at a time (one Redis Cluster slot each).
    const buckets = allSessionBuckets();
    for (let from = 0; from < buckets.length; from += PARALLEL) {
      await Promise.all(
        buckets.slice(from, from + PARALLEL).map(async (bucket) => {
          for (let i = 0; i < MAX_BATCHES; i++) {
            const batch = await this.repo.cleanupBatch(now, BATCH, bucket);
            checked += batch.checked;
            removed += batch.removed;
            if (batch.checked < BATCH) break;
          }
        }),
      );
    }
    if (removed) return `session-cleanup: ${checked} session(s) due, ${removed} expired one(s) unindexed`;
  }
}
