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

/**
 * The inbound-SMS pipeline and the warm-up of the Redis flags it reads: the API's doors use it, and so does the
 * worker, which holds the SMPP bind that mobile-originated SMS arrive on. (One instance when a process runs
 * both: Nest builds a module once.) Device binding's token flow is part of the pipeline.
 */
@Module({
  imports: [OnboardingCoreModule],
  providers: [InboundSmsService, WarmupService, DeviceBindingService, DeviceBindingRepository],
  exports: [InboundSmsService, WarmupService, DeviceBindingService],
})
export class InboundSmsModule {}

/** The API side: register, device binding, inbound SMS, status, admin. */
@Module({
  imports: [OnboardingCoreModule, InboundSmsModule],
  controllers: [OnboardingController, DeviceBindingController, OnboardingAdminController],
  providers: [OnboardingService, OnboardingAdminService],
  exports: [InboundSmsModule],
})
export class OnboardingModule {}

/** The worker side: the abuse detector, the monitor-logger, and SMPP's mobile-originated SMS. */
@Module({
  imports: [OnboardingCoreModule, InboundSmsModule],
  providers: [AbuseDetectorTask, MonitorLoggerTask],
})
export class OnboardingWorkerModule {}
