// What a session:{id} key holds, and how it is written and read back.
import { randomBytes } from 'node:crypto';
import { userBucket } from '../redis/redis-keys';

export interface SessionRecord {
  /** ISO 8601, UTC, always 24 characters (the touch script relies on it: see session.scripts.ts). */
  last_activity: string;
  /** A TTL the client fixed at creation (seconds); absent for adaptive sessions. */
  ttl?: number;
  user_id: string;
  created_at: string;
  context: Record<string, unknown>;
  /** The end user's address and browser when the session was created, to tell sessions apart in a list. */
  ip: string | null;
  user_agent: string | null;
}

/** The largest context a session holds, serialised (a merge that would grow past it is refused). */
export const MAX_CONTEXT_BYTES = 8192;

/**
 * 32 lowercase hex characters: the user's bucket (two, see RedisKeys: a user's sessions share one Redis Cluster
 * slot), then 120 random bits.
 */
export function newSessionId(userId: string): string {
  return userBucket(userId) + randomBytes(16).toString('hex').slice(2);
}

export const SESSION_ID_PATTERN = /^[0-9a-f]{32}$/;

/**
 * Serialises with `last_activity` first and `ttl` second, always: the touch script splices a new timestamp
 * into that fixed position (and reads a pinned TTL from it) without parsing, or re-encoding, the context.
 */
export function serializeSession(r: SessionRecord): string {
  const ordered: SessionRecord = {
    last_activity: r.last_activity,
    ...(r.ttl !== undefined && { ttl: r.ttl }),
    user_id: r.user_id,
    created_at: r.created_at,
    context: r.context,
    ip: r.ip,
    user_agent: r.user_agent,
  };
  return JSON.stringify(ordered);
}

const isIso = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/** Parses a stored session; null when the value is not a session this service wrote (corrupt or foreign). */
export function parseSession(raw: string): SessionRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.user_id !== 'string' || !o.user_id) return null;
  if (!isIso(o.created_at) || !isIso(o.last_activity)) return null;
  if (typeof o.context !== 'object' || o.context === null || Array.isArray(o.context)) return null;
  if (o.ttl !== undefined && (typeof o.ttl !== 'number' || !Number.isInteger(o.ttl) || o.ttl < 1))
    return null;
  return {
    last_activity: o.last_activity,
    ...(o.ttl !== undefined && { ttl: o.ttl as number }),
    user_id: o.user_id,
    created_at: o.created_at,
    context: o.context as Record<string, unknown>,
    ip: typeof o.ip === 'string' ? o.ip : null,
    user_agent: typeof o.user_agent === 'string' ? o.user_agent : null,
  };
}

/**
 * A top-level merge: keys in the patch replace those in the context, and a key set to null is removed.
 * Built with Object.fromEntries, so a "__proto__" key is plain data, never a prototype.
 */
export function mergeContext(
  context: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const merged = new Map(Object.entries(context));
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) merged.delete(k);
    else merged.set(k, v);
  }
  return Object.fromEntries(merged);
}

/** The touch script's view of a stored value: the fixed head `{"last_activity":"<24 chars>"`. */
export const LAST_ACTIVITY_HEAD = '{"last_activity":"';

/** Whether a stored value has the layout the scripts rely on (see session.scripts.ts). */
export const inScriptLayout = (raw: string) => raw.startsWith(LAST_ACTIVITY_HEAD) && raw.charAt(42) === '"';

/**
 * The merge rule of replaceScript, for the memory store: `next` may replace `current` if `current` is what was
 * read, or differs from it only by a newer last_activity (a touch in between), which is then kept.
 * Returns the value to store, or null on a real conflict.
 */
export function replaceIfUnchanged(current: string, read: string, next: string): string | null {
  if (current === read) return next;
  if (![current, read, next].every(inScriptLayout)) return null;
  if (current.slice(42) !== read.slice(42)) return null;
  return current.slice(0, 42) + next.slice(42);
}
