import { Controller, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { EndUser } from '../http/access.decorator';
import { ErrorDto } from '../http/error.dto';
import { AccessTokenGuard, EndUserAuth, EndUserContext } from './access-token.guard';
import { MeDto } from './dto/auth.dto';
import { SessionService } from './session.service';

const UNAUTHORIZED = ApiResponse({
  status: 401,
  type: ErrorDto,
  description:
    'no token (TOKEN_MISSING), a bad signature (TOKEN_INVALID), expired (TOKEN_EXPIRED), revoked (TOKEN_REVOKED) ' +
    'or its session is gone (SESSION_ENDED)',
});
const UNAVAILABLE = ApiResponse({ status: 503, type: ErrorDto, description: 'Redis unreachable' });

/** End-user routes: an access token (JWT) instead of an API key. */
@ApiTags('auth')
@ApiBearerAuth('access-token')
@EndUser()
@UseGuards(AccessTokenGuard)
@Controller('auth')
export class AuthController {
  constructor(private readonly sessions: SessionService) {}

  @Get('me')
  @ApiOperation({ summary: 'The token’s user and session (using a token counts as session activity)' })
  @ApiOkResponse({ type: MeDto })
  @UNAUTHORIZED
  @UNAVAILABLE
  me(@EndUserAuth() auth: EndUserContext): MeDto {
    return {
      user_id: auth.claims.sub,
      token_expires_at: new Date(auth.claims.exp * 1000).toISOString(),
      session: auth.session,
    };
  }

  @Post('logout')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Log out: revoke this token and end its session',
    description:
      'The token is deny-listed until its own expiry; other sessions of the user are not affected.',
  })
  @ApiNoContentResponse({ description: 'logged out' })
  @UNAUTHORIZED
  @UNAVAILABLE
  async logout(@EndUserAuth() auth: EndUserContext): Promise<void> {
    await this.sessions.logout(auth.claims);
  }
}
