// Structured JSON logs (pino) with a request id on every line; secrets, phone numbers and session ids never
// reach them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Params } from 'nestjs-pino';
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

export function loggerParams(config: AppConfig): Params {
  return {
    pinoHttp: {
      level: config.logLevel,
      base: { service: 'sms-bridge', role: config.role },
      genReqId: (req: IncomingMessage & { id?: unknown }) =>
        typeof req.id === 'string' ? req.id : requestIdFor(req),
      // Successful requests log nothing (hot paths stay quiet); client errors log at info, faults at error.
      customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'silent',
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
