import { chooseTtl, provisionalTouchTtlMs, TtlPolicy } from './session-ttl';

const MIN = 60_000;
const HOUR = 60 * MIN;
const policy: TtlPolicy = {
  defaultSec: 1800,
  activeSec: 3600,
  idleFloorSec: 900,
  maxPerWriteSec: 7200,
  absoluteLifetimeSec: 86400,
  activeWindowSec: 300,
};
const t0 = Date.parse('2026-01-01T00:00:00.000Z');

describe('chooseTtl', () => {
  it('gives a new session the default 30 minutes', () => {
    expect(chooseTtl(policy, { now: t0, createdAt: t0, touch: true })).toEqual({
      ttlMs: 30 * MIN,
      reason: 'created',
    });
  });

  it('gives 1 h to a session active within the last 5 minutes, up to the edge of the window', () => {
    const created = t0 - 2 * HOUR;
    for (const idle of [0, 1000, 4 * MIN, 5 * MIN]) {
      expect(
        chooseTtl(policy, { now: t0, createdAt: created, lastActivity: t0 - idle, touch: true }),
      ).toEqual({
        ttlMs: HOUR,
        reason: 'active',
      });
    }
  });

  it('gives the default again to a session used after a pause longer than the window', () => {
    const choice = chooseTtl(policy, {
      now: t0,
      createdAt: t0 - 2 * HOUR,
      lastActivity: t0 - 5 * MIN - 1,
      touch: true,
    });
    expect(choice).toEqual({ ttlMs: 30 * MIN, reason: 'resumed' });
  });

  it('keeps what an idle session has left on a write that is not activity, but never under the 15 min floor', () => {
    const idle = { now: t0, createdAt: t0 - HOUR, lastActivity: t0 - 20 * MIN, touch: false };
    expect(chooseTtl(policy, { ...idle, remainingMs: 25 * MIN })).toEqual({
      ttlMs: 25 * MIN,
      reason: 'idle',
    });
    expect(chooseTtl(policy, { ...idle, remainingMs: 2 * MIN })).toEqual({ ttlMs: 15 * MIN, reason: 'idle' });
    expect(chooseTtl(policy, { ...idle })).toEqual({ ttlMs: 15 * MIN, reason: 'idle' });
  });

  it('treats a write that is not activity to an active session like activity (1 h)', () => {
    const choice = chooseTtl(policy, {
      now: t0,
      createdAt: t0 - HOUR,
      lastActivity: t0 - MIN,
      touch: false,
      remainingMs: 10 * MIN,
    });
    expect(choice).toEqual({ ttlMs: HOUR, reason: 'active' });
  });

  it('uses a pinned TTL as it is, whatever the activity', () => {
    for (const lastActivity of [undefined, t0, t0 - HOUR]) {
      expect(
        chooseTtl(policy, { now: t0, createdAt: t0 - 2 * HOUR, lastActivity, touch: true, pinnedSec: 120 }),
      ).toEqual({ ttlMs: 2 * MIN, reason: 'pinned' });
    }
  });

  it('never sets more than the per-write cap', () => {
    const capped = { ...policy, maxPerWriteSec: 1200 };
    expect(chooseTtl(capped, { now: t0, createdAt: t0, touch: true }).ttlMs).toBe(20 * MIN);
    expect(chooseTtl(capped, { now: t0, createdAt: t0 - HOUR, lastActivity: t0, touch: true }).ttlMs).toBe(
      20 * MIN,
    );
    expect(chooseTtl(policy, { now: t0, createdAt: t0, touch: true, pinnedSec: 4 * 3600 }).ttlMs).toBe(
      2 * HOUR,
    );
    const idle = { now: t0, createdAt: t0 - HOUR, lastActivity: t0 - HOUR, touch: false };
    expect(chooseTtl(policy, { ...idle, remainingMs: 3 * HOUR }).ttlMs).toBe(2 * HOUR);
  });

  it('never lets a session outlive its absolute lifetime, however active', () => {
    const created = t0 - 24 * HOUR + 10 * MIN; // 10 minutes of life left
    expect(chooseTtl(policy, { now: t0, createdAt: created, lastActivity: t0 - MIN, touch: true })).toEqual({
      ttlMs: 10 * MIN,
      reason: 'active',
    });
    expect(chooseTtl(policy, { now: t0, createdAt: created, touch: true, pinnedSec: 7200 }).ttlMs).toBe(
      10 * MIN,
    );
  });

  it('ends a session at its absolute lifetime', () => {
    for (const createdAt of [t0 - 24 * HOUR, t0 - 30 * HOUR]) {
      expect(chooseTtl(policy, { now: t0, createdAt, lastActivity: t0 - 1000, touch: true })).toEqual({
        ttlMs: 0,
        reason: 'ended',
      });
    }
  });

  it('honours a configured lifetime and window', () => {
    const short = { ...policy, absoluteLifetimeSec: 3600, activeWindowSec: 10 };
    expect(
      chooseTtl(short, { now: t0, createdAt: t0 - 30 * MIN, lastActivity: t0 - 11_000, touch: true }),
    ).toEqual({ ttlMs: 30 * MIN, reason: 'resumed' });
    expect(
      chooseTtl(short, { now: t0, createdAt: t0 - 50 * MIN, lastActivity: t0 - 9_000, touch: true }),
    ).toEqual({ ttlMs: 10 * MIN, reason: 'active' });
  });
});

describe('provisionalTouchTtlMs', () => {
  it('is the active TTL (what a session in use gets), within the per-write cap', () => {
    expect(provisionalTouchTtlMs(policy)).toBe(HOUR);
    expect(provisionalTouchTtlMs({ ...policy, maxPerWriteSec: 1800 })).toBe(30 * MIN);
  });
});
