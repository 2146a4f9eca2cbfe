import type { Cluster, Redis } from 'ioredis';

/** Injection token of the request-path Redis client (fails fast when Redis is down). */
export const REDIS = Symbol('REDIS');
export type RedisClient = Redis | Cluster;
