import { Inject, Injectable } from '@nestjs/common';
import { hostname } from 'node:os';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { RedisKeys } from '../redis/redis-keys';
import type { ScheduledJobSpec } from './job-catalogue';

interface Beat {
  at: number;
  host: string;
  pid: number;
}

export type JobState = 'up' | 'down' | 'never_reported';

export interface JobHealth {
  status: JobState;
  last_beat?: string;
  age_seconds?: number;
  interval_seconds: number;
}

/** A heartbeat is kept a day, so a dead worker reads as "down" (stale), not as "never reported". */
const BEAT_TTL_SECONDS = 86400;

@Injectable()
export class Heartbeats {
  constructor(@Inject(REDIS) private readonly redis: RedisClient) {}

  async beat(name: string): Promise<void> {
    const beat: Beat = { at: Date.now(), host: hostname(), pid: process.pid };
    await this.redis.set(RedisKeys.workerHeartbeat(name), JSON.stringify(beat), 'EX', BEAT_TTL_SECONDS);
  }

  /** A job is down when its last beat is older than three of its intervals. One MGET for all jobs. */
  async read(jobs: ScheduledJobSpec[], now = Date.now()): Promise<Record<string, JobHealth>> {
    if (!jobs.length) return {};
    const raw = await this.redis.mget(...jobs.map((j) => RedisKeys.workerHeartbeat(j.name)));
    const out: Record<string, JobHealth> = {};
    jobs.forEach((job, i) => {
      const value = raw[i];
      if (!value) {
        out[job.name] = { status: 'never_reported', interval_seconds: job.intervalSeconds };
        return;
      }
      let at = 0;
      try {
        at = (JSON.parse(value) as Beat).at;
      } catch {
        at = 0;
      }
      const age = Math.max(0, (now - at) / 1000);
      out[job.name] = {
        status: age > job.intervalSeconds * 3 ? 'down' : 'up',
        last_beat: new Date(at).toISOString(),
        age_seconds: Math.round(age * 10) / 10,
        interval_seconds: job.intervalSeconds,
      };
    });
    return out;
  }
}
