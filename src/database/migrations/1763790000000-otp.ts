import { MigrationInterface, QueryRunner } from 'typeorm';

/** OTP codes: the Postgres backup of every code (as an HMAC), used when Redis is unreachable. */
export class Otp1763790000000 implements MigrationInterface {
  name = 'Otp1763790000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE otp_codes (
        id uuid PRIMARY KEY,
        mobile_number text NOT NULL,
        user_id text,
        otp_hash text NOT NULL,
        channel text NOT NULL,
        message_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        voided_at timestamptz,
        attempts integer NOT NULL DEFAULT 0
      )`);
    await q.query('CREATE INDEX otp_codes_mobile_created ON otp_codes (mobile_number, created_at DESC)');
    await q.query('CREATE INDEX otp_codes_user_used ON otp_codes (user_id) WHERE used_at IS NOT NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE otp_codes');
  }
}
