// The stand-in for Redis while it is unreachable (SESSION_FALLBACK=memory): this replica's sessions and token
// deny-list in process memory, with TTLs, and bounded so an outage cannot exhaust the heap.
import { parseSession, replaceIfUnchanged, serializeSession } from './session-record';
import type { SessionStore, StoredSession, TouchResult } from './session-store';

interface Entry {
  raw: string;
  userId: string;
  expiresAt: number;
}

export interface MemoryEntry extends StoredSession {
  userId: string;
}

export class MemorySessionStore implements SessionStore {
  /** Insertion order is recency order: a touched session moves to the end, the oldest is evicted first. */
  private readonly sessions = new Map<string, Entry>();
  private readonly byUser = new Map<string, Set<string>>();
  /** Revoked tokens by jti: until when, and their session (whose bucket their Redis key carries). */
  private readonly denied = new Map<string, { until: number; sessionId: string }>();
  /** Sessions pushed out because the store was full (for the metric). */
  evicted = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get size(): number {
    this.sweep();
    return this.sessions.size;
  }

  /** Whether anything (sessions or revoked tokens, expired or not) is held: cheap, no sweep. */
  get holdsAny(): boolean {
    return this.sessions.size > 0 || this.denied.size > 0;
  }

  /** Whether a session is held here (expired ones are not). */
  has(id: string): boolean {
    return this.live(id) !== undefined;
  }

  async create(id: string, userId: string, raw: string, ttlMs: number): Promise<void> {
    this.makeRoom();
    this.sessions.set(id, { raw, userId, expiresAt: this.clock() + ttlMs });
    let ids = this.byUser.get(userId);
    if (!ids) this.byUser.set(userId, (ids = new Set()));
    ids.add(id);
  }

  async touch(id: string, nowIso: string, provisionalTtlMs: number): Promise<TouchResult | null> {
    const e = this.live(id);
    if (!e) return null;
    const record = parseSession(e.raw);
    if (!record) return { raw: e.raw, appliedTtlMs: 0 };
    const ttlMs = record.ttl !== undefined ? record.ttl * 1000 : provisionalTtlMs;
    this.sessions.delete(id);
    this.sessions.set(id, {
      ...e,
      raw: serializeSession({ ...record, last_activity: nowIso }),
      expiresAt: this.clock() + ttlMs,
    });
    return { raw: e.raw, appliedTtlMs: ttlMs };
  }

  async read(id: string): Promise<StoredSession | null> {
    const e = this.live(id);
    return e ? { id, raw: e.raw, ttlMs: e.expiresAt - this.clock() } : null;
  }

  async replace(
    id: string,
    expected: string,
    next: string,
    ttlMs: number,
  ): Promise<'replaced' | 'changed' | 'gone'> {
    const e = this.live(id);
    if (!e) return 'gone';
    const value = replaceIfUnchanged(e.raw, expected, next);
    if (value === null) return 'changed';
    // Like the script: a merge never shortens the TTL a touch in between set.
    const expiresAt = Math.max(e.expiresAt, this.clock() + ttlMs);
    this.sessions.set(id, { ...e, raw: value, expiresAt });
    return 'replaced';
  }

  async expire(id: string, ttlMs: number): Promise<void> {
    const e = this.live(id);
    if (e) e.expiresAt = this.clock() + ttlMs;
  }

  async remove(id: string): Promise<boolean> {
    const e = this.sessions.get(id);
    if (!e) return false;
    this.drop(id, e.userId);
    return e.expiresAt > this.clock();
  }

  async listForUser(userId: string): Promise<StoredSession[]> {
    const out: StoredSession[] = [];
    for (const id of [...(this.byUser.get(userId) ?? [])]) {
      const e = this.live(id);
      if (e) out.push({ id, raw: e.raw, ttlMs: e.expiresAt - this.clock() });
    }
    return out;
  }

  async removeForUser(userId: string, exceptId?: string): Promise<number> {
    let removed = 0;
    for (const id of [...(this.byUser.get(userId) ?? [])]) {
      if (id === exceptId) continue;
      if (this.live(id)) removed++;
      this.drop(id, userId);
    }
    return removed;
  }

  async revokeToken(jti: string, denyTtlMs: number, sessionId: string, userId: string): Promise<void> {
    this.deny(jti, denyTtlMs, sessionId);
    this.drop(sessionId, userId);
  }

  async authenticate(
    jti: string,
    sessionId: string,
    nowIso: string,
    provisionalTtlMs: number,
  ): Promise<{ denied: boolean; session: TouchResult | null }> {
    return { denied: this.isDenied(jti), session: await this.touch(sessionId, nowIso, provisionalTtlMs) };
  }

  deny(jti: string, ttlMs: number, sessionId: string): void {
    if (this.denied.size >= this.maxEntries) this.sweepDenied();
    // A full deny-list drops its oldest entries; their sessions are deleted anyway, so the tokens stay refused.
    while (this.denied.size >= this.maxEntries) this.denied.delete(this.denied.keys().next().value!);
    this.denied.set(jti, { until: this.clock() + ttlMs, sessionId });
  }

  isDenied(jti: string): boolean {
    const until = this.denied.get(jti)?.until;
    if (until === undefined) return false;
    if (until > this.clock()) return true;
    this.denied.delete(jti);
    return false;
  }

  /** Everything held, with the TTL left, for moving into Redis once it is back. */
  snapshot(): { sessions: MemoryEntry[]; denied: { jti: string; sessionId: string; ttlMs: number }[] } {
    this.sweep();
    this.sweepDenied();
    const now = this.clock();
    return {
      sessions: [...this.sessions].map(([id, e]) => ({
        id,
        raw: e.raw,
        userId: e.userId,
        ttlMs: e.expiresAt - now,
      })),
      denied: [...this.denied].map(([jti, d]) => ({ jti, sessionId: d.sessionId, ttlMs: d.until - now })),
    };
  }

  /** Forgets a session moved to Redis, unless it changed after the snapshot was taken. */
  forget(id: string, raw: string): void {
    const e = this.sessions.get(id);
    if (e && e.raw === raw) this.drop(id, e.userId);
  }

  forgetDenied(jti: string): void {
    this.denied.delete(jti);
  }

  private live(id: string): Entry | undefined {
    const e = this.sessions.get(id);
    if (!e) return undefined;
    if (e.expiresAt > this.clock()) return e;
    this.drop(id, e.userId);
    return undefined;
  }

  private drop(id: string, userId: string): void {
    this.sessions.delete(id);
    const ids = this.byUser.get(userId);
    if (!ids) return;
    ids.delete(id);
    if (!ids.size) this.byUser.delete(userId);
  }

  private makeRoom(): void {
    if (this.sessions.size < this.maxEntries) return;
    this.sweep();
    while (this.sessions.size >= this.maxEntries) {
      const [id, e] = this.sessions.entries().next().value!;
      this.drop(id, e.userId);
      this.evicted++;
    }
  }

  private sweep(): void {
    const now = this.clock();
    for (const [id, e] of this.sessions) if (e.expiresAt <= now) this.drop(id, e.userId);
  }

  private sweepDenied(): void {
    const now = this.clock();
    for (const [jti, d] of this.denied) if (d.until <= now) this.denied.delete(jti);
  }
}
