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
