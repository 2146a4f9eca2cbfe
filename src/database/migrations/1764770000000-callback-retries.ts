import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Status changes whose callback job could not be queued (Redis away for a moment): remembered here, and queued
 * by the relay once Redis answers, so a message's last change, which has no next change to carry it, still
 * reaches the client.
 */
export class CallbackRetries1764770000000 implements MigrationInterface {
  name = 'CallbackRetries1764770000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE callback_retries (
        message_id uuid PRIMARY KEY,
        event_id bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE callback_retries');
  }
}
