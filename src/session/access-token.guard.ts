// The guard of end-user routes (/auth/*, marked @EndUser() so the API-key guard lets them through): a valid,
// unexpired, not deny-listed access token whose session still exists.
import { CanActivate, createParamDecorator, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppException } from '../common/app.exception';
import { SessionService, SessionView, TokenClaims } from './session.service';
import { TokenService } from './token.service';

export interface EndUserContext {
  claims: TokenClaims;
  session: SessionView;
}

interface EndUserRequest extends FastifyRequest {
  endUser?: EndUserContext;
}

@Injectable()
export class AccessTokenGuard implements CanActivate {
  constructor(
    private readonly tokens: TokenService,
    private readonly sessions: SessionService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<EndUserRequest>();
    const header = req.headers.authorization;
    const token = header && /^bearer\s+/i.test(header) ? header.replace(/^bearer\s+/i, '').trim() : '';
    if (!token) {
      throw new AppException(401, 'TOKEN_MISSING', 'An access token is required (Authorization: Bearer)');
    }
    const claims = this.tokens.verify(token);
    req.endUser = { claims, session: await this.sessions.authenticate(claims) };
    return true;
  }
}

/** The checked token and its (just touched) session, in a handler behind AccessTokenGuard. */
export const EndUserAuth = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): EndUserContext =>
    ctx.switchToHttp().getRequest<EndUserRequest>().endUser!,
);
