import { normalizePhone } from '../common/phone';
import { Body, Controller, Header, HttpCode, Logger, Post, Req } from '@nestjs/common';
import { ApiConsumes, ApiHeader, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { AppException } from '../common/app.exception';
import { Public } from '../http/access.decorator';
import { ErrorDto } from '../http/error.dto';
import { hasUnstorableText } from '../common/validators/storable-text.validator';
import { AppConfig } from '../config/app-config';
import { InboundAnswer, InboundSmsService, isKeywordAnswer } from '../onboarding/inbound-sms.service';
import { render } from '../templates/template';
import { TemplatesService } from '../templates/templates.service';
import { OPTED_OUT, type MessageStatus } from './message.types';
import { TWILIO_OPT_OUT_CODES } from './providers/twilio.provider';
import { MessageStatusService } from './message-status.service';
import { validTwilioSignature } from './twilio-signature';
import { Validated } from '../http/validation.pipe';
import { EMPTY_TWIML, twimlReply } from './twiml';

/** Twilio's MessageStatus values mapped onto ours; `queued`/`accepted`/`scheduled` add nothing we know. */
const TWILIO_STATUS: Record<string, MessageStatus | undefined> = {
  sending: 'sent',
  sent: 'sent',
  delivered: 'delivered',
  read: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

type Form = Record<string, string | string[]>;

@ApiTags('webhooks')
@Public()
@ApiHeader({ name: 'X-Twilio-Signature', required: true })
@ApiResponse({ status: 403, type: ErrorDto, description: 'missing or wrong X-Twilio-Signature' })
@Controller('webhooks/twilio')
export class TwilioWebhooksController {
  private readonly logger = new Logger('TwilioWebhooks');

  constructor(
    private readonly config: AppConfig,
    private readonly statuses: MessageStatusService,
    private readonly inbound: InboundSmsService,
    private readonly templates: TemplatesService,
  ) {}

  @Post('status')
  @HttpCode(200)
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiOperation({
    summary: 'Twilio status callback (paste {PUBLIC_BASE_URL}/webhooks/twilio/status into Twilio)',
    description: 'Moves a message forward only: late or repeated callbacks change nothing.',
  })
  @ApiOkResponse({ description: 'accepted' })
  async status(@Req() req: FastifyRequest, @Body(Validated) form: Form): Promise<string> {
    this.verify(req, form);
    const sid = one(form.MessageSid);
    const status = TWILIO_STATUS[one(form.MessageStatus) ?? ''];
    if (!sid || !status) return '';
    const errorCode = one(form.ErrorCode);
    // An opt-out or a block by the recipient (21610, 63014): failed for good, and the number suppressed.
    const optedOut = !!errorCode && TWILIO_OPT_OUT_CODES.has(Number(errorCode));
    await this.statuses.providerReport({
      provider: 'twilio',
      providerMessageId: sid,
      messageId: (req.query as Record<string, string>).message_id,
      status: optedOut ? 'failed' : status,
      ...(optedOut
        ? { error: OPTED_OUT, optedOut }
        : errorCode
          ? { error: `Twilio error ${errorCode}` }
          : {}),
      detail: { twilio_status: one(form.MessageStatus), error_code: errorCode ?? null },
    });
    return '';
  }

  @Post('inbound')
  @HttpCode(200)
  @Header('Content-Type', 'text/xml')
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiOperation({
    summary: 'Twilio inbound SMS (paste {PUBLIC_BASE_URL}/webhooks/twilio/inbound into Twilio)',
    description:
      'Hands the SMS (From, Body, MessageSid) to the inbound pipeline: opt-out keywords first (STOP and its synonyms suppress the number, START lifts it, HELP; answered with OPT_OUT_REPLY, OPT_IN_REPLY or HELP_REPLY as TwiML), then onboarding, answered with empty TwiML or one reply rendered from the onboarding_verified / onboarding_rejected template when it exists.',
  })
  @ApiOkResponse({ description: 'TwiML: <Response/>, or <Response><Message>…</Message></Response>' })
  async inboundSms(@Req() req: FastifyRequest, @Body(Validated) form: Form): Promise<string> {
    this.verify(req, form);
    try {
      const answer = await this.inbound.handle({
        // A WhatsApp message comes From `whatsapp:+…`: the same number, the same keywords.
        mobile_number: normalizePhone(one(form.From)?.replace(/^whatsapp:/, ''), 'From'),
        message: one(form.Body) ?? '',
        sms_id: one(form.MessageSid),
        source: 'twilio',
      });
      return await this.replyTo(answer);
    } catch (err) {
      // A sender that is not a valid number, or a duplicate in flight: nothing for Twilio to retry.
      if (!(err instanceof AppException) || err.getStatus() >= 500) throw err;
      this.logger.log(`inbound SMS not processed: ${err.code}`);
    }
    return EMPTY_TWIML;
  }

  /**
   * The reply Twilio sends the person, when the `onboarding_verified` or `onboarding_rejected` template exists
   * (in its first locale; `reason` is given to a template that declares it): TwiML with one message. No such
   * template, or one that cannot be filled: no reply.
   */
  private async replyTo(answer: InboundAnswer): Promise<string> {
    if (isKeywordAnswer(answer)) {
      const text = this.inbound.keywordReply(answer);
      return text ? twimlReply(text) : EMPTY_TWIML;
    }
    const t = await this.templates.find(`onboarding_${answer.status}`).catch(() => null);
    if (!t) return EMPTY_TWIML;
    try {
      const given = t.variables.includes('reason')
        ? { reason: 'reason' in answer ? answer.reason : answer.status }
        : {};
      const { body } = render(t, given);
      return twimlReply(body);
    } catch (err) {
      this.logger.warn(`onboarding reply not sent: ${(err as Error).message}`);
      return EMPTY_TWIML;
    }
  }

  private verify(req: FastifyRequest, form: Form): void {
    const token = this.config.messages.twilio.authToken;
    const signature = req.headers['x-twilio-signature'];
    const url = `${this.config.http.publicBaseUrl}${req.url}`;
    if (!token || typeof signature !== 'string' || !validTwilioSignature(token, signature, url, form ?? {})) {
      throw new AppException(403, 'INVALID_SIGNATURE', 'The X-Twilio-Signature header is missing or wrong');
    }
    // The fields go into Postgres rows (out_sms, message events, the audit trail): a NUL there would fail the
    // write, and in an audit event stall the monitor-logger on every tick. The gateway door refuses the same.
    if (hasUnstorableText(form)) {
      throw new AppException(
        400,
        'VALIDATION_FAILED',
        'Form fields must not contain NUL characters or unpaired surrogates',
      );
    }
  }
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
