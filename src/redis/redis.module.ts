import { Global, Inject, Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AppConfig } from '../config/app-config';
import { CacheService } from './cache.service';
import { InvalidationBus } from './invalidation.service';
import { REDIS, RedisClient } from './redis.constants';
import { closeBullmqClusters, createCommandClient, describeRedis } from './redis-options';
import { defineAllScripts } from './redis-script';
import { RedisHealthIndicator } from './redis.health';

@Global()
@Module({
  imports: [TerminusModule],
  providers: [
    {
      provide: REDIS,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        const client = createCommandClient(config.redis);
        defineAllScripts(client);
        return client;
      },
    },
    CacheService,
    InvalidationBus,
    RedisHealthIndicator,
  ],
  exports: [REDIS, CacheService, InvalidationBus, RedisHealthIndicator],
})
export class RedisModule implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private down = false;

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    const where = describeRedis(this.config.redis);
    // One line when the connection is lost and one when it is back, not one per failed reconnect.
    this.redis.on('error', (err: Error) => {
      if (!this.down) this.logger.warn(`Redis at ${where} unreachable: ${err.message}`);
      this.down = true;
    });
    this.redis.on('ready', () => {
      if (this.down) this.logger.log(`Redis at ${where} is back`);
      this.down = false;
    });
    // Start even when Redis is down: readiness says so and the client keeps reconnecting in the background.
    await this.redis.connect().catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    // QUIT lets in-flight commands finish; a Redis that does not answer gets a second, then the socket closes.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.redis.quit().catch(() => undefined),
      new Promise((r) => (timer = setTimeout(r, 1000))),
    ]);
    clearTimeout(timer);
    this.redis.disconnect();
    closeBullmqClusters();
  }
}
