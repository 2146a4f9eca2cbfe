import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsObject, Matches } from 'class-validator';

export class TemplateLocaleDto {
  /** The text, with `{{variable}}` placeholders (at most 1600 characters) */
  @ApiProperty({ example: 'Your verification code is {{code}}. It expires in {{minutes}} minutes.' })
  body: string;
  /** India DLT: the content-template id registered for this text (digits) */
  @ApiPropertyOptional({ example: '1107160000000000001' })
  dlt_template_id?: string;
  /** An approved WhatsApp template (Twilio Content API): `HX` and 32 hex digits */
  @ApiPropertyOptional({ example: 'HX0123456789abcdef0123456789abcdef' })
  whatsapp_content_sid?: string;
}

export class PutTemplateDto {
  /** The names its placeholders use, in order (an approved WhatsApp template's {{1}}, {{2}}, … follow it) */
  @ApiProperty({ type: [String], example: ['code', 'minutes'] })
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, {
    each: true,
    message: 'each variable must be a name such as code',
  })
  variables: string[];

  /** Locale (en, hi, pt-BR …) → its text; the first one is the default */
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/TemplateLocaleDto' },
    example: { en: { body: 'Your code is {{code}}' }, hi: { body: 'आपका कोड {{code}} है' } },
  })
  @IsObject()
  locales: Record<string, TemplateLocaleDto>;
}

export class TemplateDto {
  @ApiProperty({ example: 'otp' })
  name: string;
  @ApiProperty({ type: [String] })
  variables: string[];
  @ApiProperty({ type: 'object', additionalProperties: { $ref: '#/components/schemas/TemplateLocaleDto' } })
  locales: Record<string, TemplateLocaleDto>;
  created_at: string;
  updated_at: string;
}

export class TemplateListDto {
  @ApiProperty({ type: [TemplateDto] })
  items: TemplateDto[];
}
