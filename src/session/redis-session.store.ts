// Sessions in Redis: session:{id} (JSON, adaptive TTL), user_sessions:{user_id} (a set of ids, the per-user index)
// and one session_expiry per user bucket (a sorted set of "{id}:{user_id}" by expected expiry, which the clean-up
// job walks so it never scans the keyspace). A session id starts with its user's bucket, so all of a user's keys
// share one Redis Cluster slot and every write that touches several keys is one MULTI.
// (A session created before ids carried the bucket keeps its expiry entry in its id's bucket.)
import { execAll } from '../redis/exec-all';
import type { RedisClient } from '../redis/redis.constants';
import { allSessionBuckets, RedisKeys, sessionBucket } from '../redis/redis-keys';
import { parseSession } from './session-record';
import type { SessionStore, StoredSession, TouchResult } from './session-store';
import { authenticateScript, replaceScript, SESSION_SCRIPTS, touchScript } from './session.scripts';

/** The clean-up job's member for a session: the id (32 hex characters) first, so the user id may hold ':'. */
export const expiryMember = (id: string, userId: string) => `${id}:${userId}`;
export const parseExpiryMember = (member: string) => ({ id: member.slice(0, 32), userId: member.slice(33) });

export class RedisSessionStore implements SessionStore {
  /**
   * @param indexTtlMs how long a user's index outlives the newest session added to it: the absolute lifetime,
   * which no session outlives, so the index never expires before its sessions yet never lingers for good.
   */
  constructor(
    private readonly redis: RedisClient,
    private readonly indexTtlMs: number,
  ) {
    // Defined before any request, so they can share an auto-pipeline with other commands from the start.
    for (const script of SESSION_SCRIPTS) script.define(redis);
  }

  async create(id: string, userId: string, raw: string, ttlMs: number): Promise<void> {
    const index = RedisKeys.userSessions(userId);
    await execAll(
      this.redis
        .multi()
        .set(RedisKeys.session(id), raw, 'PX', ttlMs)
        .sadd(index, id)
        .pexpire(index, this.indexTtlMs)
        .zadd(expiriesOf(id), Date.now() + ttlMs, expiryMember(id, userId)),
    );
  }

  async touch(id: string, nowIso: string, provisionalTtlMs: number): Promise<TouchResult | null> {
    const res = await touchScript.run(this.redis, [RedisKeys.session(id)], [nowIso, provisionalTtlMs]);
    return res ? { raw: res[0], appliedTtlMs: Number(res[1]) } : null;
  }

  async read(id: string): Promise<StoredSession | null> {
    const key = RedisKeys.session(id);
    const [raw, pttl] = (await execAll(this.redis.multi().get(key).pttl(key))) as [string | null, number];
    return raw === null ? null : { id, raw, ttlMs: Math.max(0, pttl) };
  }

  async replace(
    id: string,
    expected: string,
    next: string,
    ttlMs: number,
  ): Promise<'replaced' | 'changed' | 'gone'> {
    const res = await replaceScript.run(this.redis, [RedisKeys.session(id)], [expected, next, ttlMs]);
    return res === 1 ? 'replaced' : res === 0 ? 'changed' : 'gone';
  }

  async expire(id: string, ttlMs: number): Promise<void> {
    await this.redis.pexpire(RedisKeys.session(id), ttlMs);
  }

  async remove(id: string, userId?: string): Promise<boolean> {
    const key = RedisKeys.session(id);
    if (userId === undefined) {
      const raw = await this.redis.get(key);
      if (raw === null) return false;
      userId = parseSession(raw)?.user_id;
      // A value that is not a session has no user to find it under: the index entry goes with the next clean-up.
      if (userId === undefined) return (await this.redis.del(key)) === 1;
    }
    const [deleted] = (await execAll(
      this.redis
        .multi()
        .del(key)
        .srem(RedisKeys.userSessions(userId), id)
        .zrem(expiriesOf(id), expiryMember(id, userId)),
    )) as [number];
    return deleted === 1;
  }

  async listForUser(userId: string): Promise<StoredSession[]> {
    const index = RedisKeys.userSessions(userId);
    const ids = await this.redis.smembers(index);
    if (!ids.length) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.get(RedisKeys.session(id)).pttl(RedisKeys.session(id));
    const values = await execAll(p);
    const live: StoredSession[] = [];
    const dead: string[] = [];
    ids.forEach((id, i) => {
      const raw = values[2 * i] as string | null;
      const pttl = values[2 * i + 1] as number;
      if (raw === null) dead.push(id);
      else live.push({ id, raw, ttlMs: Math.max(0, pttl) });
    });
    if (dead.length) await this.dropFromIndex(userId, dead);
    return live;
  }

  async removeForUser(userId: string, exceptId?: string): Promise<number> {
    const index = RedisKeys.userSessions(userId);
    const ids = (await this.redis.smembers(index)).filter((id) => id !== exceptId);
    if (!ids.length) return 0;
    // SREM of the ids read, not DEL of the index: a session created meanwhile stays listed.
    const m = this.redis.multi();
    for (const id of ids) m.del(RedisKeys.session(id)).zrem(expiriesOf(id), expiryMember(id, userId));
    const res = (await execAll(m.srem(index, ...ids))) as number[];
    return ids.reduce((deleted, _, i) => deleted + res[2 * i], 0);
  }

  async revokeToken(jti: string, denyTtlMs: number, sessionId: string, userId: string): Promise<void> {
    await execAll(
      this.redis
        .multi()
        .set(RedisKeys.tokenDenylist(sessionId, jti), '1', 'PX', denyTtlMs)
        .del(RedisKeys.session(sessionId))
        .srem(RedisKeys.userSessions(userId), sessionId)
        .zrem(expiriesOf(sessionId), expiryMember(sessionId, userId)),
    );
  }

  async authenticate(
    jti: string,
    sessionId: string,
    nowIso: string,
    provisionalTtlMs: number,
  ): Promise<{ denied: boolean; session: TouchResult | null }> {
    const [denied, raw, px] = await authenticateScript.run(
      this.redis,
      [RedisKeys.tokenDenylist(sessionId, jti), RedisKeys.session(sessionId)],
      [nowIso, provisionalTtlMs],
    );
    return {
      denied: denied === 1,
      session: raw === undefined ? null : { raw, appliedTtlMs: Number(px) },
    };
  }

  /** Writes sessions and deny-list entries kept in memory during an outage (plain SET: the memory copy is newer). */
  async restore(
    sessions: { id: string; userId: string; raw: string; ttlMs: number }[],
    denied: { jti: string; sessionId: string; ttlMs: number }[],
  ): Promise<void> {
    const p = this.redis.pipeline();
    for (const s of sessions) {
      const index = RedisKeys.userSessions(s.userId);
      p.set(RedisKeys.session(s.id), s.raw, 'PX', s.ttlMs)
        .sadd(index, s.id)
        .pexpire(index, this.indexTtlMs)
        .zadd(expiriesOf(s.id), Date.now() + s.ttlMs, expiryMember(s.id, s.userId));
    }
    for (const d of denied) p.set(RedisKeys.tokenDenylist(d.sessionId, d.jti), '1', 'PX', d.ttlMs, 'NX');
    await execAll(p);
  }

  /**
   * One batch of the clean-up job: sessions whose expected expiry has passed. Those gone leave their user's
   * index and the expiry set; those still alive (touched since) are rescheduled at their real expiry. Two
   * pipelines whatever the batch size. Returns how many were looked at and how many were gone.
   */
  async cleanupBatch(
    now: number,
    limit: number,
    bucket: string,
  ): Promise<{ checked: number; removed: number }> {
    const expiries = RedisKeys.sessionExpiries(bucket);
    const members = await this.redis.zrangebyscore(expiries, '-inf', now, 'LIMIT', 0, limit);
    if (!members.length) return { checked: 0, removed: 0 };
    const sessions = members.map(parseExpiryMember);
    const read = this.redis.pipeline();
    for (const s of sessions) read.pttl(RedisKeys.session(s.id));
    const ttls = (await execAll(read)) as number[];
    const write = this.redis.pipeline();
    let removed = 0;
    sessions.forEach((s, i) => {
      if (ttls[i] === -2) {
        write.srem(RedisKeys.userSessions(s.userId), s.id).zrem(expiries, members[i]);
        removed++;
      } else {
        // XX: a session deleted meanwhile (and so removed from the set) is not put back.
        write.zadd(expiries, 'XX', now + (ttls[i] > 0 ? ttls[i] : this.indexTtlMs), members[i]);
      }
    });
    await execAll(write);
    return { checked: members.length, removed };
  }

  /** Sessions indexed, across every bucket's expiry set (for the gauge). */
  async count(): Promise<number> {
    const counts = await Promise.all(
      allSessionBuckets().map((b) => this.redis.zcard(RedisKeys.sessionExpiries(b))),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  private async dropFromIndex(userId: string, ids: string[]): Promise<void> {
    const m = this.redis.multi().srem(RedisKeys.userSessions(userId), ...ids);
    for (const id of ids) m.zrem(expiriesOf(id), expiryMember(id, userId));
    await execAll(m);
  }
}

/** The expiry set a session's entry lives in: its id's bucket (its user's, for every session made since). */
const expiriesOf = (id: string) => RedisKeys.sessionExpiries(sessionBucket(id));
