// The API-key check as a route hook: which routes get it (each controller route, by its own access level, its
// controller's, or `client`), that Fastify's HEAD route of a GET route gets it too, and that the app refuses to
// start if a controller route was registered under a path the check did not expect.
import { Controller, Get, Post } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AppConfig } from '../config/app-config';
import { AdminOnly, EndUser, GatewayOnly, Public } from './access.decorator';
import { installApiKeyGuard, KeyRing, routeAccess } from './api-key.guard';

@Public()
@Controller('open')
class OpenController {
  @Get()
  root() {
    return { ok: true };
  }

  @AdminOnly()
  @Get('admin/')
  admin() {
    return { ok: true };
  }
}

@Controller()
class KeyedController {
  @Get(['x', 'y/:id'])
  client() {
    return { ok: true };
  }

  @GatewayOnly()
  @Post('sms')
  sms() {
    return { ok: true };
  }

  @EndUser()
  @Get('me')
  me() {
    return { ok: true };
  }
}

const config = {
  isProduction: false,
  auth: { apiKeys: [{ secret: 'client-key' }], adminApiKeys: [{ secret: 'admin-key' }], gatewayApiKeys: [] },
} as unknown as AppConfig;

async function app(prefix?: string): Promise<NestFastifyApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [DiscoveryModule],
    controllers: [OpenController, KeyedController],
    providers: [{ provide: AppConfig, useValue: config }],
  }).compile();
  const nest = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
    logger: false,
  });
  if (prefix) nest.setGlobalPrefix(prefix);
  installApiKeyGuard(nest);
  return nest;
}

describe('the API-key check of each route', () => {
  let nest: NestFastifyApplication;

  beforeAll(async () => {
    nest = await app();
    await nest.init();
    await nest.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => nest.close());

  it('reads every controller route’s access level: its own, else its controller’s, else client', () => {
    expect(Object.fromEntries(routeAccess(nest))).toEqual({
      'GET /open': 'public',
      'GET /open/admin': 'admin',
      'GET /x': 'client',
      'GET /y/:id': 'client',
      'POST /sms': 'gateway',
      'GET /me': 'end-user',
    });
  });

  it('checks the key where one is needed, on GET and on its HEAD route alike', async () => {
    const status = async (method: 'GET' | 'HEAD' | 'POST', url: string, key?: string) =>
      (await nest.inject({ method, url, headers: key ? { 'x-api-key': key } : {} })).statusCode;
    expect(await status('GET', '/x')).toBe(401);
    expect(await status('HEAD', '/x')).toBe(401);
    expect(await status('GET', '/y/1', 'wrong')).toBe(401);
    expect(await status('GET', '/x', 'client-key')).toBe(200);
    expect(await status('HEAD', '/y/1', 'client-key')).toBe(200);
    expect(await status('GET', '/open/admin', 'client-key')).toBe(403);
    expect(await status('GET', '/open/admin', 'admin-key')).toBe(200);
    expect(await status('POST', '/sms', 'client-key')).toBe(201); // no gateway key configured, not production
    expect(await status('POST', '/sms')).toBe(401);
    expect(await status('GET', '/open')).toBe(200);
    expect(await status('GET', '/me')).toBe(200); // an end-user route checks its token itself
  });

  it('refuses to start when a controller route is registered under a path it did not expect', async () => {
    const prefixed = await app('v1');
    await expect(
      prefixed
        .init()
        .then(() => prefixed.getHttpAdapter().getInstance().ready())
        .finally(() => prefixed.close()),
    ).rejects.toThrow(/registered without their API-key check: GET \/open/);
  });
});

describe('KeyRing', () => {
  const ring = () =>
    new KeyRing({
      auth: {
        apiKeys: [{ secret: 'client-key', id: 'backend-a' }],
        adminApiKeys: [{ secret: 'admin-key' }],
        gatewayApiKeys: [{ secret: 'gateway-key' }],
      },
    } as unknown as AppConfig);

  it('answers a key the same the first time and once remembered, and remembers only configured keys', () => {
    const keys = ring();
    for (const wrong of ['nope', 'client-ke', 'client-key ', 'CLIENT-KEY', '', 'x'.repeat(500)])
      for (let i = 0; i < 3; i++) expect(keys.match(wrong)).toEqual({});
    expect(keys.acceptedCount).toBe(0);
    for (let i = 0; i < 3; i++) {
      expect(keys.match('client-key')).toEqual({
        client: expect.objectContaining({ clientId: 'backend-a' }),
      });
      expect(keys.match('admin-key')).toEqual({ admin: expect.any(Object) });
      expect(keys.match('gateway-key')).toEqual({ gateway: expect.any(Object) });
    }
    expect(keys.acceptedCount).toBe(3);
    // A remembered answer cannot be changed by its caller.
    expect(() => {
      (keys.match('client-key') as { admin?: unknown }).admin = {};
    }).toThrow();
    expect(keys.match('client-key').admin).toBeUndefined();
  });
});
