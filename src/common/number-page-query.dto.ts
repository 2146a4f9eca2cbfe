import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { IsStorableText } from './validators/storable-text.validator';

/** The query of an admin list of numbers, paged by number (keyset): the blacklist, the suppression list. */
export class NumberPageQueryDto {
  /** next_cursor of the previous page */
  @IsOptional()
  @IsString()
  @MaxLength(32)
  @IsStorableText()
  cursor?: string;

  /** Page size, 1–500 */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number = 100;
}
