import { MemorySessionStore } from './memory-session.store';
import { parseSession, serializeSession, SessionRecord } from './session-record';

const at = (ms: number) => new Date(ms).toISOString();

function record(userId: string, ttl?: number): string {
  const r: SessionRecord = {
    last_activity: at(0),
    ttl,
    user_id: userId,
    created_at: at(0),
    context: {},
    ip: null,
    user_agent: null,
  };
  return serializeSession(r);
}

describe('MemorySessionStore', () => {
  let now: number;
  const clock = () => now;
  beforeEach(() => (now = 1_000_000));

  it('expires sessions after their TTL', async () => {
    const store = new MemorySessionStore(10, clock);
    await store.create('a', 'u', record('u'), 1000);
    now += 999;
    expect(await store.read('a')).toMatchObject({ id: 'a', ttlMs: 1 });
    now += 1;
    expect(await store.read('a')).toBeNull();
    expect(store.size).toBe(0);
  });

  it('touch returns the value before it, stores the new last_activity and sets the TTL', async () => {
    const store = new MemorySessionStore(10, clock);
    const raw = record('u');
    await store.create('a', 'u', raw, 1000);
    const touched = await store.touch('a', at(now), 5000);
    expect(touched).toEqual({ raw, appliedTtlMs: 5000 });
    expect(parseSession((await store.read('a'))!.raw)!.last_activity).toBe(at(now));
    now += 4000;
    expect(await store.read('a')).not.toBeNull();
  });

  it('keeps a pinned TTL on touch, like the Redis script', async () => {
    const store = new MemorySessionStore(10, clock);
    await store.create('a', 'u', record('u', 60), 60_000);
    expect((await store.touch('a', at(now), 3_600_000))!.appliedTtlMs).toBe(60_000);
  });

  it('is bounded: the least recently used session goes first', async () => {
    const store = new MemorySessionStore(3, clock);
    for (const id of ['a', 'b', 'c']) await store.create(id, 'u', record('u'), 60_000);
    await store.touch('a', at(now), 60_000); // a is now the most recent
    await store.create('d', 'u', record('u'), 60_000);
    expect(store.size).toBe(3);
    expect(store.has('b')).toBe(false);
    expect(['a', 'c', 'd'].every((id) => store.has(id))).toBe(true);
    expect(store.evicted).toBe(1);
    expect((await store.listForUser('u')).map((s) => s.id).sort()).toEqual(['a', 'c', 'd']);
  });

  it('evicts expired sessions before live ones when full', async () => {
    const store = new MemorySessionStore(2, clock);
    await store.create('old', 'u', record('u'), 60_000);
    await store.create('short', 'u', record('u'), 10);
    now += 20;
    await store.create('new', 'u', record('u'), 60_000);
    expect(store.has('old')).toBe(true);
    expect(store.evicted).toBe(0);
  });

  it('lists and revokes per user, except one', async () => {
    const store = new MemorySessionStore(10, clock);
    for (const id of ['a', 'b', 'c']) await store.create(id, 'u1', record('u1'), 60_000);
    await store.create('x', 'u2', record('u2'), 60_000);
    expect(await store.removeForUser('u1', 'b')).toBe(2);
    expect((await store.listForUser('u1')).map((s) => s.id)).toEqual(['b']);
    expect((await store.listForUser('u2')).map((s) => s.id)).toEqual(['x']);
  });

  it('replaces only what was read (compare-and-set)', async () => {
    const store = new MemorySessionStore(10, clock);
    const raw = record('u');
    await store.create('a', 'u', raw, 60_000);
    expect(await store.replace('a', 'something else', 'new', 1000)).toBe('changed');
    expect(await store.replace('a', raw, 'new', 1000)).toBe('replaced');
    expect(await store.replace('zz', raw, 'new', 1000)).toBe('gone');
  });

  it('deny-lists token ids until their TTL, and logout ends the session', async () => {
    const store = new MemorySessionStore(10, clock);
    await store.create('a', 'u', record('u'), 60_000);
    await store.revokeToken('jti-1', 5000, 'a', 'u');
    expect(await store.authenticate('jti-1', 'a', at(now), 1000)).toEqual({ denied: true, session: null });
    now += 5000;
    expect(store.isDenied('jti-1')).toBe(false);
  });

  it('hands over what it holds, with the TTL left, and forgets only unchanged sessions', async () => {
    const store = new MemorySessionStore(10, clock);
    await store.create('a', 'u', record('u'), 60_000);
    await store.create('b', 'u', record('u'), 60_000);
    store.deny('j', 30_000, 'ab');
    now += 10_000;
    const snap = store.snapshot();
    expect(snap.sessions.map((s) => [s.id, s.userId, s.ttlMs])).toEqual([
      ['a', 'u', 50_000],
      ['b', 'u', 50_000],
    ]);
    expect(snap.denied).toEqual([{ jti: 'j', sessionId: 'ab', ttlMs: 20_000 }]);
    await store.touch('b', at(now), 60_000); // changed after the snapshot
    for (const s of snap.sessions) store.forget(s.id, s.raw);
    expect(store.has('a')).toBe(false);
    expect(store.has('b')).toBe(true);
  });
});
