// The one interface sessions are stored behind; Redis implements it, and an in-memory store stands in for Redis
// while it is unreachable (SESSION_FALLBACK=memory). Values are the serialised records of session-record.ts.

export interface TouchResult {
  /** The value as stored before this touch. */
  raw: string;
  /** The TTL the touch set (ms); 0 when the value was not in the expected form and was left as it was. */
  appliedTtlMs: number;
}

export interface StoredSession {
  id: string;
  raw: string;
  /** The TTL left (ms). */
  ttlMs: number;
}

export interface SessionStore {
  /** Writes a new session and adds it to its user's index, together. */
  create(id: string, userId: string, raw: string, ttlMs: number): Promise<void>;
  /** Reads a session and, in the same step, writes the new last_activity with a TTL (see touchScript). */
  touch(id: string, nowIso: string, provisionalTtlMs: number): Promise<TouchResult | null>;
  /** Reads a session without touching it. */
  read(id: string): Promise<StoredSession | null>;
  /** Replaces a session if it still holds `expected`: 'replaced', 'changed' (read again) or 'gone'. */
  replace(
    id: string,
    expected: string,
    next: string,
    ttlMs: number,
  ): Promise<'replaced' | 'changed' | 'gone'>;
  /** Sets a session's TTL (a correction after a touch). */
  expire(id: string, ttlMs: number): Promise<void>;
  /** Deletes a session and its index entry (when the user is known). True when it existed. */
  remove(id: string, userId?: string): Promise<boolean>;
  /** A user's live sessions; index entries of sessions that expired are dropped on the way. */
  listForUser(userId: string): Promise<StoredSession[]>;
  /** Deletes every session of a user except `exceptId`; returns how many were deleted. */
  removeForUser(userId: string, exceptId?: string): Promise<number>;
  /** Logout: deny-lists a token id for `denyTtlMs` and deletes its session, together. */
  revokeToken(jti: string, denyTtlMs: number, sessionId: string, userId: string): Promise<void>;
  /** Whether the token id is deny-listed, and the session as a touch sees it, in one step. */
  authenticate(
    jti: string,
    sessionId: string,
    nowIso: string,
    provisionalTtlMs: number,
  ): Promise<{ denied: boolean; session: TouchResult | null }>;
}
