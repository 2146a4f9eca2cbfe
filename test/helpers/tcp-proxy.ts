// A TCP proxy of the test's own in front of a real server (Postgres here), that the test can cut and restore:
// cutting closes the listener and destroys every open connection, so the service sees exactly what a network
// outage or a dead server looks like (connections dropped mid-use, then ECONNREFUSED), without touching the
// shared server itself.
import { createConnection, createServer, Server, Socket } from 'node:net';
import { freePort } from './redis-server';

export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  /** While paused, bytes in both directions are held (a stalled network: commands time out), then delivered. */
  private held: { to: Socket; chunk: Buffer }[] | null = null;
  /** Upstream connections whose client closed while paused: they get what was held, then end (see resume). */
  private closing: Socket[] = [];
  /** Connections accepted since start (a proof that the service really goes through the proxy). */
  accepted = 0;

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target);
    await proxy.restore();
    return proxy;
  }

  get up(): boolean {
    return !!this.server;
  }

  /** Listens again on the same port: new connections reach the target. */
  async restore(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => {
      this.accepted++;
      const upstream = createConnection(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (chunk: Buffer) => (this.held ? this.held.push({ to, chunk }) : to.write(chunk)));
      forward(client, upstream);
      forward(upstream, client);
      // A client that dies while paused (a process killed mid-request) still had its bytes on the wire: the
      // server gets them on resume, then the connection ends, as a real network would deliver them.
      client.on('close', () => (this.held ? this.closing.push(upstream) : upstream.destroy()));
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Stops listening and drops every open connection. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.held = null;
    this.closing = [];
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise((r) => server.close(r));
  }

  /** Holds every byte from now on, in both directions, without closing anything. */
  pause(): void {
    this.held ??= [];
  }

  /** Delivers what was held, in order, and forwards again. */
  resume(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const { to, chunk } of held) if (!to.destroyed) to.write(chunk);
    for (const s of this.closing.splice(0)) s.end();
  }

  /** Whether bytes held so far (while paused) contain this text (a statement waiting to reach the server). */
  holding(text: string): boolean {
    return (this.held ?? []).some(({ chunk }) => chunk.toString('latin1').includes(text));
  }

  stop(): Promise<void> {
    return this.cut();
  }
}
