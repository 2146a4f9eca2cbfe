import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The relay's walk over due pending messages: pending rows by when they are due (send_at, or created_at when
 * sent at once) and id, so it reaches every due message however many are scheduled for later.
 */
export class MessagesDue1764720000000 implements MigrationInterface {
  name = 'MessagesDue1764720000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX messages_due ON messages ((COALESCE(send_at, created_at)), id) WHERE status = 'pending'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX messages_due');
  }
}
