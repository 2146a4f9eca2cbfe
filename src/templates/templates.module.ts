import { Module } from '@nestjs/common';
import { TemplatesController } from './templates.controller';
import { TemplatesRepository } from './templates.repository';
import { TemplatesService } from './templates.service';

/** Message templates with locales: stored in Postgres, held in memory, rendered by messages and OTP. */
@Module({
  providers: [TemplatesRepository, TemplatesService],
  exports: [TemplatesService],
})
export class TemplatesCoreModule {}

@Module({
  imports: [TemplatesCoreModule],
  controllers: [TemplatesController],
})
export class TemplatesModule {}
