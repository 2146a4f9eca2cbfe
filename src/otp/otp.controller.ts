import { ApiMobileParam, MobileParam } from '../common/phone';
import { Body, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { AuthenticatedRequest as FastifyRequest } from '../http/api-key.guard';
import { ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ErrorDto } from '../http/error.dto';
import ipaddr from 'ipaddr.js';
import { AppConfig } from '../config/app-config';
import {
  OtpRemainingDto,
  OtpSentDto,
  OtpStatusDto,
  OtpVerifiedDto,
  SendOtpDto,
  UserIdParamDto,
  UserVerificationDto,
  VerifyOtpDto,
} from './dto/otp.dto';
import { OtpCaller, OtpService } from './otp.service';
import { Validated } from '../http/validation.pipe';

@ApiTags('otp')
@Controller('otp')
export class OtpController {
  constructor(
    private readonly otp: OtpService,
    private readonly config: AppConfig,
  ) {}

  /**
   * The end user behind the request: the body's `ip`, or the request's address behind a trusted proxy, in one
   * canonical spelling (an IPv4-mapped IPv6 address as IPv4, IPv6 compressed and lower-case), so that one
   * address is one counter however it is written.
   */
  private caller(req: FastifyRequest, ip: string | undefined, reply?: FastifyReply): OtpCaller {
    const address = ip ?? (this.config.http.trustProxy ? req.ip : undefined);
    return {
      // (A proxy's header may hold anything: what is not an address is counted as it came.)
      ip: address && (ipaddr.isValid(address) ? ipaddr.process(address).toString() : address),
      clientId: req.clientId,
      setHeaders: reply && ((h) => void reply.headers(h)),
    };
  }

  @Post('send')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Send a one-time code by SMS or WhatsApp (queued; the request never waits on a provider)',
  })
  @ApiOkResponse({ type: OtpSentDto })
  @ApiResponse({
    status: 400,
    type: ErrorDto,
    description:
      'bad input, a number type codes are not sent to (NUMBER_TYPE_NOT_ALLOWED: premium-rate, toll-free, shared-cost, VoIP ...; see OTP_ALLOWED_NUMBER_TYPES), or no captcha_token while OTP_CAPTCHA_VERIFY_URL is set (CAPTCHA_REQUIRED)',
  })
  @ApiResponse({
    status: 403,
    type: ErrorDto,
    description:
      'blacklisted, a country not in OTP_ALLOWED_COUNTRIES, or a captcha_token the verifier refused (CAPTCHA_FAILED)',
  })
  @ApiResponse({
    status: 429,
    type: ErrorDto,
    description:
      "a limit refused the send (Retry-After): per number, per end-user IP, per API key (OTP_SENDS_PER_CLIENT_PER_MINUTE), per number prefix or country per sliding hour (OTP_PREFIX_SENDS_PER_HOUR, OTP_COUNTRY_SENDS_PER_HOUR), the hourly budget (OTP_BUDGET_EXHAUSTED), or the number's prefix is blocked as suspected SMS pumping (PUMPING_SUSPECTED: too few of its codes verified); a refused send counts against nothing",
  })
  @ApiResponse({
    status: 409,
    type: ErrorDto,
    description: 'a code is still active (OTP_ACTIVE) or the resend cooldown runs',
  })
  @ApiResponse({
    status: 503,
    type: ErrorDto,
    description:
      'a store is unreachable, or the CAPTCHA verifier cannot be asked (CAPTCHA_UNAVAILABLE: sends fail closed)',
    headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } } },
  })
  send(@Body(Validated) body: SendOtpDto, @Req() req: FastifyRequest): Promise<OtpSentDto> {
    const { ip, ...input } = body;
    return this.otp.send(input, this.caller(req, ip));
  }

  @Post('verify')
  @HttpCode(200)
  @ApiOperation({ summary: 'Check a code; success gives an access token and a session' })
  @ApiOkResponse({ type: OtpVerifiedDto })
  @ApiResponse({
    status: 400,
    type: ErrorDto,
    description: 'wrong or expired: {"verified": false, "attempts_remaining"}',
  })
  @ApiResponse({
    status: 403,
    type: ErrorDto,
    description: 'the number is blacklisted by an admin (BLACKLISTED)',
  })
  @ApiResponse({
    status: 429,
    type: ErrorDto,
    description:
      'locked after 5 wrong codes (for the rest of the hour), or the end-user IP is over its limit',
  })
  verify(
    @Body(Validated) body: VerifyOtpDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<OtpVerifiedDto> {
    return this.otp.verify(body.mobile_number, body.otp, this.caller(req, body.ip, reply));
  }

  @Get('remaining/:mobile_number')
  @ApiOperation({ summary: 'Seconds left on the active code' })
  @ApiOkResponse({ type: OtpRemainingDto })
  @ApiResponse({ status: 404, type: ErrorDto, description: 'no active code' })
  @ApiMobileParam()
  remaining(@MobileParam() mobile: string): Promise<OtpRemainingDto> {
    return this.otp.remaining(mobile);
  }

  @Get('status/:mobile_number')
  @ApiOperation({
    summary: 'pending, approved, expired, max_attempts_reached or none, with the delivery status',
  })
  @ApiOkResponse({ type: OtpStatusDto })
  @ApiMobileParam()
  status(@MobileParam() mobile: string): Promise<OtpStatusDto> {
    return this.otp.status(mobile);
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
