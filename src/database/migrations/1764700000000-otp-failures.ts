import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * OTP failures per number, counted once whichever store evaluated the guess (an atomic upsert ... RETURNING),
 * so the five-try lock survives a Redis restart and adds up across an outage. A window starts at the first
 * failure and lasts an hour, as Redis's counter does.
 */
export class OtpFailures1764700000000 implements MigrationInterface {
  name = 'OtpFailures1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE otp_failures (
        mobile_number text PRIMARY KEY,
        window_start timestamptz NOT NULL,
        failures integer NOT NULL
      )`);
    // The Postgres fallback's hourly budget counts the hour's codes.
    await q.query('CREATE INDEX otp_codes_created ON otp_codes (created_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX otp_codes_created');
    await q.query('DROP TABLE otp_failures');
  }
}
