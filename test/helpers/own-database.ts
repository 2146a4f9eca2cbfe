// A migrated Postgres database of one test file's own (`<suite database>_<name>`), dropped afterwards. Fault
// tests run workers, and a worker's message relay re-queues every pending message it finds in its database:
// in the suite's shared database that would be other files' leftovers, sent through this test's stand-ins.
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/database-options';
import { runMigrationsLocked } from '../../src/database/migration-runner';
import { testConfig, testDatabaseUrl } from './test-env';

/** Runs one statement on the server's `postgres` database (creating and dropping databases). */
export async function adminQuery(sql: string): Promise<void> {
  const admin = new URL(testDatabaseUrl());
  admin.pathname = '/postgres';
  const c = new Client({ connectionString: admin.toString() });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export class OwnDatabase {
  private constructor(
    readonly url: URL,
    readonly name: string,
  ) {}

  static async create(suffix: string): Promise<OwnDatabase> {
    const url = new URL(testDatabaseUrl());
    const name = `${url.pathname.slice(1)}_${suffix}`;
    url.pathname = `/${name}`;
    await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await adminQuery(`CREATE DATABASE "${name}"`);
    const ds = new DataSource(dataSourceOptions(testConfig({ DATABASE_URL: url.toString() })));
    await ds.initialize();
    try {
      await runMigrationsLocked(ds);
    } finally {
      await ds.destroy();
    }
    return new OwnDatabase(url, name);
  }

  /** A client of the test's own on this database. */
  async connect(): Promise<Client> {
    const c = new Client({ connectionString: this.url.toString() });
    await c.connect();
    return c;
  }

  async drop(): Promise<void> {
    await adminQuery(`DROP DATABASE IF EXISTS "${this.name}" WITH (FORCE)`);
  }
}
