// The adaptive session TTL, as a pure function: every write to a session asks it how long the session may live.

export interface TtlPolicy {
  /** A new session, and a session used again after a pause (SESSION_TTL_SECONDS, 30 min). */
  defaultSec: number;
  /** A session that was active within the active window (SESSION_ACTIVE_TTL_SECONDS, 1 h). */
  activeSec: number;
  /** The least a write leaves an idle session (SESSION_IDLE_TTL_SECONDS, 15 min). */
  idleFloorSec: number;
  /** No single write sets more than this (SESSION_MAX_TTL_SECONDS, 2 h). */
  maxPerWriteSec: number;
  /** A session ends this long after its creation, however active (SESSION_ABSOLUTE_LIFETIME_SECONDS, 24 h). */
  absoluteLifetimeSec: number;
  /** "Active" means used within this long before the current write (SESSION_ACTIVE_WINDOW_SECONDS, 5 min). */
  activeWindowSec: number;
}

export type TtlReason = 'created' | 'pinned' | 'active' | 'resumed' | 'idle' | 'ended';

export interface TtlInput {
  now: number;
  /** When the session was created (ms). */
  createdAt: number;
  /** The session's last activity before this write (ms); absent when the write creates the session. */
  lastActivity?: number;
  /** True when this write is activity of the session's user (a read of the session, a use of its token). */
  touch: boolean;
  /** A TTL the client fixed for this session at creation (seconds): it replaces the adaptive choice. */
  pinnedSec?: number;
  /** The TTL the session has left before this write (ms), when known. */
  remainingMs?: number;
}

export interface TtlChoice {
  /** The TTL to set (ms); 0 when the session has reached its absolute lifetime and must end. */
  ttlMs: number;
  reason: TtlReason;
}

/**
 * Chooses a session's TTL for one write:
 * - a pinned TTL (the client's `ttl` at creation) is used as it is;
 * - a new session gets the default (30 min);
 * - a session active within the window (5 min) gets the active TTL (1 h);
 * - a session used again after a pause gets the default again;
 * - a write that is not activity (a context merge) to an idle session keeps what the session has left,
 *   but never less than the idle floor (15 min), so the write is not lost at once;
 * and then, whatever the reason: never more than the per-write cap (2 h), never past the absolute lifetime.
 */
export function chooseTtl(policy: TtlPolicy, input: TtlInput): TtlChoice {
  const lifeLeftMs = input.createdAt + policy.absoluteLifetimeSec * 1000 - input.now;
  if (lifeLeftMs <= 0) return { ttlMs: 0, reason: 'ended' };

  let ttlMs: number;
  let reason: TtlReason;
  if (input.pinnedSec !== undefined) {
    ttlMs = input.pinnedSec * 1000;
    reason = 'pinned';
  } else if (input.lastActivity === undefined) {
    ttlMs = policy.defaultSec * 1000;
    reason = 'created';
  } else if (input.now - input.lastActivity <= policy.activeWindowSec * 1000) {
    ttlMs = policy.activeSec * 1000;
    reason = 'active';
  } else if (input.touch) {
    ttlMs = policy.defaultSec * 1000;
    reason = 'resumed';
  } else {
    ttlMs = Math.max(policy.idleFloorSec * 1000, input.remainingMs ?? 0);
    reason = 'idle';
  }
  return { ttlMs: Math.max(1, Math.min(ttlMs, policy.maxPerWriteSec * 1000, lifeLeftMs)), reason };
}

/** The TTL a read sets before it knows the session: the common case (a session in use), corrected if wrong. */
export function provisionalTouchTtlMs(policy: TtlPolicy): number {
  return Math.min(policy.activeSec, policy.maxPerWriteSec) * 1000;
}
