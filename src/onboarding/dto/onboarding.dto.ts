import { IsMobileNumber } from '../../common/phone';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsISO8601,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { IsStorableText } from '../../common/validators/storable-text.validator';
import { NumberPageQueryDto } from '../../common/number-page-query.dto';
import { MAX_HASH_LENGTH, MIN_HASH_LENGTH } from '../hash';
import { DEVICE_ID_PATTERN } from '../bind-token';

const DEVICE_ID_MESSAGE = 'device_id must be 8 to 128 letters, digits, dots, underscores, colons or dashes';

const MOBILE_EXAMPLE = '+919876543210';

export class RegisterRequestDto {
  /** E.164 (+919876543210) or national format (read with DEFAULT_COUNTRY) */
  @ApiProperty({ example: MOBILE_EXAMPLE })
  @IsMobileNumber()
  mobile_number: string;
}

export class RegisterResponseDto {
  /** The code the person texts back as `<HEADER> <hash>`; the same one for 24 h */
  @ApiProperty({ example: 'K7MPX3QRTV' })
  hash: string;
}

export class InboundSmsDto {
  /** The number the SMS came from */
  @ApiProperty({ example: MOBILE_EXAMPLE })
  @IsMobileNumber()
  mobile_number: string;

  /** The SMS text: `<HEADER> <hash>` */
  @ApiProperty({ example: 'ONBOARD K7MPX3QRTV' })
  @IsString()
  @MaxLength(1600)
  message: string;

  /** The gateway's id for this SMS: a repeated id is processed once and answered the same */
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  @IsStorableText()
  sms_id?: string;

  /** When the gateway received it (ISO 8601) */
  @IsOptional()
  @IsISO8601({ strict: true })
  received_at?: string;
}

export class InboundSmsResponseDto {
  /**
   * `opted_out`, `opted_in`, `help`: the SMS was an opt-out keyword (STOP, START, HELP and their synonyms), handled
   * before onboarding: the number was suppressed, or no longer is, or only got the help text.
   */
  @ApiProperty({ enum: ['verified', 'rejected', 'opted_out', 'opted_in', 'help'] })
  status: 'verified' | 'rejected' | 'opted_out' | 'opted_in' | 'help';

  /** Why it was rejected */
  @ApiPropertyOptional({
    enum: [
      'blacklisted',
      'abuse_threshold_exceeded',
      'malformed_message',
      'unknown_header',
      'hash_expired',
      'hash_mismatch',
      'already_onboarded',
      'token_expired',
      'token_sender_mismatch',
      'token_used',
      'token_burned',
    ],
  })
  reason?: string;
}

export class BindRequestDto {
  /** The number the person will send the token from: E.164 (+919876543210) or national format */
  @ApiProperty({ example: MOBILE_EXAMPLE })
  @IsMobileNumber()
  mobile_number: string;

  /** The app's stable id for this device (an IDFV, an Android id, a UUID the app keeps): 8–128 letters, digits and . _ : - */
  @ApiProperty({ example: '6F9619FF-8B86-D011-B42D-00C04FC964FF', pattern: DEVICE_ID_PATTERN.source })
  @IsString()
  @Matches(DEVICE_ID_PATTERN, { message: DEVICE_ID_MESSAGE })
  device_id: string;
}

export class BindResponseDto {
  /** What the app sends by SMS from the number, alone or after a permitted header; bound to this device and number, usable once */
  @ApiProperty({ example: '7K3VQ9M2XD8TR4HN6PWBJC1FGZ5Y0AESKQ2MNV8D', minLength: 40, maxLength: 40 })
  token: string;

  /** The number to send it to (ONBOARDING_VMN) */
  @ApiProperty({ example: '+919000000000' })
  vmn: string;

  /** Seconds the token stays usable */
  @ApiProperty({ example: 900 })
  expires_in: number;
}

export class DeviceIdParamDto {
  @ApiProperty({ pattern: DEVICE_ID_PATTERN.source, minLength: 8, maxLength: 128 })
  @IsString()
  @Matches(DEVICE_ID_PATTERN, { message: DEVICE_ID_MESSAGE })
  device_id: string;
}

export class DeviceStatusDto {
  /** `blocked`: flagged, or past its daily tokens; `pending`: its latest token is unused and unexpired; `verified`: one of its tokens completed onboarding (within 30 days); else `unknown` */
  @ApiProperty({ enum: ['verified', 'pending', 'blocked', 'unknown'] })
  status: 'verified' | 'pending' | 'blocked' | 'unknown';
}

export class OnboardStatusDto {
  @ApiProperty({ example: MOBILE_EXAMPLE })
  mobile_number: string;

  @ApiProperty({ enum: ['verified', 'pending', 'blacklisted', 'unknown'] })
  status: 'verified' | 'pending' | 'blacklisted' | 'unknown';

  /** When the number was verified (only for verified numbers) */
  verified_at?: string;
}

export class BlacklistQueryDto extends NumberPageQueryDto {}

export class BlacklistEntryDto {
  mobile_number: string;
  @ApiProperty({ type: String, nullable: true })
  reason: string | null;
  /** `auto` (the abuse detector: blocks onboarding only, until expires_at) or `manual` (an admin: blocks onboarding, OTP and messages until removed) */
  @ApiProperty({ enum: ['auto', 'manual'] })
  source: 'auto' | 'manual';
  created_at: string;
  /** When an automatic entry ends (ABUSE_BLACKLIST_TTL after it was made); null for a manual one */
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  expires_at: string | null;
}

export class BlacklistPageDto {
  items: BlacklistEntryDto[];
  /** Pass as `cursor` for the next page; null on the last page */
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
}

export class BlacklistAddDto {
  /** Why the number is blacklisted */
  @IsOptional()
  @IsString()
  @MaxLength(500)
  @IsStorableText()
  reason?: string;
}

export class BlacklistAddedDto {
  mobile_number: string;
  blacklisted: boolean;
}

export class OnboardingSettingsDto {
  /** Length of new hashes (at least 40 bits) */
  @ApiProperty({ minimum: MIN_HASH_LENGTH, maximum: MAX_HASH_LENGTH })
  salt_length: number;

  /** SMS headers accepted before the hash (case-insensitive) */
  @ApiProperty({ type: [String], example: ['ONBOARD'] })
  permitted_headers: string[];

  /** Inbound SMS per number per 24 h before the number is blacklisted */
  abuse_threshold: number;
}

export class UpdateSettingsDto {
  /** Length of new hashes (at least 40 bits) */
  @IsOptional()
  @IsInt()
  @Min(MIN_HASH_LENGTH)
  @Max(MAX_HASH_LENGTH)
  salt_length?: number;

  /** SMS headers accepted before the hash (case-insensitive; letters and digits) */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @IsString({ each: true })
  @Matches(/^[A-Za-z0-9]{1,20}$/, { each: true, message: 'each header must be 1-20 letters or digits' })
  permitted_headers?: string[];

  /** Inbound SMS per number per 24 h before the number is blacklisted */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  abuse_threshold?: number;
}
