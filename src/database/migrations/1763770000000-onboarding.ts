import { MigrationInterface, QueryRunner } from 'typeorm';

/** Onboarding and audit tables: settings, out_sms, blacklist_sms, count_sms, sms_monitor. */
export class Onboarding1763770000000 implements MigrationInterface {
  name = 'Onboarding1763770000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE settings (
        key text PRIMARY KEY,
        value jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE out_sms (
        mobile_number text PRIMARY KEY,
        verified_at timestamptz NOT NULL DEFAULT now(),
        sms_id text
      )`);
    await q.query(`
      CREATE TABLE blacklist_sms (
        mobile_number text PRIMARY KEY,
        reason text,
        source text NOT NULL CHECK (source IN ('auto', 'manual')),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE count_sms (
        mobile_number text NOT NULL,
        day date NOT NULL,
        count integer NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (mobile_number, day)
      )`);
    await q.query(`
      CREATE TABLE sms_monitor (
        id bigserial PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        mobile_number text,
        event_type text NOT NULL,
        outcome text,
        reason text,
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL,
        logged_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX sms_monitor_mobile_created ON sms_monitor (mobile_number, created_at DESC)`);
    await q.query(`CREATE INDEX sms_monitor_created ON sms_monitor (created_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['sms_monitor', 'count_sms', 'blacklist_sms', 'out_sms', 'settings'])
      await q.query(`DROP TABLE ${t}`);
  }
}
