// Admin routes of the SMS-pumping defence: the prefixes blocked as suspected pumping, and their release.
import { Controller, Delete, Get, HttpCode, Param, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../http/access.decorator';
import { ErrorDto } from '../http/error.dto';
import { Validated } from '../http/validation.pipe';
import { PumpingPageDto, PumpingPrefixParamDto, PumpingQueryDto } from './dto/otp.dto';
import { OtpService } from './otp.service';

@ApiTags('admin')
@AdminOnly()
@ApiResponse({ status: 401, type: ErrorDto, description: 'no API key' })
@ApiResponse({ status: 403, type: ErrorDto, description: 'not an admin key' })
@Controller('admin/otp/pumping')
export class OtpPumpingAdminController {
  constructor(private readonly otp: OtpService) {}

  @Get()
  @ApiOperation({
    summary:
      'Prefixes blocked as suspected SMS pumping (cursor pagination, by prefix), with their sliding hour’s sends, verified codes and ratio',
  })
  @ApiOkResponse({ type: PumpingPageDto })
  list(@Query(Validated) q: PumpingQueryDto): Promise<PumpingPageDto> {
    return this.otp.pumpingBlocks(q.cursor, q.limit ?? 100);
  }

  @Delete(':prefix')
  @HttpCode(204)
  @ApiOperation({
    summary:
      'Release a blocked prefix: its block and its counts are cleared, so it is judged again only after OTP_PUMPING_MIN_SENDS new sends',
  })
  @ApiNoContentResponse()
  @ApiResponse({ status: 404, type: ErrorDto, description: 'the prefix is not blocked (NOT_BLOCKED)' })
  async clear(@Param(Validated) p: PumpingPrefixParamDto): Promise<void> {
    await this.otp.clearPumpingBlock(p.prefix);
  }
}
