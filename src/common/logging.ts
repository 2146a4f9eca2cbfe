// Structured JSON logs (pino) with a request id on every line; secrets, phone numbers and session ids never
// reach them.
import type { IncomingMessage } from 'node:http';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Params } from 'nestjs-pino';
import type { BaseLogger as PinoBaseLogger } from 'pino';
import type { AppConfig } from '../config/app-config';
import { maskUrl } from './mask';

/** Paths pino blanks wherever they appear in a logged object. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.headers["x-twilio-signature"]',
  '*.otp',
  '*.code',
  '*.otp_code',
  '*.password',
  '*.secret',
  '*.token',
  '*.access_token',
  '*.mobile_number',
  '*.to',
  '*.from',
  '*.body',
];

const REQUEST_ID = /^[\w.:-]{1,64}$/;

/** Takes a caller's X-Request-Id when it is sane, or makes one. */
export function requestIdFor(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** The request being served, for the log lines written while serving it (see `mixin` below). */
export const requestContext = new AsyncLocalStorage<{ id: string }>();

/**
 * pino through nestjs-pino, without its per-request middleware: that middleware (pino-http, run through
 * @fastify/middie) makes and serialises a child logger for every request, which a profile of the hot paths
 * showed as their largest logging cost. Instead one logger serves everything; a mixin adds the request id
 * (`reqId`) to the lines written while a request is served, and the HTTP layer writes the completion line
 * of requests that did not succeed (see logRequestOutcome).
 */
export function loggerParams(config: AppConfig): Params {
  return {
    forRoutes: [],
    pinoHttp: {
      level: config.logLevel,
      base: { service: 'sms-bridge', role: config.role },
      mixin: () => {
        const ctx = requestContext.getStore();
        return ctx ? { reqId: ctx.id } : {};
      },
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          url: maskUrl(req.url ?? ''),
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
  };
}

/**
 * The completion line of a request: successful requests log nothing (hot paths stay quiet); client errors
 * log at info, faults at error.
 */
export function logRequestOutcome(
  logger: Pick<PinoBaseLogger, 'info' | 'error'>,
  req: { id: string; method: string; url: string },
  statusCode: number,
  ms: number,
): void {
  if (statusCode < 400) return;
  const line = { req, statusCode, responseTime: Math.round(ms) };
  if (statusCode >= 500) logger.error(line, 'request errored');
  else logger.info(line, 'request completed');
}
