// Retention: one partition-maintenance tick over an audit trail with an expired day of RETENTION_ROWS rows.
// The tick drops the day's partition, so its time does not grow with the rows dropped (a DELETE would).
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { loadConfig } from '../../src/config/load-config';
import { dataSourceOptions } from '../../src/database/database-options';
import { PartitionMaintenanceTask } from '../../src/database/partition-maintenance.task';
import { partitionDdl, partitionName, PARTITIONED_TABLES } from '../../src/database/partitions';
import { DATABASE_URL, env, KEY, log } from '../lib/context';

const ROWS = Number(env.BENCH_RETENTION_ROWS ?? 1_000_000);
const DAY = 86_400_000;

export async function retentionTick(db: Pool) {
  log(`retention: one maintenance tick over an expired day of ${ROWS} audit events`);
  const [monitor] = PARTITIONED_TABLES;
  const day = new Date(Date.now() - 200 * DAY); // past the default AUDIT_RETENTION_DAYS (90)
  for (const ddl of partitionDdl(monitor, day, 0)) await db.query(ddl);
  await db.query(
    `INSERT INTO sms_monitor (event_id, event_type, created_at)
     SELECT gen_random_uuid(), 'register', $1::timestamptz + (g % 86000) * interval '1 second'
     FROM generate_series(1, $2) g`,
    [day.toISOString().slice(0, 10), ROWS],
  );
  const config = loadConfig('worker', { API_KEYS: KEY, DATABASE_URL });
  const ds = new DataSource(dataSourceOptions(config));
  await ds.initialize();
  try {
    const task = new PartitionMaintenanceTask(ds, config);
    const started = process.hrtime.bigint();
    const summary = await task.tick();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const gone = (await db.query('SELECT to_regclass($1) IS NULL AS gone', [partitionName(monitor, day)]))
      .rows[0].gone as boolean;
    return { rows: ROWS, tick_ms: Math.round(ms * 10) / 10, partition_dropped: gone, summary };
  } finally {
    await ds.destroy();
  }
}
