import { ApiProperty } from '@nestjs/swagger';
import { SessionDto } from './session.dto';

export class MeDto {
  /** The token's subject */
  @ApiProperty({ example: 'user-42' })
  user_id: string;
  /** When the access token expires */
  @ApiProperty({ example: '2026-11-22T02:46:07.000Z' })
  token_expires_at: string;
  /** The token's session (this request counted as activity) */
  @ApiProperty({ type: SessionDto })
  session: SessionDto;
}
