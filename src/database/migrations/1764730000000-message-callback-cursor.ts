import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Status callbacks in order: the last status event (message_events.id) delivered to the message's
 * status_callback. Callbacks of one message go out one at a time, oldest first, from just after it.
 */
export class MessageCallbackCursor1764730000000 implements MigrationInterface {
  name = 'MessageCallbackCursor1764730000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE messages ADD COLUMN callback_event_id bigint');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE messages DROP COLUMN callback_event_id');
  }
}
