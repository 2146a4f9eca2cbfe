// Key scopes (client, admin, SMS gateway) and stable client ids (`id:secret` entries shared by a client's keys).
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { testConfig } from '../helpers/test-env';

const CLIENT = 'client-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
const GATEWAY = 'gateway-key-0123456789abcdef';

const inject = (t: TestApp, method: 'GET' | 'POST', url: string, key?: string, payload?: object) =>
  t.app.inject({ method, url, payload, headers: key ? { 'x-api-key': key } : {} });
const inbound = (t: TestApp, key?: string) =>
  inject(t, 'POST', '/onboard/sms', key, { mobile_number: randomMobile(), message: 'ONBOARD ABCDEFGHJK' });

describe('key scopes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      API_KEYS: CLIENT,
      ADMIN_API_KEYS: ADMIN,
      GATEWAY_API_KEYS: `sms-gw:${GATEWAY}`,
    });
  });
  afterAll(() => t.close());

  it('lets only a gateway key hand over inbound SMS once gateway keys are configured', async () => {
    expect((await inbound(t, GATEWAY)).statusCode).toBe(200);
    expect((await inbound(t, CLIENT)).json()).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
    expect((await inbound(t, ADMIN)).statusCode).toBe(403);
    expect((await inbound(t, 'not-a-key')).statusCode).toBe(401);
    expect((await inbound(t)).statusCode).toBe(401);
  });

  it('keeps a gateway key to POST /onboard/sms: 403 on client and admin routes', async () => {
    expect((await inject(t, 'POST', '/sessions', GATEWAY, { user_id: 'u1' })).statusCode).toBe(403);
    expect((await inject(t, 'GET', '/admin/settings', GATEWAY)).statusCode).toBe(403);
  });

  it('answers 401 without a key and 403 with any other key on /admin/*, the queue dashboard included', async () => {
    for (const url of ['/admin/settings', '/admin/blacklist', '/admin/queues']) {
      expect([url, (await inject(t, 'GET', url)).statusCode]).toEqual([url, 401]);
      expect([url, (await inject(t, 'GET', url, 'not-a-key')).statusCode]).toEqual([url, 403]);
      expect([url, (await inject(t, 'GET', url, CLIENT)).statusCode]).toEqual([url, 403]);
      expect([url, (await inject(t, 'GET', url, ADMIN)).statusCode]).toEqual([url, 200]);
    }
  });

  it('accepts a client key on /onboard/sms when no gateway key is configured, outside production', async () => {
    const open = await startTestApp({ API_KEYS: CLIENT, ADMIN_API_KEYS: ADMIN });
    try {
      expect((await inbound(open, CLIENT)).statusCode).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('requires a gateway key for /onboard/sms in production', async () => {
    const prod = await startTestApp({
      NODE_ENV: 'production',
      SMS_CONSOLE_IN_PRODUCTION: 'true',
      API_KEYS: CLIENT,
      ADMIN_API_KEYS: ADMIN,
    });
    try {
      expect((await inbound(prod, CLIENT)).statusCode).toBe(403);
      expect((await inject(prod, 'POST', '/sessions', CLIENT, { user_id: 'u1' })).statusCode).toBe(201);
    } finally {
      await prod.close();
    }
  });
});

describe('stable client ids (id:secret)', () => {
  let t: TestApp;
  const OLD = 'shop-old-secret-0123456789';
  const NEW = 'shop-new-secret-0123456789';
  const OTHER = 'other-secret-0123456789ab';
  beforeAll(async () => {
    t = await startTestApp({ API_KEYS: `shop:${OLD},shop:${NEW},${OTHER}` });
  });
  afterAll(() => t.close());

  const payload = { to: randomMobile(), type: 'sms', body: 'hello' };
  const send = (key: string, idempotencyKey: string) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/messages/send',
      payload,
      headers: { 'x-api-key': key, 'idempotency-key': idempotencyKey },
    });

  it('shares a client’s messages, idempotency scope and webhook secret across its keys, so a rotation loses nothing', async () => {
    const first = await send(OLD, 'rotation-1');
    expect(first.statusCode).toBe(202);
    const id = first.json().id;
    // The new key sees the message the old key created...
    expect((await inject(t, 'GET', `/api/v1/messages/${id}`, NEW)).statusCode).toBe(200);
    // ...and the same idempotency key is the same request for it (same body: replayed, not sent twice).
    const again = await send(NEW, 'rotation-1');
    expect([again.statusCode, again.json().id]).toEqual([202, id]);
    // A client of its own with the same idempotency key is another request.
    const other = await send(OTHER, 'rotation-1');
    expect(other.statusCode).toBe(202);
    expect(other.json().id).not.toBe(id);
    const secretOld = (await inject(t, 'GET', '/api/v1/webhooks/secret', OLD)).json().secret;
    expect(secretOld).toBeTruthy();
    expect((await inject(t, 'GET', '/api/v1/webhooks/secret', NEW)).json().secret).toBe(secretOld);
    // Another client sees none of it.
    expect((await inject(t, 'GET', `/api/v1/messages/${id}`, OTHER)).statusCode).toBe(404);
    expect((await inject(t, 'GET', '/api/v1/webhooks/secret', OTHER)).json().secret).not.toBe(secretOld);
  });

  it('refuses a key id that is the service’s own', () => {
    expect(() => testConfig({ API_KEYS: 'otp:some-secret-0123456789' })).toThrow(/the key id 'otp'/);
  });
});
