import { defineScript } from '../redis/redis-script';

/** [result, n, stored JSON or null, requests counted for the client IP, ms before that counter resets]. */
export type VerifyResult = [string, number, string | null, number, number];

/**
 * Check and consume in one atomic step, so concurrent verifies of one right code give one success.
 * KEYS: otp:{m}, otp:attempts:{m}, otp:status:{m}, rate_limit:otp_ip:{ip}. ARGV: candidate HMAC, now (ms),
 * max attempts, attempts TTL (s), status TTL (s), the client IP's limit on /otp/* ('' = not counted), its
 * window (s).
 * Returns {result, n, extra, ip used, ip ms left}: rate_limited <ms left> | locked <ttl s> | none <attempts> |
 * expired <attempts> | wrong <attempts> | ok 0 <stored JSON>. The attempts counter belongs to the number, not
 * the code: a new code never resets it.
 *
 * The per-IP counter is the one the @RateLimit guard keeps for the other /otp/* routes (same key, same steps as
 * rate-limiter-flexible's), counted here so that a successful verify costs one round trip, not two. A request
 * over the limit touches nothing else.
 *
 * The comparison is of HMAC-SHA256 digests under OTP_SECRET: an attacker cannot choose digest prefixes, so
 * Lua's string equality leaks nothing useful about the code.
 */
export const verifyScript = defineScript<VerifyResult>(
  'otp_verify',
  4,
  `
local ip_used, ip_left = 0, 0
if ARGV[6] ~= '' then
  redis.call('SET', KEYS[4], 0, 'EX', ARGV[7], 'NX')
  ip_used = redis.call('INCRBY', KEYS[4], 1)
  ip_left = redis.call('PTTL', KEYS[4])
  if ip_left == -1 then
    redis.call('EXPIRE', KEYS[4], ARGV[7])
    ip_left = 1000 * tonumber(ARGV[7])
  end
  if ip_used > tonumber(ARGV[6]) then return {'rate_limited', ip_left, false, ip_used, ip_left} end
end
local max = tonumber(ARGV[3])
local attempts = tonumber(redis.call('GET', KEYS[2]) or '0')
if attempts >= max then
  return {'locked', redis.call('TTL', KEYS[2]), false, ip_used, ip_left}
end
local raw = redis.call('GET', KEYS[1])
local function fail(result)
  attempts = redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]), 'NX')
  if attempts >= max then
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[3], cjson.encode({status = 'max_attempts_reached'}), 'EX', tonumber(ARGV[5]))
  end
  return {result, attempts, false, ip_used, ip_left}
end
if not raw then
  -- The code's key lives exactly its validity; the status key remembers that one was issued.
  local st = redis.call('GET', KEYS[3])
  if st and cjson.decode(st).status == 'pending' then return fail('expired') end
  return fail('none')
end
local data = cjson.decode(raw)
if tonumber(data.expires_ms) < tonumber(ARGV[2]) then return fail('expired') end
if data.otp_hash ~= ARGV[1] then return fail('wrong') end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], cjson.encode({status = 'approved', message_id = data.message_id}), 'EX', tonumber(ARGV[5]))
return {'ok', 0, raw, ip_used, ip_left}
`,
);
