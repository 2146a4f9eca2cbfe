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
    operationIdFactory: (c, m) => `${c.replace(/Controller$/, '')}_${m}`,
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
  return document;
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
