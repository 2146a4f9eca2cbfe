import { Body, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ErrorDto } from '../common/dto/error.dto';
import { RateLimit, RateLimitCountedInHandler } from '../common/rate-limit/rate-limit';
import {
  OtpMobileParamDto,
  OtpRemainingDto,
  OtpSentDto,
  OtpStatusDto,
  OtpVerifiedDto,
  SendOtpDto,
  UserIdParamDto,
  UserVerificationDto,
  VerifyOtpDto,
} from './dto/otp.dto';
import { OTP_IP_LIMIT } from './otp.repository';
import { OtpService } from './otp.service';
import { Validated } from '../common/pipes/bounded-validation.pipe';

@ApiTags('otp')
@Controller('otp')
@RateLimit(OTP_IP_LIMIT, (config) => config.otp.requestsPerIp)
@ApiResponse({ status: 429, type: ErrorDto, description: 'rate limited (Retry-After, X-RateLimit-*)' })
export class OtpController {
  constructor(private readonly otp: OtpService) {}

  @Post('send')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Send a one-time code by SMS or WhatsApp (queued; the request never waits on a provider)',
  })
  @ApiOkResponse({ type: OtpSentDto })
  @ApiResponse({ status: 400, type: ErrorDto })
  @ApiResponse({
    status: 403,
    type: ErrorDto,
    description: 'blacklisted, or a country not in OTP_ALLOWED_COUNTRIES',
  })
  @ApiResponse({
    status: 409,
    type: ErrorDto,
    description: 'a code is still active (OTP_ACTIVE) or the resend cooldown runs',
  })
  send(@Body(Validated) body: SendOtpDto): Promise<OtpSentDto> {
    return this.otp.send(body);
  }

  @Post('verify')
  @HttpCode(200)
  @RateLimitCountedInHandler(OTP_IP_LIMIT)
  @ApiOperation({ summary: 'Check a code; success gives an access token and a session' })
  @ApiOkResponse({ type: OtpVerifiedDto })
  @ApiResponse({
    status: 400,
    type: ErrorDto,
    description: 'wrong or expired: {"verified": false, "attempts_remaining"}',
  })
  verify(
    @Body(Validated) body: VerifyOtpDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<OtpVerifiedDto> {
    return this.otp.verify(body.mobile_number, body.otp, {
      ip: req.ip,
      setHeaders: (h) => void reply.headers(h),
    });
  }

  @Get('remaining/:mobile_number')
  @ApiOperation({ summary: 'Seconds left on the active code' })
  @ApiOkResponse({ type: OtpRemainingDto })
  @ApiResponse({ status: 404, type: ErrorDto, description: 'no active code' })
  remaining(@Param(Validated) p: OtpMobileParamDto): Promise<OtpRemainingDto> {
    return this.otp.remaining(p.mobile_number);
  }

  @Get('status/:mobile_number')
  @ApiOperation({
    summary: 'pending, approved, expired, max_attempts_reached or none, with the delivery status',
  })
  @ApiOkResponse({ type: OtpStatusDto })
  status(@Param(Validated) p: OtpMobileParamDto): Promise<OtpStatusDto> {
    return this.otp.status(p.mobile_number);
  }
}

@ApiTags('otp')
@Controller('users')
export class UserVerificationController {
  constructor(private readonly otp: OtpService) {}

  @Get(':user_id/verification')
  @ApiOperation({ summary: 'Whether a user has verified a number by OTP (cached 1 h)' })
  @ApiOkResponse({ type: UserVerificationDto })
  verification(@Param(Validated) p: UserIdParamDto): Promise<UserVerificationDto> {
    return this.otp.userVerified(p.user_id);
  }
}
