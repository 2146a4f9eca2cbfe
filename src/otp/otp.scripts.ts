// The OTP scripts: each decision that must hold under concurrency is one atomic step in Redis.
import { FIXED_WINDOW_LUA } from '../common/rate-limit/rate-limit';
import { defineScript } from '../redis/redis-script';

/** [result, seconds or ms (see sendScript), the limit that refused, the live code's JSON when active/cooldown]. */
export type SendResult = [string, number, string | null, string | null];

/**
 * Send: the checks, the limits and the store of the new code in one step, so concurrent sends for one number
 * issue one code (the others find it active: 409) and a send that is refused consumes nothing.
 * KEYS: otp:{m}, otp:status:{m}, blacklist set, then the four counters: per number, per end-user IP, per API
 * key, the hourly budget; then the warm-up marker. ARGV: mobile, stored JSON, status JSON, now (ms), validity
 * (s), status TTL (s), resend ('1'), cooldown (s), no limits ('1' for test numbers), then limit and window (s)
 * for each counter in KEYS order ('' limit = not applied), then '1' when Postgres already said the number is
 * not on the manual blacklist, then the row id of the only code this send may replace ('' = any: the
 * WhatsApp fallback's compare-and-swap, answered `replaced` when another code is live).
 * Returns {result, n, limit, live}: blacklisted | cold (Redis lost its blacklist and is not warm again: ask
 * Postgres, then run again) | active <s left> | cooldown <s to wait> | limited <ms left> <which> | ok; `live` is
 * the stored JSON of the code that made it active or cooldown. Limits are checked first and counted only when
 * the code is stored.
 */
export const sendScript = defineScript<SendResult>(
  'otp_send',
  8,
  `${FIXED_WINDOW_LUA}
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return {'blacklisted', 0, false} end
if ARGV[18] ~= '1' and redis.call('EXISTS', KEYS[8]) == 0 then return {'cold', 0, false} end
local now = tonumber(ARGV[4])
local raw = redis.call('GET', KEYS[1])
-- The WhatsApp fallback replaces only the code whose message failed: one replaced meanwhile stays.
if ARGV[19] and ARGV[19] ~= '' and raw and cjson.decode(raw).row_id ~= ARGV[19] then return {'replaced', 0, false} end
if raw then
  local current = cjson.decode(raw)
  local left = tonumber(current.expires_ms) - now
  if left > 0 then
    if ARGV[7] ~= '1' then return {'active', math.ceil(left / 1000), false, raw} end
    -- (Clocks of different replicas may disagree by a little: with no cooldown there is nothing to wait for.)
    local wait = tonumber(ARGV[8]) * 1000 - (now - tonumber(current.created_ms))
    if tonumber(ARGV[8]) > 0 and wait > 0 then return {'cooldown', math.ceil(wait / 1000), false, raw} end
  end
end
if ARGV[9] ~= '1' then
  local names = {'number', 'ip', 'client', 'budget'}
  for i = 1, 4 do
    local limit = ARGV[8 + 2 * i]
    if limit ~= '' then
      local n, left = count(KEYS[3 + i], 0, tonumber(ARGV[9 + 2 * i]))
      if n >= tonumber(limit) then return {'limited', left, names[i]} end
    end
  end
  for i = 1, 4 do
    if ARGV[8 + 2 * i] ~= '' then count(KEYS[3 + i], 1, tonumber(ARGV[9 + 2 * i])) end
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[5]))
redis.call('SET', KEYS[2], ARGV[3], 'EX', tonumber(ARGV[5]) + tonumber(ARGV[6]))
return {'ok', 0, false}
`,
);

/**
 * Undoes a send whose code could not be recorded in Postgres: removes the code if it is still this one, and
 * gives back what the send counted. KEYS as sendScript. ARGV: the code's row id, no limits ('1'), then the
 * counters' limits as in sendScript ('' = was not counted).
 */
export const undoSendScript = defineScript<number>(
  'otp_send_undo',
  8,
  `
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw).row_id == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) end
if ARGV[2] ~= '1' then
  for i = 1, 4 do
    if ARGV[2 + i] ~= '' and redis.call('EXISTS', KEYS[3 + i]) == 1 then redis.call('DECR', KEYS[3 + i]) end
  end
end
return 1
`,
);

/** [result, n, stored JSON or null, requests counted for the end-user IP, ms before that counter resets]. */
export type VerifyResult = [string, number, string | null, number, number];

/**
 * Check and consume in one atomic step, so concurrent verifies of one right code give one success in Redis
 * (Postgres's used-mark then decides across stores).
 * KEYS: otp:{m}, otp:attempts:{m}, otp:status:{m}, the end-user IP's counter, the (manual) blacklist set, the
 * warm-up marker. ARGV: candidate HMAC, now (ms), max attempts, attempts TTL (s), status TTL (s), the IP's limit
 * ('' = no per-IP limit), its window (s), the number, '1' when Postgres already said the number is not on the
 * manual blacklist. A number an admin blacklisted answers `blacklisted`, even for a code issued before.
 * Returns {result, n, extra, ip used, ip ms left}: cold (as in sendScript; nothing counted) | rate_limited <ms
 * left> | blacklisted | locked <ttl s> | miss <attempts>
 * (Redis has no code: Postgres may) | expired <attempts> | none <attempts> | wrong <attempts> <the code's row id>
 * | ok 0 <stored>.
 * Only a wrong code counts a failure. The attempts counter belongs to the number, not the code: a new code
 * never resets it.
 *
 * The comparison is of HMAC-SHA256 digests under OTP_SECRET: an attacker cannot choose digest prefixes, so
 * Lua's string equality leaks nothing useful about the code.
 */
export const verifyScript = defineScript<VerifyResult>(
  'otp_verify',
  6,
  `${FIXED_WINDOW_LUA}
if ARGV[9] ~= '1' and redis.call('EXISTS', KEYS[6]) == 0 and redis.call('SISMEMBER', KEYS[5], ARGV[8]) == 0 then
  return {'cold', 0, false, 0, 0}
end
local ip_used, ip_left = 0, 0
if ARGV[6] ~= '' then
  ip_used, ip_left = count(KEYS[4], 1, tonumber(ARGV[7]))
  if ip_used > tonumber(ARGV[6]) then return {'rate_limited', ip_left, false, ip_used, ip_left} end
end
if redis.call('SISMEMBER', KEYS[5], ARGV[8]) == 1 then return {'blacklisted', 0, false, ip_used, ip_left} end
local max = tonumber(ARGV[3])
local attempts = tonumber(redis.call('GET', KEYS[2]) or '0')
if attempts >= max then
  return {'locked', redis.call('TTL', KEYS[2]), false, ip_used, ip_left}
end
local raw = redis.call('GET', KEYS[1])
if not raw then
  local st = redis.call('GET', KEYS[3])
  if not st then return {'miss', attempts, false, ip_used, ip_left} end
  local status = cjson.decode(st)
  if status.status == 'pending' and tonumber(status.expires_ms) > tonumber(ARGV[2]) then
    return {'miss', attempts, false, ip_used, ip_left}
  end
  return {status.status == 'pending' and 'expired' or 'none', attempts, false, ip_used, ip_left}
end
local data = cjson.decode(raw)
if tonumber(data.expires_ms) < tonumber(ARGV[2]) then return {'expired', attempts, false, ip_used, ip_left} end
if data.otp_hash ~= ARGV[1] then
  attempts = redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]), 'NX')
  if attempts >= max then
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[3], cjson.encode({status = 'max_attempts_reached'}), 'EX', tonumber(ARGV[5]))
  end
  return {'wrong', attempts, data.row_id, ip_used, ip_left}
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], cjson.encode({status = 'approved', message_id = data.message_id}), 'EX', tonumber(ARGV[5]))
return {'ok', 0, raw, ip_used, ip_left}
`,
);

/**
 * Raises the number's Redis failure count to what Postgres counted (failures evaluated while Redis was away or
 * before it restarted). KEYS: otp:attempts:{m}, otp:{m}, otp:status:{m}. ARGV: failures, seconds left in their
 * window, max attempts, status TTL (s).
 */
export const syncAttemptsScript = defineScript<number>(
  'otp_sync_attempts',
  3,
  `
local n = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') < n then
  redis.call('SET', KEYS[1], n, 'EX', math.max(1, tonumber(ARGV[2])))
end
if n >= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[3], cjson.encode({status = 'max_attempts_reached'}), 'EX', tonumber(ARGV[4]))
end
return 1
`,
);

/**
 * Takes back a failure Redis counted against a code Postgres had already replaced or used (during an outage),
 * and drops that code. KEYS: otp:{m}, otp:attempts:{m}. ARGV: the stale code's row id.
 */
export const dropStaleCodeScript = defineScript<number>(
  'otp_drop_stale',
  2,
  `
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw).row_id == ARGV[1] then redis.call('DEL', KEYS[1]) end
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 1
`,
);

/**
 * Drops a code no message carries (its send crashed between the script and the message's row), if it is still
 * the live one. KEYS: otp:{m}, otp:status:{m}. ARGV: the code's row id.
 */
export const dropOrphanScript = defineScript<number>(
  'otp_drop_orphan',
  2,
  `
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw).row_id == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) return 1 end
return 0
`,
);
