import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { JobScheduler } from './job-scheduler';

/**
 * The worker's scheduler: it runs every job of the catalogue (src/workers/job-catalogue.ts) on its interval,
 * through the handler it discovers at boot (`@ScheduledJob`), and writes the heartbeats.
 */
@Module({
  imports: [ScheduleModule.forRoot(), DiscoveryModule],
  providers: [JobScheduler],
  exports: [JobScheduler],
})
export class SchedulerModule {}
