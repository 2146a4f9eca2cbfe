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

/** helmet's defaults, with a CSP that lets Swagger UI (served from this origin) run. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze(
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
