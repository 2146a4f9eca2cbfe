// The onboarding Lua scripts: register in one round trip, and the success write of an inbound SMS.
import { defineScript } from '../redis/redis-script';

/**
 * Register. KEYS: onboarded set, blacklist set, onboard_hash:{mobile}, audit queue, blacklist_auto:{mobile}.
 * ARGV: mobile, candidate hash, ttl seconds, event id, created_at (ISO).
 * Returns {outcome, hash}: onboarded | blacklisted | existing <hash> | created <hash>. Every outcome appends
 * one audit event (without the hash, which is the person's proof).
 */
export const registerScript = defineScript<[string, string | null]>(
  'onboard_register',
  5,
  `
local mobile = ARGV[1]
local outcome
local hash = false
if redis.call('SISMEMBER', KEYS[1], mobile) == 1 then
  outcome = 'already_onboarded'
elseif redis.call('SISMEMBER', KEYS[2], mobile) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then
  outcome = 'blacklisted'
else
  hash = redis.call('GET', KEYS[3])
  if hash then
    outcome = 'existing'
  else
    hash = ARGV[2]
    redis.call('SET', KEYS[3], hash, 'EX', tonumber(ARGV[3]))
    outcome = 'created'
  end
end
redis.call('RPUSH', KEYS[4], cjson.encode({
  event_id = ARGV[4], mobile_number = mobile, event_type = 'register', outcome = outcome, created_at = ARGV[5]
}))
return {outcome, hash}
`,
);

/**
 * Drops the oldest `count` audit events, but only if the list still starts with the first event this drainer
 * read. Should two drainers ever run at once, the second one's trim is skipped instead of cutting events
 * nobody has written yet. KEYS: audit queue. ARGV: first event read, count.
 */
export const trimAuditScript = defineScript<number>(
  'audit_trim',
  1,
  `
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
  redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)
  return 1
end
return 0
`,
);

/**
 * Warm-up of one blacklist entry read from Postgres, unless an admin changed the number's entry since (the
 * warm-up's read may predate the change, which wrote Redis itself). A manual entry goes into the set; an
 * automatic one becomes an expiring key (with the inbound counter that made it ending with it) and leaves the
 * set, where an earlier version kept it.
 * KEYS: blacklist set, blacklist_admin_change:{m}, blacklist_auto:{m}, abuse_counter:{m}.
 * ARGV: mobile, ms left ('' for a manual entry). Returns 1 when applied, 0 when left alone.
 */
export const warmBlacklistEntryScript = defineScript<number>(
  'warm_blacklist_entry',
  4,
  `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[2] == '' then
  redis.call('SADD', KEYS[1], ARGV[1])
  return 1
end
redis.call('SREM', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SET', KEYS[3], '1', 'PX', ttl)
  redis.call('PEXPIRE', KEYS[4], ttl, 'LT')
end
return 1
`,
);
