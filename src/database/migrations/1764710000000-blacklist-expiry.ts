import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Automatic blacklist entries expire (ABUSE_BLACKLIST_TTL) and block onboarding only; manual ones (no expiry)
 * last until an admin removes them. Automatic entries made before this get the default day from their creation.
 */
export class BlacklistExpiry1764710000000 implements MigrationInterface {
  name = 'BlacklistExpiry1764710000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE blacklist_sms ADD COLUMN expires_at timestamptz');
    await q.query(
      `UPDATE blacklist_sms SET expires_at = created_at + interval '1 day' WHERE source = 'auto'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE blacklist_sms DROP COLUMN expires_at');
  }
}
