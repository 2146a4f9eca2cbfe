import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

// No `servers`: Swagger UI then sends "Try it out" to the origin the page came from. PUBLIC_BASE_URL is the URL
// providers call back (often a public tunnel or proxy); from a page opened any other way, requests to it are
// cross-origin, refused by the CSP's connect-src, and show as "Failed to fetch".
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('sms-bridge')
    .setDescription(
      'Proves people hold a phone number (reverse-SMS onboarding and OTP), talks to them afterwards ' +
        '(queued SMS, MMS and e-mail tracked to delivery) and keeps their sessions. Client endpoints need an ' +
        'API key (X-API-Key or Authorization: Bearer); /admin/* needs an admin key; errors are ' +
        '{"statusCode", "error", "code", "message"}.',
    )
    .setVersion('1')
    .addApiKey(
      { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'A key from API_KEYS' },
      'api-key',
    )
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'An end-user access token (JWT)' },
      'access-token',
    )
    .addSecurityRequirements('api-key');
  const document = SwaggerModule.createDocument(app, builder.build(), {
    // Stable, camel-case names a generated client uses as method names: the controller's area, then the action
    // (otpSend, sessionGet, onboardingAdminList).
    operationIdFactory: (c, m) => {
      const area = c.replace(/Controller$/, '');
      return `${area[0].toLowerCase()}${area.slice(1)}${m[0].toUpperCase()}${m.slice(1)}`;
    },
  });
  // The API key is the default; say so where it does not apply: probes and provider webhooks need no key,
  // end-user routes take the access token instead.
  for (const [path, item] of Object.entries(document.paths)) {
    const security = /^\/(health|webhooks)\b/.test(path)
      ? []
      : /^\/auth\//.test(path)
        ? [{ 'access-token': [] }]
        : undefined;
    if (!security) continue;
    for (const op of Object.values(item)) {
      if (op && typeof op === 'object' && 'responses' in op)
        (op as { security?: unknown }).security = security;
    }
  }
  addStandardErrors(document);
  return document;
}

type Op = {
  security?: unknown[];
  requestBody?: unknown;
  parameters?: unknown[];
  responses: Record<string, unknown>;
};
const ERROR = { $ref: '#/components/schemas/ErrorDto' };
const error = (description: string, headers?: Record<string, unknown>) => ({
  description,
  content: { 'application/json': { schema: ERROR } },
  ...(headers && { headers }),
});
const RETRY_AFTER = { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } } };

/**
 * The answers any operation of a kind can give, declared once here rather than on each controller: a guarded
 * route's 401 and 403 (a key of another scope), 400 wherever input is validated (an undecodable path included), a
 * body route's 413, a path parameter's 414, 503 wherever
 * Redis or Postgres is reached, and the 500 nobody expects. An operation's own declaration of one of them (with a sharper description) is kept.
 */
function addStandardErrors(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    for (const op of Object.values(item) as Op[]) {
      if (!op || typeof op !== 'object' || !('responses' in op)) continue;
      const open = Array.isArray(op.security) && op.security.length === 0;
      const add = (status: number, value: unknown) => (op.responses[String(status)] ??= value);
      if (!open) {
        add(401, error('no API key (or access token), or one that is not valid'));
        if (!path.startsWith('/auth/'))
          add(403, error('a key of another scope (client, admin, SMS gateway), or one not allowed here'));
        add(503, error('Redis or Postgres cannot be reached right now', RETRY_AFTER));
      }
      if (op.requestBody || op.parameters?.length) add(400, error('invalid body, path or query parameters'));
      if (op.requestBody) add(413, error('the body is larger than BODY_LIMIT_BYTES'));
      // Refused before the route (and its key check) runs: a path parameter over 200 characters.
      if (op.parameters?.some((p) => (p as { in?: string }).in === 'path'))
        add(414, error('a path parameter is longer than 200 characters'));
      // Never expected; declared so a generated client knows its shape (no stack trace, ever).
      add(500, error('an unexpected error on the service’s side'));
    }
  }
}

/** Swagger UI at /docs and the OpenAPI 3 document at /docs-json. */
export function setupSwagger(app: INestApplication): void {
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup('docs', app, () => (document ??= buildOpenApiDocument(app)), {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    customSiteTitle: 'sms-bridge API',
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
  });
}
