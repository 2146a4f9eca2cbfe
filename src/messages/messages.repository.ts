// Postgres access for messages: one statement per write (the row and its first event in one CTE); new
// messages accepted at the same time share one.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { isDataError } from '../database/pg-errors';
import type { Attempt } from './providers/router';
import { Batcher } from '../common/batcher';
import { AppConfig } from '../config/app-config';
import {
  DELIVERY_UNKNOWN,
  MessageEventRow,
  MessageRow,
  MessageStatus,
  MessageType,
  REDACTED_BODY,
  STATUS_RANK,
} from './message.types';

export interface NewMessage {
  id: string;
  clientId: string;
  type: MessageType;
  from: string | null;
  to: string;
  subject: string | null;
  body: string;
  mediaUrls: string[] | null;
  metadata: Record<string, unknown> | null;
  statusCallback: string | null;
  sensitive: boolean;
  sendAt: Date | null;
  encoding: 'GSM-7' | 'UCS-2' | null;
  segments: number | null;
  validUntil: Date | null;
  template: string | null;
  locale: string | null;
  whatsappContentSid: string | null;
  contentVariables: Record<string, string> | null;
  dltTemplateId: string | null;
  idempotencyKey: string | null;
  requestHash: string | null;
}

export interface TransitionFields {
  provider?: string;
  providerMessageId?: string;
  error?: string | null;
  incrementRetry?: boolean;
  detail?: object;
  /** Also move a message settled as failed with DELIVERY_UNKNOWN (a provider's late word on it). */
  fromDeliveryUnknown?: boolean;
  /** Providers tried by this send, appended to the message's attempts. */
  attempts?: Attempt[];
}

/** A row as a transition left it, with the id of the event it recorded (message_events.id, as text). */
export type TransitionedRow = MessageRow & { event_id: string };

interface Transition {
  id: string;
  from: MessageStatus[];
  to: MessageStatus;
  fields: TransitionFields;
}

/** Where the relay's walk over due messages stands: the last row's due time (full precision, as text) and id. */
export interface DueCursor {
  due: string;
  id: string;
}

export interface UndeliveredCallback {
  event_id: string;
  status: MessageStatus;
  created_at: Date;
  status_callback: string;
  client_id: string;
}

export interface ListFilter {
  clientId: string;
  status?: MessageStatus;
  to?: string;
  type?: MessageType;
  limit: number;
  after?: { createdAt: string; id: string };
}

@Injectable()
export class MessagesRepository {
  /**
   * Accepts share INSERT statements under load (group commit): one statement, one commit, one WAL flush for
   * many messages; at most half the pool is used for them, so reads are not starved.
   */
  private readonly inserts: Batcher<NewMessage, MessageRow | null>;
  /** Status changes share statements the same way (the worker makes three per message). */
  private readonly transitions: Batcher<Transition, TransitionedRow | null>;

  constructor(
    private readonly db: DataSource,
    config: AppConfig,
  ) {
    const concurrency = Math.max(1, Math.floor(config.database.poolSize / 2));
    const opts = { maxBatch: 100, concurrency, itemFault: isDataError };
    this.inserts = new Batcher((ms) => this.insertMany(ms), opts);
    this.transitions = new Batcher((ts) => this.transitionMany(ts), opts);
  }

  /**
   * Stores a new pending message with its first event. With an idempotency key already used by this client,
   * stores nothing and returns the existing row instead (created: false).
   */
  async insert(m: NewMessage): Promise<{ row: MessageRow; created: boolean }> {
    const row = await this.inserts.submit(m);
    if (row) return { row, created: true };
    const existing = await this.findByIdempotencyKey(m.clientId, m.idempotencyKey!);
    if (!existing) throw new Error('idempotency conflict without an existing row');
    return { row: existing, created: false };
  }

  /**
   * One statement for many new messages (the rows and their first events): the inserted row for each, or null
   * where the client's idempotency key was already used. Concurrent accepts share it through `inserts`.
   */
  private async insertMany(ms: NewMessage[]): Promise<(MessageRow | null)[]> {
    const params: unknown[] = [];
    const tuples = ms.map((m) => {
      const values = [
        m.id,
        m.clientId,
        m.type,
        m.from,
        m.to,
        m.subject,
        m.body,
        m.mediaUrls ? JSON.stringify(m.mediaUrls) : null,
        m.metadata ? JSON.stringify(m.metadata) : null,
        m.statusCallback,
        m.sensitive,
        m.sendAt,
        m.encoding,
        m.segments,
        m.validUntil,
        m.template,
        m.locale,
        m.whatsappContentSid,
        m.contentVariables ? JSON.stringify(m.contentVariables) : null,
        m.dltTemplateId,
        m.idempotencyKey,
        m.requestHash,
      ];
      const first = params.length;
      params.push(...values);
      return `(${values.map((_, i) => `$${first + i + 1}`).join(', ')})`;
    });
    const rows: MessageRow[] = await this.db.query(
      `WITH m AS (
         INSERT INTO messages (id, client_id, type, "from", "to", subject, body, media_urls, metadata, status_callback,
                               sensitive, send_at, encoding, segments, valid_until, template, locale,
                               whatsapp_content_sid, content_variables, dlt_template_id, idempotency_key, request_hash)
         VALUES ${tuples.join(', ')}
         ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING *
       ), e AS (
         INSERT INTO message_events (message_id, status) SELECT id, 'pending' FROM m
       )
       SELECT * FROM m`,
      params,
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ms.map((m) => byId.get(m.id) ?? null);
  }

  async findByIdempotencyKey(clientId: string, key: string): Promise<MessageRow | null> {
    const rows: MessageRow[] = await this.db.query(
      'SELECT * FROM messages WHERE client_id = $1 AND idempotency_key = $2',
      [clientId, key],
    );
    return rows[0] ?? null;
  }

  async find(id: string): Promise<MessageRow | null> {
    const rows: MessageRow[] = await this.db.query('SELECT * FROM messages WHERE id = $1', [id]);
    return rows[0] ?? null;
  }

  async events(id: string): Promise<MessageEventRow[]> {
    return this.db.query('SELECT * FROM message_events WHERE message_id = $1 ORDER BY id', [id]);
  }

  /** Newest first, keyset-paginated on (created_at, id): the cost of a page does not grow with the table. */
  async list(f: ListFilter): Promise<(MessageRow & { cursor_at: string })[]> {
    const where = ['client_id = $1'];
    const params: unknown[] = [f.clientId];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (f.status) add('status = ?', f.status);
    if (f.to) add('"to" = ?', f.to);
    if (f.type) add('type = ?', f.type);
    if (f.after) {
      params.push(f.after.createdAt, f.after.id);
      where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(f.limit);
    // cursor_at: created_at at full (microsecond) precision, for the next page's cursor. Rows stored by one
    // statement (group commit) share it, so a cursor cut to milliseconds would skip them.
    return this.db.query(
      `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
       FROM messages WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
  }

  /**
   * Moves a message to `to` only if its status is one of `from` (or, with `fromDeliveryUnknown`, if it was
   * settled as failed with DELIVERY_UNKNOWN), recording the event in the same statement. Returns the updated
   * row, or null when the message was not in one of those states (someone else moved it). Concurrent
   * transitions (the worker's jobs, provider callbacks) share statements under load.
   */
  async transition(
    id: string,
    from: MessageStatus[],
    to: MessageStatus,
    fields: TransitionFields = {},
  ): Promise<TransitionedRow | null> {
    return this.transitions.submit({ id, from, to, fields });
  }

  /**
   * Many conditional transitions in one statement per round: a message named twice in a batch moves in two
   * rounds, in submission order, so each transition still sees the status the one before it left.
   */
  private async transitionMany(batch: Transition[]): Promise<(TransitionedRow | null)[]> {
    const results: (TransitionedRow | null)[] = new Array(batch.length).fill(null);
    let pending = batch.map((t, index) => ({ t, index }));
    while (pending.length) {
      const seen = new Set<string>();
      const round = pending.filter(({ t }) => !seen.has(t.id) && !!seen.add(t.id));
      pending = pending.filter((p) => !round.includes(p));
      const params: unknown[] = [];
      const tuples = round.map(({ t }) => {
        const f = t.fields;
        params.push(
          t.id,
          t.from,
          t.to,
          f.provider ?? null,
          f.providerMessageId ?? null,
          'error' in f,
          f.error ?? null,
          f.incrementRetry ?? false,
          f.detail ? JSON.stringify(f.detail) : null,
          f.fromDeliveryUnknown ?? false,
          f.attempts?.length ? JSON.stringify(f.attempts) : null,
        );
        const n = params.length - 11;
        return `($${n + 1}::uuid, $${n + 2}::text[], $${n + 3}::text, $${n + 4}::text, $${n + 5}::text, $${n + 6}::boolean, $${n + 7}::text, $${n + 8}::boolean, $${n + 9}::jsonb, $${n + 10}::boolean, $${n + 11}::jsonb)`;
      });
      const rows: (TransitionedRow & { event_detail?: unknown })[] = await this.db.query(
        `WITH i (id, from_statuses, to_status, provider, provider_message_id, set_error, error, inc, detail, from_unknown, attempts) AS (
           VALUES ${tuples.join(', ')}
         ), m AS (
           UPDATE messages SET
             status = i.to_status,
             provider = COALESCE(i.provider, messages.provider),
             provider_message_id = COALESCE(i.provider_message_id, messages.provider_message_id),
             error = CASE WHEN i.set_error THEN i.error ELSE messages.error END,
             retry_count = messages.retry_count + CASE WHEN i.inc THEN 1 ELSE 0 END,
             attempts = CASE WHEN i.attempts IS NULL THEN messages.attempts ELSE messages.attempts || i.attempts END,
             sent_at = CASE WHEN i.to_status = 'sent' THEN COALESCE(messages.sent_at, now()) ELSE messages.sent_at END,
             delivered_at = CASE WHEN i.to_status = 'delivered' THEN now() ELSE messages.delivered_at END,
             body = CASE WHEN messages.sensitive AND i.to_status IN ('sent', 'delivered', 'undelivered', 'failed')
                         THEN '${REDACTED_BODY}' ELSE messages.body END,
             content_variables = CASE WHEN messages.sensitive AND i.to_status IN ('sent', 'delivered', 'undelivered', 'failed')
                         THEN NULL ELSE messages.content_variables END,
             updated_at = now()
           FROM i
           WHERE messages.id = i.id
             AND (messages.status = ANY(i.from_statuses)
                  OR (i.from_unknown AND messages.status = 'failed' AND starts_with(messages.error, '${DELIVERY_UNKNOWN}')))
           RETURNING messages.*, i.detail AS event_detail
         ), e AS (
           INSERT INTO message_events (message_id, status, detail) SELECT id, status, event_detail FROM m
           RETURNING id::text AS event_id, message_id
         )
         SELECT m.*, e.event_id FROM m JOIN e ON e.message_id = m.id`,
        params,
      );
      const byId = new Map(rows.map(({ event_detail: _, ...row }) => [row.id, row as TransitionedRow]));
      for (const { t, index } of round) results[index] = byId.get(t.id) ?? null;
    }
    return results;
  }

  /** For provider callbacks: the statuses a message may still move forward from. */
  static statusesBefore(to: MessageStatus): MessageStatus[] {
    return (Object.keys(STATUS_RANK) as MessageStatus[]).filter((s) => STATUS_RANK[s] < STATUS_RANK[to]);
  }

  /**
   * The message a provider's report is about: that provider's, with that id, the newest when the provider
   * reused the id (an SMSC whose counter restarted). Ids of different providers share no namespace: an SMPP
   * receipt naming a Twilio sid finds nothing.
   */
  async findByProviderId(provider: string, providerMessageId: string): Promise<MessageRow | null> {
    const rows: MessageRow[] = await this.db.query(
      'SELECT * FROM messages WHERE provider_message_id = $1 AND provider = $2 ORDER BY created_at DESC LIMIT 1',
      [providerMessageId, provider],
    );
    return rows[0] ?? null;
  }

  /**
   * Due pending messages (sent at once, or scheduled for a moment now past) old enough that their job should
   * exist, in the order they fell due, after `after`: the relay walks them page by page and checks their jobs.
   * A message scheduled for later is never among them, however many there are (index messages_due).
   */
  async duePending(
    olderThanSeconds: number,
    after: DueCursor | null,
    limit: number,
  ): Promise<(Pick<MessageRow, 'id' | 'type' | 'send_at'> & DueCursor)[]> {
    return this.db.query(
      `SELECT id, type, send_at, COALESCE(send_at, created_at)::text AS due FROM messages
       WHERE status = 'pending'
         AND COALESCE(send_at, created_at) < now() - make_interval(secs => $1)
         AND created_at < now() - make_interval(secs => $1)
         ${after ? 'AND (COALESCE(send_at, created_at), id) > ($3::timestamptz, $4::uuid)' : ''}
       ORDER BY COALESCE(send_at, created_at), id
       LIMIT $2`,
      after ? [olderThanSeconds, limit, after.due, after.id] : [olderThanSeconds, limit],
    );
  }

  /**
   * The status changes of a message not yet delivered to its status_callback, oldest first: every event after
   * the last one delivered, except the first `pending` (the accept itself, answered by the API).
   */
  async undeliveredCallbacks(messageId: string): Promise<UndeliveredCallback[]> {
    return this.db.query(
      `SELECT e.id::text AS event_id, e.status, e.created_at, m.status_callback, m.client_id
       FROM messages m JOIN message_events e ON e.message_id = m.id
       WHERE m.id = $1 AND m.status_callback IS NOT NULL
         AND e.id > COALESCE(m.callback_event_id, 0)
         AND NOT (e.status = 'pending' AND e.id = (SELECT min(id) FROM message_events WHERE message_id = $1))
       ORDER BY e.id`,
      [messageId],
    );
  }

  /** Records that the status callback of this event (and so of every earlier one) was delivered. */
  /** A change whose callback job could not be queued: kept until the relay queues it (the newest wins). */
  async rememberCallback(messageId: string, eventId: string): Promise<void> {
    await this.db.query(
      `INSERT INTO callback_retries (message_id, event_id) VALUES ($1, $2)
       ON CONFLICT (message_id) DO UPDATE SET event_id = GREATEST(callback_retries.event_id, EXCLUDED.event_id)`,
      [messageId, eventId],
    );
  }

  async rememberedCallbacks(limit: number): Promise<{ message_id: string; event_id: string }[]> {
    return this.db.query(
      'SELECT message_id, event_id::text FROM callback_retries ORDER BY created_at LIMIT $1',
      [limit],
    );
  }

  /** Forgets a remembered callback once queued (unless a newer change was remembered meanwhile). */
  async forgetCallback(messageId: string, eventId: string): Promise<void> {
    await this.db.query('DELETE FROM callback_retries WHERE message_id = $1 AND event_id <= $2', [
      messageId,
      eventId,
    ]);
  }

  async callbackDelivered(messageId: string, eventId: string): Promise<void> {
    await this.db.query(
      `UPDATE messages SET callback_event_id = $2
       WHERE id = $1 AND (callback_event_id IS NULL OR callback_event_id < $2)`,
      [messageId, eventId],
    );
  }

  /** Messages left in `sending` by a worker that died while calling the provider. */
  async stuckSending(olderThanSeconds: number, limit: number): Promise<{ id: string }[]> {
    return this.db.query(
      `SELECT id FROM messages WHERE status = 'sending' AND updated_at < now() - make_interval(secs => $1)
       ORDER BY updated_at LIMIT $2`,
      [olderThanSeconds, limit],
    );
  }
}
