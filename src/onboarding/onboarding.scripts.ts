// The onboarding Lua scripts: register in one round trip, and the success write of an inbound SMS.
import { defineScript } from '../redis/redis-script';

/**
 * Register. KEYS: the number's onboarded flags, its blacklist flags, onboard_hash:{mobile}, its bucket's audit
 * queue, blacklist_auto:{mobile}, its bucket's warm-up marker (one bucket: one slot). ARGV: mobile, candidate
 * hash, ttl seconds, event id, created_at (ISO), the number's bit in its block's flags, then what Postgres said
 * when Redis was not warm ('' = not asked; 'onboarded', 'blacklisted' or 'neither').
 * Returns {outcome, hash}: cold (the bucket lost its flags and is not warm again: ask Postgres, then run again;
 * nothing written) | already_onboarded | blacklisted | existing <hash> | created <hash>. Every other outcome
 * appends one audit event (without the hash, which is the person's proof).
 */
export const registerScript = defineScript<[string, string | null]>(
  'onboard_register',
  6,
  `
local mobile = ARGV[1]
local outcome
local hash = false
local bit = tonumber(ARGV[6])
local pg = ARGV[7] or ''
if pg == '' and redis.call('EXISTS', KEYS[6]) == 0 then return {'cold', false} end
if pg == 'onboarded' or redis.call('GETBIT', KEYS[1], bit) == 1 then
  outcome = 'already_onboarded'
elseif pg == 'blacklisted' or redis.call('GETBIT', KEYS[2], bit) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then
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
 * warm-up's read may predate the change, which wrote Redis itself). A manual entry sets the number's blacklist
 * bit; an automatic one becomes an expiring key (with the inbound counter that made it ending with it) and
 * clears the bit, where an earlier version set it.
 * KEYS: the number's blacklist flags, blacklist_admin_change:{m}, blacklist_auto:{m}, abuse_counter:{m}.
 * ARGV: the number's bit, ms left ('' for a manual entry). Returns 1 when applied, 0 when left alone.
 */
export const warmBlacklistEntryScript = defineScript<number>(
  'warm_blacklist_entry',
  4,
  `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[2] == '' then
  redis.call('SETBIT', KEYS[1], tonumber(ARGV[1]), 1)
  return 1
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SETBIT', KEYS[1], tonumber(ARGV[1]), 0) end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SET', KEYS[3], '1', 'PX', ttl)
  redis.call('PEXPIRE', KEYS[4], ttl, 'LT')
end
return 1
`,
);

/**
 * Marks a bucket warm if it still holds the warm-up's token (it lost nothing since the warm-up began), and drops
 * the token. KEYS: the bucket's warm-up token, its warm marker. ARGV: the token, the time. Returns 1 when marked.
 */
export const markWarmScript = defineScript<number>(
  'mark_warm',
  2,
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2])
return 1
`,
);
