import { ApiProperty } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { NumberPageQueryDto } from '../../common/number-page-query.dto';
import { IsStorableText } from '../../common/validators/storable-text.validator';

export class SuppressionQueryDto extends NumberPageQueryDto {}

export class SuppressionEntryDto {
  mobile_number: string;
  /** `keyword` (the person texted STOP or a synonym), `provider` (a provider reported an opt-out or a block), `admin` */
  @ApiProperty({ enum: ['keyword', 'provider', 'admin'] })
  source: 'keyword' | 'provider' | 'admin';
  @ApiProperty({ type: String, nullable: true })
  reason: string | null;
  created_at: string;
}

export class SuppressionPageDto {
  items: SuppressionEntryDto[];
  /** Pass as `cursor` for the next page; null on the last page */
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
}

export class SuppressionAddDto {
  /** Why the number is suppressed */
  @IsOptional()
  @IsString()
  @MaxLength(500)
  @IsStorableText()
  reason?: string;
}

export class SuppressionAddedDto {
  mobile_number: string;
  suppressed: boolean;
}
