import { ApiProperty } from '@nestjs/swagger';

/** Every error answer: the HTTP status, its text, a stable machine-readable code and a message. */
export class ErrorDto {
  @ApiProperty({ example: 409 })
  statusCode: number;
  @ApiProperty({ example: 'Conflict' })
  error: string;
  @ApiProperty({ example: 'ALREADY_ONBOARDED' })
  code: string;
  @ApiProperty({ example: 'This number is already onboarded' })
  message: string;
}
