// Configuration for tests: the real local Redis and Postgres (REDIS_URL / DATABASE_URL, defaulting to
// localhost), a Postgres database of the suite's own, and a Redis key prefix unique to each test file.
import { randomBytes } from 'node:crypto';
import { AppConfig } from '../../src/config/app-config';
import type { AppRole } from '../../src/config/env';
import { loadConfig, RawEnv } from '../../src/config/load-config';

export const TEST_CLIENT_KEY = 'test-client-key-0123456789';
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789';

export const BASE_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const baseDatabaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sms_bridge';

/** The suite's own database: the name of DATABASE_URL's with `_test` appended. */
export function testDatabaseUrl(): string {
  const u = new URL(baseDatabaseUrl);
  const name = u.pathname.replace(/^\//, '') || 'sms_bridge';
  u.pathname = `/${name.endsWith('_test') ? name : `${name}_test`}`;
  return u.toString();
}

export function uniquePrefix(): string {
  return `smsb-test:${randomBytes(4).toString('hex')}:`;
}

/** Whether this suite runs in the `cluster` project (jest.config.js), on the run's own Redis Cluster. */
export const onTestCluster = (): boolean =>
  (globalThis as { SMSB_REDIS_CLUSTER?: boolean }).SMSB_REDIS_CLUSTER === true &&
  !!process.env.SMSB_TEST_CLUSTER_NODES;

export function testRawEnv(overrides: RawEnv = {}): RawEnv {
  // In the cluster project, every app talks to the cluster, unless the suite gave a Redis of its own.
  const cluster =
    onTestCluster() && !overrides.REDIS_URL && !overrides.REDIS_CLUSTER_NODES
      ? { REDIS_URL: '', REDIS_CLUSTER_NODES: process.env.SMSB_TEST_CLUSTER_NODES }
      : {};
  return {
    NODE_ENV: 'test',
    API_KEYS: TEST_CLIENT_KEY,
    ADMIN_API_KEYS: TEST_ADMIN_KEY,
    REDIS_URL: BASE_REDIS_URL,
    REDIS_KEY_PREFIX: uniquePrefix(),
    DATABASE_URL: testDatabaseUrl(),
    MIGRATIONS_RUN: 'false', // the global setup ran them once
    LOG_LEVEL: 'silent',
    OTP_SECRET: 'test-otp-secret-0123456789abcdef0123456789',
    JWT_SECRET: 'test-jwt-secret-0123456789abcdef0123456789',
    ONBOARDING_SECRET: 'test-onboarding-secret-0123456789abcdef',
    WEBHOOK_SIGNING_SECRET: 'test-webhook-secret-0123456789abcdef',
    ...cluster,
    ...overrides,
  };
}

export function testConfig(overrides: RawEnv = {}, role: AppRole = 'api'): AppConfig {
  return loadConfig(role, testRawEnv(overrides));
}
