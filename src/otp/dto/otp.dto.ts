import { IsMobileNumber } from '../../common/phone';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsIP, IsOptional, IsString, Matches, Max, Min } from 'class-validator';

export class SendOtpDto {
  /** E.164 or national number */
  @ApiProperty({ example: '+919876543210' })
  @IsMobileNumber()
  mobile_number: string;

  @ApiProperty({ enum: ['sms', 'whatsapp'] })
  @IsIn(['sms', 'whatsapp'])
  channel: 'sms' | 'whatsapp';

  /** Your user's id: GET /users/{user_id}/verification answers for it once verified */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_.:@+-]{1,128}$/, { message: 'user_id must be 1-128 letters, digits or _.:@+-' })
  user_id?: string;

  /** Replace an active code (allowed 60 s after the last one) */
  @IsOptional()
  @IsBoolean()
  resend?: boolean;

  /**
   * The end user's IP address (IPv4 or IPv6), when your backend calls on their behalf: the per-IP limit
   * (OTP_REQUESTS_PER_IP per OTP_REQUESTS_PER_IP_WINDOW_SECONDS, send and verify together) applies to it. Without
   * it, the limit applies to the request's own address only behind TRUST_PROXY; otherwise no per-IP limit applies.
   */
  @ApiPropertyOptional({ example: '203.0.113.7' })
  @IsOptional()
  @IsIP(undefined, { message: 'ip must be an IPv4 or IPv6 address' })
  @Matches(/^[0-9A-Fa-f:.]{2,45}$/, { message: 'ip must be an IPv4 or IPv6 address, without a zone' })
  ip?: string;

  /** The locale of the `otp` template to send the code in (en, hi …); its first locale when it has none such */
  @ApiPropertyOptional({ example: 'hi' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$/, {
    message: 'locale must be a locale such as en or pt-BR',
  })
  locale?: string;

  /** Android SMS Retriever: your app's 11-character hash, added to the SMS so the app reads the code itself */
  @ApiPropertyOptional({ example: 'FA+9qCX9VSu' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9+/]{11}$/, { message: 'app_hash must be the 11-character hash of an Android app' })
  app_hash?: string;

  /**
   * A CAPTCHA or attestation token from your client (hCaptcha, Cloudflare Turnstile or any verifier with their
   * siteverify API): required when the service has OTP_CAPTCHA_VERIFY_URL set, which it checks server-to-server
   * (400 CAPTCHA_REQUIRED without it, 403 CAPTCHA_FAILED when refused). Tokens are single-use.
   */
  @ApiPropertyOptional({ example: '10000000-aaaa-bbbb-cccc-000000000001', maxLength: 8192 })
  @IsOptional()
  @IsString()
  @Matches(/^[\x21-\x7e]{1,8192}$/, { message: 'captcha_token must be 1 to 8192 printable ASCII characters' })
  captcha_token?: string;
}

export class OtpSentDto {
  @ApiProperty({ example: 300 })
  expires_in_seconds: number;
  expires_at: string;
  /** The message carrying the code (null for OTP_TEST_NUMBERS) */
  @ApiProperty({ type: String, nullable: true, format: 'uuid' })
  message_id: string | null;
}

export class VerifyOtpDto {
  @ApiProperty({ example: '+919876543210' })
  @IsMobileNumber()
  mobile_number: string;

  /** The 6-digit code */
  @ApiProperty({ example: '123456' })
  @IsString()
  @Matches(/^\d{6}$/, { message: 'otp must be 6 digits' })
  otp: string;

  /**
   * The end user's IP address (IPv4 or IPv6), when your backend calls on their behalf: the per-IP limit
   * (OTP_REQUESTS_PER_IP per OTP_REQUESTS_PER_IP_WINDOW_SECONDS, send and verify together) applies to it. Without
   * it, the limit applies to the request's own address only behind TRUST_PROXY; otherwise no per-IP limit applies.
   */
  @ApiPropertyOptional({ example: '203.0.113.7' })
  @IsOptional()
  @IsIP(undefined, { message: 'ip must be an IPv4 or IPv6 address' })
  @Matches(/^[0-9A-Fa-f:.]{2,45}$/, { message: 'ip must be an IPv4 or IPv6 address, without a zone' })
  ip?: string;
}

export class OtpVerifiedDto {
  @ApiProperty({ example: true })
  verified: boolean;
  /** A JWT for the end-user routes (/auth/*) */
  access_token: string;
  session_id: string;
  /** Seconds until the access token expires */
  expires_in: number;
}

export class OtpRemainingDto {
  remaining_seconds: number;
}

export class OtpStatusDto {
  @ApiProperty({ enum: ['pending', 'approved', 'expired', 'max_attempts_reached', 'none'] })
  status: string;
  @ApiPropertyOptional({ format: 'uuid' })
  message_id?: string;
  @ApiPropertyOptional({ enum: ['queued', 'sent', 'delivered', 'undelivered', 'failed'] })
  delivery_status?: string;
}

export class UserVerificationDto {
  user_id: string;
  verified: boolean;
}

export class UserIdParamDto {
  @IsString()
  @Matches(/^[A-Za-z0-9_.:@+-]{1,128}$/, { message: 'user_id must be 1-128 letters, digits or _.:@+-' })
  user_id: string;
}

export class PumpingQueryDto {
  /** next_cursor of the previous page */
  @IsOptional()
  @Matches(/^\+\d{1,15}$/, { message: 'cursor must be a prefix such as +91987654' })
  cursor?: string;

  /** Page size, 1–500 */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number = 100;
}

export class PumpingPrefixParamDto {
  /** A number prefix: E.164 without its last OTP_PREFIX_DIGITS digits (+91987654 for +91987654321) */
  @ApiProperty({ example: '+91987654' })
  @Matches(/^\+\d{1,15}$/, { message: 'prefix must be + and digits, such as +91987654' })
  prefix: string;
}

export class PumpingBlockDto {
  /** E.164 without its last OTP_PREFIX_DIGITS digits */
  @ApiProperty({ example: '+91987654' })
  prefix: string;
  /** ISO region of the prefix's numbers (ZZ: non-geographic) */
  @ApiProperty({ example: 'IN' })
  country: string;
  /** Codes sent to the prefix in the sliding hour (refused sends are not counted) */
  sends: number;
  /** Codes of the prefix verified in the sliding hour */
  verified: number;
  /** verified ÷ sends */
  @ApiProperty({ example: 0.05 })
  ratio: number;
  /** When the block began */
  @ApiProperty({ format: 'date-time' })
  since: string;
}

export class PumpingPageDto {
  items: PumpingBlockDto[];
  /** Pass as `cursor` for the next page; null on the last page */
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
}
