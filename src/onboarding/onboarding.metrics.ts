import { Injectable } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service';
import { OnboardingRepository } from './onboarding.repository';

@Injectable()
export class OnboardingMetrics {
  readonly register;
  readonly inbound;
  readonly blacklisted;
  readonly bind;
  readonly devicesFlagged;

  constructor(metrics: MetricsService, repo: OnboardingRepository) {
    this.register = metrics.counter('smsb_onboarding_register_total', 'Register requests by outcome', [
      'outcome',
    ]);
    this.inbound = metrics.counter('smsb_inbound_sms_total', 'Inbound SMS by outcome and reason', [
      'outcome',
      'reason',
    ]);
    this.blacklisted = metrics.counter('smsb_numbers_blacklisted_total', 'Numbers added to the blacklist', [
      'source',
    ]);
    this.bind = metrics.counter('smsb_device_bind_total', 'Device-binding token requests by outcome', [
      'outcome',
    ]);
    this.devicesFlagged = metrics.counter(
      'smsb_devices_flagged_total',
      'Devices flagged because a token of theirs came from a number it was not bound to',
      [],
    );
    metrics.gauge(
      'smsb_audit_backlog',
      'Audit events waiting in Redis for the monitor-logger',
      [],
      async function () {
        this.set(await repo.auditBacklog().catch(() => -1));
      },
    );
  }
}
