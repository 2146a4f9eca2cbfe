import { validateEnv, InvalidConfigError } from '../config/env';
import {
  LAST_ACTIVITY_HEAD,
  mergeContext,
  newSessionId,
  replaceIfUnchanged,
  parseSession,
  SESSION_ID_PATTERN,
  SessionRecord,
  serializeSession,
} from './session-record';
import { userBucket } from '../redis/redis-keys';

const record: SessionRecord = {
  last_activity: '2026-01-01T00:10:00.000Z',
  user_id: 'user-1',
  created_at: '2026-01-01T00:00:00.000Z',
  context: { list: [], n: 1234.5678, nested: { a: 1 } },
  ip: '203.0.113.7',
  user_agent: 'curl/8',
};

describe('session records', () => {
  it('makes ids of 120 random bits after the user bucket, different each time', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newSessionId('user-1')));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(SESSION_ID_PATTERN);
    // Every session of one user starts with that user's bucket (one Redis Cluster slot for all of them).
    expect(new Set([...ids].map((id) => id.slice(0, 2)))).toEqual(new Set([userBucket('user-1')]));
    expect(new Set([...ids].map((id) => id.slice(2, 4))).size).toBeGreaterThan(200);
  });

  it('always writes last_activity first and a pinned ttl second, where the touch script expects them', () => {
    const plain = serializeSession({ ...record, user_id: 'u' });
    expect(plain.startsWith(`${LAST_ACTIVITY_HEAD}2026-01-01T00:10:00.000Z",`)).toBe(true);
    expect(plain.charAt(42)).toBe('"');
    expect(plain.slice(43)).toMatch(/^,"user_id":/);
    const pinned = serializeSession({ ...record, ttl: 600 });
    expect(pinned.slice(43)).toMatch(/^,"ttl":600,"user_id":/);
  });

  it('reads back what it wrote', () => {
    expect(parseSession(serializeSession(record))).toEqual(record);
    expect(parseSession(serializeSession({ ...record, ttl: 90 }))).toEqual({ ...record, ttl: 90 });
  });

  it('refuses values that are not sessions', () => {
    for (const raw of [
      'not json{',
      '[]',
      'null',
      '"text"',
      JSON.stringify({ ...record, user_id: 7 }),
      JSON.stringify({ ...record, created_at: 'yesterday' }),
      JSON.stringify({ ...record, context: [] }),
      JSON.stringify({ ...record, ttl: -5 }),
    ]) {
      expect([raw, parseSession(raw)]).toEqual([raw, null]);
    }
  });

  it('lets a merge through a touch in between (keeping the newer last_activity), but not another merge', () => {
    const read = serializeSession(record);
    const touched = serializeSession({ ...record, last_activity: '2026-01-01T00:20:00.000Z' });
    const next = serializeSession({ ...record, context: { merged: true } });
    expect(replaceIfUnchanged(read, read, next)).toBe(next);
    expect(JSON.parse(replaceIfUnchanged(touched, read, next)!)).toEqual({
      ...record,
      last_activity: '2026-01-01T00:20:00.000Z',
      context: { merged: true },
    });
    const otherMerge = serializeSession({ ...record, context: { other: 1 } });
    expect(replaceIfUnchanged(otherMerge, read, next)).toBeNull();
    expect(replaceIfUnchanged('{"foreign":1}', read, next)).toBeNull();
  });

  it('merges top-level keys, removes keys set to null, and treats __proto__ as data', () => {
    const merged = mergeContext({ a: 1, b: { x: 1 }, c: 3 }, { b: { y: 2 }, c: null, d: 4 });
    expect(merged).toEqual({ a: 1, b: { y: 2 }, d: 4 });
    const sneaky = mergeContext({}, JSON.parse('{"__proto__": {"polluted": true}}'));
    expect(Object.getPrototypeOf(sneaky)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('session configuration', () => {
  it('has the SPEC defaults', () => {
    const env = validateEnv({ API_KEYS: 'k' });
    expect([
      env.SESSION_TTL_SECONDS,
      env.SESSION_ACTIVE_TTL_SECONDS,
      env.SESSION_IDLE_TTL_SECONDS,
      env.SESSION_MAX_TTL_SECONDS,
      env.SESSION_ACTIVE_WINDOW_SECONDS,
      env.SESSION_ABSOLUTE_LIFETIME_SECONDS,
      env.ACCESS_TOKEN_TTL_SECONDS,
      env.SESSION_FALLBACK,
    ]).toEqual([1800, 3600, 900, 7200, 300, 86400, 900, 'memory']);
  });

  it('refuses TTLs out of order (idle <= default <= active <= max)', () => {
    let problems: string[] = [];
    try {
      validateEnv({ API_KEYS: 'k', SESSION_TTL_SECONDS: '4000', SESSION_MAX_TTL_SECONDS: '3000' });
    } catch (err) {
      problems = (err as InvalidConfigError).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^SESSION_TTL_SECONDS: must not exceed SESSION_ACTIVE_TTL_SECONDS/),
      expect.stringMatching(/^SESSION_ACTIVE_TTL_SECONDS: must not exceed SESSION_MAX_TTL_SECONDS/),
    ]);
  });
});
