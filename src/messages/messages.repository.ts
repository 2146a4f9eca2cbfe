// Postgres access for messages: one statement per write (the row and its first event in one CTE).
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
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
  idempotencyKey: string | null;
  requestHash: string | null;
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
  constructor(private readonly db: DataSource) {}

  /**
   * Stores a new pending message with its first event. With an idempotency key already used by this client,
   * stores nothing and returns the existing row instead (created: false).
   */
  async insert(m: NewMessage): Promise<{ row: MessageRow; created: boolean }> {
    const rows: MessageRow[] = await this.db.query(
      `WITH m AS (
         INSERT INTO messages (id, client_id, type, "from", "to", subject, body, media_urls, metadata, status_callback,
                               sensitive, send_at, idempotency_key, request_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING *
       ), e AS (
         INSERT INTO message_events (message_id, status) SELECT id, 'pending' FROM m
       )
       SELECT * FROM m`,
      [
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
        m.idempotencyKey,
        m.requestHash,
      ],
    );
    if (rows.length) return { row: rows[0], created: true };
    const existing = await this.findByIdempotencyKey(m.clientId, m.idempotencyKey!);
    if (!existing) throw new Error('idempotency conflict without an existing row');
    return { row: existing, created: false };
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
  async list(f: ListFilter): Promise<MessageRow[]> {
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
    return this.db.query(
      `SELECT * FROM messages WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
  }

  /**
   * Moves a message to `to` only if its status is one of `from` (or, with `fromDeliveryUnknown`, if it was
   * settled as failed with DELIVERY_UNKNOWN); records the event in the same statement. Returns the updated
   * row, or null when the message was not in one of those states (someone else moved it).
   */
  async transition(
    id: string,
    from: MessageStatus[],
    to: MessageStatus,
    fields: {
      provider?: string;
      providerMessageId?: string;
      error?: string | null;
      incrementRetry?: boolean;
      detail?: object;
      fromDeliveryUnknown?: boolean;
    } = {},
  ): Promise<MessageRow | null> {
    const rows: MessageRow[] = await this.db.query(
      `WITH m AS (
         UPDATE messages SET
           status = $3,
           provider = COALESCE($4, provider),
           provider_message_id = COALESCE($5, provider_message_id),
           error = CASE WHEN $6::boolean THEN $7 ELSE error END,
           retry_count = retry_count + CASE WHEN $8::boolean THEN 1 ELSE 0 END,
           sent_at = CASE WHEN $3 = 'sent' THEN COALESCE(sent_at, now()) ELSE sent_at END,
           delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END,
           body = CASE WHEN sensitive AND $3 IN ('sent', 'delivered', 'undelivered', 'failed') THEN '${REDACTED_BODY}' ELSE body END,
           updated_at = now()
         WHERE id = $1
           AND (status = ANY($2::text[]) OR ($10::boolean AND status = 'failed' AND starts_with(error, $11)))
         RETURNING *
       ), e AS (
         INSERT INTO message_events (message_id, status, detail) SELECT id, $3, $9::jsonb FROM m
       )
       SELECT * FROM m`,
      [
        id,
        from,
        to,
        fields.provider ?? null,
        fields.providerMessageId ?? null,
        'error' in fields,
        fields.error ?? null,
        fields.incrementRetry ?? false,
        fields.detail ? JSON.stringify(fields.detail) : null,
        fields.fromDeliveryUnknown ?? false,
        DELIVERY_UNKNOWN,
      ],
    );
    return rows[0] ?? null;
  }

  /** For provider callbacks: the statuses a message may still move forward from. */
  static statusesBefore(to: MessageStatus): MessageStatus[] {
    return (Object.keys(STATUS_RANK) as MessageStatus[]).filter((s) => STATUS_RANK[s] < STATUS_RANK[to]);
  }

  async findByProviderId(providerMessageId: string): Promise<MessageRow | null> {
    const rows: MessageRow[] = await this.db.query(
      'SELECT * FROM messages WHERE provider_message_id = $1 LIMIT 1',
      [providerMessageId],
    );
    return rows[0] ?? null;
  }

  /** Pending messages old enough that their job should exist; the relay checks that it does. */
  async stalePending(
    olderThanSeconds: number,
    limit: number,
  ): Promise<Pick<MessageRow, 'id' | 'type' | 'send_at'>[]> {
    return this.db.query(
      `SELECT id, type, send_at FROM messages
       WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
       ORDER BY created_at LIMIT $2`,
      [olderThanSeconds, limit],
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
