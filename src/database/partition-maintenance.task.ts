import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { ScheduledJobName } from '../workers/job-catalogue';
import { ScheduledJob, ScheduledJobHandler } from '../workers/job-scheduler';
import { PARTITIONED_TABLES, partitionDdl, partitionRange, PartitionedTable } from './partitions';

const DAY_MS = 86_400_000;

/**
 * Keeps the history tables' partitions (src/database/partitions.ts): makes them ahead of time, and drops each
 * one whose whole range is past retention (AUDIT_RETENTION_DAYS for sms_monitor, MESSAGE_EVENT_RETENTION_DAYS
 * for message_events). Dropping a partition is a catalogue change, never a DELETE scan; only stragglers in the
 * DEFAULT partition are deleted by row. Serialised across processes by a transaction-scoped advisory lock.
 */
@Injectable()
@ScheduledJob(ScheduledJobName.PartitionMaintenance)
export class PartitionMaintenanceTask implements ScheduledJobHandler {
  private readonly logger = new Logger('Partitions');

  constructor(
    private readonly db: DataSource,
    private readonly config: AppConfig,
  ) {}

  retentionDays(table: PartitionedTable): number {
    return table.name === 'sms_monitor'
      ? this.config.jobs.auditRetentionDays
      : this.config.jobs.messageEventRetentionDays;
  }

  async tick(_signal?: AbortSignal, now = new Date()): Promise<string | void> {
    const done: string[] = [];
    await this.db.transaction(async (tx) => {
      const [{ locked }] = (await tx.query(
        `SELECT pg_try_advisory_xact_lock(hashtextextended('partition-maintenance', 0)) AS locked`,
      )) as { locked: boolean }[];
      if (!locked) return;
      for (const table of PARTITIONED_TABLES) {
        const before = await this.partitions(tx.query.bind(tx), table);
        for (const ddl of partitionDdl(table, now)) await tx.query(ddl);
        const made = (await this.partitions(tx.query.bind(tx), table)).filter((p) => !before.includes(p));
        const cutoff = new Date(now.getTime() - this.retentionDays(table) * DAY_MS);
        const expired = before.filter((p) => {
          const range = partitionRange(table, p);
          return range !== undefined && range.to.getTime() <= cutoff.getTime();
        });
        for (const p of expired) await tx.query(`DROP TABLE ${p}`);
        const [, stragglers] = (await tx.query(`DELETE FROM ${table.name}_default WHERE created_at < $1`, [
          cutoff,
        ])) as [unknown, number];
        if (made.length || expired.length || stragglers)
          done.push(
            `${table.name}: ${made.length} made, ${expired.length} dropped` +
              (stragglers ? `, ${stragglers} old row(s) deleted from the default partition` : ''),
          );
      }
    });
    if (done.length) return `partition-maintenance: ${done.join('; ')}`;
  }

  /** The table's partitions by name (the DEFAULT one included). */
  private async partitions(
    query: (sql: string, params?: unknown[]) => Promise<unknown>,
    table: PartitionedTable,
  ): Promise<string[]> {
    const rows = (await query(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = $1::regclass ORDER BY 1`,
      [table.name],
    )) as { name: string }[];
    return rows.map((r) => r.name);
  }
}
