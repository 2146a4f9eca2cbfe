// Builds the API application (used by main.ts and by the tests) and the worker context (worker.ts).
import { DynamicModule, INestApplicationContext, Logger as NestLogger, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger, PinoLogger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { clientErrorAnswer, mapError } from './common/filters/error-body';
import { logRequestOutcome, requestContext, requestIdFor } from './common/logging';
import { drainRefusedBody } from './common/refused-body';
import { SECURITY_HEADERS } from './common/security-headers';
import { maskPhone } from './common/mask';
import { setupSwagger } from './common/swagger';
import { AppConfig } from './config/app-config';
import { InvalidConfigError } from './config/env';
import { loadConfig } from './config/load-config';
import type { AppRole } from './config/env';
import { mountQueueDashboard } from './messages/queue-dashboard';
import { durationObserver, MetricsService } from './metrics/metrics.service';

export async function createApiApp(
  config: AppConfig,
  extraModules: (Type | DynamicModule)[] = [],
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.http.bodyLimit,
    trustProxy: config.http.trustProxy ? config.http.trustProxy === 'true' || config.http.trustProxy : false,
    genReqId: requestIdFor,
    routerOptions: { maxParamLength: 200 },
    // Fastify 5.10's default ('idle') destroys connections that are still being answered when the app closes
    // (fastify/fastify#6889): a SIGTERM cut in-flight requests off. Without it, server.close() closes the idle
    // keep-alive connections, waits for the busy ones, and the hooks below close those once answered.
    forceCloseConnections: false,
    // A path Fastify cannot decode (`%ZZ`) or a path parameter over maxParamLength is refused before any route
    // (hence any key check) runs, as a 404 would be: answered here in SPEC's shape, never echoing the path.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const { body, headers } = mapError(err);
      void reply
        .status(body.statusCode)
        .header('x-request-id', req.id)
        .headers(SECURITY_HEADERS)
        .headers(headers);
      void reply.send(body);
    },
    // Fastify's own answer to what Node's HTTP parser refuses lacks SPEC's `code`: give it the shape of the rest.
    clientErrorHandler: (err, socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) socket.write(clientErrorAnswer(err));
      socket.destroy(err);
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRole(config, extraModules),
    adapter,
    {
      bufferLogs: true,
    },
  );
  app.useLogger(app.get(Logger));
  const fastify = app.getHttpAdapter().getInstance();

  // Every hook below runs for every request, so there is one of each kind, and each is a callback (a promise
  // per request and hook showed in profiles of the hot paths).
  // Errors Fastify raises before a route runs (malformed JSON, body too large, wrong content type) reach
  // the global AllExceptionsFilter through Nest's own Fastify error handler, so they share the answer shape.
  fastify.addHook('onRequest', (req, reply, done) => {
    void reply.header('x-request-id', req.id).headers(SECURITY_HEADERS);
    requestContext.run({ id: req.id }, done);
  });
  // Shutting down: every answer still being sent closes its connection, so a keep-alive client does not hold
  // the server open until its keep-alive timeout (72 s) and new requests go to another replica.
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onSend', (req, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    drainRefusedBody(req, reply, payload, done);
  });
  const observe = durationObserver(app.get(MetricsService).httpDuration);
  fastify.addHook('onResponse', (req, reply, done) => {
    observe(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime);
    // PinoLogger.root is set when the app initialises (after this function), hence read here.
    logRequestOutcome(PinoLogger.root, req, reply.statusCode, reply.elapsedTime);
    done();
  });
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
