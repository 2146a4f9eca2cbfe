// A local HTTP server that plays an hCaptcha / Cloudflare Turnstile siteverify endpoint: a form POST of
// secret, response and remoteip, answered {"success": bool, "error-codes": [...]}. Tokens it was told about
// pass once (as the real services' do); it records every request and can be told to fail.
import { createServer, IncomingMessage, Server } from 'node:http';

export interface CaptchaRequest {
  path: string;
  contentType: string;
  form: Record<string, string>;
}

export class CaptchaStandIn {
  static readonly SECRET = '0x0000000000000000000000000000000000000000';
  readonly requests: CaptchaRequest[] = [];
  private readonly valid = new Set<string>();
  /** `error`: answer 500; `hang`: never answer; `garbage`: answer 200 with a body that is not JSON. */
  fault: 'error' | 'hang' | 'garbage' | null = null;
  private server!: Server;
  port = 0;

  static async start(): Promise<CaptchaStandIn> {
    const s = new CaptchaStandIn();
    s.server = createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    s.port = (s.server.address() as { port: number }).port;
    return s;
  }

  get verifyUrl(): string {
    return `http://127.0.0.1:${this.port}/siteverify`;
  }

  /** A token that passes once. */
  issue(token = `tok-${Math.random().toString(36).slice(2)}`): string {
    this.valid.add(token);
    return token;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    const form = Object.fromEntries(new URLSearchParams(body));
    this.requests.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', form });
    if (this.fault === 'hang') return;
    if (this.fault === 'error') {
      res.writeHead(500).end('oops');
      return;
    }
    if (this.fault === 'garbage') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
      return;
    }
    const errors: string[] = [];
    if (req.method !== 'POST' || req.url !== '/siteverify') errors.push('bad-request');
    if (form.secret !== CaptchaStandIn.SECRET) errors.push('invalid-input-secret');
    if (!form.response) errors.push('missing-input-response');
    else if (!this.valid.delete(form.response)) errors.push('invalid-input-response');
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify(errors.length ? { success: false, 'error-codes': errors } : { success: true }));
  }
}
