// The history tables are partitioned by time: partitions are made ahead, retention drops whole partitions
// (never a DELETE scan of the table), and the audit trail's idempotent insert still holds.
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/database-options';
import { MIGRATIONS } from '../../src/database/migrations';
import { PartitionedHistory1764740000000 } from '../../src/database/migrations/1764740000000-partitioned-history';
import { PartitionMaintenanceTask } from '../../src/database/partition-maintenance.task';
import {
  partitionDdl,
  partitionName,
  PARTITIONED_TABLES,
  periodStart,
  shift,
} from '../../src/database/partitions';
import { auditEvent } from '../../src/onboarding/audit-event';
import { OnboardingRepository } from '../../src/onboarding/onboarding.repository';
import { randomMobile } from '../helpers/numbers';
import { adminQuery } from '../helpers/own-database';
import { startTestApp, TestApp } from '../helpers/test-app';
import { testConfig, testDatabaseUrl } from '../helpers/test-env';

const DAY = 86_400_000;
const [monitor, events] = PARTITIONED_TABLES;

describe('time-partitioned history tables', () => {
  let t: TestApp;
  let db: DataSource;
  let task: PartitionMaintenanceTask;
  const partitions = async (table: string): Promise<string[]> =>
    (
      (await db.query(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = $1::regclass`,
        [table],
      )) as { name: string }[]
    ).map((r) => r.name);
  const where = async (table: string, id: string, column = 'event_id') =>
    (
      (await db.query(`SELECT tableoid::regclass::text AS part FROM ${table} WHERE ${column} = $1`, [
        id,
      ])) as {
        part: string;
      }[]
    ).map((r) => r.part);

  beforeAll(async () => {
    t = await startTestApp({ AUDIT_RETENTION_DAYS: '90' });
    db = t.app.get(DataSource);
    task = new PartitionMaintenanceTask(db, t.config);
  });
  afterAll(() => t?.close());

  it('partitions sms_monitor by day and message_events by month, ready ahead, with a DEFAULT partition', async () => {
    const kinds = (await db.query(
      `SELECT c.relname AS name, p.partstrat AS strategy FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
       WHERE c.relname IN ('sms_monitor', 'message_events') ORDER BY 1`,
    )) as { name: string; strategy: string }[];
    expect(kinds).toEqual([
      { name: 'message_events', strategy: 'r' },
      { name: 'sms_monitor', strategy: 'r' },
    ]);
    await task.tick();
    const now = new Date();
    for (const table of [monitor, events]) {
      const have = await partitions(table.name);
      expect(have).toContain(`${table.name}_default`);
      for (let i = 0; i <= table.ahead; i++)
        expect(have).toContain(partitionName(table, shift(table.unit, periodStart(table.unit, now), i)));
    }
  });

  it('keeps the audit insert idempotent: the same event twice is one row, in its day partition', async () => {
    const repo = t.app.get(OnboardingRepository);
    const e = auditEvent('register', randomMobile(), 'pending');
    expect(await repo.insertAudit([e])).toBe(1);
    expect(await repo.insertAudit([e, e])).toBe(0);
    expect(await where('sms_monitor', e.event_id)).toEqual([partitionName(monitor, new Date(e.created_at))]);
  });

  it('moves rows the DEFAULT partition took into the partition made for them later', async () => {
    const later = new Date(Date.now() + 40 * DAY); // beyond the partitions kept ahead
    const e = { ...auditEvent('register', randomMobile(), 'pending'), created_at: later.toISOString() };
    await t.app.get(OnboardingRepository).insertAudit([e]);
    expect(await where('sms_monitor', e.event_id)).toEqual(['sms_monitor_default']);
    await task.tick(undefined, new Date(later.getTime() - 2 * DAY)); // a tick a month on makes that day
    expect(await where('sms_monitor', e.event_id)).toEqual([partitionName(monitor, later)]);
  });

  it('drops whole partitions past retention, and deletes only old stragglers from the DEFAULT partition', async () => {
    const old = new Date(Date.now() - 120 * DAY); // past AUDIT_RETENTION_DAYS=90
    for (const ddl of partitionDdl(monitor, old, 0)) await db.query(ddl);
    const oldPart = partitionName(monitor, old);
    expect(await partitions('sms_monitor')).toContain(oldPart);
    const repo = t.app.get(OnboardingRepository);
    const inOld = { ...auditEvent('register', randomMobile(), 'pending'), created_at: old.toISOString() };
    const straggler = {
      ...auditEvent('register', randomMobile(), 'pending'),
      created_at: new Date(Date.now() - 200 * DAY).toISOString(),
    };
    const recent = auditEvent('register', randomMobile(), 'pending');
    await repo.insertAudit([inOld, straggler, recent]);
    expect(await where('sms_monitor', straggler.event_id)).toEqual(['sms_monitor_default']);

    const summary = await task.tick();
    expect(summary).toMatch(
      /sms_monitor: \d+ made, [1-9]\d* dropped, 1 old row\(s\) deleted from the default/,
    );
    expect(await partitions('sms_monitor')).not.toContain(oldPart);
    expect(await where('sms_monitor', inOld.event_id)).toEqual([]);
    expect(await where('sms_monitor', straggler.event_id)).toEqual([]);
    expect(await where('sms_monitor', recent.event_id)).toHaveLength(1);
  });

  it('files message events by month, and a message read still returns all of its events', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload: { to: randomMobile(), type: 'sms', body: 'hello' },
    });
    expect(res.statusCode).toBe(202);
    const id = res.json().id as string;
    expect(await where('message_events', id, 'message_id')).toEqual([partitionName(events, new Date())]);
    const read = await t.request({ url: `/api/v1/messages/${id}` });
    expect(read.json().events.length).toBeGreaterThanOrEqual(1);
  });

  it('migrates an existing audit trail and event history into the partitioned tables, ids kept', async () => {
    const url = new URL(testDatabaseUrl());
    const name = `${url.pathname.slice(1)}_partition_migration`;
    url.pathname = `/${name}`;
    await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await adminQuery(`CREATE DATABASE "${name}"`);
    const options = dataSourceOptions(testConfig({ DATABASE_URL: url.toString() }));
    const upTo = MIGRATIONS.indexOf(PartitionedHistory1764740000000);
    const before = new DataSource({ ...options, migrations: MIGRATIONS.slice(0, upTo) });
    await before.initialize();
    try {
      await before.runMigrations();
      const old = new Date(Date.now() - 30 * DAY).toISOString();
      await before.query(
        `INSERT INTO sms_monitor (event_id, event_type, created_at) VALUES
           (gen_random_uuid(), 'register', $1), (gen_random_uuid(), 'register', now())`,
        [old],
      );
      await before.query(
        `INSERT INTO messages (id, client_id, type, "to", body) VALUES (gen_random_uuid(), 'c', 'sms', '+919876543210', 'x')`,
      );
      await before.query(
        `INSERT INTO message_events (message_id, status) SELECT id, 'pending' FROM messages`,
      );
    } finally {
      await before.destroy();
    }
    const after = new DataSource(options);
    await after.initialize();
    try {
      await after.runMigrations();
      const rows = (await after.query(
        `SELECT id::int, tableoid::regclass::text AS part FROM sms_monitor ORDER BY id`,
      )) as { id: number; part: string }[];
      expect(rows).toEqual([
        { id: 1, part: 'sms_monitor_default' }, // older than the partitions made: kept in DEFAULT until retention
        { id: 2, part: partitionName(monitor, new Date()) },
      ]);
      expect(await after.query('SELECT count(*)::int AS n FROM message_events')).toEqual([{ n: 1 }]);
      // New rows continue the ids.
      await after.query(
        `INSERT INTO sms_monitor (event_id, event_type, created_at) VALUES (gen_random_uuid(), 'x', now())`,
      );
      expect((await after.query('SELECT max(id)::int AS id FROM sms_monitor'))[0].id).toBe(3);
    } finally {
      await after.destroy();
      await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  });
});
