// The OTP scripts: each decision that must hold under concurrency is one atomic step in Redis.
import { FIXED_WINDOW_LUA } from '../common/rate-limit/rate-limit';
import { defineScript } from '../redis/redis-script';

/**
 * [result, seconds or ms (see sendScript), the limit that refused, the live code's JSON when active/cooldown,
 * 1 when a `pumping` refusal blocked the prefix just now].
 */
export type SendResult = [string, number, string | null, string | null, number?];

/**
 * The SMS-pumping rules of a prefix or a country, as Lua functions the send scripts embed. A sliding hour is two
 * fixed hours' hashes (fields sent, verified): the previous one weighted by the part of it still inside the
 * hour, plus the current one. judge(cur, prev, now, cap, min_sends, min_ratio) returns the verdict before this
 * send: false | 'pumping' (at least min_sends sends and verified < min_ratio × sent) | 'capped' (sent ≥ cap),
 * with the ms until the rule lets a send through again if nothing else happens (sends age out of the hour).
 * count_sent(cur) counts a send (the hash lives 2 h, the length of its use). block(marker, info, ms) records
 * a pumping block (JSON since and country) while it can last: 1 when it was not recorded before.
 */
export const PUMPING_LUA = `
local HOUR_MS = 3600000
local function until_below(t, ps, cs, into)
  if cs < t then
    if ps <= 0 then return 1000 end
    local f = 1 - (t - cs) / ps
    return math.max(0, math.ceil(f * HOUR_MS - into)) + 1000
  end
  return math.ceil(HOUR_MS - into + (1 - t / cs) * HOUR_MS) + 1000
end
local function judge(cur, prev, now, cap, min_sends, min_ratio)
  local c = redis.call('HMGET', cur, 'sent', 'verified')
  local p = redis.call('HMGET', prev, 'sent', 'verified')
  local into = now % HOUR_MS
  local w = 1 - into / HOUR_MS
  local ps, cs = tonumber(p[1]) or 0, tonumber(c[1]) or 0
  local sent = ps * w + cs
  local verified = (tonumber(p[2]) or 0) * w + (tonumber(c[2]) or 0)
  if min_sends and min_ratio > 0 and sent >= min_sends and verified < min_ratio * sent then
    return 'pumping', until_below(min_sends, ps, cs, into)
  end
  if cap and sent >= cap then return 'capped', until_below(cap, ps, cs, into) end
  return false, 0
end
local function count_sent(cur)
  redis.call('HINCRBY', cur, 'sent', 1)
  redis.call('EXPIRE', cur, 7200)
end
local function block(marker, info, ms)
  if redis.call('SET', marker, info, 'NX', 'PX', ms) then return 1 end
  redis.call('PEXPIRE', marker, ms)
  return 0
end
`;

/**
 * A prefix's or a country's part of a send when it lives on another slot than the number (a country always; a
 * prefix when OTP_PREFIX_DIGITS is not 3): judged and, when it lets the send through, counted, in the send's
 * parallel reserve step; OtpRepository.send gives the count back when a later step refuses (refundSentScript).
 * KEYS: this hour's hash, the previous hour's, the block marker (a prefix's; a country passes its hash again).
 * ARGV: now (ms), cap ('' none), min sends ('' = no ratio rule), min ratio, the block's JSON, verified codes to
 * add first (a country's, counted by this replica's verifies since its last send there).
 * Returns {1 taken | 0 refused, ms to wait, 'capped' | 'pumping' | false, 1 when the block is new}.
 */
export const velocityReserveScript = defineScript<[number, number, string | null, number]>(
  'otp_velocity_reserve',
  3,
  `${PUMPING_LUA}
if tonumber(ARGV[6]) > 0 then
  redis.call('HINCRBY', KEYS[1], 'verified', tonumber(ARGV[6]))
  redis.call('EXPIRE', KEYS[1], 7200)
end
local verdict, wait = judge(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]) or 0)
if verdict == 'pumping' then return {0, wait, verdict, block(KEYS[3], ARGV[5], wait)} end
if verdict then return {0, wait, verdict, 0} end
count_sent(KEYS[1])
return {1, 0, false, 0}`,
);

/** Gives back a send velocityReserveScript counted (its hour's hash names the window). KEYS: the hash. */
export const refundSentScript = defineScript<number>(
  'otp_velocity_refund',
  1,
  `if tonumber(redis.call('HGET', KEYS[1], 'sent') or '0') > 0 then return redis.call('HINCRBY', KEYS[1], 'sent', -1) end
return 0`,
);

/** Counts a verified code for a prefix on another slot than the number (OTP_PREFIX_DIGITS not 3). KEYS: its hash. */
export const countVerifiedScript = defineScript<number>(
  'otp_count_verified',
  1,
  `redis.call('HINCRBY', KEYS[1], 'verified', 1)
redis.call('EXPIRE', KEYS[1], 7200)
return 1`,
);

/**
 * Send, the number's part: its checks, its own limit and the store of the new code in one step (the number's
 * keys share one slot), so concurrent sends for one number issue one code (the others find it active: 409) and
 * a send that is refused consumes nothing here. The counters of other slots (end-user IP, API key, hourly
 * budget) are reserved before this runs and given back when it refuses (see OtpRepository.send).
 * KEYS: otp:{m}, otp:status:{m}, the number's blacklist flags, its send counter, its bucket's warm-up marker.
 * ARGV: stored JSON, status JSON, now (ms), validity (s), status TTL (s), resend ('1'), cooldown (s), no limits
 * ('1' for test numbers and the fallback), the number's limit ('' = not applied) and window (s), '1' when
 * Postgres already said the number is neither on the manual blacklist nor suppressed, the row id of the only code this send may
 * replace ('' = any: the WhatsApp fallback's compare-and-swap, answered `replaced` when another code is live),
 * the number's bit in its block's flags, '1' to check only (nothing written), then the prefix's rules when the
 * prefix is the number's block (OTP_PREFIX_DIGITS=3, so its keys share the slot): '1' to apply them, its cap
 * ('' none), min sends ('' no ratio rule), min ratio, the block's JSON ({since, country}).
 * KEYS (continued): the prefix's hash of this hour and of the previous one, its block marker, the number's
 * suppression flags (opt-outs).
 * Returns {result, n, limit, live, new block}: blacklisted | opted_out | cold (Redis lost its blacklist and is not warm
 * again: ask Postgres, then run again) | replaced | active <s left> | cooldown <s to wait> | limited <ms left>
 * number | limited <ms> prefix | pumping <ms> prefix (1 when the block began now) | ok;
 * `live` is the stored JSON of the code that made it active or cooldown.
 */
export const sendScript = defineScript<SendResult>(
  'otp_send',
  9,
  `${FIXED_WINDOW_LUA}${PUMPING_LUA}
if redis.call('GETBIT', KEYS[3], tonumber(ARGV[13])) == 1 then return {'blacklisted', 0, false} end
if redis.call('GETBIT', KEYS[9], tonumber(ARGV[13])) == 1 then return {'opted_out', 0, false} end
if ARGV[11] ~= '1' and redis.call('EXISTS', KEYS[5]) == 0 then return {'cold', 0, false} end
local now = tonumber(ARGV[3])
local raw = redis.call('GET', KEYS[1])
-- The WhatsApp fallback replaces only the code whose message failed: one replaced meanwhile stays.
if ARGV[12] ~= '' and raw and cjson.decode(raw).row_id ~= ARGV[12] then return {'replaced', 0, false} end
if raw then
  local current = cjson.decode(raw)
  local left = tonumber(current.expires_ms) - now
  if left > 0 then
    if ARGV[6] ~= '1' then return {'active', math.ceil(left / 1000), false, raw} end
    -- (Clocks of different replicas may disagree by a little: with no cooldown there is nothing to wait for.)
    local wait = tonumber(ARGV[7]) * 1000 - (now - tonumber(current.created_ms))
    if tonumber(ARGV[7]) > 0 and wait > 0 then return {'cooldown', math.ceil(wait / 1000), false, raw} end
  end
end
local limited = ARGV[8] ~= '1' and ARGV[9] ~= ''
if limited then
  local n, left = count(KEYS[4], 0, tonumber(ARGV[10]))
  if n >= tonumber(ARGV[9]) then return {'limited', left, 'number'} end
end
local prefix = ARGV[8] ~= '1' and ARGV[15] == '1'
if prefix then
  local verdict, wait = judge(KEYS[6], KEYS[7], now, tonumber(ARGV[16]), tonumber(ARGV[17]), tonumber(ARGV[18]) or 0)
  if verdict == 'pumping' then
    return {'pumping', wait, 'prefix', false, ARGV[14] == '1' and 0 or block(KEYS[8], ARGV[19], wait)}
  end
  if verdict then return {'limited', wait, 'prefix'} end
end
if ARGV[14] == '1' then return {'ok', 0, false} end
if limited then count(KEYS[4], 1, tonumber(ARGV[10])) end
if prefix then count_sent(KEYS[6]) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[4]))
redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[4]) + tonumber(ARGV[5]))
return {'ok', 0, false}
`,
);

/**
 * Undoes the number's part of a send whose code could not be recorded in Postgres: removes the code if it is
 * still this one, and gives back the number's count and its prefix's (when sendScript counted it).
 * KEYS: otp:{m}, otp:status:{m}, the number's send counter, the prefix's hash of the send's hour.
 * ARGV: the code's row id, '1' when the send counted the number, '1' when it counted the prefix.
 */
export const undoSendScript = defineScript<number>(
  'otp_send_undo',
  4,
  `
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw).row_id == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) end
if ARGV[2] == '1' and tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
if ARGV[3] == '1' and tonumber(redis.call('HGET', KEYS[4], 'sent') or '0') > 0 then
  redis.call('HINCRBY', KEYS[4], 'sent', -1)
end
return 1
`,
);

/** [result, n, stored JSON or null]. */
export type VerifyResult = [string, number, string | null];

/**
 * Check and consume in one atomic step, so concurrent verifies of one right code give one success in Redis
 * (Postgres's used-mark then decides across stores). The end-user IP's counter (another slot) is counted
 * before this runs (see OtpService.verify).
 * KEYS: otp:{m}, otp:attempts:{m}, otp:status:{m}, the number's blacklist flags, its bucket's warm-up marker.
 * ARGV: candidate HMAC, now (ms), max attempts, attempts TTL (s), status TTL (s), the number's bit in its block's
 * flags, '1' when Postgres already said the number is not on the manual blacklist, '1' to count a success as
 * verified in the prefix's hash (KEYS[6], this hour's; the prefix is the number's block: SMS-pumping ratio).
 * A number an admin blacklisted answers `blacklisted`, even for a code issued before.
 * Returns {result, n, extra}: cold (as in sendScript; nothing counted) | blacklisted | locked <ttl s> | miss
 * <attempts> (Redis has no code: Postgres may) | expired <attempts> | none <attempts> | wrong <attempts> <the
 * code's row id> | ok 0 <stored>.
 * Only a wrong code counts a failure. The attempts counter belongs to the number, not the code: a new code
 * never resets it.
 *
 * The comparison is of HMAC-SHA256 digests under OTP_SECRET: an attacker cannot choose digest prefixes, so
 * Lua's string equality leaks nothing useful about the code.
 */
export const verifyScript = defineScript<VerifyResult>(
  'otp_verify',
  6,
  `
local blacklisted = redis.call('GETBIT', KEYS[4], tonumber(ARGV[6])) == 1
if ARGV[7] ~= '1' and not blacklisted and redis.call('EXISTS', KEYS[5]) == 0 then return {'cold', 0, false} end
if blacklisted then return {'blacklisted', 0, false} end
local max = tonumber(ARGV[3])
local attempts = tonumber(redis.call('GET', KEYS[2]) or '0')
if attempts >= max then
  return {'locked', redis.call('TTL', KEYS[2]), false}
end
local raw = redis.call('GET', KEYS[1])
if not raw then
  local st = redis.call('GET', KEYS[3])
  if not st then return {'miss', attempts, false} end
  local status = cjson.decode(st)
  if status.status == 'pending' and tonumber(status.expires_ms) > tonumber(ARGV[2]) then
    return {'miss', attempts, false}
  end
  return {status.status == 'pending' and 'expired' or 'none', attempts, false}
end
local data = cjson.decode(raw)
if tonumber(data.expires_ms) < tonumber(ARGV[2]) then return {'expired', attempts, false} end
if data.otp_hash ~= ARGV[1] then
  attempts = redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]), 'NX')
  if attempts >= max then
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[3], cjson.encode({status = 'max_attempts_reached'}), 'EX', tonumber(ARGV[5]))
  end
  return {'wrong', attempts, data.row_id}
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], cjson.encode({status = 'approved', message_id = data.message_id}), 'EX', tonumber(ARGV[5]))
if ARGV[8] == '1' then
  redis.call('HINCRBY', KEYS[6], 'verified', 1)
  redis.call('EXPIRE', KEYS[6], 7200)
end
return {'ok', 0, raw}
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
