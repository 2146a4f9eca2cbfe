import type { RedisCluster } from './helpers/redis-cluster';

export default async function clusterTeardown(): Promise<void> {
  await (globalThis as { smsbTestCluster?: RedisCluster }).smsbTestCluster?.stop();
}
