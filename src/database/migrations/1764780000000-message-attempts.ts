import { MigrationInterface, QueryRunner } from 'typeorm';

/** Every provider a message was tried with, in order: `[{provider, outcome, error?}]` (SMS_ROUTES failover). */
export class MessageAttempts1764780000000 implements MigrationInterface {
  name = 'MessageAttempts1764780000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE messages ADD COLUMN attempts jsonb NOT NULL DEFAULT '[]'::jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE messages DROP COLUMN attempts');
  }
}
