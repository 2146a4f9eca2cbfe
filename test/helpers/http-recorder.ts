// A local HTTP server that records what is POSTed to it (clients' status_callback URLs in tests).
import { createServer, IncomingHttpHeaders, Server } from 'node:http';

export interface Recorded {
  headers: IncomingHttpHeaders;
  body: string;
}

export class HttpRecorder {
  readonly received: Recorded[] = [];
  failNext = 0;
  private server!: Server;
  port = 0;

  static async start(): Promise<HttpRecorder> {
    const r = new HttpRecorder();
    r.server = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      if (r.failNext > 0) {
        r.failNext--;
        res.writeHead(500).end();
        return;
      }
      r.received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
    await new Promise<void>((ok) => r.server.listen(0, '127.0.0.1', ok));
    r.port = (r.server.address() as { port: number }).port;
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/callback`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((ok) => this.server.close(ok));
  }
}
