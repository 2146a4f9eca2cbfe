import { Injectable, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ScheduledJobName } from './job-catalogue';
import { JobScheduler, ScheduledTask } from './job-scheduler';

/** Proves that a worker process is alive even when no other job has anything to do. */
@Injectable()
export class WorkerHeartbeatTask implements ScheduledTask, OnModuleInit {
  readonly spec;

  constructor(
    config: AppConfig,
    private readonly scheduler: JobScheduler,
  ) {
    this.spec = { name: ScheduledJobName.Worker, intervalSeconds: config.jobs.heartbeatIntervalSec };
  }

  onModuleInit(): void {
    this.scheduler.register(this);
  }

  async tick(): Promise<void> {
    // The scheduler writes the heartbeat after every tick; there is nothing else to do.
  }
}
