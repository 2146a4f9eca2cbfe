// Before the `cluster` project's suites (jest.config.js): a Redis Cluster of 3 masters and 3 replicas of the
// run's own, which test-env.ts hands to every app those suites start (REDIS_CLUSTER_NODES, a plain prefix).
import { RedisCluster } from './helpers/redis-cluster';

export default async function clusterSetup(): Promise<void> {
  const cluster = await RedisCluster.start({ replicas: true });
  process.env.SMSB_TEST_CLUSTER_NODES = cluster.nodes;
  (globalThis as { smsbTestCluster?: RedisCluster }).smsbTestCluster = cluster;
}
