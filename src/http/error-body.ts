// Turns any error into SPEC's answer shape: {statusCode, error, code, message, ...}. Never a stack trace.
import { HttpException } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { types } from 'node:util';
import { isRedisUnavailable } from '../redis/redis-errors';
import { AppException } from '../common/app.exception';

export interface ErrorBody {
  statusCode: number;
  error: string;
  code: string;
  message: string;
  [extra: string]: unknown;
}

export interface MappedError {
  body: ErrorBody;
  headers: Record<string, string>;
  /** True for faults of the service itself (5xx not caused by a dependency outage): worth an error log. */
  unexpected: boolean;
}

const DEFAULT_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_ENTITY',
  429: 'RATE_LIMITED',
  500: 'INTERNAL_ERROR',
  503: 'SERVICE_UNAVAILABLE',
};

/** Fastify's own errors (raised before a route runs) mapped to stable codes. */
const FASTIFY_CODES: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: 'MALFORMED_JSON',
    message: 'The body is not valid JSON',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'MALFORMED_JSON', message: 'The JSON body is empty' },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: 'The body is larger than allowed',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'Send application/json (or form data where documented)',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'Content-Length does not match',
  },
  FST_ERR_CTP_INVALID_TYPE: { status: 400, code: 'BAD_REQUEST', message: 'The content type is not valid' },
  FST_ERR_BAD_URL: { status: 400, code: 'BAD_URL', message: 'The URL is not valid' },
  FST_ERR_MAX_PARAM_LENGTH: {
    status: 414,
    code: 'URI_TOO_LONG',
    message: 'A path parameter is longer than 200 characters',
  },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'BAD_REQUEST' },
};

/** pg's words for a connection lost, refused or timed out (raw, or inside TypeORM's QueryFailedError). */
const PG_CONNECTION_LOST =
  /Connection terminated|Query read timeout|timeout exceeded when trying to connect|the database system is|Client has encountered a connection error|Connection ended unexpectedly/i;
const SOCKET_FAILURE =
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|EPIPE)$/;

const isDatabaseOutage = (err: Error & { code?: string; syscall?: string }) => {
  if (err.name === 'QueryFailedError')
    // shutdown, too many connections, a statement timeout, connection errors; or the connection dropped
    return (
      /^(57P01|57P02|57P03|57014|53300|08\w{3})$/.test(err.code ?? '') || PG_CONNECTION_LOST.test(err.message)
    );
  if (PG_CONNECTION_LOST.test(err.message)) return true;
  // A raw socket error (pool.connect refused or timed out) reaches a request only from pg: Redis clients
  // report their own (above), and the provider and webhook calls never run on the request path.
  return !!err.syscall && SOCKET_FAILURE.test(err.code ?? '');
};

function body(status: number, code: string, message: string, extra: Record<string, unknown> = {}): ErrorBody {
  return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', code, message, ...extra };
}

export function mapError(err: unknown): MappedError {
  if (err instanceof AppException) {
    const { code: _c, message: _m, ...extra } = err.getResponse() as Record<string, unknown>;
    const headers: Record<string, string> = {};
    if (err.retryAfterSeconds !== undefined)
      headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterSeconds)));
    return { body: body(err.getStatus(), err.code, err.message, extra), headers, unexpected: false };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const res = err.getResponse();
    let message = err.message;
    if (typeof res === 'object' && res && 'message' in res) {
      const m = (res as { message: unknown }).message;
      message = Array.isArray(m) ? m.join('; ') : String(m);
    }
    // Nest hands Fastify's body errors over as plain HttpExceptions with Fastify's message.
    if (status === 400 && /JSON/i.test(message)) {
      return {
        body: body(400, 'MALFORMED_JSON', `The body is not valid JSON: ${message}`),
        headers: {},
        unexpected: false,
      };
    }
    if (status === 404 && /^Cannot [A-Z-]+ \//.test(message)) {
      message = 'No such endpoint; see /docs for the API';
    }
    return {
      body: body(status, DEFAULT_CODES[status] ?? `HTTP_${status}`, message),
      headers: {},
      unexpected: status >= 500,
    };
  }
  // Node's own errors (a refused socket) may come from another realm (a test runner's VM), where instanceof fails.
  if (err instanceof Error || types.isNativeError(err)) {
    const fastifyCode = (err as { code?: string }).code;
    const known = fastifyCode ? FASTIFY_CODES[fastifyCode] : undefined;
    if (known)
      return {
        body: body(known.status, known.code, known.message ?? err.message),
        headers: {},
        unexpected: false,
      };
    const statusCode = (err as { statusCode?: number }).statusCode;
    if (statusCode && statusCode >= 400 && statusCode < 500) {
      return {
        body: body(statusCode, DEFAULT_CODES[statusCode] ?? `HTTP_${statusCode}`, err.message),
        headers: {},
        unexpected: false,
      };
    }
    if (isRedisUnavailable(err)) {
      return {
        body: body(
          503,
          'REDIS_UNAVAILABLE',
          'The service cannot reach its redis right now; try again shortly',
        ),
        headers: { 'retry-after': '1' },
        unexpected: false,
      };
    }
    if (isDatabaseOutage(err)) {
      return {
        body: body(
          503,
          'DATABASE_UNAVAILABLE',
          'The service cannot reach its database right now; try again shortly',
        ),
        headers: { 'retry-after': '1' },
        unexpected: false,
      };
    }
  }
  return {
    body: body(500, 'INTERNAL_ERROR', 'Something went wrong on our side'),
    headers: {},
    unexpected: true,
  };
}

/**
 * The raw HTTP answer to a request Node's parser refuses before Fastify or Nest see it (request line and headers
 * over 16 KB, broken HTTP syntax, a client too slow to send its request), in SPEC's shape like every other error.
 */
export function clientErrorAnswer(err: { code?: string }): string {
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', 'The request line and headers are larger than allowed']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'The request took too long to arrive']
        : [400, 'BAD_REQUEST', 'The request is not valid HTTP'];
  const json = JSON.stringify(body(status, code, message));
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`
  );
}
