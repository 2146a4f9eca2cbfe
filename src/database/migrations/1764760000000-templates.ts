import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Message templates with locales (locales as a JSON array: their order, whose first is the default, holds),
 * seeded with `otp`; and what a message rendered from one keeps for its send: the template and locale, the
 * approved WhatsApp template and its variables (Twilio ContentSid / ContentVariables), and India's DLT
 * content-template id.
 */
export class Templates1764760000000 implements MigrationInterface {
  name = 'Templates1764760000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE templates (
        name text PRIMARY KEY,
        variables jsonb NOT NULL,
        locales jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `INSERT INTO templates (name, variables, locales) VALUES ('otp', $1, $2) ON CONFLICT (name) DO NOTHING`,
      [
        JSON.stringify(['code', 'minutes']),
        JSON.stringify([
          {
            locale: 'en',
            text: { body: 'Your verification code is {{code}}. It expires in {{minutes}} minutes.' },
          },
        ]),
      ],
    );
    await q.query(`
      ALTER TABLE messages
        ADD COLUMN template text,
        ADD COLUMN locale text,
        ADD COLUMN whatsapp_content_sid text,
        ADD COLUMN content_variables jsonb,
        ADD COLUMN dlt_template_id text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE messages DROP COLUMN template, DROP COLUMN locale,
      DROP COLUMN whatsapp_content_sid, DROP COLUMN content_variables, DROP COLUMN dlt_template_id`);
    await q.query('DROP TABLE templates');
  }
}
