import { BadRequestException, NotFoundException } from '@nestjs/common';
import { AppException } from '../common/app.exception';
import { clientErrorAnswer, mapError } from './error-body';

describe('mapError', () => {
  it('keeps a domain code, extra fields and Retry-After', () => {
    const m = mapError(new AppException(429, 'OTP_LOCKED', 'locked', { attempts_remaining: 0 }, 12.2));
    expect(m.body).toEqual({
      statusCode: 429,
      error: 'Too Many Requests',
      code: 'OTP_LOCKED',
      message: 'locked',
      attempts_remaining: 0,
    });
    expect(m.headers['retry-after']).toBe('13');
  });

  it('joins validation messages', () => {
    const m = mapError(new BadRequestException(['a must be a string', 'b is missing']));
    expect(m.body.code).toBe('BAD_REQUEST');
    expect(m.body.message).toBe('a must be a string; b is missing');
  });

  it('rewrites Nest route-not-found text, whatever the method, never echoing the path', () => {
    for (const method of ['GET', 'PROPFIND', 'TRACE', 'M-SEARCH']) {
      const message = mapError(new NotFoundException(`Cannot ${method} /onboard/status/+919811111111?x=<b>`))
        .body.message;
      expect(message).toBe('No such endpoint; see /docs for the API');
    }
  });

  it('maps Fastify body errors', () => {
    const err = Object.assign(new Error('Unexpected token'), {
      code: 'FST_ERR_CTP_INVALID_JSON_BODY',
      statusCode: 400,
    });
    expect(mapError(err).body).toMatchObject({ statusCode: 400, code: 'MALFORMED_JSON' });
  });

  it('answers 503 for a Redis outage and 500 without details otherwise', () => {
    expect(
      mapError(new Error("Stream isn't writeable and enableOfflineQueue options is false")).body.statusCode,
    ).toBe(503);
    const m = mapError(new TypeError('x is undefined'));
    expect(m.body).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      code: 'INTERNAL_ERROR',
      message: 'Something went wrong on our side',
    });
    expect(m.unexpected).toBe(true);
  });

  it('tells a Postgres outage from a Redis one (found by the Postgres-down fault test)', () => {
    const code = (err: Error) => mapError(err).body.code;
    // pg's pool.connect refused: a raw socket error, on any port (once taken for a Redis outage).
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6432'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
    });
    expect(code(refused)).toBe('DATABASE_UNAVAILABLE');
    // The connection dropped during a query: TypeORM wraps it without a SQLSTATE (once a 500).
    const dropped = Object.assign(new Error('Connection terminated unexpectedly'), {
      name: 'QueryFailedError',
    });
    expect(code(dropped)).toBe('DATABASE_UNAVAILABLE');
    expect(code(new Error('timeout exceeded when trying to connect'))).toBe('DATABASE_UNAVAILABLE');
    expect(mapError(dropped).headers['retry-after']).toBe('1');

    expect(code(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe(
      'REDIS_UNAVAILABLE',
    );
    expect(code(new Error('Connection is closed.'))).toBe('REDIS_UNAVAILABLE');
    const retries = new Error(
      'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.',
    );
    retries.name = 'MaxRetriesPerRequestError';
    expect(code(retries)).toBe('REDIS_UNAVAILABLE');
    // A SQL error is no outage at all.
    const syntax = Object.assign(new Error('syntax error at or near "x"'), {
      name: 'QueryFailedError',
      code: '42601',
    });
    expect(mapError(syntax).body.statusCode).toBe(500);
  });

  it('answers what the HTTP parser refuses in the same shape', () => {
    const answer = clientErrorAnswer({ code: 'HPE_HEADER_OVERFLOW' });
    const [head, json] = answer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(head).toContain(`Content-Length: ${Buffer.byteLength(json)}`);
    expect(JSON.parse(json)).toEqual({
      statusCode: 431,
      error: 'Request Header Fields Too Large',
      code: 'HEADERS_TOO_LARGE',
      message: expect.any(String),
    });
    expect(JSON.parse(clientErrorAnswer({ code: 'HPE_INVALID_METHOD' }).split('\r\n\r\n')[1]).code).toBe(
      'BAD_REQUEST',
    );
  });
});
