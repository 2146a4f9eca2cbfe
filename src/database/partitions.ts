// The time-partitioned history tables: which they are, how their partitions are cut and named, and the SQL
// that makes and drops them. Used by the migration that partitioned them and by the partition-maintenance job.

export interface PartitionedTable {
  name: 'sms_monitor' | 'message_events';
  /** One partition per UTC day or month of created_at. */
  unit: 'day' | 'month';
  /** Partitions kept ready ahead of the current one. */
  ahead: number;
}

export const PARTITIONED_TABLES: PartitionedTable[] = [
  { name: 'sms_monitor', unit: 'day', ahead: 7 },
  { name: 'message_events', unit: 'month', ahead: 2 },
];

/** The start (UTC) of the period that holds `d`. */
export function periodStart(unit: PartitionedTable['unit'], d: Date): Date {
  return unit === 'day'
    ? new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()))
    : new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
}

/** The start of the period `n` periods after the one starting at `start`. */
export function shift(unit: PartitionedTable['unit'], start: Date, n: number): Date {
  return unit === 'day'
    ? new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + n))
    : new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + n, 1));
}

const PARTITION_NAME = /^(sms_monitor|message_events)_p(\d{4})(\d{2})(\d{2})?$/;

/** `sms_monitor_p20261204`, `message_events_p202612`. */
export function partitionName(table: PartitionedTable, start: Date): string {
  const iso = start.toISOString();
  return `${table.name}_p${iso.slice(0, 4)}${iso.slice(5, 7)}${table.unit === 'day' ? iso.slice(8, 10) : ''}`;
}

/** The range of a partition, read from its name; undefined for the DEFAULT partition or a foreign name. */
export function partitionRange(table: PartitionedTable, name: string): { from: Date; to: Date } | undefined {
  const m = PARTITION_NAME.exec(name);
  if (!m || m[1] !== table.name) return undefined;
  const from = new Date(Date.UTC(Number(m[2]), Number(m[3]) - 1, m[4] ? Number(m[4]) : 1));
  return { from, to: shift(table.unit, from, 1) };
}

/**
 * Statements that make the partitions from the period before `now` to `ahead` periods after it, each only if
 * missing. A row that already sits in the DEFAULT partition for such a range is moved into it first (Postgres
 * refuses to attach a range the DEFAULT partition holds rows of).
 */
export function partitionDdl(table: PartitionedTable, now: Date, ahead = table.ahead): string[] {
  const out: string[] = [];
  const current = periodStart(table.unit, now);
  for (let i = -1; i <= ahead; i++) {
    const from = shift(table.unit, current, i);
    const to = shift(table.unit, from, 1);
    const name = partitionName(table, from);
    const range = `FROM ('${from.toISOString()}') TO ('${to.toISOString()}')`;
    out.push(`DO $$ BEGIN
  IF to_regclass('${name}') IS NULL THEN
    CREATE TABLE ${name} (LIKE ${table.name} INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    WITH moved AS (
      DELETE FROM ${table.name}_default
      WHERE created_at >= '${from.toISOString()}' AND created_at < '${to.toISOString()}' RETURNING *)
    INSERT INTO ${name} SELECT * FROM moved;
    ALTER TABLE ${table.name} ATTACH PARTITION ${name} FOR VALUES ${range};
  END IF;
END $$`);
  }
  return out;
}
