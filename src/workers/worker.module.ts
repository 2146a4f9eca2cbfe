import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { JobScheduler } from './job-scheduler';
import { WorkerHeartbeatTask } from './worker-heartbeat.task';

/** The worker side: the scheduler and its tasks (and, as modules land, the BullMQ processors). */
@Module({
  imports: [ScheduleModule.forRoot()],
  providers: [JobScheduler, WorkerHeartbeatTask],
  exports: [JobScheduler],
})
export class WorkerModule {}
