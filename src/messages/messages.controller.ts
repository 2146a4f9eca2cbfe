import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { AppException } from '../common/app.exception';
import { ErrorDto } from '../http/error.dto';
import type { AuthenticatedRequest } from '../http/api-key.guard';
import { AppConfig } from '../config/app-config';
import {
  AcceptedMessageDto,
  ListMessagesQueryDto,
  MessageDto,
  MessageIdParamDto,
  MessagePageDto,
  QueuesDto,
  SendMessageDto,
  WebhookSecretDto,
} from './dto/messages.dto';
import { MessagesService } from './messages.service';
import { webhookSecret } from './status-callbacks';
import { Validated } from '../http/validation.pipe';

@ApiTags('messages')
@ApiResponse({ status: 401, type: ErrorDto, description: 'missing or wrong API key' })
@Controller('api/v1')
export class MessagesController {
  constructor(
    private readonly messages: MessagesService,
    private readonly config: AppConfig,
  ) {}

  @Post('messages/send')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Accept a message: stored, then queued and sent by a worker',
    description:
      'A 202 is a promise: the message is stored before the answer and is never lost or sent twice.',
  })
  @ApiHeader({
    name: 'idempotency-key',
    required: false,
    description: 'Repeat a request safely: the first answer is returned again',
  })
  @ApiAcceptedResponse({ type: AcceptedMessageDto })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'invalid message' })
  @ApiResponse({ status: 409, type: ErrorDto, description: 'the same Idempotency-Key is still in flight' })
  @ApiResponse({ status: 422, type: ErrorDto, description: 'the Idempotency-Key was used with another body' })
  @ApiResponse({ status: 503, type: ErrorDto, description: 'the message could not be stored' })
  send(
    @Req() req: AuthenticatedRequest,
    @Body(Validated) body: SendMessageDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<AcceptedMessageDto> {
    if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) {
      throw new AppException(
        400,
        'INVALID_IDEMPOTENCY_KEY',
        'Idempotency-Key must be 1-255 visible ASCII characters',
      );
    }
    return this.messages.accept(req.clientId!, body, { idempotencyKey });
  }

  @Get('messages/queues')
  @ApiOperation({ summary: 'Jobs per queue: waiting, active, delayed, failed, completed' })
  @ApiOkResponse({ type: QueuesDto })
  queues() {
    return this.messages.queueCounts();
  }

  @Get('messages/:id')
  @ApiOperation({ summary: 'A message with its status history' })
  @ApiOkResponse({ type: MessageDto })
  @ApiResponse({ status: 404, type: ErrorDto })
  get(@Req() req: AuthenticatedRequest, @Param(Validated) p: MessageIdParamDto): Promise<MessageDto> {
    return this.messages.get(req.clientId!, p.id);
  }

  @Get('messages')
  @ApiOperation({ summary: 'Messages, newest first, with cursor pagination' })
  @ApiOkResponse({ type: MessagePageDto })
  list(@Req() req: AuthenticatedRequest, @Query(Validated) q: ListMessagesQueryDto): Promise<MessagePageDto> {
    return this.messages.list(req.clientId!, q);
  }

  @Get('webhooks/secret')
  @ApiOperation({ summary: "This client's secret for verifying status callbacks (Standard Webhooks)" })
  @ApiOkResponse({ type: WebhookSecretDto })
  secret(@Req() req: AuthenticatedRequest): WebhookSecretDto {
    return { secret: webhookSecret(this.config.secrets.webhook, req.clientId!) };
  }
}
