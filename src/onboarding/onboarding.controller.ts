import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { GatewayOnly } from '../http/access.decorator';
import { ErrorDto } from '../http/error.dto';
import { ApiMobileParam, MobileParam } from '../common/phone';
import {
  InboundSmsDto,
  InboundSmsResponseDto,
  OnboardStatusDto,
  RegisterRequestDto,
  RegisterResponseDto,
} from './dto/onboarding.dto';
import { InboundSmsService } from './inbound-sms.service';
import { OnboardingService } from './onboarding.service';
import { Validated } from '../http/validation.pipe';

const REGISTER_ERRORS = [
  ApiResponse({ status: 400, type: ErrorDto, description: 'not a valid phone number' }),
  ApiResponse({ status: 401, type: ErrorDto, description: 'missing or wrong API key' }),
  ApiResponse({ status: 403, type: ErrorDto, description: 'the number is blacklisted (BLACKLISTED)' }),
  ApiResponse({
    status: 409,
    type: ErrorDto,
    description: 'the number is already onboarded (ALREADY_ONBOARDED)',
  }),
  ApiResponse({ status: 503, type: ErrorDto, description: 'Redis unreachable' }),
];
const apply =
  (decorators: MethodDecorator[]): MethodDecorator =>
  (t, k, d) =>
    decorators.forEach((dec) => dec(t, k, d));

@ApiTags('onboarding')
@Controller()
export class OnboardingController {
  constructor(
    private readonly onboarding: OnboardingService,
    private readonly inbound: InboundSmsService,
  ) {}

  @Get('onboard/register/:mobile_number')
  @ApiOperation({
    summary: 'Start onboarding: get the hash the person texts back',
    description: 'Redis only (one round trip). The same number within 24 h gets the same hash.',
  })
  @ApiOkResponse({ type: RegisterResponseDto })
  @apply(REGISTER_ERRORS)
  @ApiMobileParam()
  register(@MobileParam() mobile: string): Promise<RegisterResponseDto> {
    return this.onboarding.register(mobile);
  }

  @Post('onboarding/register')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Start onboarding (older clients)',
    deprecated: true,
    description: 'Use GET /onboard/register/{mobile_number}.',
  })
  @ApiOkResponse({ type: RegisterResponseDto })
  @apply(REGISTER_ERRORS)
  registerLegacy(@Body(Validated) body: RegisterRequestDto): Promise<RegisterResponseDto> {
    return this.onboarding.register(body.mobile_number);
  }

  @Post('onboard/sms')
  @GatewayOnly()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Hand over an inbound SMS (from an SMS gateway)',
    description:
      'Needs a gateway key (GATEWAY_API_KEYS) once any is configured, and always in production: only an SMS gateway may assert that a phone sent an SMS. Checks, in order: blacklist, abuse counter, header, hash, not already onboarded. The same sms_id is processed once and answered the same.',
  })
  @ApiOkResponse({ type: InboundSmsResponseDto })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'invalid body or number' })
  @ApiResponse({
    status: 409,
    type: ErrorDto,
    description: 'the same sms_id is still being processed (SMS_IN_PROGRESS)',
  })
  inboundSms(@Body(Validated) body: InboundSmsDto): Promise<InboundSmsResponseDto> {
    return this.inbound.handle({ ...body, source: 'gateway' });
  }

  @Get('onboard/status/:mobile_number')
  @ApiOperation({ summary: 'Where a number stands: verified, pending, blacklisted or unknown' })
  @ApiOkResponse({ type: OnboardStatusDto })
  @ApiResponse({ status: 400, type: ErrorDto })
  @ApiMobileParam()
  status(@MobileParam() mobile: string): Promise<OnboardStatusDto> {
    return this.onboarding.status(mobile);
  }
}
