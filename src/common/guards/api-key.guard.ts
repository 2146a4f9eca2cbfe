import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppConfig } from '../../config/app-config';
import { AppException } from '../app.exception';
import { Access, ACCESS_KEY } from '../decorators/public.decorator';

/** One-shot SHA-256 (crypto.hash: a third of createHash().update().digest()'s cost for a short key). */
const digest = (key: string): Buffer => hash('sha256', key, 'buffer');

export interface AuthenticatedRequest extends FastifyRequest {
  /** A stable, non-secret id of the API key used (idempotency keys and rate limits are scoped by it). */
  clientId?: string;
  isAdmin?: boolean;
}

/** Reads the key from X-API-Key, or from `Authorization: Bearer <key>`. */
export function presentedKey(req: FastifyRequest): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header) return header;
  const auth = req.headers.authorization;
  if (auth && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim() || undefined;
  return undefined;
}

/**
 * The global guard: every route needs a client API key unless it is marked otherwise. Keys are compared as
 * SHA-256 digests with timingSafeEqual against every configured key, so neither the comparison nor the
 * number of keys checked depends on how much of a guess was right.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly clientKeys: Buffer[];
  private readonly adminKeys: Buffer[];

  constructor(
    private readonly reflector: Reflector,
    config: AppConfig,
  ) {
    this.clientKeys = config.auth.apiKeys.map(digest);
    this.adminKeys = config.auth.adminApiKeys.map(digest);
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
    const presented = digest(key);
    const isAdmin = matchesAny(presented, this.adminKeys);
    const isClient = matchesAny(presented, this.clientKeys);
    if (access === 'admin') {
      if (isAdmin) return this.accept(req, presented, true);
      if (isClient) throw new AppException(403, 'FORBIDDEN', 'This endpoint needs an admin API key');
      throw new AppException(401, 'UNAUTHORIZED', 'The API key is not valid');
    }
    if (isClient || isAdmin) return this.accept(req, presented, isAdmin);
    throw new AppException(401, 'UNAUTHORIZED', 'The API key is not valid');
  }

  private accept(req: AuthenticatedRequest, presented: Buffer, isAdmin: boolean): true {
    req.clientId = presented.subarray(0, 8).toString('hex');
    req.isAdmin = isAdmin;
    return true;
  }
}

function matchesAny(presented: Buffer, keys: Buffer[]): boolean {
  let found = false;
  for (const k of keys) found = timingSafeEqual(presented, k) || found;
  return found;
}
