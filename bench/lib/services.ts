// The processes a benchmark run needs: a private redis-server, the built API and worker, the baseline server.
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { freePort } from '../../test/helpers/redis-server';

export const ROOT = join(__dirname, '..', '..');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { freePort };

export async function waitUntil(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 30000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A redis-server of the run's own: INFO commandstats and total_reads_processed are server-wide, so a private
 * server keeps the per-request counts exact, and the million-key data sets never touch a shared server.
 */
export class PrivateRedis {
  private constructor(
    readonly port: number,
    private readonly proc: ChildProcess,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  static async start(): Promise<PrivateRedis> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'smsb-bench-redis-'));
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    const r = new PrivateRedis(port, proc, dir);
    const probe = new Redis(r.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined); // refused until the server listens: the loop below asks again
    await waitUntil(async () => {
      await probe.connect().catch(() => undefined);
      return (await probe.ping()) === 'PONG';
    }, 'the private redis-server');
    probe.disconnect();
    return r;
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGKILL');
    await new Promise((r) => this.proc.once('exit', r));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Service {
  name: string;
  port: number;
  proc: ChildProcess;
  /** Peak resident set size so far (VmHWM), in MB. */
  peakRssMb(): number;
  rssMb(): number;
  output(): string;
  stop(): Promise<void>;
}

function procStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Starts `node <script>` with env; resolves once `readyUrl` answers 200 (or after the first output line). */
export async function startNode(
  name: string,
  args: string[],
  env: Record<string, string>,
  port: number,
  readyPath: string | null,
): Promise<Service> {
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Keep only the tail (the worker logs a line per message), without copying it on every chunk.
  const chunks: Buffer[] = [];
  let kept = 0;
  const keep = (d: Buffer) => {
    chunks.push(d);
    kept += d.length;
    while (kept > 2_000_000 && chunks.length > 1) kept -= chunks.shift()!.length;
  };
  const out = () => Buffer.concat(chunks).toString();
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise((r) => proc.once('exit', r));
  const svc: Service = {
    name,
    port,
    proc,
    peakRssMb: () => procStatus(proc.pid!, 'VmHWM'),
    rssMb: () => procStatus(proc.pid!, 'VmRSS'),
    output: out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await Promise.race([exited, sleep(15000).then(() => proc.kill('SIGKILL'))]);
    },
  };
  if (readyPath) {
    await waitUntil(
      async () => {
        if (proc.exitCode !== null) throw new Error(`${name} exited: ${out().slice(-2000)}`);
        return (await fetch(`http://127.0.0.1:${port}${readyPath}`)).status === 200;
      },
      `${name} on :${port}${readyPath}`,
      60000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${out().slice(-3000)}`);
    });
  }
  return svc;
}

/** The NODE_OPTIONS the image runs the service with (the Dockerfile's `ENV NODE_OPTIONS=...`), so that the
 * benchmark measures the service as deployed. */
export function imageNodeOptions(): string {
  const line = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  if (!line) throw new Error('the Dockerfile sets no NODE_OPTIONS');
  return line[1];
}

/** Drops and creates the run's own Postgres database (the service migrates it at start). */
export async function recreateDatabase(databaseUrl: string): Promise<void> {
  const u = new URL(databaseUrl);
  const name = u.pathname.slice(1);
  u.pathname = '/postgres';
  const c = new Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await c.query(`CREATE DATABASE "${name}"`);
  } finally {
    await c.end();
  }
}
