import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ErrorDto } from '../http/error.dto';
import { Validated } from '../http/validation.pipe';
import { BindRequestDto, BindResponseDto, DeviceIdParamDto, DeviceStatusDto } from './dto/onboarding.dto';
import { DeviceBindingService } from './device-binding.service';

@ApiTags('onboarding')
@Controller('onboard/bind')
export class DeviceBindingController {
  constructor(private readonly binding: DeviceBindingService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Device binding (app-sent reverse SMS): get a token the app texts to the VMN',
    description:
      'The token is bound to this device and number and usable once, for ONBOARDING_TOKEN_TTL_SECONDS (15 min by default). The app sends it by SMS from that number to `vmn`, alone or after a permitted header. Verified when it arrives from the bound number; from any other number it is rejected (token_sender_mismatch), burned, and the device is flagged. A device gets ONBOARDING_DEVICE_TOKENS_PER_DAY tokens per 24 h (from its first).',
  })
  @ApiOkResponse({ type: BindResponseDto })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'not a valid phone number, or a bad device_id' })
  @ApiResponse({ status: 401, type: ErrorDto, description: 'missing or wrong API key' })
  @ApiResponse({
    status: 403,
    type: ErrorDto,
    description: 'the device is flagged for 24 h: a token of it came from another number (DEVICE_BLOCKED)',
  })
  @ApiResponse({
    status: 429,
    type: ErrorDto,
    description:
      'the device had its tokens for these 24 h (DEVICE_LIMIT); Retry-After says when the window ends',
  })
  @ApiResponse({
    status: 503,
    type: ErrorDto,
    description: 'Redis unreachable (REDIS_UNAVAILABLE), or ONBOARDING_VMN not set (BINDING_NOT_CONFIGURED)',
  })
  bind(@Body(Validated) body: BindRequestDto): Promise<BindResponseDto> {
    return this.binding.bind(body.mobile_number, body.device_id);
  }

  @Get(':device_id')
  @ApiOperation({ summary: 'Where a device stands: verified, pending, blocked or unknown' })
  @ApiOkResponse({ type: DeviceStatusDto })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'a bad device_id' })
  @ApiResponse({ status: 503, type: ErrorDto, description: 'Redis unreachable' })
  status(@Param(Validated) p: DeviceIdParamDto): Promise<DeviceStatusDto> {
    return this.binding.status(p.device_id);
  }
}
