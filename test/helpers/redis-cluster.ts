// A Redis Cluster of the test's own on free ports, removed afterwards: three masters, and optionally a replica
// of each. It can SIGKILL a master (a replica takes over after the node timeout) and move slots (resharding).
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis-server';
import { waitFor } from './wait';

const run = promisify(execFile);

export interface ClusterNode {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** The slot ranges it serves (masters). */
  slots: [number, number][];
}

export class RedisCluster {
  private constructor(
    readonly ports: number[],
    private readonly dir: string,
    private readonly processes: Map<number, ChildProcess>,
  ) {}

  get nodes(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  /**
   * `replicas`: one replica per master (6 nodes). `nodeTimeoutMs`: how long a master may be unreachable before
   * its replica is promoted.
   */
  static async start(opts: { replicas?: boolean; nodeTimeoutMs?: number } = {}): Promise<RedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'smsb-cluster-'));
    const count = opts.replicas ? 6 : 3;
    const ports: number[] = [];
    // The cluster bus listens on port + 10000: keep both in range and free.
    while (ports.length < count) {
      const p = await freePort();
      if (p < 55000 && !ports.includes(p)) ports.push(p);
    }
    const processes = new Map<number, ChildProcess>();
    for (const port of ports) {
      const proc = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          String(opts.nodeTimeoutMs ?? 2000),
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--daemonize',
          'no',
        ],
        { stdio: 'ignore', detached: false },
      );
      proc.unref();
      processes.set(port, proc);
    }
    const cluster = new RedisCluster(ports, dir, processes);
    await waitFor(async () => {
      for (const p of ports) await run('redis-cli', ['-p', String(p), 'ping']);
      return true;
    }, 'cluster nodes up');
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      opts.replicas ? '1' : '0',
      '--cluster-yes',
    ]);
    await cluster.untilOk();
    // A replica that has not synced with its master yet is not eligible to replace it: wait for every link.
    if (opts.replicas)
      await waitFor(
        async () => {
          const replicas = (await cluster.topology()).filter((n) => n.role === 'replica');
          if (replicas.length < 3) return false;
          for (const r of replicas)
            if (!(await cluster.cli(r.port, 'info', 'replication')).includes('master_link_status:up'))
              return false;
          return true;
        },
        'replicas in sync',
        20_000,
      );
    return cluster;
  }

  /** Until every live node says the cluster is ok and agrees on the masters. */
  async untilOk(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        for (const p of this.livePorts())
          if (!(await this.cli(p, 'cluster', 'info')).includes('cluster_state:ok')) return false;
        return true;
      },
      'cluster ok',
      timeoutMs,
    );
  }

  /** The nodes as the given (live) node sees them. */
  async topology(from = this.livePorts()[0]): Promise<ClusterNode[]> {
    const text = await this.cli(from, 'cluster', 'nodes');
    return text
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .filter((f) => !f[2].includes('fail'))
      .map((f) => ({
        id: f[0],
        port: Number(f[1].split(':')[1].split('@')[0]),
        role: f[2].includes('master') ? ('master' as const) : ('replica' as const),
        slots: f
          .slice(8)
          .filter((s) => /^\d/.test(s))
          .map((s) => s.split('-').map(Number) as [number, number])
          .map(([a, b]) => [a, b ?? a] as [number, number]),
      }));
  }

  async masters(): Promise<ClusterNode[]> {
    return (await this.topology()).filter((n) => n.role === 'master' && n.slots.length);
  }

  /** SIGKILLs a node (no shutdown, no save): its replica, if any, is promoted after the node timeout. */
  kill(port: number): void {
    this.processes.get(port)?.kill('SIGKILL');
    this.processes.delete(port);
  }

  /** Moves `slots` slots, with their keys, from one master to another (redis-cli --cluster reshard). */
  async reshard(fromId: string, toId: string, slots: number): Promise<void> {
    await run('redis-cli', [
      '--cluster',
      'reshard',
      `127.0.0.1:${this.livePorts()[0]}`,
      '--cluster-from',
      fromId,
      '--cluster-to',
      toId,
      '--cluster-slots',
      String(slots),
      '--cluster-yes',
      '--cluster-pipeline',
      '10',
    ]);
  }

  async stop(): Promise<void> {
    for (const p of this.livePorts())
      await run('redis-cli', ['-p', String(p), 'shutdown', 'nosave']).catch(() => undefined);
    for (const proc of this.processes.values()) proc.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private livePorts(): number[] {
    return this.ports.filter((p) => this.processes.has(p));
  }

  private async cli(port: number, ...args: string[]): Promise<string> {
    return (await run('redis-cli', ['-p', String(port), ...args])).stdout;
  }
}
