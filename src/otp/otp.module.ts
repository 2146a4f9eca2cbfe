import { Module } from '@nestjs/common';
import { MessagesCoreModule } from '../messages/messages.module';
import { SessionCoreModule } from '../session/session.module';
import { OtpController, UserVerificationController } from './otp.controller';
import { OtpPumpingAdminController } from './otp-admin.controller';
import { OtpRepository } from './otp.repository';
import { OtpService } from './otp.service';
import { CaptchaVerifier } from './captcha.verifier';

@Module({
  imports: [MessagesCoreModule, SessionCoreModule],
  controllers: [OtpController, UserVerificationController, OtpPumpingAdminController],
  providers: [OtpRepository, OtpService, CaptchaVerifier],
})
export class OtpModule {}

/**
 * A worker process on its own still needs OtpService for one thing: re-sending by SMS a WhatsApp code
 * that its send failed for (the listener on message status changes).
 */
@Module({
  imports: [MessagesCoreModule, SessionCoreModule],
  providers: [OtpRepository, OtpService, CaptchaVerifier],
})
export class OtpWorkerModule {}
