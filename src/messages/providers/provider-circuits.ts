// Where each SMS provider's circuit breaker stands, shared through Redis: the workers' breakers write it when
// it changes, and the API's /health and /metrics read it (a worker has neither).
import type { RedisClient } from '../../redis/redis.constants';
import { RedisKeys } from '../../redis/redis-keys';
import type { CircuitState } from './router';

/** A state not written again within this long is stale (its worker is gone): read as closed. */
const TTL_SECONDS = 3600;

export async function recordCircuit(
  redis: RedisClient,
  provider: string,
  state: CircuitState,
): Promise<void> {
  await redis.set(RedisKeys.providerCircuit(provider), state, 'EX', TTL_SECONDS);
}

/** Every named provider's circuit (closed when no worker reported one). */
export async function readCircuits(
  redis: RedisClient,
  providers: string[],
): Promise<Record<string, CircuitState>> {
  if (!providers.length) return {};
  const states = await redis.mget(providers.map((p) => RedisKeys.providerCircuit(p)));
  return Object.fromEntries(providers.map((p, i) => [p, (states[i] as CircuitState | null) ?? 'closed']));
}
