import { Module } from '@nestjs/common';
import { AccessTokenGuard } from './access-token.guard';
import { AuthController } from './auth.controller';
import { SessionCleanupTask } from './session-cleanup.task';
import { SessionController } from './session.controller';
import { SessionMetrics } from './session.metrics';
import { SessionRepository } from './session.repository';
import { SessionService } from './session.service';
import { TokenService } from './token.service';

/**
 * What every side uses: the store (Redis, with the memory fallback), sessions and tokens. Other modules import
 * this one: OTP verification calls SessionService.create and TokenService.issue; health reads the store's state.
 */
@Module({
  providers: [SessionRepository, SessionMetrics, SessionService, TokenService],
  exports: [SessionRepository, SessionService, TokenService],
})
export class SessionCoreModule {}

/** The API side: /sessions, /users/{user_id}/sessions and the end-user /auth routes. */
@Module({
  imports: [SessionCoreModule],
  controllers: [SessionController, AuthController],
  providers: [AccessTokenGuard],
  exports: [SessionCoreModule],
})
export class SessionModule {}

/** The worker side: the clean-up of the per-user indexes. */
@Module({
  imports: [SessionCoreModule],
  providers: [SessionCleanupTask],
})
export class SessionWorkerModule {}
