import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsInt,
  IsIP,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { MAX_CONTEXT_BYTES, SESSION_ID_PATTERN } from '../session-record';
import { MaxJsonSize } from './json-size.validator';

/** Letters, digits and . _ : @ | + - (so e-mail addresses, E.164 numbers and provider ids such as auth0|123 fit). */
const USER_ID_PATTERN = /^[A-Za-z0-9._:@|+-]+$/;
const USER_ID_MESSAGE = 'user_id may hold letters, digits and . _ : @ | + - (1-128 characters)';
export const SESSION_ID_MESSAGE = 'a session id is 32 lowercase hex characters';
export const SESSION_ID_EXAMPLE = '9f86d081884c7d659a2feaa0c55ad015';
const CONTEXT_EXAMPLE = { device: 'ios', locale: 'en-IN' };

export class CreateSessionDto {
  /** Your id for the user the session belongs to */
  @ApiProperty({ example: 'user-42', minLength: 1, maxLength: 128, pattern: USER_ID_PATTERN.source })
  @IsString()
  @Length(1, 128)
  @Matches(USER_ID_PATTERN, { message: USER_ID_MESSAGE })
  user_id: string;

  /** Anything the session should carry, as a JSON object of at most 8 KB */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: CONTEXT_EXAMPLE })
  @IsOptional()
  @IsObject()
  @MaxJsonSize(MAX_CONTEXT_BYTES)
  context?: Record<string, unknown>;

  /** Fixes the session's TTL in seconds; without it the TTL adapts (30 min, 1 h while active, 24 h at most) */
  @ApiPropertyOptional({ type: 'integer', minimum: 60, maximum: 7200, example: 1800 })
  @IsOptional()
  @IsInt()
  @Min(60)
  @Max(7200)
  ttl?: number;

  /** The end user's IP address, when you create the session on their behalf (default: this request's) */
  @IsOptional()
  @IsIP()
  ip?: string;

  /** The end user's User-Agent, when you create the session on their behalf (default: this request's) */
  @IsOptional()
  @IsString()
  @MaxLength(512)
  user_agent?: string;
}

export class SessionCreatedDto {
  @ApiProperty({ example: SESSION_ID_EXAMPLE })
  session_id: string;
  /** Seconds until the session expires unless used */
  @ApiProperty({ example: 1800 })
  expires_in: number;
}

export class UserIdParamDto {
  @ApiProperty({ example: 'user-42', minLength: 1, maxLength: 128, pattern: USER_ID_PATTERN.source })
  @IsString()
  @Length(1, 128)
  @Matches(USER_ID_PATTERN, { message: USER_ID_MESSAGE })
  user_id: string;
}

export class UpdateSessionDto {
  /** Merged into the session's context: top-level keys replace those there, a key set to null is removed */
  @ApiProperty({ type: 'object', additionalProperties: true, example: { cart: 3, locale: null } })
  @IsObject()
  @MaxJsonSize(MAX_CONTEXT_BYTES)
  context: Record<string, unknown>;
}

export class RevokeSessionsQueryDto {
  /** Keep this session (typically the caller's current one) and revoke all the others */
  @ApiPropertyOptional({ example: SESSION_ID_EXAMPLE, pattern: SESSION_ID_PATTERN.source })
  @IsOptional()
  @IsString()
  @Matches(SESSION_ID_PATTERN, { message: SESSION_ID_MESSAGE })
  except?: string;
}

export class SessionDto {
  @ApiProperty({ example: SESSION_ID_EXAMPLE })
  session_id: string;
  @ApiProperty({ example: 'user-42' })
  user_id: string;
  @ApiProperty({ example: '2026-11-22T02:31:07.120Z' })
  created_at: string;
  /** When the session was last read or used (reading it through GET /sessions/{id} counts) */
  @ApiProperty({ example: '2026-11-22T02:41:12.503Z' })
  last_activity: string;
  @ApiProperty({ type: 'object', additionalProperties: true, example: CONTEXT_EXAMPLE })
  context: Record<string, unknown>;
  /** Seconds until the session expires unless used again */
  @ApiProperty({ example: 3600 })
  expires_in: number;
}

export class UserSessionDto {
  @ApiProperty({ example: SESSION_ID_EXAMPLE })
  session_id: string;
  @ApiProperty({ example: '2026-11-22T02:31:07.120Z' })
  created_at: string;
  @ApiProperty({ example: '2026-11-22T02:41:12.503Z' })
  last_activity: string;
  /** Seconds until the session expires unless used again */
  @ApiProperty({ example: 3600 })
  expires_in: number;
  /** The end user's IP address when the session was created */
  @ApiProperty({ type: String, nullable: true, example: '203.0.113.7' })
  ip: string | null;
  /** The end user's User-Agent when the session was created */
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)',
  })
  user_agent: string | null;
}

export class UserSessionsDto {
  @ApiProperty({ example: 'user-42' })
  user_id: string;
  /** The user's live sessions, most recently active first */
  @ApiProperty({ type: [UserSessionDto] })
  sessions: UserSessionDto[];
}

export class SessionsRevokedDto {
  /** How many sessions were ended */
  @ApiProperty({ example: 2 })
  revoked: number;
}
