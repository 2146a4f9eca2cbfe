// A local HTTP server that plays MSG91's Flow API (POST /api/v5/flow): records every request, answers
// {"type": "success", "message": <request id>}, and can be told to fail (a status and body of its choice), to
// drop the connection after reading a request, or to answer late. It also writes delivery-report bodies the way
// MSG91's webhooks send them, for a test to post to the service.
import { randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';

export interface Msg91Request {
  authkey: string;
  body: {
    template_id?: string;
    sender?: string;
    short_url?: string;
    unicode?: number;
    recipients?: Record<string, string>[];
  };
  /** The request id given to it (also before the answer is sent, when it is delayed). */
  requestId?: string;
}

interface Failure {
  status?: number;
  /** The answer's body (JSON unless raw). */
  body?: object;
  raw?: string;
  /** `drop`: destroy the connection after reading the request. */
  fault?: 'drop';
  delayMs?: number;
}

export class Msg91StandIn {
  static readonly AUTH_KEY = 'test-msg91-auth-key';
  static readonly TEMPLATE_ID = '64f0c0ffee0123456789abcd';

  readonly requests: Msg91Request[] = [];
  private failures: (Failure & { to?: string })[] = [];
  private server!: Server;
  port = 0;

  static async start(): Promise<Msg91StandIn> {
    const s = new Msg91StandIn();
    s.server = createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    s.port = (s.server.address() as { port: number }).port;
    return s;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The next `times` sends (to `to` only, when given: E.164) meet this failure. */
  failNext(times: number, failure: Failure, to?: string): void {
    for (let i = 0; i < times; i++) this.failures.push({ ...failure, to: to?.replace(/^\+/, '') });
  }

  to(number: string): Msg91Request[] {
    return this.requests.filter((r) => r.body.recipients?.[0]?.mobiles === number.replace(/^\+/, ''));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    if (req.method !== 'POST' || req.url !== '/api/v5/flow') {
      res.writeHead(404).end();
      return;
    }
    const request: Msg91Request = { authkey: String(req.headers.authkey ?? ''), body: JSON.parse(raw) };
    this.requests.push(request);
    const to = request.body.recipients?.[0]?.mobiles;
    const at = this.failures.findIndex((f) => !f.to || f.to === to);
    const failure = at < 0 ? undefined : this.failures.splice(at, 1)[0];
    if (failure?.fault === 'drop') {
      req.socket.destroy();
      return;
    }
    res.setHeader('content-type', 'application/json');
    if (request.authkey !== Msg91StandIn.AUTH_KEY) {
      res
        .writeHead(401)
        .end(JSON.stringify({ type: 'error', message: 'Authentication failure', code: '401' }));
      return;
    }
    if (failure?.status) {
      res.writeHead(failure.status).end(failure.raw ?? JSON.stringify(failure.body ?? { type: 'error' }));
      return;
    }
    request.requestId = randomBytes(12).toString('hex');
    if (failure?.delayMs) await new Promise((r) => setTimeout(r, failure.delayMs));
    res.writeHead(200).end(JSON.stringify({ type: 'success', message: request.requestId }));
  }
}

/** MSG91's SMS webhook (v2): form-encoded, one field `data` holding a JSON string of requests and their reports. */
export function msg91FormReport(requestId: string, status: string, number = '919000000000'): string {
  const data = [
    {
      senderId: 'SMSBRG',
      requestId,
      report: [
        { date: '2026-12-04 10:06:20', number, status, desc: status === '1' ? 'DELIVERED' : 'FAILED' },
      ],
      userId: '27000',
      campaignName: 'API',
    },
  ];
  return new URLSearchParams({ data: JSON.stringify(data) }).toString();
}

/** MSG91's JSON webhook (v3): one flat report. */
export function msg91JsonReport(requestId: string, status: string, number = '919000000000'): object {
  return { date: '2026-12-04 09:58:16', number, senderId: 'SMSBRG', requestId, status, desc: 'FAILED' };
}
