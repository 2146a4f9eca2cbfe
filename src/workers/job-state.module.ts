import { Global, Module } from '@nestjs/common';
import { Heartbeats } from './heartbeats';
import { JobLock } from './job-lock';

/** What both processes need of the background machinery: locks and heartbeats (health reads them). */
@Global()
@Module({ providers: [JobLock, Heartbeats], exports: [JobLock, Heartbeats] })
export class JobStateModule {}
