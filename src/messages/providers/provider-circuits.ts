// Where each SMS provider's circuit breaker stands, shared through Redis: each worker's breakers write their own
// entry when they change, and the API's /health and /metrics read them all (a worker has neither). A provider
// reads open while any worker's breaker is open, half open while one probes, closed otherwise.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisClient } from '../../redis/redis.constants';
import { RedisKeys } from '../../redis/redis-keys';
import type { CircuitState } from './router';

/** This process, as the field of its entries (a restarted worker starts closed under a new name). */
const WORKER = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

/**
 * Records this worker's breaker for a provider. Open and half-open entries carry when they stop meaning
 * anything: an open breaker turns half open after `openMs` on its own (nothing is written then), and a
 * half-open one is settled by its probe; so an entry whose worker is gone or went quiet reads as closed
 * once that time is past. A closed breaker removes its entry.
 */
export async function recordCircuit(
  redis: RedisClient,
  provider: string,
  state: CircuitState,
  openMs: number,
): Promise<void> {
  const key = RedisKeys.providerCircuit(provider);
  if (state === 'closed') {
    await redis.hdel(key, WORKER);
    return;
  }
  // Half open: the probe's answer comes within a send's time; twice the open time bounds a lost one.
  const until = Date.now() + (state === 'open' ? openMs : 2 * openMs);
  await redis
    .multi()
    .hset(key, WORKER, `${state}:${until}`)
    .pexpire(key, 2 * openMs + 60_000)
    .exec();
}

/** Every named provider's circuit across the workers (closed when no live entry says otherwise). */
export async function readCircuits(
  redis: RedisClient,
  providers: string[],
): Promise<Record<string, CircuitState>> {
  const now = Date.now();
  const entries = await Promise.all(providers.map((p) => redis.hgetall(RedisKeys.providerCircuit(p))));
  return Object.fromEntries(
    providers.map((p, i) => {
      const live = Object.values(entries[i])
        .map((v) => v.split(':'))
        .filter(([, until]) => Number(until) > now)
        .map(([state]) => state as CircuitState);
      return [p, live.includes('open') ? 'open' : live.includes('half_open') ? 'half_open' : 'closed'];
    }),
  );
}
