import { Module } from '@nestjs/common';
import { MessagesCoreModule } from '../messages/messages.module';
import { SessionCoreModule } from '../session/session.module';
import { OtpController, UserVerificationController } from './otp.controller';
import { OtpRepository } from './otp.repository';
import { OtpService } from './otp.service';

@Module({
  imports: [MessagesCoreModule, SessionCoreModule],
  controllers: [OtpController, UserVerificationController],
  providers: [OtpRepository, OtpService],
})
export class OtpModule {}

/**
 * A worker process on its own still needs OtpService for one thing: re-sending by SMS a WhatsApp code
 * that its send failed for (the listener on message status changes).
 */
@Module({
  imports: [MessagesCoreModule, SessionCoreModule],
  providers: [OtpRepository, OtpService],
})
export class OtpWorkerModule {}
