import { MigrationInterface, QueryRunner } from 'typeorm';

/** Outbound messages and their status history. */
export class Messages1763780000000 implements MigrationInterface {
  name = 'Messages1763780000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE messages (
        id uuid PRIMARY KEY,
        client_id text NOT NULL,
        type text NOT NULL CHECK (type IN ('sms', 'mms', 'email', 'whatsapp')),
        "from" text,
        "to" text NOT NULL,
        subject text,
        body text NOT NULL,
        media_urls jsonb,
        metadata jsonb,
        status_callback text,
        sensitive boolean NOT NULL DEFAULT false,
        status text NOT NULL DEFAULT 'pending',
        provider text,
        provider_message_id text,
        retry_count integer NOT NULL DEFAULT 0,
        error text,
        send_at timestamptz,
        idempotency_key text,
        request_hash text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        delivered_at timestamptz
      )`);
    await q.query(
      `CREATE UNIQUE INDEX messages_idempotency ON messages (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL`,
    );
    await q.query(`CREATE INDEX messages_client_created ON messages (client_id, created_at DESC, id DESC)`);
    await q.query(
      `CREATE INDEX messages_pending ON messages (created_at) WHERE status IN ('pending', 'sending')`,
    );
    await q.query(
      `CREATE INDEX messages_provider_id ON messages (provider_message_id) WHERE provider_message_id IS NOT NULL`,
    );
    await q.query(`
      CREATE TABLE message_events (
        id bigserial PRIMARY KEY,
        message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        status text NOT NULL,
        detail jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX message_events_message ON message_events (message_id, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE message_events');
    await q.query('DROP TABLE messages');
  }
}
