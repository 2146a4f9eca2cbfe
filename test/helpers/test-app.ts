// Starts the real application in-process for a test file and drives it over HTTP with Fastify's inject.
import type { DynamicModule, Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { createApiApp, createWorkerApp } from '../../src/bootstrap';
import type { AppConfig } from '../../src/config/app-config';
import type { AppRole } from '../../src/config/env';
import type { RawEnv } from '../../src/config/load-config';
import { REDIS, RedisClient } from '../../src/redis/redis.constants';
import { contractViolation } from './openapi-contract';
import { TEST_ADMIN_KEY, TEST_CLIENT_KEY, testConfig } from './test-env';

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  redis: RedisClient;
  request(opts: InjectOptions): Promise<InjectResult>;
  close(): Promise<void>;
}

export interface InjectOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';
  url: string;
  payload?: unknown;
  headers?: Record<string, string>;
  /** 'client' (default), 'admin' or 'none': which API key to send. */
  as?: 'client' | 'admin' | 'none';
}

export interface InjectResult {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  json<T = any>(): T;
}

export async function startTestApp(
  overrides: RawEnv = {},
  opts: { role?: AppRole; extraModules?: (Type | DynamicModule)[] } = {},
): Promise<TestApp> {
  const config = testConfig(overrides, opts.role ?? 'api');
  const app = await createApiApp(config, opts.extraModules);
  // A boot that fails (a test of exactly that) must not leave its connections and timers behind.
  await app.init().catch(async (err: unknown) => {
    await app.close().catch(() => undefined);
    throw err;
  });
  await app.getHttpAdapter().getInstance().ready();
  const redis = app.get<RedisClient>(REDIS);
  return {
    app,
    config,
    redis,
    async request({ method = 'GET', url, payload, headers = {}, as = 'client' }) {
      const auth =
        as === 'client'
          ? { 'x-api-key': TEST_CLIENT_KEY }
          : as === 'admin'
            ? { 'x-api-key': TEST_ADMIN_KEY }
            : {};
      const res = await app.inject({
        method,
        url,
        headers: { ...auth, ...headers },
        ...(payload === undefined
          ? {}
          : typeof payload === 'string' || Buffer.isBuffer(payload)
            ? { payload }
            : { payload: payload as object }),
      });
      // Every answer keeps the OpenAPI contract (status declared, body matching its schema), or the test fails.
      const broken = contractViolation(
        method,
        url,
        res.statusCode,
        res.headers['content-type'] as string,
        res.body,
      );
      if (broken) throw new Error(`contract: ${broken}`);
      return { statusCode: res.statusCode, headers: res.headers, body: res.body, json: () => res.json() };
    },
    async close() {
      await removeKeys(config).catch(() => undefined);
      await app.close();
    },
  };
}

export async function startTestWorker(overrides: RawEnv = {}) {
  const config = testConfig(overrides, 'worker');
  const app = await createWorkerApp(config);
  await app.init();
  return { app, config, close: () => app.close() };
}

/** Deletes every key under the test's prefix (SCAN + UNLINK on a separate, prefix-less connection). */
export async function removeKeys(config: AppConfig): Promise<void> {
  const r = new Redis(
    config.redis.url ?? `redis://${config.redis.host}:${config.redis.port}/${config.redis.db}`,
    {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    },
  );
  await r.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${config.redis.keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
