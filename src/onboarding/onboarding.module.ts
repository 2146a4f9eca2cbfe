import { Module } from '@nestjs/common';
import { AbuseDetectorTask } from './abuse-detector.task';
import { DeviceBindingController } from './device-binding.controller';
import { DeviceBindingRepository } from './device-binding.repository';
import { DeviceBindingService } from './device-binding.service';
import { OnboardingAdminService } from './admin.service';
import { InboundSmsService } from './inbound-sms.service';
import { OnboardingAdminController } from './onboarding-admin.controller';
import { OnboardingController } from './onboarding.controller';
import { OnboardingMetrics } from './onboarding.metrics';
import { OnboardingRepository } from './onboarding.repository';
import { OnboardingService } from './onboarding.service';
import { MonitorLoggerTask } from './monitor-logger.task';
import { SettingsService } from './settings.service';
import { WarmupService } from './warmup.service';

/** What both sides use: the repository, the settings and the metrics. */
@Module({
  providers: [OnboardingRepository, SettingsService, OnboardingMetrics],
  exports: [OnboardingRepository, SettingsService, OnboardingMetrics],
})
export class OnboardingCoreModule {}

/** The API side: register, device binding, inbound SMS, status, admin; the warm-up of the Redis sets. */
@Module({
  imports: [OnboardingCoreModule],
  controllers: [OnboardingController, DeviceBindingController, OnboardingAdminController],
  providers: [
    OnboardingService,
    InboundSmsService,
    DeviceBindingService,
    DeviceBindingRepository,
    OnboardingAdminService,
    WarmupService,
  ],
  exports: [InboundSmsService],
})
export class OnboardingModule {}

/** The worker side: the abuse detector and the monitor-logger. */
@Module({
  imports: [OnboardingCoreModule],
  providers: [AbuseDetectorTask, MonitorLoggerTask],
})
export class OnboardingWorkerModule {}
