// A local HTTP server that plays Twilio's Messages API: records every request, answers with an SM… sid, and
// can be told to fail (429, 500, or a permanent error code), to drop the connection after reading a request,
// to never answer, or to answer slowly.
import { randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server } from 'node:http';
import twilio from 'twilio';

export interface TwilioRequest {
  accountSid: string;
  auth: string;
  form: Record<string, string | string[]>;
  sid?: string;
}

interface Failure {
  status: number;
  code?: number;
  /**
   * `drop`: destroy the connection after reading the request; `hang`: never answer; `cut`: send the status
   * line and the start of a body that holds a sid, then reset (a proxy or a connection failing mid-answer).
   */
  fault?: 'drop' | 'hang' | 'cut';
  /** Answer with this raw body instead of JSON. */
  raw?: string;
  /** Extra answer headers (a redirect's Location). */
  headers?: Record<string, string>;
  /** Answer this late (the failure's own delay; `delayMs` applies to every answer). */
  delayMs?: number;
}

export class TwilioStandIn {
  readonly requests: TwilioRequest[] = [];
  private failures: (Failure & { to?: string })[] = [];
  delayMs = 0;
  private server!: Server;
  port = 0;

  static readonly ACCOUNT_SID = 'AC00000000000000000000000000000001';
  static readonly AUTH_TOKEN = 'test-twilio-auth-token';

  static async start(): Promise<TwilioStandIn> {
    const s = new TwilioStandIn();
    s.server = createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    s.port = (s.server.address() as { port: number }).port;
    return s;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The next `times` sends (to `to` only, when given) fail with this answer. */
  failNext(times: number, failure: Failure, to?: string): void {
    for (let i = 0; i < times; i++) this.failures.push({ ...failure, to });
  }

  to(number: string): TwilioRequest[] {
    return this.requests.filter((r) => r.form.To === number || r.form.To === `whatsapp:${number}`);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(req.url ?? '');
    let raw = '';
    for await (const chunk of req) raw += chunk;
    if (req.method !== 'POST' || !m) {
      res.writeHead(404).end();
      return;
    }
    const params = new URLSearchParams(raw);
    const form: Record<string, string | string[]> = {};
    for (const key of new Set(params.keys())) {
      const all = params.getAll(key);
      form[key] = all.length > 1 ? all : all[0];
    }
    const request: TwilioRequest = { accountSid: m[1], auth: req.headers.authorization ?? '', form };
    this.requests.push(request);
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const at = this.failures.findIndex((f) => !f.to || form.To === f.to || form.To === `whatsapp:${f.to}`);
    const failure = at < 0 ? undefined : this.failures.splice(at, 1)[0];
    if (failure?.delayMs) await new Promise((r) => setTimeout(r, failure.delayMs));
    if (failure?.fault === 'drop') {
      req.socket.destroy();
      return;
    }
    for (const [name, value] of Object.entries(failure?.headers ?? {})) res.setHeader(name, value);
    if (failure?.fault === 'hang') return;
    if (failure?.fault === 'cut') {
      res.writeHead(failure.status, { 'content-type': 'application/json', 'content-length': '200' });
      res.write('{"sid": "SM');
      setTimeout(() => req.socket.resetAndDestroy(), 20);
      return;
    }
    res.setHeader('content-type', 'application/json');
    if (failure?.raw !== undefined) {
      res.writeHead(failure.status).end(failure.raw);
      return;
    }
    if (failure) {
      res
        .writeHead(failure.status)
        .end(JSON.stringify({ code: failure.code, message: 'stand-in failure', status: failure.status }));
      return;
    }
    request.sid = `SM${randomBytes(16).toString('hex')}`;
    res.writeHead(201).end(JSON.stringify({ sid: request.sid, status: 'queued' }));
  }
}

/** Form parameters and the X-Twilio-Signature for them, made with the official twilio package. */
export function signedTwilioForm(
  url: string,
  params: Record<string, string>,
  token = TwilioStandIn.AUTH_TOKEN,
) {
  return {
    payload: new URLSearchParams(params).toString(),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilio.getExpectedTwilioSignature(token, url, params),
    },
  };
}
