import { Body, Controller, Delete, Get, HttpCode, Put, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { AppException } from '../common/app.exception';
import { ApiMobileParam, MobileParam } from '../common/phone';
import { AdminOnly } from '../http/access.decorator';
import { ErrorDto } from '../http/error.dto';
import { Validated } from '../http/validation.pipe';
import {
  SuppressionAddDto,
  SuppressionAddedDto,
  SuppressionPageDto,
  SuppressionQueryDto,
} from './dto/suppression.dto';
import { SuppressionList } from './suppression-list';

@ApiTags('admin')
@AdminOnly()
@ApiResponse({ status: 401, type: ErrorDto, description: 'no API key' })
@ApiResponse({ status: 403, type: ErrorDto, description: 'not an admin key' })
@ApiResponse({
  status: 503,
  type: ErrorDto,
  description: 'Redis or Postgres unreachable (the call may be repeated)',
})
@Controller('admin/suppressions')
export class SuppressionAdminController {
  constructor(private readonly list: SuppressionList) {}

  @Get()
  @ApiOperation({
    summary:
      'List suppressed numbers (cursor pagination, by number): opted out by STOP, by a provider, or by an admin',
  })
  @ApiOkResponse({ type: SuppressionPageDto })
  async page(@Query(Validated) q: SuppressionQueryDto): Promise<SuppressionPageDto> {
    const limit = q.limit ?? 100;
    const rows = await this.list.list(q.cursor ?? '', limit);
    return {
      items: rows.map((r) => ({ ...r, created_at: new Date(r.created_at).toISOString() })),
      next_cursor: rows.length === limit ? rows[rows.length - 1].mobile_number : null,
    };
  }

  @Put(':mobile_number')
  @ApiOperation({
    summary: 'Suppress a number: no SMS, MMS, WhatsApp or OTP codes to it until removed or it texts START',
  })
  @ApiOkResponse({ type: SuppressionAddedDto })
  @ApiMobileParam()
  async add(
    @MobileParam() mobile: string,
    @Body(Validated) body: SuppressionAddDto,
  ): Promise<SuppressionAddedDto> {
    await this.list.add(mobile, 'admin', body?.reason ?? null);
    return { mobile_number: mobile, suppressed: true };
  }

  @Delete(':mobile_number')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a number from the suppression list' })
  @ApiNoContentResponse()
  @ApiResponse({ status: 404, type: ErrorDto, description: 'not suppressed (NOT_SUPPRESSED)' })
  @ApiMobileParam()
  async remove(@MobileParam() mobile: string): Promise<void> {
    if (!(await this.list.remove(mobile, 'admin')))
      throw new AppException(404, 'NOT_SUPPRESSED', 'This number is not on the suppression list');
  }
}
