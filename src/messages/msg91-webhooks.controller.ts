// MSG91's delivery reports. MSG91 signs nothing, so the URL given to it carries a secret token
// ({PUBLIC_BASE_URL}/webhooks/msg91/status/{MSG91_WEBHOOK_TOKEN}); any other token is answered as an unknown
// route would be. Both of MSG91's shapes are read: the SMS webhook's form field `data` (a JSON string of
// [{requestId, report: [{status, desc, ...}]}]) and the JSON webhooks' flat {requestId, status, ...} (alone or
// in an array). The reports go to ProviderReports, which stores them all before the answer.
import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { IsString } from 'class-validator';
import { timingSafeEqual } from 'node:crypto';
import { AppException } from '../common/app.exception';
import { hasUnstorableText } from '../common/validators/storable-text.validator';
import { AppConfig } from '../config/app-config';
import { Public } from '../http/access.decorator';
import { ErrorDto } from '../http/error.dto';
import { Validated } from '../http/validation.pipe';
import type { MessageStatus } from './message.types';
import type { ProviderReport } from './message-status.service';
import { ProviderReports } from './providers/provider-reports';

export class Msg91TokenParams {
  /** The secret token of the webhook URL (MSG91_WEBHOOK_TOKEN). */
  @IsString()
  token!: string;
}

/** MSG91's report statuses (numeric codes, or the words of the newer webhooks) mapped onto ours. */
const MSG91_STATUS: Record<string, MessageStatus | undefined> = {
  '1': 'delivered',
  delivered: 'delivered',
  '2': 'undelivered',
  failed: 'undelivered',
  '9': 'failed',
  ndnc: 'failed',
  '16': 'failed',
  '25': 'failed',
  rejected: 'failed',
  '17': 'failed',
  blocked: 'failed',
};

interface Msg91Report {
  requestId: string;
  status: string;
  desc?: string;
  failureReason?: string;
}

@ApiTags('webhooks')
@Public()
@Controller('webhooks/msg91')
export class Msg91WebhooksController {
  constructor(
    private readonly config: AppConfig,
    private readonly reports: ProviderReports,
  ) {}

  @Post('status/:token')
  @HttpCode(200)
  @ApiConsumes('application/json', 'application/x-www-form-urlencoded')
  @ApiOperation({
    summary:
      'MSG91 delivery report (give MSG91 {PUBLIC_BASE_URL}/webhooks/msg91/status/{MSG91_WEBHOOK_TOKEN})',
    description:
      'Moves a message forward only: late or repeated reports change nothing; a report on a request id no ' +
      'message carries (yet) is kept for an hour and applied if one records it, else ignored.',
  })
  @ApiParam({ name: 'token', type: String, description: 'MSG91_WEBHOOK_TOKEN' })
  @ApiBody({
    description: 'MSG91 SMS webhook: form field `data` (JSON string), or JSON {requestId, status, ...}',
    schema: { oneOf: [{ type: 'object' }, { type: 'array', items: { type: 'object' } }] },
  })
  @ApiOkResponse({ description: 'stored' })
  @ApiResponse({ status: 404, type: ErrorDto, description: 'unknown token (or MSG91 not configured)' })
  @ApiResponse({
    status: 503,
    type: ErrorDto,
    description: 'Postgres or Redis unreachable: the report was not stored (MSG91 is to send it again)',
  })
  async status(@Param(Validated) params: Msg91TokenParams, @Body(Validated) body: unknown): Promise<string> {
    this.verify(params.token);
    const reports = readReports(body).flatMap((r): ProviderReport[] => {
      const status = MSG91_STATUS[r.status.trim().toLowerCase()];
      if (!status) return []; // an intermediate state we do not track
      const why = r.failureReason || r.desc;
      return [
        {
          provider: 'msg91',
          providerMessageId: r.requestId,
          status,
          ...(status === 'delivered' ? {} : { error: `MSG91 ${r.status}${why ? ` ${why}` : ''}` }),
          detail: { msg91_status: r.status, msg91_desc: r.desc ?? null },
        },
      ];
    });
    await this.reports.recordAll(reports);
    return '';
  }

  private verify(token: string): void {
    const expected = this.config.messages.msg91.webhookToken;
    const given = Buffer.from(token);
    if (
      !expected ||
      given.length !== Buffer.byteLength(expected) ||
      !timingSafeEqual(given, Buffer.from(expected))
    )
      throw new AppException(404, 'NOT_FOUND', 'Route not found');
  }
}

/** The reports in a webhook body, or a 400 when it holds none that can be read. */
function readReports(body: unknown): Msg91Report[] {
  const bad = (why: string) =>
    new AppException(400, 'VALIDATION_FAILED', `Not an MSG91 delivery report: ${why}`);
  if (hasUnstorableText(body)) throw bad('NUL characters or unpaired surrogates');
  let items: unknown[];
  if (body && typeof body === 'object' && !Array.isArray(body) && 'data' in body) {
    const data = (body as { data: unknown }).data;
    if (typeof data !== 'string') throw bad('`data` must be a JSON string');
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      throw bad('`data` is not JSON');
    }
    items = (Array.isArray(parsed) ? parsed : [parsed]).flatMap((request: unknown) => {
      const req = request as { requestId?: unknown; report?: unknown } | null;
      if (!req || typeof req !== 'object' || !Array.isArray(req.report))
        throw bad('a request without `report`');
      return req.report.map((r: unknown) => ({ ...(r as object), requestId: req.requestId }));
    });
  } else {
    items = Array.isArray(body) ? body : [body];
  }
  if (!items.length) throw bad('no report');
  return items.map((item) => {
    const r = item as Record<string, unknown> | null;
    const text = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
    const requestId = text(r?.requestId);
    const status = text(r?.status);
    if (!r || typeof r !== 'object' || !requestId || !status || requestId.length > 200 || status.length > 50)
      throw bad('each report needs a `requestId` and a `status`');
    return {
      requestId,
      status,
      desc: text(r.desc ?? r.description)?.slice(0, 200),
      failureReason: text(r.failureReason ?? r.failedReason)?.slice(0, 200),
    };
  });
}
