// The routes of the running app, read from two places: the OpenAPI document (what the API promises, with each
// operation's security) and Fastify's own route table (what the process really serves). Security tests walk
// both, so a new endpoint is covered the day it is added, and an endpoint missing from the document is noticed.
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { randomMobile } from './numbers';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Security = 'public' | 'api-key' | 'access-token';

export interface SchemaObject {
  type?: string;
  format?: string;
  enum?: unknown[];
  items?: SchemaObject;
  properties?: Record<string, SchemaObject>;
  required?: string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  nullable?: boolean;
  additionalProperties?: boolean | SchemaObject;
  $ref?: string;
}

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: SchemaObject;
}

export interface Operation {
  method: Method;
  /** The OpenAPI path template, e.g. /sessions/{id}. */
  path: string;
  operationId: string;
  security: Security;
  params: Parameter[];
  /** The JSON request body's schema (resolved), when the operation takes one. */
  body?: SchemaObject;
  /** Content types the operation declares for its body. */
  consumes: string[];
}

type Doc = {
  security?: Record<string, string[]>[];
  paths: Record<string, Record<string, any>>;
  components?: { schemas?: Record<string, SchemaObject> };
};

/** Resolves a `#/components/schemas/X` reference (one level is all the document uses). */
export function resolve(doc: Doc, s: SchemaObject | undefined): SchemaObject | undefined {
  if (!s?.$ref) return s;
  return doc.components?.schemas?.[s.$ref.replace('#/components/schemas/', '')];
}

/** Every operation of the document, with the security that applies to it (its own, else the document's). */
export function operations(doc: Doc): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(m)) continue;
      const requirements: Record<string, string[]>[] = op.security ?? doc.security ?? [];
      const schemes = requirements.flatMap((r) => Object.keys(r));
      const security: Security = schemes.includes('access-token')
        ? 'access-token'
        : schemes.length
          ? 'api-key'
          : 'public';
      const content: Record<string, { schema?: SchemaObject }> = op.requestBody?.content ?? {};
      out.push({
        method: m.toUpperCase() as Method,
        path,
        operationId: op.operationId,
        security,
        params: (op.parameters ?? []) as Parameter[],
        body: resolve(doc, content['application/json']?.schema),
        consumes: Object.keys(content),
      });
    }
  }
  return out;
}

/** A well-formed value for a path parameter, so a request reaches the guard or the handler, not a 404. */
export function validPathValue(op: Pick<Operation, 'path'>, name: string): string {
  if (name === 'mobile_number') return randomMobile();
  if (name === 'user_id') return `user-${randomBytes(4).toString('hex')}`;
  if (name === 'id') return op.path.startsWith('/sessions') ? randomBytes(16).toString('hex') : randomUUID();
  return 'x';
}

/** The operation's path with every parameter filled by `value` (URL-encoded by the caller's choice). */
export function fillPath(op: Pick<Operation, 'path'>, value: (name: string) => string): string {
  return op.path.replace(/\{([^}]+)\}/g, (_, name: string) => value(name));
}

/** A concrete URL for the operation with well-formed path parameters. */
export function sampleUrl(op: Pick<Operation, 'path'>): string {
  return fillPath(op, (name) => encodeURIComponent(validPathValue(op, name)));
}

export interface ServedRoute {
  method: string;
  /** Fastify's form: /sessions/:id, /docs/*. */
  url: string;
}

/**
 * Every route Fastify serves, from its route tree (printRoutes), HEAD left out (Fastify adds it to each GET).
 * Lines look like `│   ├── /live (GET, HEAD)`: four characters per level, then the segment and its methods.
 */
export function servedRoutes(fastify: FastifyInstance): ServedRoute[] {
  const tree = fastify.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: ServedRoute[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim())) {
      if (method && method !== 'HEAD') routes.push({ method, url: stack.join('') });
    }
  }
  return routes;
}

/** /sessions/{id} → /sessions/:id, as Fastify writes it. */
export const fastifyUrl = (openApiPath: string) => openApiPath.replace(/\{([^}]+)\}/g, ':$1');
