// A three-node Redis Cluster of the test's own (no replicas), on free ports, removed afterwards.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis-server';
import { waitFor } from './wait';

const run = promisify(execFile);

export class RedisCluster {
  private constructor(
    readonly ports: number[],
    private readonly dir: string,
  ) {}

  get nodes(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  static async start(): Promise<RedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'smsb-cluster-'));
    const ports: number[] = [];
    // The cluster bus listens on port + 10000: keep both in range and free.
    while (ports.length < 3) {
      const p = await freePort();
      if (p < 55000 && !ports.includes(p)) ports.push(p);
    }
    for (const port of ports) {
      spawn(
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
      ).unref();
    }
    const cluster = new RedisCluster(ports, dir);
    await waitFor(async () => {
      for (const p of ports) await run('redis-cli', ['-p', String(p), 'ping']);
      return true;
    }, 'cluster nodes up');
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await waitFor(
      async () =>
        (await run('redis-cli', ['-p', String(ports[0]), 'cluster', 'info'])).stdout.includes(
          'cluster_state:ok',
        ),
      'cluster ok',
    );
    return cluster;
  }

  async stop(): Promise<void> {
    for (const p of this.ports)
      await run('redis-cli', ['-p', String(p), 'shutdown', 'nosave']).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
