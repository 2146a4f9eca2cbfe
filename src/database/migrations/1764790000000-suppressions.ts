import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The suppression list: numbers that opted out (STOP), that a provider reported as unsubscribed, or that an admin
 * added. SMS, MMS, WhatsApp and OTP codes are not sent to them; e-mail is unaffected.
 */
export class Suppressions1764790000000 implements MigrationInterface {
  name = 'Suppressions1764790000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE suppressions (
        mobile_number text PRIMARY KEY,
        source text NOT NULL CHECK (source IN ('keyword', 'admin', 'provider')),
        reason text,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    // When each number last opted in again: a provider's late report of an opt-out on a message accepted before
    // then does not suppress the number again.
    await q.query(`
      CREATE TABLE suppression_opt_ins (
        mobile_number text PRIMARY KEY,
        opted_in_at timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE suppression_opt_ins');
    await q.query('DROP TABLE suppressions');
  }
}
