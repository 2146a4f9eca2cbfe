// Lua scripts of device binding. Each touches one slot: a device's keys ({d:<digest>}) or a token's bucket
// ({n<bucket>}, the bound number's), never both, so they run unchanged on Redis Cluster.
import { defineScript } from '../redis/redis-script';

/**
 * A device asks for a token. Refused while the device is flagged ('flagged', ms left); otherwise counted in its
 * 24 h window (which starts at its first request and is not extended by later ones), and refused past the
 * limit ('limit', ms left in the window). Counting and deciding in one step keeps the limit exact under
 * concurrent requests. When granted, the token becomes the device's pending one and joins its live set.
 * KEYS: device_flag, device_tokens, device_pending, device_live.
 * ARGV: tokens per day, window seconds, token ref (<bucket>:<digest>), token TTL seconds.
 * Returns {outcome, n or ms}: {'ok', tokens counted}, {'limit', ms}, {'flagged', ms}.
 */
export const reserveDeviceTokenScript = defineScript<[string, number]>(
  'bind_reserve',
  4,
  `
local flag = redis.call('PTTL', KEYS[1])
if flag ~= -2 then return {'flagged', flag} end
local n = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]), 'NX')
if n > tonumber(ARGV[1]) then return {'limit', redis.call('PTTL', KEYS[2])} end
local ttl = tonumber(ARGV[4])
redis.call('SET', KEYS[3], ARGV[3], 'EX', ttl)
redis.call('SADD', KEYS[4], ARGV[3])
if redis.call('TTL', KEYS[4]) < ttl then redis.call('EXPIRE', KEYS[4], ttl) end
return {'ok', n}
`,
);

/**
 * Consumes a live token for its bound number and onboards the number, atomically: of any number of concurrent
 * deliveries exactly one finds it live. KEYS: the token, the number's onboarded flags, its audit queue.
 * ARGV: the sender (E.164), its bit, the verified event (JSON). Returns 'verified', or what the token was
 * instead: 'expired' (gone), 'mismatch' (bound to another number), 'used', 'burned'.
 */
export const consumeTokenScript = defineScript<string>(
  'bind_consume',
  3,
  `
local rec = redis.call('HMGET', KEYS[1], 'm', 's')
if not rec[1] then return 'expired' end
if rec[1] ~= ARGV[1] then return 'mismatch' end
if rec[2] ~= 'live' then return rec[2] end
redis.call('HSET', KEYS[1], 's', 'used')
redis.call('SETBIT', KEYS[2], tonumber(ARGV[2]), 1)
redis.call('RPUSH', KEYS[3], ARGV[3])
return 'verified'
`,
);

/**
 * Burns a token (it stays until its expiry, so a later delivery is told it was burned). Never creates one.
 * KEYS: the token. Returns 1 when burned now, 0 when it is gone.
 */
export const burnTokenScript = defineScript<number>(
  'bind_burn',
  1,
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 's', 'burned')
return 1
`,
);

/**
 * Flags a device (its token came from a number it was not bound to): refused new tokens for the flag's time,
 * no longer pending. Returns the refs of its other live tokens, for the caller to burn in their own slots.
 * KEYS: device_flag, device_pending, device_live. ARGV: flag seconds.
 */
export const flagDeviceScript = defineScript<string[]>(
  'bind_flag',
  3,
  `
redis.call('SET', KEYS[1], '1', 'EX', tonumber(ARGV[1]))
redis.call('DEL', KEYS[2])
local live = redis.call('SMEMBERS', KEYS[3])
redis.call('DEL', KEYS[3])
return live
`,
);

/**
 * A token of the device completed onboarding: the device is verified, and no longer pending unless a newer
 * token of it is. KEYS: device_verified, device_pending, device_live. ARGV: verified_at, seconds kept, token ref.
 */
export const deviceVerifiedScript = defineScript<number>(
  'bind_verified',
  3,
  `
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
redis.call('SREM', KEYS[3], ARGV[3])
return 1
`,
);
