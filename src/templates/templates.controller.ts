import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Injectable,
  Param,
  PipeTransform,
  Put,
  Res,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AppException } from '../common/app.exception';
import { AdminOnly } from '../http/access.decorator';
import { ErrorDto } from '../http/error.dto';
import { Validated } from '../http/validation.pipe';
import { PutTemplateDto, TemplateDto, TemplateListDto, TemplateLocaleDto } from './dto/templates.dto';
import { presentTemplate, TEMPLATE_NAME, templateFromInput } from './template-input';
import { TemplatesService } from './templates.service';
import { TemplateError } from './template';

/**
 * A template name from the path: to create one, a name that could not be one is 400 INVALID_TEMPLATE; to look
 * one up or delete it, there is no such template (404).
 */
@Injectable()
export class TemplateNamePipe implements PipeTransform<string, string> {
  constructor(private readonly use: 'create' | 'lookup') {}

  transform(name: string): string {
    if (TEMPLATE_NAME.test(name)) return name;
    if (this.use === 'lookup') throw notFound(name.slice(0, 64));
    throw new TemplateError(
      'INVALID_TEMPLATE',
      'a template name is 1-64 characters: lower-case letters, digits, _ . -, starting with a letter or digit',
    );
  }
}

const notFound = (name: string) =>
  new AppException(404, 'TEMPLATE_NOT_FOUND', `there is no template ${name}`);
const NAME_PARAM = { name: 'name', description: 'lower-case letters, digits, _ . - (1-64)', example: 'otp' };

@ApiTags('admin')
@AdminOnly()
@ApiExtraModels(TemplateLocaleDto)
@ApiResponse({ status: 401, type: ErrorDto, description: 'no API key' })
@ApiResponse({ status: 403, type: ErrorDto, description: 'not an admin key' })
@Controller('admin/templates')
export class TemplatesController {
  constructor(private readonly templates: TemplatesService) {}

  @Get()
  @ApiOperation({ summary: 'List message templates' })
  @ApiOkResponse({ type: TemplateListDto })
  async list(): Promise<TemplateListDto> {
    return { items: (await this.templates.list()).map(presentTemplate) };
  }

  @Get(':name')
  @ApiOperation({ summary: 'One message template' })
  @ApiParam(NAME_PARAM)
  @ApiOkResponse({ type: TemplateDto })
  @ApiResponse({ status: 404, type: ErrorDto, description: 'no such template' })
  async get(@Param('name', new TemplateNamePipe('lookup')) name: string): Promise<TemplateDto> {
    const t = await this.templates.find(name);
    if (!t) throw notFound(name);
    return presentTemplate(t);
  }

  @Put(':name')
  @ApiOperation({
    summary: 'Create or replace a message template',
    description:
      'Every `{{placeholder}}` of every locale must be one of `variables`. The first locale is the default. The `otp` template is what OTP codes are sent with (`code`, `minutes`).',
  })
  @ApiParam(NAME_PARAM)
  @ApiOkResponse({ type: TemplateDto, description: 'replaced' })
  @ApiCreatedResponse({ type: TemplateDto, description: 'created' })
  @ApiResponse({
    status: 400,
    type: ErrorDto,
    description: 'INVALID_TEMPLATE, UNKNOWN_VARIABLE, VALIDATION_FAILED',
  })
  async put(
    @Param('name', new TemplateNamePipe('create')) name: string,
    @Body(Validated) body: PutTemplateDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TemplateDto> {
    const { template, created } = await this.templates.save(templateFromInput(name, body));
    reply.status(created ? 201 : 200);
    return presentTemplate(template);
  }

  @Delete(':name')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a message template (OTP falls back to its built-in text without `otp`)' })
  @ApiParam(NAME_PARAM)
  @ApiNoContentResponse()
  @ApiResponse({ status: 404, type: ErrorDto, description: 'no such template' })
  async remove(@Param('name', new TemplateNamePipe('lookup')) name: string): Promise<void> {
    if (!(await this.templates.delete(name))) throw notFound(name);
  }
}
