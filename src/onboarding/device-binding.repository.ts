// Redis access of device binding: a device's keys ({d:<digest>}) and its tokens (in their bound number's bucket).
import { Inject, Injectable } from '@nestjs/common';
import { execAll } from '../redis/exec-all';
import { REDIS, RedisClient } from '../redis/redis.constants';
import { numberOffset, RedisKeys } from '../redis/redis-keys';
import type { AuditEvent } from './audit-event';
import {
  burnTokenScript,
  consumeTokenScript,
  deviceVerifiedScript,
  flagDeviceScript,
  reserveDeviceTokenScript,
} from './bind.scripts';
import { boundToken } from './bind-token';
import type { BoundToken } from './checks';

/** A token as Redis knows it: its bucket (the bound number's) and its digest; `ref` is `<bucket>:<digest>`. */
export interface TokenId {
  bucket: number;
  digest: string;
}

export const tokenKey = (t: TokenId) => RedisKeys.bindToken(t.bucket, t.digest);
export const tokenRef = (t: TokenId) => `${t.bucket}:${t.digest}`;
const fromRef = (ref: string): TokenId => {
  const [bucket, digest] = ref.split(':');
  return { bucket: Number(bucket), digest };
};

export type Reservation =
  { outcome: 'ok'; count: number } | { outcome: 'limit' | 'flagged'; retryAfterMs: number };

export interface DeviceSnapshot {
  flagged: boolean;
  tokens: number;
  pending: boolean;
  verified: boolean;
}

@Injectable()
export class DeviceBindingRepository {
  constructor(@Inject(REDIS) private readonly redis: RedisClient) {}

  /** One round trip: the device's flag, its 24 h count (exact under concurrency), its pending token. */
  async reserve(
    device: string,
    token: TokenId,
    limit: number,
    windowSec: number,
    ttlSec: number,
  ): Promise<Reservation> {
    const [outcome, n] = await reserveDeviceTokenScript.run(
      this.redis,
      [
        RedisKeys.deviceFlag(device),
        RedisKeys.deviceTokens(device),
        RedisKeys.devicePending(device),
        RedisKeys.deviceLiveTokens(device),
      ],
      [limit, windowSec, tokenRef(token), ttlSec],
    );
    return outcome === 'ok'
      ? { outcome, count: Number(n) }
      : { outcome: outcome as 'limit' | 'flagged', retryAfterMs: Math.max(0, Number(n)) };
  }

  /** One transaction in the bound number's slot: the token (state live, its TTL) and the bind audit event. */
  async storeToken(
    token: TokenId,
    mobile: string,
    device: string,
    ttlSec: number,
    event: AuditEvent,
  ): Promise<void> {
    const key = tokenKey(token);
    await execAll(
      this.redis
        .multi()
        .hset(key, { m: mobile, d: device, s: 'live' })
        .expire(key, ttlSec)
        .rpush(RedisKeys.auditQueueOf(mobile), JSON.stringify(event)),
    );
  }

  /** A token in a bucket other than the sender's (so bound to another number, or never issued). */
  async readToken(token: TokenId): Promise<BoundToken | null> {
    return boundToken(await this.redis.hgetall(tokenKey(token)));
  }

  /** See consumeTokenScript: 'verified', or what the token was instead. */
  async consume(token: TokenId, mobile: string, event: AuditEvent): Promise<string> {
    return consumeTokenScript.run(
      this.redis,
      [tokenKey(token), RedisKeys.onboardedFlags(mobile), RedisKeys.auditQueueOf(mobile)],
      [mobile, numberOffset(mobile), JSON.stringify(event)],
    );
  }

  async burn(token: TokenId): Promise<void> {
    await burnTokenScript.run(this.redis, [tokenKey(token)], []);
  }

  /** Flags the device for `seconds` and returns its other live tokens (to burn). */
  async flag(device: string, seconds: number): Promise<TokenId[]> {
    const refs = await flagDeviceScript.run(
      this.redis,
      [RedisKeys.deviceFlag(device), RedisKeys.devicePending(device), RedisKeys.deviceLiveTokens(device)],
      [seconds],
    );
    return refs.map(fromRef);
  }

  async markVerified(device: string, token: TokenId, at: string, keepSec: number): Promise<void> {
    await deviceVerifiedScript.run(
      this.redis,
      [RedisKeys.deviceVerified(device), RedisKeys.devicePending(device), RedisKeys.deviceLiveTokens(device)],
      [at, keepSec, tokenRef(token)],
    );
  }

  /** One round trip (one slot): what GET /onboard/bind/{device_id} reports. */
  async snapshot(device: string): Promise<DeviceSnapshot> {
    const [flag, tokens, pending, verified] = (await execAll(
      this.redis
        .multi()
        .exists(RedisKeys.deviceFlag(device))
        .get(RedisKeys.deviceTokens(device))
        .exists(RedisKeys.devicePending(device))
        .exists(RedisKeys.deviceVerified(device)),
    )) as [number, string | null, number, number];
    return {
      flagged: flag === 1,
      tokens: Number(tokens ?? 0),
      pending: pending === 1,
      verified: verified === 1,
    };
  }
}
