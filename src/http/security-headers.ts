// Security headers from helmet, worked out once. helmet's middleware, with the options used here (no CSP
// nonces), sets the same headers on every answer; running it per request cost a setHeader call per header
// on the raw response, which also moved Node onto its slower header path for the answer's own headers.
// The headers are read from one run of the middleware, so they stay exactly helmet's.
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** What `middleware` sets on an answer, as lower-case name → value; throws if it does not finish at once. */
export function headersSetBy(middleware: Middleware): Record<string, string> {
  const set: Record<string, string> = {};
  const res = {
    setHeader(name: string, value: string | number | readonly string[]) {
      set[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
      return res;
    },
    removeHeader(name: string) {
      delete set[name.toLowerCase()];
    },
    getHeader: (name: string) => set[name.toLowerCase()],
  };
  let error: unknown;
  let called = false;
  middleware(
    { headers: {}, method: 'GET', url: '/' } as IncomingMessage,
    res as unknown as ServerResponse,
    (e) => {
      called = true;
      error = e;
    },
  );
  if (!called || error) throw new Error('the security-header middleware did not finish at once');
  return set;
}

/**
 * Every answer's headers: the set OWASP's REST Security Cheat Sheet gives for API answers. A JSON answer is not
 * a document a browser renders, so the rest of helmet's set (a script policy, cross-origin isolation, ...) does
 * nothing for it; sending all of it made each small answer about five times its size (870 bytes for `/health/live`
 * against 190), which clients pay in bandwidth and parsing.
 */
export const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'content-security-policy': "frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
});

/** A page's headers (Swagger UI, the queue dashboard): helmet's defaults, with a CSP that lets Swagger UI run. */
export const DOCUMENT_HEADERS: Readonly<Record<string, string>> = Object.freeze(
  headersSetBy(
    helmet({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          scriptSrc: ["'self'"],
          // No upgrade-insecure-requests (helmet's default): the service listens on plain HTTP, and a browser
          // that opens /docs by a host name other than localhost would fetch Swagger UI's own scripts over
          // HTTPS and show a blank page. Behind TLS every asset is same-origin HTTPS anyway.
          upgradeInsecureRequests: null,
        },
      },
    }) as Middleware,
  ),
);

const DOCUMENT_ENTRIES = Object.entries(DOCUMENT_HEADERS);

/**
 * An HTML answer gets the page headers on top of the API ones. A route that set its own policy (the queue
 * dashboard runs inline scripts) keeps it; a page may be framed by its own origin (helmet's SAMEORIGIN).
 */
export function addDocumentHeaders(reply: {
  getHeader(name: string): unknown;
  header(name: string, value: string): unknown;
}): void {
  const type = reply.getHeader('content-type');
  if (typeof type !== 'string' || !type.startsWith('text/html')) return;
  const ownPolicy = reply.getHeader('content-security-policy') !== API_HEADERS['content-security-policy'];
  for (const [name, value] of DOCUMENT_ENTRIES) {
    if (name === 'content-security-policy' && ownPolicy) continue;
    reply.header(name, value);
  }
  if (reply.getHeader('cache-control') === API_HEADERS['cache-control'])
    reply.header('cache-control', 'no-cache');
}
