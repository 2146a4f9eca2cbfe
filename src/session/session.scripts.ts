// The session Lua scripts. They decide nothing about TTLs (session-ttl.ts does, in TypeScript); they make a
// read-and-refresh, or a compare-and-set, one atomic round trip.
//
// They never parse JSON: the service always serialises `last_activity` first, as a 24-character ISO timestamp
// (characters 19-42, closed by the quote at 43), and a pinned TTL second (`,"ttl":N` from character 44). So a
// touch splices the new time into that fixed place, and the context is never re-encoded (Lua's cjson would turn
// [] into {} and round large numbers).
import { defineScript } from '../redis/redis-script';

/** True when `name` holds a value in the layout above. */
const inLayout = (name: string) =>
  `(string.sub(${name}, 1, 18) == '{"last_activity":"' and string.sub(${name}, 43, 43) == '"')`;

/**
 * Reads the session at `key` into `v` and, when it is in the layout, writes the new last_activity (ARGV[1]) with
 * the session's pinned TTL or else the provisional one (ARGV[2], ms) into `px`. `px` stays 0 for a value that is
 * not in the layout (left untouched). Returns `missing` when there is no session.
 */
const touchLua = (key: string, missing: string) => `
local v = redis.call('GET', ${key})
if not v then return ${missing} end
local px = 0
if ${inLayout('v')} and string.len(ARGV[1]) == 24 then
  px = tonumber(ARGV[2])
  local pinned = string.match(v, '^,"ttl":(%d+)', 44)
  if pinned then px = tonumber(pinned) * 1000 end
  redis.call('SET', ${key}, '{"last_activity":"' .. ARGV[1] .. string.sub(v, 43), 'PX', px)
end
`;

/**
 * Touch: the session as stored before this read, with the new last_activity and a TTL written, in one step.
 * The service corrects the TTL afterwards in the rare case its policy chose another than the provisional one.
 * KEYS: session:{id}. ARGV: now (ISO, 24 chars), provisional TTL (ms).
 * Returns false when there is no session, else {stored value, TTL applied in ms or 0 (not in the layout)}.
 */
export const touchScript = defineScript<[string, number] | null>(
  'session_touch',
  1,
  `${touchLua('KEYS[1]', 'false')}
return {v, px}
`,
);

/**
 * The access-token check: is the token id deny-listed, and the session as a touch sees it; one step, and a
 * revoked token does not touch its session. KEYS: blacklist:token:{jti}, session:{id}. ARGV: as touchScript.
 * Returns {1} when deny-listed, {0} when there is no session, else {0, stored value, TTL applied}.
 */
export const authenticateScript = defineScript<[number, string?, number?]>(
  'session_authenticate',
  2,
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return {1} end
${touchLua('KEYS[2]', '{0}')}
return {0, v, px}
`,
);

/**
 * Compare-and-set for a context merge: replaces the session only if it still holds what the caller read, so a
 * merge never overwrites another merge. A touch in between changed only last_activity: that is not a conflict,
 * and the newer last_activity is kept. A merge never shortens the TTL a touch in between set.
 * KEYS: session:{id}. ARGV: value read, new value, TTL (ms).
 * Returns 1 when replaced, 0 when the session changed meanwhile, -1 when it is gone.
 */
export const replaceScript = defineScript<number>(
  'session_replace',
  1,
  `
local v = redis.call('GET', KEYS[1])
if not v then return -1 end
local nextValue = ARGV[2]
if v ~= ARGV[1] then
  if not (${inLayout('v')} and ${inLayout('ARGV[1]')} and ${inLayout('ARGV[2]')}) then return 0 end
  if string.sub(v, 43) ~= string.sub(ARGV[1], 43) then return 0 end
  nextValue = string.sub(v, 1, 42) .. string.sub(ARGV[2], 43)
end
local px = tonumber(ARGV[3])
local left = redis.call('PTTL', KEYS[1])
if left > px then px = left end
redis.call('SET', KEYS[1], nextValue, 'PX', px)
return 1
`,
);

export const SESSION_SCRIPTS = [touchScript, authenticateScript, replaceScript];
