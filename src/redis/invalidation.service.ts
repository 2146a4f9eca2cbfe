import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { AppConfig } from '../config/app-config';
import { REDIS, RedisClient } from './redis.constants';
import { RedisKeys } from './redis-keys';

/**
 * Tells every replica that something it caches in memory has changed (Redis pub/sub). Handlers also run
 * after a reconnect, since messages sent while a replica was cut off are lost.
 */
@Injectable()
export class InvalidationBus implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('InvalidationBus');
  private readonly handlers = new Map<string, (() => void | Promise<void>)[]>();
  private subscriber?: Redis;
  private readonly channel: string;

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    config: AppConfig,
  ) {
    // Pub/sub channels are not prefixed by ioredis: prefix by hand so deployments sharing a Redis stay apart.
    this.channel = config.redis.keyPrefix + RedisKeys.cacheInvalidationChannel();
  }

  on(topic: string, handler: () => void | Promise<void>): void {
    this.handlers.set(topic, [...(this.handlers.get(topic) ?? []), handler]);
  }

  async publish(topic: string): Promise<void> {
    await this.redis.publish(this.channel, topic);
  }

  async onModuleInit(): Promise<void> {
    const sub = (this.subscriber = (this.redis as Redis).duplicate({
      enableOfflineQueue: true,
      lazyConnect: true,
    }));
    sub.on('error', () => undefined); // the main client reports outages
    let connectedBefore = false;
    sub.on('ready', () => {
      if (connectedBefore) for (const topic of this.handlers.keys()) void this.run(topic);
      connectedBefore = true;
    });
    sub.on('message', (_channel: string, topic: string) => void this.run(topic));
    await sub.connect().catch(() => undefined);
    await sub.subscribe(this.channel).catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    this.subscriber?.disconnect();
  }

  private async run(topic: string): Promise<void> {
    for (const handler of this.handlers.get(topic) ?? []) {
      try {
        await handler();
      } catch (err) {
        this.logger.warn(`refreshing ${topic} failed: ${(err as Error).message}`);
      }
    }
  }
}
