// Connection settings, one function per kind of connection, all derived from AppConfig.redis.
import type { ConnectionOptions } from 'bullmq';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { Cluster, Redis } from 'ioredis';
import type { RedisConfig } from '../config/app-config';

/**
 * How a cluster client follows a slot that moves (resharding) or a master that fails over: MOVED at once
 * (the slot map is refreshed), ASK and TRYAGAIN (a multi-key command on a slot half migrated) again after
 * 50 ms, a failover or CLUSTERDOWN after 200 ms, 16 redirections at most; what still fails is a 503 with
 * Retry-After (redis-errors.ts). Two seconds to refresh the slot map.
 */
const clusterRedirections: Partial<ClusterOptions> = {
  maxRedirections: 16,
  retryDelayOnMoved: 0,
  retryDelayOnTryAgain: 50,
  retryDelayOnFailover: 200,
  retryDelayOnClusterDown: 200,
  slotsRefreshTimeout: 2000,
};

/** Capped exponential reconnect: 50 ms, 100 ms, … up to 2 s between tries, forever. */
export const reconnectDelay = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000);

function baseOptions(cfg: RedisConfig): RedisOptions {
  const common: RedisOptions = {
    connectTimeout: 2000,
    disconnectTimeout: 500,
    retryStrategy: reconnectDelay,
    // A node demoted to a replica under an open connection (a Sentinel or ElastiCache failover) answers every
    // write READONLY: the connection is dropped and made again, which reaches the new primary where the address
    // follows the failover (Sentinel-managed DNS, ElastiCache's endpoint). The command that met it fails as
    // Redis unavailable (redis-errors.ts); it is not sent again.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
    lazyConnect: true,
  };
  if (cfg.url) {
    const u = new URL(cfg.url);
    return {
      ...common,
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port ? Number(u.port) : 6379,
      username: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
      tls: u.protocol === 'rediss:' ? { servername: u.hostname } : undefined,
    };
  }
  return { ...common, host: cfg.host, port: cfg.port, password: cfg.password, db: cfg.db };
}

/** Where the service's Redis lives, without secrets, for logs and error messages. */
export function describeRedis(cfg: RedisConfig): string {
  if (cfg.clusterNodes.length)
    return `cluster ${cfg.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  const o = baseOptions(cfg);
  return `${o.tls ? 'rediss' : 'redis'}://${o.host}:${o.port}/${o.db ?? 0}`;
}

/**
 * The request-path client: no offline queue (a command while disconnected fails at once), a bounded command
 * timeout, and the key prefix applied to every key.
 */
export function createCommandClient(cfg: RedisConfig, name = 'smsb-command'): Redis | Cluster {
  const opts: RedisOptions = {
    ...baseOptions(cfg),
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: cfg.commandTimeoutMs,
    // Commands issued in the same turn of the event loop (many requests at once) go out in one write: the
    // socket write per command was the largest single cost of the Redis-only hot paths in profiles (session
    // get: 92-116 → 67 µs of CPU per request, against the baseline's ~50). ioredis 5.9 crashes the process
    // when queueing a command into an auto-pipeline throws (redis/ioredis#1931): a Lua command first defined
    // after that tick's pipeline was made. So scripts are defined on the client before traffic
    // (defineAllScripts; one declared later waits a tick, see redis-script.ts; tested in redis-core.e2e-spec.ts).
    enableAutoPipelining: true,
    keyPrefix: cfg.keyPrefix,
  };
  if (cfg.clusterNodes.length) {
    const { host: _h, port: _p, db: _d, keyPrefix, ...redisOptions } = opts;
    const clusterOptions: ClusterOptions = {
      redisOptions,
      keyPrefix,
      enableOfflineQueue: false,
      // On here too: ioredis 5.11.1 groups a command into the pipeline of the node serving its first key, and
      // the service's scripts (defineCommand, keys first, one slot each) are routed by that key. (A raw EVALSHA
      // would be routed by its sha, redis/ioredis#2109: the service sends none.)
      enableAutoPipelining: true,
      lazyConnect: true,
      clusterRetryStrategy: reconnectDelay,
      ...clusterRedirections,
    };
    return new Cluster(cfg.clusterNodes, clusterOptions);
  }
  return new Redis(opts);
}

/**
 * BullMQ connections. Workers block on Redis and must retry forever (maxRetriesPerRequest null, as BullMQ
 * requires); producers on the request path fail fast instead, so an outage is a quick error, not a hang.
 * BullMQ applies its own prefix, so these connections carry none.
 */
export function bullmqConnection(cfg: RedisConfig, kind: 'worker' | 'producer'): ConnectionOptions {
  const opts: RedisOptions = {
    ...baseOptions(cfg),
    lazyConnect: false,
    maxRetriesPerRequest: kind === 'worker' ? null : 1,
    enableOfflineQueue: kind === 'worker',
    connectionName: `smsb-bullmq-${kind}`,
  };
  if (cfg.clusterNodes.length) {
    const { host: _h, port: _p, db: _d, ...redisOptions } = opts;
    // BullMQ bundles its own ioredis; the instance is compatible at runtime. BullMQ does not close a
    // connection it was handed, so these are tracked and closed with the app (closeBullmqClusters).
    const cluster = new Cluster(cfg.clusterNodes, {
      redisOptions,
      enableOfflineQueue: kind === 'worker',
      clusterRetryStrategy: reconnectDelay,
      ...clusterRedirections,
    });
    cluster.on('error', () => undefined); // outages are reported once by the request-path client
    openClusters.add(cluster);
    return cluster as unknown as ConnectionOptions;
  }
  return opts;
}

const openClusters = new Set<Cluster>();

/** Closes the cluster connections handed to BullMQ (at shutdown, after its queues and workers). */
export function closeBullmqClusters(): void {
  for (const c of openClusters) c.disconnect();
  openClusters.clear();
}

/**
 * Each queue's hash tag, as BullMQ asks on a cluster (all of a queue's keys in one slot), chosen so the queues
 * spread over the masters of an evenly split three-master cluster: webhooks and mms on the first (slots 4418
 * and 5031), email on the second (10780), sms, the busiest, on the third (13018). (`{sms}` and `{mms}` would
 * share a master: 13018 and 10936.)
 */
export const QUEUE_TAGS: Record<string, string> = {
  sms: 'sms',
  mms: 'q-mms',
  email: 'email',
  webhooks: 'webhooks',
};

/** A queue's BullMQ key prefix: the service prefix, `q:` and the queue's tag, e.g. `smsb:q:{sms}:sms:…`. */
export function bullmqPrefix(cfg: RedisConfig, queue: string): string {
  return `${cfg.keyPrefix}q:{${QUEUE_TAGS[queue] ?? queue}}`;
}
