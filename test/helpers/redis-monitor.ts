// What the service sends to Redis, seen with MONITOR: on the one server, or on every master of the test
// cluster (the cluster project), so a test counts the same commands and round trips either way.
import { Redis } from 'ioredis';
import type { AppConfig } from '../../src/config/app-config';
import { sleep, waitFor } from './wait';

export interface SeenCommand {
  args: string[];
  /** The client's address, or `lua` for a command a script ran. */
  source: string;
  /** The server that saw it. */
  node: string;
}

export async function watchRedis(config: AppConfig, keep: (args: string[]) => boolean) {
  const servers = config.redis.clusterNodes.length
    ? await clusterMasters(config)
    : [config.redis.url ?? `redis://${config.redis.host}:${config.redis.port}`];
  const seen: SeenCommand[] = [];
  const connections = await Promise.all(
    servers.map(async (url) => {
      // A monitoring connection from the start (ioredis sends MONITOR as it connects), with its handlers on
      // before: a MONITOR line that arrives before ioredis marks the connection as monitoring is reported as
      // an error event ("command queue state error"), which must not go unhandled.
      const m = new Redis(url, { monitor: true, lazyConnect: true });
      m.on('error', () => undefined);
      m.on('monitor', (_time: string, args: string[], source: string) => {
        if (keep(args)) seen.push({ args, source, node: url });
      });
      await m.connect();
      await waitFor(async () => (m.status as string) === 'monitoring', 'monitoring', 5000, 10);
      return { m };
    }),
  );
  await sleep(100);
  return {
    seen,
    async stop(): Promise<SeenCommand[]> {
      await sleep(200);
      for (const c of connections) c.m.disconnect();
      return seen;
    },
  };
}

async function clusterMasters(config: AppConfig): Promise<string[]> {
  const { host, port } = config.redis.clusterNodes[0];
  const probe = new Redis({ host, port });
  try {
    const nodes = (await probe.call('CLUSTER', 'NODES')) as string;
    return nodes
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[2].includes('master') && !f[2].includes('fail'))
      .map((f) => `redis://${f[1].split('@')[0]}`);
  } finally {
    probe.disconnect();
  }
}
