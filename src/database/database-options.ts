// TypeORM options shared by the app and the migration CLI: a connection pool and migrations, never synchronize.
import type { DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { MIGRATIONS } from './migrations';

export function dataSourceOptions(config: AppConfig): DataSourceOptions {
  const db = config.database;
  return {
    type: 'postgres',
    url: db.url,
    entities: [], // no ORM models: SQL is written by hand (see README.md here)
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsRun: false, // run by MigrationRunner under an advisory lock instead
    synchronize: false,
    extra: {
      max: db.poolSize,
      // pg waits forever for a connection by default; a bounded wait turns an outage into a quick error.
      connectionTimeoutMillis: db.connectTimeoutMs,
      statement_timeout: db.statementTimeoutMs,
      // The same bound on the client's side: over a link that stalls without closing (a partition, a proxy
      // holding bytes) Postgres's own timeout never comes back, and the query would wait for TCP to give up.
      query_timeout: db.statementTimeoutMs + 2000,
      idle_in_transaction_session_timeout: db.statementTimeoutMs * 2,
      application_name: `sms-bridge-${config.role}`,
    },
  };
}
