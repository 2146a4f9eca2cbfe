import { DynamicModule, Global, Module, Type } from '@nestjs/common';
import { APP_FILTER, DiscoveryModule } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { LoggerModule } from 'nestjs-pino';
import { AllExceptionsFilter } from './http/all-exceptions.filter';
import { RateLimiters } from './common/rate-limit/rate-limit';
import { NumberBlocks } from './suppression/number-blocks';
import { SuppressionList } from './suppression/suppression-list';
import { SuppressionModule } from './suppression/suppression.module';
import { loggerParams } from './common/logging';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule, DatabaseWorkerModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { ReadinessService } from './health/readiness.service';
import { MetricsController } from './metrics/metrics.controller';
import { MessagesModule, MessagesWorkerModule } from './messages/messages.module';
import { MetricsModule } from './metrics/metrics.module';
import { OnboardingModule, OnboardingWorkerModule } from './onboarding/onboarding.module';
import { RedisModule } from './redis/redis.module';
import { OtpModule, OtpWorkerModule } from './otp/otp.module';
import { SessionModule, SessionWorkerModule } from './session/session.module';
import { TemplatesModule } from './templates/templates.module';
import { SchedulerModule } from './workers/scheduler.module';
import { JobStateModule } from './workers/job-state.module';

/** What the API and the worker share: config, logging, Redis, Postgres, metrics, locks and heartbeats. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CoreModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerParams(config)),
        RedisModule,
        DatabaseModule,
        MetricsModule,
        JobStateModule,
        // Typed in-process events (message status changes) between modules that must not import each other.
        EventEmitterModule.forRoot(),
      ],
      providers: [ReadinessService, RateLimiters, NumberBlocks, SuppressionList],
      exports: [ReadinessService, RateLimiters, NumberBlocks, SuppressionList],
    };
  }
}

/**
 * The HTTP side: controllers and the error filter. The API-key guard is a Fastify hook of each route that needs a
 * key (installApiKeyGuard, from bootstrap.ts), which reads the routes' access levels through DiscoveryModule.
 */
@Module({
  imports: [
    DiscoveryModule,
    HealthModule,
    OnboardingModule,
    MessagesModule,
    SessionModule,
    OtpModule,
    TemplatesModule,
    SuppressionModule,
  ],
  controllers: [MetricsController],
  providers: [{ provide: APP_FILTER, useClass: AllExceptionsFilter }],
})
export class ApiModule {}

/** The root module for a role: `api`, `worker`, or `all` (both in one process, for development). */
@Module({})
export class AppModule {
  static forRole(config: AppConfig, extraModules: (Type | DynamicModule)[] = []): DynamicModule {
    const imports: (Type | DynamicModule)[] = [CoreModule.forRoot(config)];
    if (config.runsApi) imports.push(ApiModule);
    if (config.runsWorker) {
      imports.push(
        SchedulerModule,
        OnboardingWorkerModule,
        MessagesWorkerModule,
        SessionWorkerModule,
        DatabaseWorkerModule,
      );
      // With the API in the same process OtpModule is there already (one listener, not two).
      if (!config.runsApi) imports.push(OtpWorkerModule);
    }
    imports.push(...extraModules);
    return { module: AppModule, imports };
  }
}
