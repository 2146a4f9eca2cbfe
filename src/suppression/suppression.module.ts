import { Module } from '@nestjs/common';
import { SuppressionAdminController } from './suppression-admin.controller';

/**
 * The suppression list's admin API. The list itself (SuppressionList) and its reader (NumberBlocks) are core
 * providers: onboarding, OTP and messages all use them.
 */
@Module({ controllers: [SuppressionAdminController] })
export class SuppressionModule {}
