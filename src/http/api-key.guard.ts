import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
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

/** The configured keys of every scope, and which scopes a presented key belongs to. */
export class KeyRing {
  private readonly clientKeys: Key[];
  private readonly adminKeys: Key[];
  private readonly gatewayKeys: Key[];

  constructor(config: AppConfig) {
    this.clientKeys = keysOf(config.auth.apiKeys);
    this.adminKeys = keysOf(config.auth.adminApiKeys);
    this.gatewayKeys = keysOf(config.auth.gatewayApiKeys);
  }

  /** The presented key's entry in each scope (compared with every configured key, in constant time). */
  match(key: string): { admin?: Key; client?: Key; gateway?: Key } {
    const presented = digest(key);
    return {
      admin: matching(presented, this.adminKeys),
      client: matching(presented, this.clientKeys),
      gateway: matching(presented, this.gatewayKeys),
    };
  }

  get hasGatewayKeys(): boolean {
    return this.gatewayKeys.length > 0;
  }
}

/**
 * The global guard: every route needs a key of its scope unless it is marked otherwise. Client routes take a
 * client (or admin) key; `/admin/*` an admin key; `POST /onboard/sms` a gateway key once any is configured (and
 * always in production). No key is 401. On `/admin/*` any other key is 403; elsewhere an unknown key is 401 and a
 * known key of another scope is 403. Keys are compared as SHA-256 digests with
 * timingSafeEqual against every configured key of every scope, so neither the comparison nor the number of keys
 * checked depends on how much of a guess was right.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: KeyRing;
  private readonly gatewayRequired: boolean;

  constructor(
    private readonly reflector: Reflector,
    config: AppConfig,
  ) {
    this.keys = new KeyRing(config);
    this.gatewayRequired = this.keys.hasGatewayKeys || config.isProduction;
  }

  /** The access level of each controller's handlers, read from their metadata once (it never changes). */
  private readonly accessOf = new WeakMap<object, Map<object, Access>>();

  canActivate(context: ExecutionContext): boolean {
    const [handler, controller] = [context.getHandler(), context.getClass()];
    let handlers = this.accessOf.get(controller);
    if (!handlers) this.accessOf.set(controller, (handlers = new Map()));
    let access = handlers.get(handler);
    if (access === undefined) {
      access = this.reflector.getAllAndOverride<Access>(ACCESS_KEY, [handler, controller]) ?? 'client';
      handlers.set(handler, access);
    }
    if (access === 'public' || access === 'end-user') return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
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

function accept(req: AuthenticatedRequest, key: Key, isAdmin: boolean): true {
  req.clientId = key.clientId;
  req.isAdmin = isAdmin;
  return true;
}

/** The key among `keys` equal to `presented`, comparing with every one of them. */
function matching(presented: Buffer, keys: Key[]): Key | undefined {
  let found: Key | undefined;
  for (const k of keys) if (timingSafeEqual(presented, k.digest) && !found) found = k;
  return found;
}
