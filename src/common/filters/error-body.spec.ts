import { BadRequestException, NotFoundException } from '@nestjs/common';
import { AppException } from '../app.exception';
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

  it('rewrites Nest route-not-found text', () => {
    expect(mapError(new NotFoundException('Cannot GET /nope')).body.message).toContain('/docs');
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
