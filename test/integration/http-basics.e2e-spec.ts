import SwaggerParser from '@apidevtools/swagger-parser';
import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { ProbeModule } from '../helpers/probe.module';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait';

const expectErrorShape = (body: any, statusCode: number, code?: string) => {
  expect(body).toEqual(
    expect.objectContaining({
      statusCode,
      error: expect.any(String),
      code: code ?? expect.any(String),
      message: expect.any(String),
    }),
  );
  expect(JSON.stringify(body)).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
};

describe('HTTP basics', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({}, { extraModules: [ProbeModule] });
  });
  afterAll(() => t.close());

  describe('API-key guard', () => {
    it('answers 401 without a key and with a wrong one', async () => {
      const none = await t.request({ url: '/__probe/client', as: 'none' });
      expect(none.statusCode).toBe(401);
      expectErrorShape(none.json(), 401, 'UNAUTHORIZED');
      const wrong = await t.request({ url: '/__probe/client', as: 'none', headers: { 'x-api-key': 'nope' } });
      expect(wrong.statusCode).toBe(401);
    });

    it('accepts X-API-Key and Authorization: Bearer', async () => {
      expect((await t.request({ url: '/__probe/client' })).statusCode).toBe(200);
      const bearer = await t.request({
        url: '/__probe/client',
        as: 'none',
        headers: { authorization: `Bearer ${t.config.auth.apiKeys[0].secret}` },
      });
      expect(bearer.statusCode).toBe(200);
    });

    it('keeps /admin routes for admin keys: 403 with a client key, 401 with none', async () => {
      expect((await t.request({ url: '/__probe/admin' })).statusCode).toBe(403);
      expect((await t.request({ url: '/__probe/admin', as: 'none' })).statusCode).toBe(401);
      expect((await t.request({ url: '/__probe/admin', as: 'admin' })).statusCode).toBe(200);
    });

    it('leaves health, metrics and docs public', async () => {
      for (const url of ['/health/live', '/metrics', '/docs-json', '/docs']) {
        expect([url, (await t.request({ url, as: 'none' })).statusCode]).toEqual([url, 200]);
      }
    });
  });

  describe('error shape', () => {
    it('400 for a body that fails validation, naming the fields', async () => {
      const res = await t.request({ method: 'POST', url: '/__probe/echo', payload: { name: 5, count: -1 } });
      expect(res.statusCode).toBe(400);
      expectErrorShape(res.json(), 400, 'VALIDATION_FAILED');
      expect(res.json().message).toMatch(/name/);
      expect(res.json().message).toMatch(/count/);
    });

    it('400 for unknown fields (whitelist, forbidNonWhitelisted)', async () => {
      const res = await t.request({
        method: 'POST',
        url: '/__probe/echo',
        payload: { name: 'a', count: 1, admin: true },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(/admin should not exist/);
    });

    it('400 MALFORMED_JSON for invalid JSON', async () => {
      const res = await t.request({
        method: 'POST',
        url: '/__probe/echo',
        payload: '{"name": "a",',
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBe(400);
      expectErrorShape(res.json(), 400, 'MALFORMED_JSON');
    });

    it('400 for a __proto__ key', async () => {
      const res = await t.request({
        method: 'POST',
        url: '/__probe/echo',
        payload: '{"name":"a","count":1,"__proto__":{"polluted":true}}',
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBe(400);
      expect(({} as any).polluted).toBeUndefined();
    });

    it('413 for a body over 1 MB', async () => {
      const res = await t.request({
        method: 'POST',
        url: '/__probe/echo',
        payload: JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 10), count: 1 }),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBe(413);
      expectErrorShape(res.json(), 413, 'PAYLOAD_TOO_LARGE');
    });

    it('415 for a content type nobody parses', async () => {
      const res = await t.request({
        method: 'POST',
        url: '/__probe/echo',
        payload: 'a=b',
        headers: { 'content-type': 'text/csv' },
      });
      expect(res.statusCode).toBe(415);
      expectErrorShape(res.json(), 415);
    });

    it('404 for an unknown route', async () => {
      const res = await t.request({ url: '/no/such/thing' });
      expect(res.statusCode).toBe(404);
      expectErrorShape(res.json(), 404, 'NOT_FOUND');
      // Whatever the method, the answer does not echo the path (a phone number, a query).
      for (const method of ['PROPFIND', 'TRACE']) {
        // light-my-request's type lists the common methods only; Fastify routes any method Node parses.
        const other = await t.app.inject({
          method: method as 'GET',
          url: '/onboard/status/+919811111111?x=<b>y</b>',
        });
        expect([method, other.statusCode]).toEqual([method, 404]);
        expect(other.body).not.toMatch(/9811111111|<b>/);
      }
    });

    it('500 without detail for a fault', async () => {
      const res = await t.request({ url: '/__probe/boom' });
      expect(res.statusCode).toBe(500);
      expectErrorShape(res.json(), 500, 'INTERNAL_ERROR');
      expect(res.body).not.toContain('internal detail');
    });
  });

  it('refuses an undecodable path (400) or an over-long path parameter (414) in SPEC shape, never echoing it', async () => {
    const key = { 'x-api-key': t.config.auth.apiKeys[0].secret };
    const secretish = '+919812345678';
    const cases: [string, number, string][] = [
      [`/sessions/${secretish}%ZZ`, 400, 'BAD_URL'],
      [`/otp/status/${secretish}${'9'.repeat(300)}`, 414, 'URI_TOO_LONG'],
      ['/no-such/%ZZ', 400, 'BAD_URL'],
    ];
    for (const [url, status, code] of cases)
      for (const headers of [{}, key]) {
        // Through the contract-checking helper (the status and body must be what openapi.json declares), but for
        // a path no operation has.
        const res = url.startsWith('/no-such')
          ? await t.app.getHttpAdapter().getInstance().inject({ url, headers })
          : await t.request({ url, as: 'none', headers });
        expect([url, res.statusCode]).toEqual([url, status]);
        expectErrorShape(res.json(), status, code);
        expect(res.body).not.toContain('98123');
        expect(res.headers['x-request-id']).toBeDefined();
        expect(res.headers['x-content-type-options']).toBe('nosniff');
      }
  });

  it('echoes a request id, taking a sane one from the caller', async () => {
    const given = await t.request({ url: '/health/live', headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers['x-request-id']).toBe('abc-123');
    const made = await t.request({ url: '/health/live', headers: { 'x-request-id': 'bad id\u0000' } });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sets the API security headers on answers and the page ones on Swagger UI', async () => {
    const res = await t.request({ url: '/health/live' });
    expect(res.headers).toMatchObject({
      'cache-control': 'no-store',
      'content-security-policy': "frame-ancestors 'none'",
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
    });
    expect(res.headers['cross-origin-opener-policy']).toBeUndefined();
    const page = await t.request({ url: '/docs', as: 'none' });
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(page.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
  });

  it('serves a valid OpenAPI 3 document with the API-key scheme', async () => {
    const doc = (await t.request({ url: '/docs-json', as: 'none' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes['api-key']).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'X-API-Key',
    });
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeDefined();
  });

  it('exposes Prometheus metrics with request durations by route', async () => {
    await t.request({ url: '/health/live' });
    const res = await t.request({ url: '/metrics', as: 'none' });
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.body).toMatch(
      /smsb_http_request_duration_seconds_count\{method="GET",route="\/health\/live",status="200"\} \d+/,
    );
  });

  it('reports healthy with Redis and Postgres up', async () => {
    const res = await t.request({ url: '/health', as: 'none' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'healthy',
      components: {
        database: { status: 'up' },
        redis: { status: 'up', connected: true },
        background_workers: {},
      },
    });
    // No worker runs in this test: health says so instead of guessing.
    expect(res.json().components.background_workers.status).toBe('unknown');
    // Ready once the start-up warm-up of the onboarding sets is done.
    await waitFor(
      async () => (await t.request({ url: '/health/ready', as: 'none' })).statusCode === 200,
      'ready',
    );
    expect((await t.request({ url: '/health/redis', as: 'none' })).json()).toMatchObject({
      healthy: true,
      connected: true,
    });
  });

  it('runs no middleware layer: a Nest middleware fails the app at start instead of being skipped', async () => {
    expect(t.app.getHttpAdapter().getInstance().hasPlugin('@fastify/middie')).toBe(false);
    @Module({})
    class WithMiddleware implements NestModule {
      configure(consumer: MiddlewareConsumer) {
        consumer.apply((_req: unknown, _res: unknown, next: () => void) => next()).forRoutes('*');
      }
    }
    await expect(startTestApp({}, { extraModules: [WithMiddleware] })).rejects.toThrow(/use/);
  });
});
