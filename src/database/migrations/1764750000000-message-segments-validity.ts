import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What carriers bill and how long a message may wait: an SMS's encoding (GSM-7 or UCS-2) and segment count,
 * counted once at acceptance (the body of a sensitive message is redacted later, so they cannot be counted
 * again); and the moment after which a message not yet handed to a provider is failed with EXPIRED.
 */
export class MessageSegmentsValidity1764750000000 implements MigrationInterface {
  name = 'MessageSegmentsValidity1764750000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE messages
        ADD COLUMN encoding text CHECK (encoding IN ('GSM-7', 'UCS-2')),
        ADD COLUMN segments integer CHECK (segments > 0),
        ADD COLUMN valid_until timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE messages DROP COLUMN encoding, DROP COLUMN segments, DROP COLUMN valid_until');
  }
}
