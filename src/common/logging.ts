// Structured JSON logs (pino) with a request id on every line; secrets, phone numbers and session ids never
// reach them.
import type { IncomingMessage } from 'node:http';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Params } from 'nestjs-pino';
import { stdSerializers } from 'pino';
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

const CENSOR = '[redacted]';

type Serializers = Record<string, (value: never) => unknown>;

/**
 * Serializes and then blanks REDACTED_PATHS in a log object, as pino's `serializers` and `redact` options do
 * together (pino redacts what its serializers made), with the paths read once. Used as pino's
 * `formatters.log`, which runs before pino's own serializers: so the serializers are applied here, and pino
 * is given none that would apply them a second time (see loggerParams).
 *
 * Why not pino's own redact: since 9.14 pino redacts with @pinojs/redact, which parses every path again on
 * each call, and a `*.` path makes pino call it for every key of every line: a profile of OTP verify at
 * 500 req/s had it allocating 30 KB per request, a fifth of all the API allocated. This walks each top-level
 * value once against a set. Like pino's, it never changes the caller's objects: what it blanks is copied.
 * Unlike pino's, it does not reach a child logger's bindings (pino gives children no bindings formatter): the
 * service makes no child loggers; one that is added should bind ids only.
 */
export function makeLogCensor(
  paths: readonly string[],
  serializers: Serializers = {},
): (obj: Record<string, unknown>) => Record<string, unknown> {
  const underAnyKey = new Set<string>(); // `*.key`: `key` in any top-level value
  const exact: string[][] = []; // `a.b["c-d"]`: that path only
  for (const path of paths) {
    const parts = [...path.matchAll(/[^.[\]"]+/g)].map((m) => m[0]);
    if (parts[0] === '*' && parts.length === 2) underAnyKey.add(parts[1]);
    else if (!parts.includes('*')) exact.push(parts);
    else throw new Error(`unsupported log redaction path: ${path}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  // An Error keeps its class, message and stack (not own enumerable properties) for pino's err serializer.
  const copy = (v: Record<string, unknown>): Record<string, unknown> =>
    v instanceof Error
      ? Object.assign(Object.create(Object.getPrototypeOf(v) as object) as object, v, {
          message: v.message,
          stack: v.stack,
        })
      : { ...v };
  const censorAt = (node: unknown, parts: string[], i: number): unknown => {
    if (!isObject(node) || !Object.hasOwn(node, parts[i])) return node;
    const next = i === parts.length - 1 ? CENSOR : censorAt(node[parts[i]], parts, i + 1);
    if (next === node[parts[i]]) return node;
    const out = copy(node);
    out[parts[i]] = next;
    return out;
  };

  return (obj) => {
    let out = obj;
    for (const key of Object.keys(obj)) {
      let value = obj[key];
      const serialize = serializers[key];
      if (serialize && value !== undefined) {
        value = serialize(value as never);
        if (out === obj) out = { ...obj };
        out[key] = value;
      }
      if (!isObject(value)) continue;
      let censored: Record<string, unknown> | undefined;
      for (const inner of Object.keys(value)) {
        if (!underAnyKey.has(inner)) continue;
        censored ??= copy(value);
        censored[inner] = CENSOR;
      }
      if (censored) {
        if (out === obj) out = { ...obj };
        out[key] = censored;
      }
    }
    for (const parts of exact) out = censorAt(out, parts, 0) as Record<string, unknown>;
    return out;
  };
}

/** How the objects logged under these keys are written (before redaction, as pino orders them). */
export const LOG_SERIALIZERS: Serializers = {
  req: (req: { id: string; method: string; url: string }) => ({
    id: req.id,
    method: req.method,
    url: maskUrl(req.url ?? ''),
  }),
  res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
  err: stdSerializers.err,
};

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
  const censor = makeLogCensor(REDACTED_PATHS, LOG_SERIALIZERS);
  return {
    forRoutes: [],
    pinoHttp: {
      level: config.logLevel,
      base: { service: 'sms-bridge', role: config.role },
      mixin: () => {
        const ctx = requestContext.getStore();
        return ctx ? { reqId: ctx.id } : {};
      },
      // The censor serializes (LOG_SERIALIZERS) and redacts; pino's default `err` serializer is replaced by
      // one that leaves the censor's work as it is.
      serializers: { err: (err: unknown) => err },
      formatters: { log: censor },
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
