import { ApiMobileParam, MobileParam } from '../common/phone';
import { Body, Controller, Delete, Get, HttpCode, Put, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../http/access.decorator';
import { ErrorDto } from '../http/error.dto';
import { OnboardingAdminService } from './admin.service';
import {
  BlacklistAddDto,
  BlacklistAddedDto,
  BlacklistPageDto,
  BlacklistQueryDto,
  OnboardingSettingsDto,
  UpdateSettingsDto,
} from './dto/onboarding.dto';
import { Validated } from '../http/validation.pipe';

@ApiTags('admin')
@AdminOnly()
@ApiResponse({ status: 401, type: ErrorDto, description: 'no API key' })
@ApiResponse({ status: 403, type: ErrorDto, description: 'not an admin key' })
@Controller('admin')
export class OnboardingAdminController {
  constructor(private readonly admin: OnboardingAdminService) {}

  @Get('blacklist')
  @ApiOperation({
    summary: 'List blacklisted numbers (cursor pagination, by number), with each entry’s source and expiry',
  })
  @ApiOkResponse({ type: BlacklistPageDto })
  async list(@Query(Validated) q: BlacklistQueryDto): Promise<BlacklistPageDto> {
    const page = await this.admin.listBlacklist(q.cursor, q.limit ?? 100);
    return {
      ...page,
      items: page.items.map((i) => ({
        ...i,
        created_at: new Date(i.created_at).toISOString(),
        expires_at: i.expires_at && new Date(i.expires_at).toISOString(),
      })),
    };
  }

  @Put('blacklist/:mobile_number')
  @ApiOperation({ summary: 'Blacklist a number (Postgres and Redis together)' })
  @ApiOkResponse({ type: BlacklistAddedDto })
  @ApiMobileParam()
  add(@MobileParam() mobile: string, @Body(Validated) body: BlacklistAddDto): Promise<BlacklistAddedDto> {
    return this.admin.addToBlacklist(mobile, body.reason);
  }

  @Delete('blacklist/:mobile_number')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a number from the blacklist (and reset its abuse counter)' })
  @ApiNoContentResponse()
  @ApiResponse({ status: 404, type: ErrorDto, description: 'not on the blacklist' })
  @ApiMobileParam()
  async remove(@MobileParam() mobile: string): Promise<void> {
    await this.admin.removeFromBlacklist(mobile);
  }

  @Get('settings')
  @ApiOperation({ summary: 'Onboarding settings' })
  @ApiOkResponse({ type: OnboardingSettingsDto })
  getSettings(): Promise<OnboardingSettingsDto> {
    return this.admin.getSettings();
  }

  @Put('settings')
  @ApiOperation({ summary: 'Change onboarding settings (every replica picks them up at once)' })
  @ApiOkResponse({ type: OnboardingSettingsDto })
  updateSettings(@Body(Validated) body: UpdateSettingsDto): Promise<OnboardingSettingsDto> {
    return this.admin.updateSettings(body);
  }
}
