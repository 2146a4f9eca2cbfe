// The log censor (makeLogCensor) against pino's own `redact` with the same paths: the same lines out of both.
import { Writable } from 'node:stream';
import pino from 'pino';
import type { AppConfig } from '../config/app-config';
import { LOG_SERIALIZERS, loggerParams, makeLogCensor, REDACTED_PATHS } from './logging';

function linesOf(options: pino.LoggerOptions, objects: object[]): unknown[] {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ ...options, base: undefined, timestamp: false }, sink);
  for (const o of objects) logger.info(o, 'line');
  return lines.map((l) => JSON.parse(l) as unknown);
}

/** Like a Fastify request: what the req serializer reads are getters on the prototype; `body` is its own. */
class FakeRequest {
  id = 'req-1';
  body = { otp: '123456' };
  raw = { method: 'POST', url: '/onboard/register/+919876543210' };
  get method() {
    return this.raw.method;
  }
  get url() {
    return this.raw.url;
  }
}

const boom = () => Object.assign(new Error('boom'), { code: 'E_BOOM', token: 'secret-token' });

const OBJECTS = (): object[] => [
  { user: { mobile_number: '+919876543210', name: 'kept' } },
  { req: { headers: { authorization: 'Bearer a', 'x-api-key': 'k', host: 'kept' }, url: '/kept' } },
  { req: { id: 'no headers here' } },
  { otp: 'top-level: not a *.otp path' },
  { a: { b: { otp: 'two levels down: not a *.otp path' } } },
  { list: [{ otp: 'inside an array: not a *.otp path' }] },
  { message: { to: '+919876543210', from: '+14155550100', body: 'code 123456', id: 'kept' } },
  { creds: { password: 'p', secret: 's', token: 't', access_token: 'a', code: 'c', otp_code: 'o' } },
  { err: boom() },
  { n: 1, s: 'plain', flag: true, nothing: null },
  { req: new FakeRequest(), res: { statusCode: 400, body: 'x' } },
  { error: { cause: { token: 'two levels: kept by both' }, token: 'one level' } },
];

describe('the log censor', () => {
  it('writes the same lines as pino’s redact with the same paths', () => {
    const objects = OBJECTS(); // the same objects through both (neither may change them: see below)
    const censor = makeLogCensor(REDACTED_PATHS, LOG_SERIALIZERS);
    const ours = linesOf({ serializers: { err: (e: unknown) => e }, formatters: { log: censor } }, objects);
    const pinos = linesOf(
      {
        serializers: LOG_SERIALIZERS as pino.LoggerOptions['serializers'],
        redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      },
      objects,
    );
    expect(ours).toEqual(pinos);
    // …and those lines are censored (a check that does not depend on pino's behaviour).
    const text = JSON.stringify(ours);
    for (const secret of ['+919876543210', 'Bearer a', 'code 123456', 'secret-token', 'E_BOOM']) {
      expect(text).not.toContain(secret);
    }
    expect(ours[8]).toMatchObject({ err: { type: 'Error', message: 'boom', code: '[redacted]' } });
    expect(ours[10]).toMatchObject({
      req: { id: 'req-1', method: 'POST', url: '/onboard/register/+91********10' },
      res: { statusCode: 400 },
    });
  });

  it('leaves the caller’s objects as they were', () => {
    const censor = makeLogCensor(REDACTED_PATHS);
    const objects = OBJECTS();
    const before = JSON.stringify(objects);
    const err = (objects[8] as { err: Error }).err;
    objects.forEach((o) => censor(o as Record<string, unknown>));
    expect(JSON.stringify(objects)).toBe(before);
    expect((objects[8] as { err: Error }).err).toBe(err);
  });

  it('returns a line with nothing to censor as it is, without copying', () => {
    const censor = makeLogCensor(REDACTED_PATHS);
    const line = { reqId: 'r', context: 'X', user: { name: 'n' } };
    expect(censor(line)).toBe(line);
  });

  it('refuses a path it does not implement', () => {
    expect(() => makeLogCensor(['a.*.b'])).toThrow(/unsupported/);
  });

  it('is what the service logs through: loggerParams censors and serializes each line once', () => {
    const params = loggerParams({ logLevel: 'info', role: 'api' } as AppConfig);
    const options = (params as { pinoHttp: pino.LoggerOptions }).pinoHttp;
    const [withObject, withRequest, withError] = linesOf(options, [
      { user: { mobile_number: '+919876543210', name: 'kept' } },
      { req: new FakeRequest(), statusCode: 400 },
      { err: boom() },
    ]) as Record<string, Record<string, unknown>>[];
    expect(withObject.user).toEqual({ mobile_number: '[redacted]', name: 'kept' });
    expect(withRequest.req).toEqual({ id: 'req-1', method: 'POST', url: '/onboard/register/+91********10' });
    expect(withError.err).toMatchObject({ type: 'Error', message: 'boom', code: '[redacted]' });
    expect(String(withError.err.stack)).toMatch(/^Error: boom/);
  });
});
