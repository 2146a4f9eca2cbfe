import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { isEmail, isUUID } from 'class-validator';
import { randomUUID } from 'node:crypto';
import { AppException } from '../common/app.exception';
import { Batcher } from '../common/batcher';
import { parsePhone } from '../common/phone';
import { AppConfig } from '../config/app-config';
import { OTP_CLIENT_ID } from '../config/env';
import { blockedError, NumberBlocks } from '../suppression/number-blocks';
import { MetricsService } from '../metrics/metrics.service';
import { JobName, QueueName, SendMessagePayload, sendJobOptions } from '../workers/job-catalogue';
import type { AcceptedMessageDto, MessageDto, SendMessageDto } from './dto/messages.dto';
import { CallbackUrlRefused, checkCallbackUrl } from './callback-urls';
import { Claim, IdempotencyStore, mismatch, requestHash } from './idempotency';
import { MessageSender } from './message-sender';
import { MessageRow, MessageStatus, MessageType } from './message.types';
import { MessagesRepository } from './messages.repository';
import { countSegments, SegmentCount } from './segments';
import { contentVariables, render, TemplateError } from '../templates/template';
import { TemplatesService } from '../templates/templates.service';

const MAX_TEXT = 1600;

/** What a message says and, when rendered from a template, what its send needs from it. */
export interface Content {
  body: string;
  template: string | null;
  locale: string | null;
  whatsappContentSid: string | null;
  contentVariables: Record<string, string> | null;
  dltTemplateId: string | null;
}
const NO_TEMPLATE = {
  template: null,
  locale: null,
  whatsappContentSid: null,
  contentVariables: null,
  dltTemplateId: null,
};
const QUEUE_ADD_TIMEOUT_MS = 1000;

export interface AcceptOptions {
  idempotencyKey?: string;
  /** The body holds a secret (an OTP code): it is redacted once the message has been sent. */
  sensitive?: boolean;
  /** The message's id, when the caller recorded it elsewhere first (OTP stores it with the code). */
  id?: string;
  /** What it says, composed by the caller (OTP renders its own template); `body` then holds its text. */
  content?: Content;
}

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);

export function presentMessage(m: MessageRow): MessageDto {
  return {
    id: m.id,
    type: m.type,
    from: m.from,
    to: m.to,
    subject: m.subject,
    body: m.body,
    media_urls: m.media_urls,
    metadata: m.metadata,
    status: m.status,
    provider: m.provider,
    provider_message_id: m.provider_message_id,
    retry_count: m.retry_count,
    error: m.error,
    send_at: iso(m.send_at),
    encoding: m.encoding,
    segments: m.segments,
    valid_until: iso(m.valid_until),
    template: m.template,
    locale: m.locale,
    attempts: m.attempts ?? [],
    created_at: iso(m.created_at)!,
    updated_at: iso(m.updated_at)!,
    sent_at: iso(m.sent_at),
    delivered_at: iso(m.delivered_at),
  };
}

/** The queue a message type goes through (WhatsApp shares the SMS queue and provider). */
/** A job as Queue.addBulk takes it. */
type QueuedJob = Parameters<Queue['addBulk']>[0][number];

export const queueFor = (type: MessageType): QueueName.Sms | QueueName.Mms | QueueName.Email =>
  type === 'email' ? QueueName.Email : type === 'mms' ? QueueName.Mms : QueueName.Sms;

/**
 * Accepting a message: validate, store it in Postgres (the promise behind the 202), then queue it with the
 * message id as job id. If the queue is unreachable the message stays pending and the relay queues it later.
 */
@Injectable()
export class MessagesService {
  private readonly logger = new Logger('Messages');
  private readonly queues: Record<QueueName.Sms | QueueName.Mms | QueueName.Email, Queue>;
  private readonly accepted;

  constructor(
    private readonly repo: MessagesRepository,
    private readonly idempotency: IdempotencyStore,
    private readonly sender: MessageSender,
    private readonly config: AppConfig,
    private readonly blocks: NumberBlocks,
    private readonly templates: TemplatesService,
    @InjectQueue(QueueName.Sms) sms: Queue,
    @InjectQueue(QueueName.Mms) mms: Queue,
    @InjectQueue(QueueName.Email) email: Queue,
    @InjectQueue(QueueName.Webhooks) private readonly webhooks: Queue,
    metrics: MetricsService,
  ) {
    this.queues = { [QueueName.Sms]: sms, [QueueName.Mms]: mms, [QueueName.Email]: email };
    // Each queue hears its own 'error' from the moment it is made (heard-queue.ts).
    this.accepted = metrics.counter('smsb_messages_accepted_total', 'Messages accepted', ['type']);
    const queues = this.queues;
    metrics.gauge(
      'smsb_queue_jobs',
      'Jobs per message queue and state',
      ['queue', 'state'],
      async function () {
        for (const [name, queue] of Object.entries(queues)) {
          const counts = await queue
            .getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed')
            .catch(() => undefined);
          for (const [state, n] of Object.entries(counts ?? {})) this.set({ queue: name, state }, n);
        }
      },
    );
  }

  /** Reads and checks a message as accept would, storing nothing: its 400s, before anything is done for it. */
  async check(dto: SendMessageDto, content?: Content): Promise<void> {
    this.normalize(dto, content ?? (await this.content(dto)));
  }

  async accept(clientId: string, dto: SendMessageDto, opts: AcceptOptions = {}): Promise<AcceptedMessageDto> {
    const m = this.normalize(dto, opts.content ?? (await this.content(dto)));
    if (m.type !== 'email' && clientId !== OTP_CLIENT_ID) {
      // (OTP's send script checked the same lists in its own step.)
      const block = await this.blocks.of(m.to);
      if (block) throw blockedError(block);
    }
    if (dto.status_callback) {
      await checkCallbackUrl(dto.status_callback, this.config.messages.allowPrivateCallbackUrls).catch(
        (err: Error) => {
          throw err instanceof CallbackUrlRefused
            ? new AppException(400, 'INVALID_CALLBACK_URL', err.message)
            : err;
        },
      );
    }
    const key = opts.idempotencyKey;
    // The request's fingerprint matters only with an Idempotency-Key (a message without one is always new).
    const hash = key ? requestHash(dto) : '';
    let claim: Claim | undefined;
    if (key) {
      const begun = await this.idempotency.begin(clientId, key, hash);
      if (begun.replay) return begun.replay as AcceptedMessageDto;
      claim = begun.claim;
    }
    try {
      // With a key already used (a retry after the first request's answer was lost, the API died mid-request
      // say), Postgres has the message: nothing new is stored and the answer carries its id.
      const { row, created } = await this.repo.insert({
        id: opts.id ?? randomUUID(),
        clientId,
        ...m,
        sensitive: opts.sensitive ?? false,
        idempotencyKey: key ?? null,
        requestHash: key ? hash : null,
      });
      if (!created && row.request_hash !== hash) throw mismatch();
      // A repeat answers what the first request answered: accepted, `pending` (sent already only when sent
      // inside the request, SYNC_MESSAGE_PROCESSING), not the message's status since; GET gives that.
      let status: MessageStatus = this.config.messages.syncProcessing ? row.status : 'pending';
      if (created) {
        this.accepted.inc({ type: row.type });
        status = await this.dispatch(row);
      }
      const answer: AcceptedMessageDto = {
        id: row.id,
        status,
        type: row.type,
        to: row.to,
        created_at: iso(row.created_at)!,
        send_at: iso(row.send_at),
        encoding: row.encoding,
        segments: row.segments,
        valid_until: iso(row.valid_until),
      };
      claim?.stop();
      if (key) await this.idempotency.complete(clientId, key, hash, answer);
      return answer;
    } catch (err) {
      claim?.stop();
      if (key) await this.idempotency.abort(clientId, key);
      throw err;
    }
  }

  /**
   * Queues the message. With SYNC_MESSAGE_PROCESSING a message due now is sent here first; one scheduled for
   * later, or whose send was refused in a way worth retrying, is queued as usual.
   */
  private async dispatch(row: MessageRow): Promise<MessageStatus> {
    const due = !row.send_at || new Date(row.send_at).getTime() <= Date.now();
    if (this.config.messages.syncProcessing && due) {
      const retry = await this.sender.send(row.id, { number: 1, final: false }).then(
        () => false,
        () => true, // a retryable refusal: the message is pending again, for the queue's retries
      );
      if (!retry) return (await this.repo.find(row.id))?.status ?? row.status;
    }
    await this.enqueue(row).catch((err: Error) => {
      this.logger.warn(`message ${row.id} stored but not queued (${err.message}); the relay will queue it`);
    });
    return row.status;
  }

  private readonly batchers = new Map<ReturnType<typeof queueFor>, Batcher<QueuedJob, unknown>>();

  /** Job adds to one queue, shared by concurrent accepts: one addBulk round trip for many jobs under load. */
  private adds(name: ReturnType<typeof queueFor>): Batcher<QueuedJob, unknown> {
    let b = this.batchers.get(name);
    if (!b) {
      b = new Batcher<QueuedJob, unknown>((jobs) => this.queues[name].addBulk(jobs), {
        maxBatch: 100,
        concurrency: 2,
      });
      this.batchers.set(name, b);
    }
    return b;
  }

  /** The queue that carries messages of this type. */
  queueOf(type: MessageType): Queue {
    return this.queues[queueFor(type)];
  }

  /** One job per message: the job id is the message id, so adding it twice is a no-op. */
  async enqueue(row: Pick<MessageRow, 'id' | 'type' | 'send_at'>): Promise<void> {
    const delay = row.send_at ? Math.max(0, new Date(row.send_at).getTime() - Date.now()) : 0;
    const payload: SendMessagePayload = { messageId: row.id };
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.adds(queueFor(row.type)).submit({
          name: JobName.SendMessage,
          data: payload,
          opts: { ...sendJobOptions(this.config), jobId: row.id, delay },
        }),
        new Promise(
          (_, reject) =>
            (timer = setTimeout(
              () => reject(new Error('queue did not answer in time')),
              QUEUE_ADD_TIMEOUT_MS,
            )),
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async get(clientId: string, id: string): Promise<MessageDto> {
    const row = await this.repo.find(id);
    if (!row || row.client_id !== clientId)
      throw new AppException(404, 'MESSAGE_NOT_FOUND', 'No such message');
    const events = await this.repo.events(id);
    return {
      ...presentMessage(row),
      events: events.map((e) => ({ status: e.status, detail: e.detail, created_at: iso(e.created_at)! })),
    };
  }

  async list(
    clientId: string,
    q: { status?: string; to?: string; type?: string; limit?: number; cursor?: string },
  ): Promise<{ items: MessageDto[]; next_cursor: string | null }> {
    const limit = q.limit ?? 50;
    let after: { createdAt: string; id: string } | undefined;
    if (q.cursor) {
      const [createdAt, id] = Buffer.from(q.cursor, 'base64url').toString().split('|');
      // Exactly what next_cursor holds (an ISO timestamp with a four-digit year and microseconds, or
      // milliseconds as earlier cursors had, and a UUID): anything looser that Date.parse or a character class
      // accepts ('1', '+275760-…', 36 dashes) would reach Postgres as a bad timestamp or uuid, a 500.
      const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})(\d{3})?Z$/.exec(createdAt ?? '');
      const ms = m ? Date.parse(`${m[1]}Z`) : NaN;
      // Year 0000 is a JavaScript date but not a Postgres one.
      const valid = !Number.isNaN(ms) && !m![1].startsWith('0000-');
      if (!valid || new Date(ms).toISOString() !== `${m![1]}Z` || !isUUID(id ?? '')) {
        throw new AppException(400, 'INVALID_CURSOR', 'cursor is not one this API gave out');
      }
      after = { createdAt, id };
    }
    const to = q.to ? (parsePhone(q.to)?.e164 ?? q.to.trim().toLowerCase()) : undefined;
    const rows = await this.repo.list({
      clientId,
      status: q.status as MessageStatus,
      to,
      type: q.type as MessageType,
      limit,
      after,
    });
    const last = rows[rows.length - 1];
    return {
      items: rows.map(presentMessage),
      next_cursor:
        rows.length === limit ? Buffer.from(`${last.cursor_at}|${last.id}`).toString('base64url') : null,
    };
  }

  /** Every queue's counts: the message queues and the status-callback queue. */
  async queueCounts(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [name, queue] of Object.entries({ ...this.queues, [QueueName.Webhooks]: this.webhooks })) {
      out[name] = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    }
    return out;
  }

  /** The rules class-validator cannot express alone: per-type recipients, media and length. */
  /**
   * What the message says: its body, or its template rendered (variables, locale) with what the send needs
   * from it. WhatsApp needs an approved template: a business may start a conversation with nothing else, so
   * free text, which the service cannot know to be inside a 24-hour reply window, is refused.
   */
  private async content(dto: SendMessageDto): Promise<Content> {
    const bad = (code: string, message: string) => new AppException(400, code, message);
    if ((dto.body === undefined) === (dto.template === undefined))
      throw bad('BODY_OR_TEMPLATE', 'give either body or template (with its variables)');
    if (dto.template === undefined) {
      if (dto.variables !== undefined || dto.locale !== undefined)
        throw bad('BODY_OR_TEMPLATE', 'variables and locale go with template');
      if (dto.type === 'whatsapp')
        throw new TemplateError(
          'WHATSAPP_TEMPLATE_REQUIRED',
          'WhatsApp messages need a template with a whatsapp_content_sid (an approved WhatsApp template)',
        );
      return { body: dto.body!, ...NO_TEMPLATE };
    }
    const t = await this.templates.get(dto.template);
    const r = render(t, dto.variables, dto.locale);
    const whatsapp = dto.type === 'whatsapp';
    if (whatsapp && !r.whatsappContentSid)
      throw new TemplateError(
        'WHATSAPP_TEMPLATE_REQUIRED',
        `template ${t.name} (${r.locale}) has no whatsapp_content_sid: WhatsApp needs an approved template`,
      );
    return {
      body: r.body,
      template: t.name,
      locale: r.locale,
      whatsappContentSid: whatsapp ? r.whatsappContentSid : null,
      contentVariables: whatsapp ? JSON.parse(contentVariables(t, r.variables)) : null,
      dltTemplateId: r.dltTemplateId,
    };
  }

  private normalize(dto: SendMessageDto, content: Content) {
    const body = content.body;
    const type = dto.type;
    const bad = (code: string, message: string) => new AppException(400, code, message);
    let to: string;
    if (type === 'email') {
      if (!isEmail(dto.to)) throw bad('INVALID_EMAIL', 'to must be an e-mail address for type email');
      to = dto.to.trim().toLowerCase();
      if (dto.from !== undefined && !isEmail(dto.from))
        throw bad('INVALID_EMAIL', 'from must be an e-mail address');
    } else {
      to = dto.to; // E.164: read by the DTO (SendMessageDto), or handed over by the service's own OTP
      if (body.length > MAX_TEXT)
        throw bad('BODY_TOO_LONG', `body may hold at most ${MAX_TEXT} characters for ${type}`);
    }
    if (type === 'mms' && !dto.media_urls?.length)
      throw bad('MEDIA_REQUIRED', 'media_urls is required for mms');
    if (type !== 'mms' && dto.media_urls !== undefined)
      throw bad('MEDIA_NOT_ALLOWED', 'media_urls is only for mms');
    let sendAt: Date | null = null;
    if (dto.send_at) {
      sendAt = new Date(dto.send_at);
      // ISO 8601 has forms (weeks, ordinal days, basic format) that JavaScript cannot read: an invalid date
      // would compare false with every bound below and reach Postgres as garbage.
      if (Number.isNaN(sendAt.getTime()))
        throw bad('INVALID_SEND_AT', 'send_at must be an RFC 3339 date-time such as 2026-12-04T10:00:00Z');
      if (sendAt.getTime() < Date.now() - 5000) throw bad('SEND_AT_IN_PAST', 'send_at is in the past');
      if (sendAt.getTime() > Date.now() + 366 * 86400_000)
        throw bad('SEND_AT_TOO_FAR', 'send_at is more than a year ahead');
    }
    // India (TRAI): every SMS to +91 carries a registered content-template id, when enforced.
    if (type === 'sms' && this.config.messages.dlt.enforce && to.startsWith('+91') && !content.dltTemplateId)
      throw bad(
        'DLT_TEMPLATE_REQUIRED',
        'an SMS to India needs a template whose locale has a dlt_template_id (DLT_ENFORCE)',
      );
    let count: SegmentCount | null = null;
    if (type === 'sms') {
      count = countSegments(body);
      const max = this.config.messages.maxSegments;
      if (count.segments > max)
        throw bad(
          'TOO_MANY_SEGMENTS',
          `body is ${count.segments} ${count.encoding} segments; at most ${max} (MAX_SEGMENTS) are sent`,
        );
    }
    // The clock starts at acceptance, or at send_at when given.
    const validUntil = dto.validity_seconds
      ? new Date((sendAt ?? new Date()).getTime() + dto.validity_seconds * 1000)
      : null;
    if (dto.metadata && JSON.stringify(dto.metadata).length > 4096)
      throw bad('METADATA_TOO_LARGE', 'metadata may hold at most 4 KB');
    return {
      type,
      from: dto.from ? (type === 'email' ? dto.from.trim() : dto.from) : null,
      to,
      subject: dto.subject ?? null,
      body,
      template: content.template,
      locale: content.locale,
      whatsappContentSid: content.whatsappContentSid,
      contentVariables: content.contentVariables,
      dltTemplateId: content.dltTemplateId,
      mediaUrls: dto.media_urls ?? null,
      metadata: dto.metadata ?? null,
      statusCallback: dto.status_callback ?? null,
      sendAt,
      encoding: count?.encoding ?? null,
      segments: count?.segments ?? null,
      validUntil,
    };
  }
}
