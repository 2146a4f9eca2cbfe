import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { SessionCoreModule } from '../session/session.module';
import { DatabaseHealthIndicator } from './database.health';
import { HealthController } from './health.controller';
import { HealthMetrics } from './health.metrics';
import { HealthService } from './health.service';

@Module({
  imports: [
    TerminusModule.forRoot({ errorLogStyle: 'pretty', gracefulShutdownTimeoutMs: 0 }),
    SessionCoreModule,
  ],
  controllers: [HealthController],
  providers: [HealthService, DatabaseHealthIndicator, HealthMetrics],
})
export class HealthModule {}
