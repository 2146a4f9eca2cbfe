import {
  Body,
  Controller,
  createParamDecorator,
  Delete,
  ExecutionContext,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ErrorDto } from '../http/error.dto';
import { SESSION_ID_PATTERN } from './session-record';
import {
  CreateSessionDto,
  RevokeSessionsQueryDto,
  SessionCreatedDto,
  SESSION_ID_EXAMPLE,
  SessionDto,
  SessionsRevokedDto,
  UpdateSessionDto,
  UserIdParamDto,
  UserSessionsDto,
} from './dto/session.dto';
import { notFound, SessionService } from './session.service';
import { Validated } from '../http/validation.pipe';

const BAD_REQUEST = ApiResponse({ status: 400, type: ErrorDto, description: 'invalid body or parameters' });
const NO_KEY = ApiResponse({ status: 401, type: ErrorDto, description: 'missing or wrong API key' });
const NOT_FOUND = ApiResponse({
  status: 404,
  type: ErrorDto,
  description: 'no such session, or it expired (SESSION_NOT_FOUND)',
});
const UNAVAILABLE = ApiResponse({
  status: 503,
  type: ErrorDto,
  description: 'Redis unreachable and the answer needs it (REDIS_UNAVAILABLE)',
});

/**
 * The `:id` path parameter, a session id of any shape: one that cannot be a session's is unknown like any other,
 * so GET and PATCH answer 404 (not 400), and DELETE (`lenient`) has nothing to end (null). Checked as Nest takes
 * it from the request (a parameter decorator), not by a pipe: Nest makes several promises per pipe and request,
 * and session get is a hot route.
 */
export const readSessionIdParam = (lenient: boolean | undefined, ctx: ExecutionContext): string | null => {
  const id = ctx.switchToHttp().getRequest<FastifyRequest<{ Params: { id: string } }>>().params.id;
  if (SESSION_ID_PATTERN.test(id)) return id;
  if (lenient) return null;
  throw notFound();
};
export const SessionIdParam = createParamDecorator(readSessionIdParam);

@ApiTags('sessions')
@Controller()
export class SessionController {
  constructor(private readonly sessions: SessionService) {}

  @Post('sessions')
  @ApiOperation({
    summary: 'Create a session for a user',
    description:
      'Records the end user’s IP and User-Agent (from the body, else from this request) so the user can tell ' +
      'sessions apart. TTL: 30 min, 1 h while active in the last 5 min, never more than 2 h per write, ' +
      'and never past the absolute lifetime (24 h).',
  })
  @ApiCreatedResponse({ type: SessionCreatedDto })
  @BAD_REQUEST
  @NO_KEY
  create(@Body(Validated) body: CreateSessionDto, @Req() req: FastifyRequest): Promise<SessionCreatedDto> {
    const ua = req.headers['user-agent'];
    return this.sessions.create({
      userId: body.user_id,
      context: body.context,
      ttlSeconds: body.ttl,
      ip: body.ip ?? req.ip,
      userAgent: body.user_agent ?? (typeof ua === 'string' ? ua : null),
    });
  }

  @Get('sessions/:id')
  @ApiOperation({
    summary: 'Read a session; this refreshes its last_activity and TTL',
    description: 'One Redis round trip. A session whose stored value is corrupt answers 404.',
  })
  @ApiOkResponse({ type: SessionDto })
  @NO_KEY
  @NOT_FOUND
  @UNAVAILABLE
  @ApiParam({
    name: 'id',
    schema: { type: 'string', pattern: SESSION_ID_PATTERN.source, example: SESSION_ID_EXAMPLE },
  })
  get(@SessionIdParam() id: string): Promise<SessionDto> {
    return this.sessions.get(id);
  }

  @Patch('sessions/:id')
  @ApiOperation({
    summary: 'Merge into a session’s context',
    description: 'Top-level keys replace those in the context; a key set to null is removed. Not activity.',
  })
  @ApiOkResponse({ type: SessionDto })
  @BAD_REQUEST
  @NO_KEY
  @NOT_FOUND
  @ApiResponse({ status: 409, type: ErrorDto, description: 'kept changing during the merge (SESSION_BUSY)' })
  @UNAVAILABLE
  @ApiParam({ name: 'id', type: String })
  update(@SessionIdParam() id: string, @Body(Validated) body: UpdateSessionDto): Promise<SessionDto> {
    return this.sessions.mergeContext(id, body.context);
  }

  @Delete('sessions/:id')
  @HttpCode(204)
  @ApiOperation({ summary: 'End a session (its access tokens stop working)' })
  @ApiNoContentResponse({ description: 'ended, or there was no such session' })
  @NO_KEY
  @UNAVAILABLE
  async remove(@SessionIdParam(true) id: string | null): Promise<void> {
    if (id) await this.sessions.delete(id);
  }

  @Get('users/:user_id/sessions')
  @ApiOperation({
    summary: 'A user’s live sessions, with the IP and User-Agent each was created from',
    description: 'Does not touch the sessions. Index entries of expired sessions are dropped on the way.',
  })
  @ApiOkResponse({ type: UserSessionsDto })
  @BAD_REQUEST
  @NO_KEY
  @UNAVAILABLE
  list(@Param(Validated) params: UserIdParamDto): Promise<UserSessionsDto> {
    return this.sessions.list(params.user_id);
  }

  @Delete('users/:user_id/sessions')
  @ApiOperation({
    summary: 'End all of a user’s sessions, or all but one (`except`)',
    description: 'Every access token of the ended sessions fails at once.',
  })
  @ApiOkResponse({ type: SessionsRevokedDto })
  @BAD_REQUEST
  @NO_KEY
  @UNAVAILABLE
  revokeAll(
    @Param(Validated) params: UserIdParamDto,
    @Query(Validated) query: RevokeSessionsQueryDto,
  ): Promise<SessionsRevokedDto> {
    return this.sessions.revokeAll(params.user_id, query.except);
  }
}
