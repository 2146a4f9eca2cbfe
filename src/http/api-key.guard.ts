import { INestApplicationContext, RequestMethod, Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest, preHandlerHookHandler } from 'fastify';
import { AppConfig, KeyEntry } from '../config/app-config';
import { AppException } from '../common/app.exception';
import { Access, ACCESS_KEY } from './access.decorator';

/** One-shot SHA-256 (crypto.hash: a third of createHash().update().digest()'s cost for a short key). */
const digest = (key: string): Buffer => hash('sha256', key, 'buffer');

export interface AuthenticatedRequest extends FastifyRequest {
  /** A stable, non-secret id of the API key used (idempotency keys and rate limits are scoped by it). */
  clientId?: string;
  isAdmin?: boolean;
}

/**
 * Reads the key from X-API-Key, or from `Authorization: Bearer <key>`; with `basic`, also from HTTP Basic
 * (the key as the password, whatever the user name), which is how a browser sends it to the queue dashboard.
 * The one reading of a presented key, for the guard and the dashboard alike.
 */
export function presentedKey(req: FastifyRequest, basic = false): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header) return header;
  const auth = req.headers.authorization;
  if (!auth) return undefined;
  if (/^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim() || undefined;
  if (basic && /^basic\s+/i.test(auth)) {
    const decoded = Buffer.from(auth.replace(/^basic\s+/i, '').trim(), 'base64').toString();
    const colon = decoded.indexOf(':');
    return (colon < 0 ? '' : decoded.slice(colon + 1)) || undefined;
  }
  return undefined;
}

interface Key {
  digest: Buffer;
  /** The client id the key acts as: its entry's id, or one derived from the key itself. */
  clientId: string;
}

const keysOf = (entries: KeyEntry[]): Key[] =>
  entries.map((e) => {
    const d = digest(e.secret);
    return { digest: d, clientId: e.id ?? d.subarray(0, 8).toString('hex') };
  });

type Match = Readonly<{ admin?: Key; client?: Key; gateway?: Key }>;

/** The configured keys of every scope, and which scopes a presented key belongs to. */
export class KeyRing {
  private readonly clientKeys: Key[];
  private readonly adminKeys: Key[];
  private readonly gatewayKeys: Key[];
  /**
   * The answer for each key already accepted, by the key itself. Only a configured key gets in (its digest
   * matched one), so it holds at most one entry per configured key. A backend sends the same key with every
   * request, and the digest was the check's largest cost (about 4 µs of a session get's CPU in profiles). A key
   * not in here (a wrong one, or a right one the first time) is compared as before; looking it up first tells
   * a caller nothing the answer does not (a Map compares characters only of keys whose hashes are equal).
   */
  private readonly accepted = new Map<string, Match>();

  constructor(config: AppConfig) {
    this.clientKeys = keysOf(config.auth.apiKeys);
    this.adminKeys = keysOf(config.auth.adminApiKeys);
    this.gatewayKeys = keysOf(config.auth.gatewayApiKeys);
  }

  /** The presented key's entry in each scope (compared with every configured key, in constant time). */
  match(key: string): Match {
    const known = this.accepted.get(key);
    if (known) return known;
    const presented = digest(key);
    const found: Match = Object.freeze({
      admin: matching(presented, this.adminKeys),
      client: matching(presented, this.clientKeys),
      gateway: matching(presented, this.gatewayKeys),
    });
    if (found.admin || found.client || found.gateway) this.accepted.set(key, found);
    return found;
  }

  /** How many keys are remembered as accepted (for tests). */
  get acceptedCount(): number {
    return this.accepted.size;
  }

  get hasGatewayKeys(): boolean {
    return this.gatewayKeys.length > 0;
  }
}

/**
 * The API-key check of every route: each needs a key of its scope unless it is marked otherwise. Client routes
 * take a client (or admin) key; `/admin/*` an admin key; `POST /onboard/sms` a gateway key once any is configured
 * (and always in production). No key is 401. On `/admin/*` any other key is 403; elsewhere an unknown key is 401
 * and a known key of another scope is 403. Keys are compared as SHA-256 digests with timingSafeEqual against
 * every configured key of every scope, so neither the comparison nor the number of keys checked depends on how
 * much of a guess was right (a key once accepted is remembered, see KeyRing).
 *
 * It runs as a Fastify `preHandler` of each route that needs a key (installed by `installApiKeyGuard`), where
 * Nest's global guard ran before: at the same point (after the body is read, before guards of the route's own,
 * pipes and the handler), answered the same way (the error goes through Nest's error filter), but synchronous.
 */
export class ApiKeyGuard {
  private readonly keys: KeyRing;
  private readonly gatewayRequired: boolean;

  constructor(config: AppConfig) {
    this.keys = new KeyRing(config);
    this.gatewayRequired = this.keys.hasGatewayKeys || config.isProduction;
  }

  /** Lets the request through to a route of `access` (recording its client id), or throws its 401 or 403. */
  check(access: Access, req: AuthenticatedRequest): void {
    if (access === 'public' || access === 'end-user') return;
    const key = presentedKey(req);
    if (!key)
      throw new AppException(
        401,
        'UNAUTHORIZED',
        'An API key is required (X-API-Key or Authorization: Bearer)',
      );
    const { admin, client, gateway } = this.keys.match(key);
    if (access === 'admin') {
      if (admin) return accept(req, admin, true);
      throw new AppException(403, 'FORBIDDEN', 'This endpoint needs an admin API key');
    }
    if (access === 'gateway') {
      if (gateway) return accept(req, gateway, false);
      const known = client ?? admin;
      if (known && !this.gatewayRequired) return accept(req, known, !!admin);
      if (!known) throw new AppException(401, 'UNAUTHORIZED', 'The API key is not valid');
      throw new AppException(
        403,
        'FORBIDDEN',
        'Only an SMS gateway key (GATEWAY_API_KEYS) may hand over inbound SMS',
      );
    }
    if (client || admin) return accept(req, (client ?? admin)!, !!admin);
    if (gateway) throw new AppException(403, 'FORBIDDEN', 'A gateway key may only call POST /onboard/sms');
    throw new AppException(401, 'UNAUTHORIZED', 'The API key is not valid');
  }
}

/**
 * The access level of every controller route, by `METHOD /path` as the route is registered with Fastify: the
 * route's `@Public()`, `@AdminOnly()`, `@EndUser()` or `@GatewayOnly()`, else its controller's, else `client`.
 * Read once at start, with Nest's DiscoveryService and Reflector, from the metadata the decorators set.
 */
export function routeAccess(app: INestApplicationContext): Map<string, Access> {
  const reflector = app.get(Reflector);
  const scanner = app.get(MetadataScanner);
  const routes = new Map<string, Access>();
  for (const { metatype } of app.get(DiscoveryService).getControllers()) {
    if (typeof metatype !== 'function') continue;
    const controller = metatype as Type;
    const bases = pathsOf(Reflect.getMetadata(PATH_METADATA, controller));
    for (const name of scanner.getAllMethodNames(controller.prototype)) {
      const handler = (controller.prototype as Record<string, Type>)[name];
      const own = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
      if (own === undefined) continue; // not a route
      const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
      const access = reflector.getAllAndOverride<Access>(ACCESS_KEY, [handler, controller]) ?? 'client';
      for (const base of bases)
        for (const path of pathsOf(own)) routes.set(`${method} ${joinPath(base, path)}`, access);
    }
  }
  return routes;
}

const pathsOf = (p: string | string[] | undefined): string[] => (Array.isArray(p) ? p : [p ?? '']);
/** Nest's joining of a controller's and a route's paths: one slash between, a leading one, none trailing. */
const joinPath = (...parts: string[]): string =>
  `/${parts
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/')}`;

/**
 * Puts the API-key check in front of every controller route that needs a key, as a `preHandler` of that route
 * (Fastify's `onRoute` hook, as Nest registers it): a callback that makes no promise, and none at all on public
 * routes. Routes that are not Nest's (Swagger UI, the queue dashboard, which checks its own key) get none, as
 * before. Called before the app is initialised; the app refuses to start if a controller route was not seen
 * (so a route cannot go unguarded because its path was read differently here).
 */
export function installApiKeyGuard(app: NestFastifyApplication): void {
  const guard = new ApiKeyGuard(app.get(AppConfig));
  const routes = routeAccess(app);
  const unseen = new Set(routes.keys());
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRoute', (route) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      const key = `${method} ${route.url}`;
      // Fastify's own HEAD route of a GET route has the GET route's access.
      const access = routes.get(key) ?? (method === 'HEAD' ? routes.get(`GET ${route.url}`) : undefined);
      if (access === undefined) continue;
      unseen.delete(key);
      if (access === 'public' || access === 'end-user') return;
      const check: preHandlerHookHandler = (req, _reply, done) => {
        try {
          guard.check(access, req);
        } catch (err) {
          return done(err as Error);
        }
        done();
      };
      route.preHandler = [check, ...(route.preHandler ? [route.preHandler].flat() : [])];
      return;
    }
  });
  fastify.addHook('onReady', (done) => {
    done(
      unseen.size
        ? new Error(`routes registered without their API-key check: ${[...unseen].join(', ')}`)
        : undefined,
    );
  });
}

function accept(req: AuthenticatedRequest, key: Key, isAdmin: boolean): void {
  req.clientId = key.clientId;
  req.isAdmin = isAdmin;
}

/** The key among `keys` equal to `presented`, comparing with every one of them. */
function matching(presented: Buffer, keys: Key[]): Key | undefined {
  let found: Key | undefined;
  for (const k of keys) if (timingSafeEqual(presented, k.digest) && !found) found = k;
  return found;
}
