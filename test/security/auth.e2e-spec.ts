// Who may call what, proved on every route: the list comes from the OpenAPI document the app serves and from
// Fastify's own route table, so an endpoint added tomorrow is checked without anyone editing this file.
import { randomMobile } from '../helpers/numbers';
import {
  fastifyUrl,
  Operation,
  operations,
  sampleUrl,
  servedRoutes,
  ServedRoute,
} from '../helpers/api-routes';
import { startTestApp, TestApp } from '../helpers/test-app';
import { TEST_ADMIN_KEY, TEST_CLIENT_KEY } from '../helpers/test-env';

const expectErrorShape = (label: string, res: { statusCode: number; json(): any }, status: number) => {
  const body = res.json();
  expect([label, res.statusCode]).toEqual([label, status]);
  expect([label, body]).toEqual([
    label,
    expect.objectContaining({
      statusCode: status,
      error: expect.any(String),
      code: expect.any(String),
      message: expect.any(String),
    }),
  ]);
};

/** Served but deliberately outside the OpenAPI document: the docs themselves, metrics, the queue dashboard. */
const UNDOCUMENTED = /^\/(docs|metrics|admin\/queues)(\/|-|$)/;

/** A concrete URL for one of Fastify's route patterns (/admin/queues/api/queues/:queueName/pause). */
const concrete = (r: ServedRoute) => r.url.replace(/:[^/]+/g, 'sms');

describe('auth on every route', () => {
  let t: TestApp;
  let ops: Operation[];
  let served: ServedRoute[];
  const testNumber = randomMobile();
  const TEST_CODE = '424242';

  beforeAll(async () => {
    t = await startTestApp({ OTP_TEST_NUMBERS: `${testNumber}:${TEST_CODE}` });
    ops = operations((await t.request({ url: '/docs-json', as: 'none' })).json());
    served = servedRoutes(t.app.getHttpAdapter().getInstance());
  });
  afterAll(() => t?.close());

  const call = (op: Operation, headers: Record<string, string>, url = sampleUrl(op)) =>
    t.request({
      method: op.method,
      url,
      as: 'none',
      headers: { ...headers, ...(op.body ? { 'content-type': 'application/json' } : {}) },
      ...(op.body ? { payload: '{}' } : {}),
    });

  it('documents every route the process serves, apart from the docs, metrics and the queue dashboard', () => {
    expect(ops.length).toBeGreaterThan(25);
    const documented = new Set(ops.map((o) => `${o.method} ${fastifyUrl(o.path)}`));
    const missing = served
      .filter((r) => !UNDOCUMENTED.test(r.url))
      .map((r) => `${r.method} ${r.url}`)
      .filter((r) => !documented.has(r));
    expect(missing).toEqual([]);
    // And the other way round: the document promises nothing the process does not serve.
    const servedSet = new Set(served.map((r) => `${r.method} ${r.url}`));
    expect(ops.map((o) => `${o.method} ${fastifyUrl(o.path)}`).filter((o) => !servedSet.has(o))).toEqual([]);
  });

  it('keeps only the health probes and the provider webhooks public', () => {
    const open = ops.filter((o) => o.security === 'public').map((o) => o.path);
    expect(open.length).toBeGreaterThan(0);
    for (const path of open) expect([path, /^\/(health|webhooks)(\/|$)/.test(path)]).toEqual([path, true]);
  });

  it('answers 401 without a key, and with a wrong one 401 (403 on /admin/*), in the SPEC shape on every route', async () => {
    const guarded = ops.filter((o) => o.security !== 'public');
    expect(guarded.length).toBeGreaterThan(20);
    for (const op of guarded) {
      const label = `${op.method} ${op.path}`;
      const wrong = op.path.startsWith('/admin/') ? 403 : 401;
      expectErrorShape(`${label} (no key)`, await call(op, {}), 401);
      expectErrorShape(`${label} (wrong key)`, await call(op, { 'x-api-key': 'not-a-key' }), wrong);
      expectErrorShape(
        `${label} (wrong bearer)`,
        await call(op, { authorization: 'Bearer not-a-key-either' }),
        wrong,
      );
      // A key that differs from a real one only in its last character (or its case) is still wrong.
      expectErrorShape(`${label} (near key)`, await call(op, { 'x-api-key': `${TEST_CLIENT_KEY}x` }), wrong);
      expectErrorShape(
        `${label} (case)`,
        await call(op, { 'x-api-key': TEST_CLIENT_KEY.toUpperCase() }),
        wrong,
      );
    }
  });

  it('does not take an API key where an end-user token is due', async () => {
    const endUser = ops.filter((o) => o.security === 'access-token');
    expect(endUser.map((o) => o.path).sort()).toEqual(['/auth/logout', '/auth/me']);
    for (const op of endUser) {
      const label = `${op.method} ${op.path}`;
      expectErrorShape(label, await call(op, { 'x-api-key': TEST_CLIENT_KEY }), 401);
      expectErrorShape(label, await call(op, { authorization: `Bearer ${TEST_CLIENT_KEY}` }), 401);
      expectErrorShape(label, await call(op, { authorization: `Bearer ${TEST_ADMIN_KEY}` }), 401);
    }
  });

  it('leaves the public routes open without a key', async () => {
    for (const op of ops.filter((o) => o.security === 'public')) {
      const res = await call(op, {});
      const label = `${op.method} ${op.path}`;
      if (op.path.startsWith('/webhooks/msg91')) {
        // Open to MSG91, which proves itself by the secret token in the path: any other is an unknown route.
        expectErrorShape(label, res, 404);
      } else if (op.path.startsWith('/webhooks')) {
        // Open to Twilio, which proves itself by its signature instead.
        expectErrorShape(label, res, 403);
        expect(res.json().code).toBe('INVALID_SIGNATURE');
      } else {
        expect([label, [200, 503].includes(res.statusCode)]).toEqual([label, true]);
      }
    }
  });

  it('answers 403 to a client key, and 401 to none, on every /admin route, the queue dashboard included', async () => {
    const admin = ops.filter((o) => o.path.startsWith('/admin'));
    expect(admin.length).toBeGreaterThanOrEqual(5);
    for (const op of admin) {
      const label = `${op.method} ${op.path}`;
      expectErrorShape(label, await call(op, { 'x-api-key': TEST_CLIENT_KEY }), 403);
      expectErrorShape(label, await call(op, { authorization: `Bearer ${TEST_CLIENT_KEY}` }), 403);
      expectErrorShape(label, await call(op, {}), 401);
      // The admin key passes the guard (whatever the handler then makes of the sample request).
      expect([
        label,
        [401, 403].includes((await call(op, { 'x-api-key': TEST_ADMIN_KEY })).statusCode),
      ]).toEqual([label, false]);
    }
    // The dashboard's routes, and one of its static files (its wildcard route, which the tree does not spell out).
    const dashboard = served.filter((r) => r.url.startsWith('/admin/queues') && !r.url.endsWith('*'));
    expect(dashboard.length).toBeGreaterThan(10);
    for (const r of [...dashboard, { method: 'GET', url: '/admin/queues/static/js/main.js' }]) {
      const label = `${r.method} ${r.url}`;
      const req = (headers: Record<string, string>) =>
        t.request({ method: r.method as any, url: concrete(r), as: 'none', headers });
      expectErrorShape(label, await req({ 'x-api-key': TEST_CLIENT_KEY }), 403);
      const basic = Buffer.from(`admin:${TEST_CLIENT_KEY}`).toString('base64');
      expectErrorShape(label, await req({ authorization: `Basic ${basic}` }), 403);
      expectErrorShape(label, await req({}), 401);
    }
  });

  it('reads a presented key the same way on /admin/* and on the queue dashboard', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    // Each way a key can be presented (or not), and whether it is the admin key: the guarded admin API and
    // the dashboard must give the same answer to each.
    const forms: [string, Record<string, string>][] = [
      ['x-api-key admin', { 'x-api-key': TEST_ADMIN_KEY }],
      ['bearer admin', { authorization: `Bearer ${TEST_ADMIN_KEY}` }],
      ['bearer, two spaces and a tab', { authorization: `bearer  \t${TEST_ADMIN_KEY}  ` }],
      ['bearer and a tab', { authorization: `Bearer\t${TEST_ADMIN_KEY}` }],
      ['BEARER client', { authorization: `BEARER ${TEST_CLIENT_KEY}` }],
      ['bearer blank', { authorization: 'Bearer    ' }],
      ['x-api-key empty, bearer admin', { 'x-api-key': '', authorization: `Bearer ${TEST_ADMIN_KEY}` }],
      [
        'x-api-key client, bearer admin',
        { 'x-api-key': TEST_CLIENT_KEY, authorization: `Bearer ${TEST_ADMIN_KEY}` },
      ],
      ['x-api-key with a space', { 'x-api-key': ` ${TEST_ADMIN_KEY}` }],
      ['unknown scheme', { authorization: `Token ${TEST_ADMIN_KEY}` }],
      ['no scheme', { authorization: TEST_ADMIN_KEY }],
    ];
    for (const [label, headers] of forms) {
      const api = await t.request({ url: '/admin/blacklist', as: 'none', headers });
      const board = await t.request({ url: '/admin/queues/api/queues', as: 'none', headers });
      expect([label, board.statusCode]).toEqual([label, api.statusCode]);
    }
    // HTTP Basic (the key as the password) is the dashboard's own addition, for browsers.
    const basic = (user: string, pass: string) => ({ authorization: `Basic ${b64(`${user}:${pass}`)}` });
    const board = (headers: Record<string, string>) =>
      t.request({ url: '/admin/queues/api/queues', as: 'none', headers }).then((r) => r.statusCode);
    expect(await board(basic('admin', TEST_ADMIN_KEY))).toBe(200);
    expect(await board(basic('', TEST_ADMIN_KEY))).toBe(200);
    expect(await board({ authorization: `basic   ${b64(`x:${TEST_ADMIN_KEY}`)}` })).toBe(200);
    expect(await board(basic('admin', TEST_CLIENT_KEY))).toBe(403);
    expect(await board(basic('admin', ''))).toBe(401);
    expect(await board({ authorization: `Basic ${b64(TEST_ADMIN_KEY)}` })).toBe(401);
  });

  describe('revoked access tokens', () => {
    const endUserCalls = (token: string) =>
      ops
        .filter((o) => o.security === 'access-token')
        .map((op) => ({
          label: `${op.method} ${op.path}`,
          send: () => call(op, { authorization: `Bearer ${token}` }),
        }));

    /** A token the real way: an OTP (a test number's fixed code) verified into a session and a JWT. */
    async function signIn(): Promise<{ access_token: string; session_id: string }> {
      const sent = await t.request({
        method: 'POST',
        url: '/otp/send',
        payload: { mobile_number: testNumber, channel: 'sms' },
      });
      expect(sent.statusCode).toBe(200);
      const verified = await t.request({
        method: 'POST',
        url: '/otp/verify',
        payload: { mobile_number: testNumber, otp: TEST_CODE },
      });
      expect(verified.statusCode).toBe(200);
      return verified.json();
    }
    const me = (token: string) =>
      t.request({ url: '/auth/me', as: 'none', headers: { authorization: `Bearer ${token}` } });

    it('are refused with 401 on every end-user route after /auth/logout', async () => {
      const { access_token } = await signIn();
      expect((await me(access_token)).statusCode).toBe(200);
      const out = await t.request({
        method: 'POST',
        url: '/auth/logout',
        as: 'none',
        headers: { authorization: `Bearer ${access_token}` },
      });
      expect(out.statusCode).toBe(204);
      for (const { label, send } of endUserCalls(access_token)) {
        const res = await send();
        expectErrorShape(label, res, 401);
        expect([label, res.json().code]).toEqual([label, 'TOKEN_REVOKED']);
      }
    });

    it("are refused with 401 on every end-user route after all of the user's sessions are revoked", async () => {
      const devices = [await signIn(), await signIn()];
      for (const d of devices) expect((await me(d.access_token)).statusCode).toBe(200);
      const revoked = await t.request({
        method: 'DELETE',
        url: `/users/${encodeURIComponent(testNumber)}/sessions`,
      });
      expect(revoked.statusCode).toBe(200);
      expect(revoked.json().revoked).toBeGreaterThanOrEqual(2);
      for (const d of devices) {
        for (const { label, send } of endUserCalls(d.access_token))
          expectErrorShape(label, await send(), 401);
      }
    });
  });
});
