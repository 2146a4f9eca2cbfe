// The session-cleanup job on the real Redis: expired sessions leave their users' indexes; live ones and sessions
// not yet due are left alone; it runs on the worker's schedule with its lock and heartbeat.
import { allSessionBuckets, RedisKeys, sessionBucket } from '../../src/redis/redis-keys';
import { expiryMember } from '../../src/session/redis-session.store';
import { SessionCleanupTask } from '../../src/session/session-cleanup.task';
import { SessionService } from '../../src/session/session.service';
import { ScheduledJobName } from '../../src/workers/job-catalogue';
import { JobScheduler } from '../../src/workers/job-scheduler';
import { startTestApp, TestApp } from '../helpers/test-app';
import { sleep } from '../helpers/wait';

const MIN = 60_000;

describe('session clean-up job', () => {
  let t: TestApp;
  let sessions: SessionService;
  let task: SessionCleanupTask;

  beforeAll(async () => {
    // API and worker in one process; the scheduler's own timer is long, the tests drive ticks themselves.
    t = await startTestApp({ SESSION_CLEANUP_INTERVAL: '3600' }, { role: 'all' });
    await t.app.get(JobScheduler).idle();
    sessions = t.app.get(SessionService);
    task = t.app.get(SessionCleanupTask);
  });
  afterAll(() => t.close());

  const newSession = async (userId: string) => (await sessions.create({ userId })).session_id;
  const expireNow = async (...ids: string[]) => {
    for (const id of ids) await t.redis.pexpire(RedisKeys.session(id), 1);
    await sleep(20);
  };

  it('is scheduled on the worker: its first tick ran at start and wrote a heartbeat', async () => {
    expect(t.app.get(JobScheduler).ticksRun.get(ScheduledJobName.SessionCleanup)).toBe(1);
    expect(await t.redis.exists(RedisKeys.workerHeartbeat(ScheduledJobName.SessionCleanup))).toBe(1);
    const health = (await t.request({ url: '/health', as: 'none' })).json();
    expect(health.components.background_workers.jobs[ScheduledJobName.SessionCleanup]).toMatchObject({
      status: 'up',
      interval_seconds: 3600,
    });
  });

  it('drops expired sessions from their indexes once due, and reschedules live ones', async () => {
    const [a1, a2, a3] = [await newSession('alice'), await newSession('alice'), await newSession('alice')];
    const b1 = await newSession('bob');
    await expireNow(a1, a2, b1);

    // Not due yet (their expected expiry is 30 min away): nothing is looked at.
    expect(await task.tick()).toBeUndefined();
    expect(await t.redis.scard(RedisKeys.userSessions('alice'))).toBe(3);

    const later = Date.now() + 31 * MIN;
    expect(await task.tick(undefined, later)).toMatch(/3 expired/);
    expect(await t.redis.smembers(RedisKeys.userSessions('alice'))).toEqual([a3]);
    expect(await t.redis.exists(RedisKeys.userSessions('bob'))).toBe(0);
    for (const [id, user] of [
      [a1, 'alice'],
      [a2, 'alice'],
      [b1, 'bob'],
    ]) {
      expect(
        await t.redis.zscore(RedisKeys.sessionExpiries(sessionBucket(id)), expiryMember(id, user)),
      ).toBeNull();
    }
    // The live one is due again when its real TTL runs out, not at once.
    const score = Number(
      await t.redis.zscore(RedisKeys.sessionExpiries(sessionBucket(a3)), expiryMember(a3, 'alice')),
    );
    expect(score).toBeGreaterThan(later + 29 * MIN);
    expect(await task.tick(undefined, later)).toBeUndefined();
    expect((await sessions.get(a3)).user_id).toBe('alice');
  });

  it('works through more than one batch in a tick', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 1100; i++) ids.push(await newSession(`many-${i % 7}`));
    for (const id of ids) await t.redis.pexpire(RedisKeys.session(id), 1);
    await sleep(20);
    expect(await task.tick(undefined, Date.now() + 31 * MIN)).toMatch(/1100 expired/);
    for (let i = 0; i < 7; i++) expect(await t.redis.exists(RedisKeys.userSessions(`many-${i}`))).toBe(0);
    const left = await Promise.all(
      allSessionBuckets().map((b) => t.redis.zcard(RedisKeys.sessionExpiries(b))),
    );
    expect(left.reduce((a, b) => a + b, 0)).toBeLessThan(10);
  });
});
