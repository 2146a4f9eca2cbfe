import { defineScript } from '../redis/redis-script';

/**
 * Check and consume in one atomic step, so concurrent verifies of one right code give one success.
 * KEYS: otp:{m}, otp:attempts:{m}, otp:status:{m}. ARGV: candidate HMAC, now (ms), max attempts,
 * attempts TTL (s), status TTL (s).
 * Returns {result, n, extra}: locked <ttl s> | none <attempts> | expired <attempts> | wrong <attempts> |
 * ok 0 <stored JSON>. The attempts counter belongs to the number, not the code: a new code never resets it.
 *
 * The comparison is of HMAC-SHA256 digests under OTP_SECRET: an attacker cannot choose digest prefixes, so
 * Lua's string equality leaks nothing useful about the code.
 */
export const verifyScript = defineScript<[string, number, string | null]>(
  'otp_verify',
  3,
  `
local max = tonumber(ARGV[3])
local attempts = tonumber(redis.call('GET', KEYS[2]) or '0')
if attempts >= max then
  return {'locked', redis.call('TTL', KEYS[2]), false}
end
local raw = redis.call('GET', KEYS[1])
local function fail(result)
  attempts = redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]), 'NX')
  if attempts >= max then
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[3], cjson.encode({status = 'max_attempts_reached'}), 'EX', tonumber(ARGV[5]))
  end
  return {result, attempts, false}
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
return {'ok', 0, raw}
`,
);
