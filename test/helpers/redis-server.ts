// A redis-server of the test's own, on its own port, that the test may stop and start (never the shared one).
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  private proc?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'smsb-redis-'));

  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
  ) {}

  /** `port`: a fixed one (else any free port). */
  static async start(opts: { aof?: boolean; args?: string[]; port?: number } = {}): Promise<RedisServer> {
    const extra = [
      ...(opts.aof ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
      ...(opts.args ?? []),
    ];
    const server = new RedisServer(opts.port ?? (await freePort()), extra);
    await server.startProcess();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Starts the server process; a no-op while it runs (a second one could not bind, and the first would leak). */
  async startProcess(): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) return;
    this.proc = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--dir',
        this.dir,
        '--maxmemory-policy',
        'noeviction',
        ...this.extraArgs,
      ],
      { stdio: 'ignore' },
    );
    await this.waitFor(true);
  }

  /** Runs one command on this server (its own connection) and returns the reply. */
  async command(name: string, ...args: (string | number)[]): Promise<unknown> {
    const r = new Redis({ port: this.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    try {
      return await r.call(name, ...args);
    } finally {
      r.disconnect();
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
    this.proc = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitFor(up: boolean, timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const r = new Redis({
        port: this.port,
        host: '127.0.0.1',
        lazyConnect: true,
        connectTimeout: 300,
        disconnectTimeout: 50,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      r.on('error', () => undefined);
      const ok = await r
        .connect()
        .then(() => r.ping())
        .then(() => true)
        .catch(() => false);
      r.disconnect();
      if (ok === up) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error(`redis-server on ${this.port} did not become ${up ? 'ready' : 'stopped'}`);
  }
}
