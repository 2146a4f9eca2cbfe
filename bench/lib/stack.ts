// What a run of `npm run bench` stands on: a private redis-server, a fresh database, the built API (as
// deployed), the bare baseline and, for the last scenarios, a worker. `close()` stops what was started.
import Redis from 'ioredis';
import { Pool } from 'pg';
import { allNumberBuckets, RedisKeys } from '../../src/redis/redis-keys';
import { apiEnv, DATABASE_URL, KEY, log, PREFIX, SECRETS } from './context';
import {
  freePort,
  imageNodeOptions,
  PrivateRedis,
  recreateDatabase,
  Service,
  startNode,
  waitUntil,
} from './services';

export class Stack {
  /** Every service started, stopped in reverse order by close(). */
  private readonly services: Service[] = [];
  api!: Service;
  baseline!: Service;
  apiPort = 0;
  basePort = 0;

  private constructor(
    readonly redisServer: PrivateRedis,
    /** Unprefixed: INFO, MONITOR, MEMORY USAGE, SCAN. */
    readonly redis: Redis,
    /** With the service's key prefix, to read and seed the service's keys. */
    readonly prefixed: Redis,
    readonly db: Pool,
  ) {}

  /** The private redis-server and a fresh database (dropped and recreated). */
  static async open(): Promise<Stack> {
    const redisServer = await PrivateRedis.start();
    const redis = new Redis(redisServer.url);
    const prefixed = new Redis(redisServer.url, { keyPrefix: PREFIX });
    await recreateDatabase(DATABASE_URL);
    return new Stack(redisServer, redis, prefixed, new Pool({ connectionString: DATABASE_URL, max: 4 }));
  }

  /** The service's environment (lib/context.ts), on the private Redis and the run's database. */
  get serviceEnv(): Record<string, string> {
    return {
      ...apiEnv(this.redisServer.url, imageNodeOptions()),
      REDIS_KEY_PREFIX: PREFIX,
      DATABASE_URL,
      // Messages go through a route of two providers (issue 18): the router's cost is in every send; the
      // console answers, so MSG91 (configured, never reached) stays the unused second.
      SMS_ROUTES: '*=console>msg91',
      MSG91_AUTH_KEY: 'bench-msg91-auth-key',
      MSG91_TEMPLATE_ID: 'bench-template',
      MSG91_BASE_URL: 'http://127.0.0.1:9',
      MSG91_WEBHOOK_TOKEN: 'bench-msg91-webhook-token-0123456789',
    };
  }

  /** The API (`dist/main.js`) and the baseline (`bench/baseline/server.ts`), each ready before it returns. */
  async startApiAndBaseline(): Promise<void> {
    this.apiPort = await freePort();
    this.api = this.track(
      await startNode(
        'api',
        ['dist/main.js'],
        { ...this.serviceEnv, PORT: String(this.apiPort) },
        this.apiPort,
        '/health/ready',
      ),
    );
    this.basePort = await freePort();
    this.baseline = this.track(
      await startNode(
        'baseline',
        ['-r', 'ts-node/register/transpile-only', 'bench/baseline/server.ts'],
        {
          // The same runtime flags as the API (the image's heap size and V8 thread pool): the gap measures code.
          NODE_OPTIONS: this.serviceEnv.NODE_OPTIONS,
          ...SECRETS,
          PORT: String(this.basePort),
          REDIS_URL: this.redisServer.url,
          REDIS_KEY_PREFIX: PREFIX,
          DATABASE_URL,
          API_KEY: KEY,
        },
        this.basePort,
        '/health/live',
      ),
    );
    log(`api :${this.apiPort}, baseline :${this.basePort}, redis :${this.redisServer.port}`);
  }

  /** A worker (`dist/worker.js`, the route console>msg91) with 1 s job intervals; returns once it has beaten. */
  async startWorker(): Promise<Service> {
    const workerEnv = {
      ...this.serviceEnv,
      APP_ROLE: 'worker',
      PORT: String(await freePort()),
      MONITOR_LOG_INTERVAL: '1',
      ABUSE_CHECK_INTERVAL: '1',
      // Fast enough that the provider limit is not what the scenario measures (default: 100/s).
      SMS_RATE_LIMIT_PER_SECOND: '5000',
    };
    // The register runs' backlog is not this scenario's subject.
    await Promise.all(allNumberBuckets().map((b) => this.prefixed.del(RedisKeys.auditQueue(b))));
    const worker = this.track(await startNode('worker', ['dist/worker.js'], workerEnv, 0, null));
    await waitUntil(
      async () => (await this.prefixed.exists(RedisKeys.workerHeartbeat('worker'))) === 1,
      'the worker heartbeat',
    );
    return worker;
  }

  async close(): Promise<void> {
    for (const svc of this.services.reverse()) await svc.stop();
    await this.db.end();
    this.redis.disconnect();
    this.prefixed.disconnect();
    await this.redisServer.stop();
  }

  private track(svc: Service): Service {
    this.services.push(svc);
    return svc;
  }
}
