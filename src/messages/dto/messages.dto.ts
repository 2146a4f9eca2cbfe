import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
} from 'class-validator';
import { IsMobileNumber } from '../../common/phone';
import { IsStorableText } from '../../common/validators/storable-text.validator';
import { MESSAGE_STATUSES, MESSAGE_TYPES } from '../message.types';

/** sms, mms and whatsapp go to (and from) phone numbers, read as E.164 here; e-mail to addresses. */
const notEmail = (o: Record<string, unknown>) => o.type !== 'email';

const URL_OPTIONS = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

export class SendMessageDto {
  /** Sender: a number (sms, mms, whatsapp) or an address (email); the configured default when absent */
  @IsOptional()
  @IsString()
  @MaxLength(320)
  @IsStorableText()
  @IsMobileNumber(notEmail)
  from?: string;

  /** Recipient: E.164 or national number for sms, mms and whatsapp; an e-mail address for email */
  @ApiProperty({ example: '+919876543210' })
  @IsString()
  @MinLength(3)
  @MaxLength(320)
  @IsStorableText()
  @IsMobileNumber(notEmail)
  to: string;

  @ApiProperty({ enum: MESSAGE_TYPES, example: 'sms' })
  @IsIn(MESSAGE_TYPES)
  type: 'sms' | 'mms' | 'email' | 'whatsapp';

  /**
   * The text: at most 1600 characters for sms, mms and whatsapp, 100,000 for email. Or, instead, `template`
   * (whatsapp: always a template with an approved WhatsApp template)
   */
  @ApiPropertyOptional({ example: 'Your parcel arrives today' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(100_000)
  @IsStorableText()
  body?: string;

  /** A template's name (GET /admin/templates), instead of body */
  @ApiPropertyOptional({ example: 'otp' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z0-9][a-z0-9_.-]{0,63}$/, { message: 'template must be a template name' })
  template?: string;

  /** The template's variables: name → text or number */
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { code: '123456', minutes: 5 },
  })
  // Absent, or an object: null is refused here, as a string or an array is (render reads its keys).
  @ValidateIf((o: SendMessageDto) => o.variables !== undefined)
  @IsObject({ message: 'variables must be an object of name → text or number' })
  @IsStorableText()
  variables?: Record<string, string | number>;

  /** The template's locale (en, hi, pt-BR …); its language, then its first locale, when it has none such */
  @ApiPropertyOptional({ example: 'hi' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$/, {
    message: 'locale must be a locale such as en or pt-BR',
  })
  locale?: string;

  /** E-mail subject */
  @IsOptional()
  @IsString()
  @MaxLength(998)
  @IsStorableText()
  subject?: string;

  /** Media for mms (required there, refused elsewhere): 1–10 http(s) URLs */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10)
  @IsUrl(URL_OPTIONS, { each: true })
  @MaxLength(2048, { each: true })
  @IsStorableText()
  media_urls?: string[];

  /** Send later: an RFC 3339 date-time (2026-12-04T10:00:00Z), not in the past, within a year */
  @ApiPropertyOptional({ format: 'date-time', example: '2026-12-04T10:00:00Z' })
  @IsOptional()
  @IsISO8601({ strict: true })
  @Matches(/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)$/i, {
    message: 'send_at must be an RFC 3339 date-time such as 2026-12-04T10:00:00Z',
  })
  send_at?: string;

  /**
   * How long the message may wait to be handed to a provider, in seconds from acceptance (or from send_at):
   * past that it is failed with error EXPIRED and never sent late. At most 7 days.
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(604800)
  validity_seconds?: number;

  /**
   * Where each status change is POSTed, signed per Standard Webhooks: an http(s) URL; in production a public
   * address (400 INVALID_CALLBACK_URL otherwise)
   */
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @IsStorableText()
  status_callback?: string;

  /** Your own data, returned with the message (at most 4 KB as JSON) */
  @IsOptional()
  @IsObject()
  @IsStorableText()
  metadata?: Record<string, unknown>;
}

export class AcceptedMessageDto {
  @ApiProperty({ format: 'uuid' })
  id: string;
  @ApiProperty({ enum: MESSAGE_STATUSES, example: 'pending' })
  status: string;
  @ApiProperty({ enum: MESSAGE_TYPES })
  type: string;
  to: string;
  created_at: string;
  @ApiPropertyOptional({ type: String, nullable: true })
  send_at: string | null;
  /** sms: the encoding carriers use for the text (GSM-7, or UCS-2 for anything outside it); null otherwise */
  @ApiProperty({ type: String, enum: ['GSM-7', 'UCS-2'], nullable: true })
  encoding: 'GSM-7' | 'UCS-2' | null;
  /** sms: how many segments carriers split and bill it as (160/153 GSM-7, 70/67 UCS-2); null otherwise */
  @ApiProperty({ type: Number, nullable: true, example: 1 })
  segments: number | null;
  /** When it fails with EXPIRED if not yet handed to a provider (validity_seconds); null: no limit */
  @ApiProperty({ type: String, nullable: true })
  valid_until: string | null;
}

export class MessageEventDto {
  @ApiProperty({ enum: MESSAGE_STATUSES })
  status: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true })
  detail: Record<string, unknown> | null;
  created_at: string;
}

export class AttemptDto {
  @ApiProperty({ example: 'twilio' })
  provider: string;
  /** sent; failed (the error says why; a failure that proves nothing left goes on to the next provider); skipped (its circuit was open) */
  @ApiProperty({ enum: ['sent', 'failed', 'skipped'] })
  outcome: 'sent' | 'failed' | 'skipped';
  @ApiPropertyOptional({ example: 'HTTP_500' })
  error?: string;
}

export class MessageDto {
  @ApiProperty({ format: 'uuid' })
  id: string;
  @ApiProperty({ enum: MESSAGE_TYPES })
  type: string;
  @ApiProperty({ type: String, nullable: true })
  from: string | null;
  to: string;
  @ApiProperty({ type: String, nullable: true })
  subject: string | null;
  /** The text; "[redacted]" once a sensitive message (an OTP code) was sent */
  body: string;
  @ApiProperty({ type: [String], nullable: true })
  media_urls: string[] | null;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true })
  metadata: Record<string, unknown> | null;
  @ApiProperty({ enum: MESSAGE_STATUSES })
  status: string;
  @ApiProperty({ type: String, nullable: true })
  provider: string | null;
  @ApiProperty({ type: String, nullable: true })
  provider_message_id: string | null;
  retry_count: number;
  @ApiProperty({ type: String, nullable: true })
  error: string | null;
  @ApiProperty({ type: String, nullable: true })
  send_at: string | null;
  @ApiProperty({ type: String, enum: ['GSM-7', 'UCS-2'], nullable: true })
  encoding: 'GSM-7' | 'UCS-2' | null;
  @ApiProperty({ type: Number, nullable: true })
  segments: number | null;
  @ApiProperty({ type: String, nullable: true })
  valid_until: string | null;
  /** Every provider tried, in order: one entry per provider per send attempt (SMS_ROUTES failover) */
  @ApiProperty({ type: [AttemptDto] })
  attempts: AttemptDto[];
  /** Rendered from this template, in this locale (null: free text) */
  @ApiProperty({ type: String, nullable: true })
  template: string | null;
  @ApiProperty({ type: String, nullable: true })
  locale: string | null;
  created_at: string;
  updated_at: string;
  @ApiProperty({ type: String, nullable: true })
  sent_at: string | null;
  @ApiProperty({ type: String, nullable: true })
  delivered_at: string | null;
  /** Every status change, oldest first (only on GET /api/v1/messages/{id}) */
  @ApiPropertyOptional({ type: [MessageEventDto] })
  events?: MessageEventDto[];
}

export class MessagePageDto {
  @ApiProperty({ type: [MessageDto] })
  items: MessageDto[];
  /** Pass as `cursor` for the next page; null on the last page */
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
}

export class ListMessagesQueryDto {
  @IsOptional()
  @IsIn(MESSAGE_STATUSES)
  status?: string;

  /** Recipient (normalised like on send) */
  @IsOptional()
  @IsString()
  @MaxLength(320)
  @IsStorableText()
  to?: string;

  @IsOptional()
  @IsIn(MESSAGE_TYPES)
  type?: string;

  /** Page size, 1–200 */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number = 50;

  /** next_cursor of the previous page */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @IsStorableText()
  cursor?: string;
}

export class MessageIdParamDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  id: string;
}

export class QueueCountsDto {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
}

export class QueuesDto {
  sms: QueueCountsDto;
  mms: QueueCountsDto;
  email: QueueCountsDto;
  webhooks: QueueCountsDto;
}

export class WebhookSecretDto {
  /** Verify status callbacks with this secret (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature) */
  @ApiProperty({ example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })
  secret: string;
}
