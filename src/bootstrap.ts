// Builds the API application (used by main.ts and by the tests) and the worker context (worker.ts).
import { DynamicModule, INestApplicationContext, Logger as NestLogger, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { maskPhone } from './common/mask';
import { AppConfig } from './config/app-config';
import { InvalidConfigError } from './config/env';
import type { AppRole } from './config/env';
import { loadConfig } from './config/load-config';
import { installApiKeyGuard } from './http/api-key.guard';
import { httpAdapter, installRequestHooks } from './http/request-pipeline';
import { setupSwagger } from './http/swagger';
import { mountQueueDashboard } from './messages/queue-dashboard';

/**
 * The API: the modules of its role on Fastify (limits, ids, Fastify's own errors in SPEC's shape), Nest's logger,
 * the hooks every request passes, the API-key check of each route that needs one, Swagger UI at /docs and the
 * queue dashboard at /admin/queues.
 */
export async function createApiApp(
  config: AppConfig,
  extraModules: (Type | DynamicModule)[] = [],
): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRole(config, extraModules),
    httpAdapter(config),
    { bufferLogs: true },
  );
  app.useLogger(app.get(Logger));
  installRequestHooks(app);
  installApiKeyGuard(app);
  setupSwagger(app);
  await mountQueueDashboard(app, config);
  return app;
}

export async function createWorkerApp(config: AppConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(AppModule.forRole(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  return app;
}

/** Reads and validates the configuration, or prints one line per problem and exits 1. */
export function configOrExit(role: AppRole): AppConfig {
  try {
    return loadConfig(role);
  } catch (err) {
    if (err instanceof InvalidConfigError) {
      process.stderr.write(
        `sms-bridge: invalid configuration\n${err.problems.map((p) => `  ${p}\n`).join('')}`,
      );
      process.exit(1);
    }
    throw err;
  }
}

/**
 * SIGTERM and SIGINT close the app (stop accepting, finish in-flight requests and active jobs, close Redis and
 * Postgres) and exit 0. A second signal, or a shutdown longer than SHUTDOWN_TIMEOUT_MS, exits 1 at once.
 * (Nest's enableShutdownHooks re-raises the signal after closing, which ends the process with 143; an orderly
 * stop should read as success to Kubernetes and compose.) Installed before the app is built, because building
 * already starts work (the worker's first ticks); a signal that arrives mid-start closes the app once it exists.
 */
export function exitOnSignals(config: AppConfig): { attach(app: INestApplicationContext): void } {
  const logger = new NestLogger('Lifecycle');
  let app: INestApplicationContext | undefined;
  let closing = false;
  const close = (target: INestApplicationContext) =>
    target.close().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error(`shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  const stop = (signal: NodeJS.Signals) => {
    if (closing) process.exit(1);
    closing = true;
    logger.log(`${signal} received, shutting down`);
    setTimeout(() => {
      logger.error(`shutdown took longer than ${config.http.shutdownTimeoutMs} ms, exiting`);
      process.exit(1);
    }, config.http.shutdownTimeoutMs).unref();
    if (app) void close(app);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return {
    attach(built) {
      app = built;
      if (closing) void close(built);
    },
  };
}

/** Logs what an operator should know about the running configuration, once, at start. */
export function logStartup(config: AppConfig, what: string): void {
  const logger = new NestLogger('Startup');
  logger.log(`${what} (role ${config.role}, ${config.nodeEnv})`);
  if (config.generatedSecrets.length) {
    logger.warn(
      `${config.generatedSecrets.join(', ')} not set: using random values for this process only ` +
        '(tokens and hashes will not survive a restart or match across replicas)',
    );
  }
  if (config.otp.testNumbers.size) {
    // Which numbers skip real OTP delivery and limits (masked; their codes are never logged).
    const numbers = [...config.otp.testNumbers.keys()].map(maskPhone).join(', ');
    logger.warn(`OTP test numbers active (fixed codes, no message, no limits): ${numbers}`);
  }
  if (config.isProduction && !config.auth.gatewayApiKeys.length) {
    logger.warn('GATEWAY_API_KEYS is not set: POST /onboard/sms refuses every key (403) in production');
  }
  if (config.isProduction && !config.redis.password && !config.redis.url?.includes('@')) {
    logger.warn('Redis has no password: set REDIS_PASSWORD or a REDIS_URL with credentials in production');
  }
}
