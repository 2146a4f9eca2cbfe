// Scheduled ticks run once per interval across replicas, write heartbeats, and survive errors.
import { Heartbeats } from '../../src/workers/heartbeats';
import { JobLock } from '../../src/workers/job-lock';
import { JobScheduler, ScheduledTask } from '../../src/workers/job-scheduler';
import { startTestApp, TestApp } from '../helpers/test-app';

describe('JobScheduler', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const replica = () => new JobScheduler({} as any, t.app.get(JobLock), t.app.get(Heartbeats));

  it('runs a tick once per slot however many replicas fire in it', async () => {
    let runs = 0;
    const task: ScheduledTask = {
      spec: { name: 'once' as any, intervalSeconds: 60 },
      tick: async () => void runs++,
    };
    const replicas = [replica(), replica(), replica()];
    const now = Date.now();
    const results = await Promise.all(
      replicas.flatMap((r) => [r.runTick(task, now), r.runTick(task, now + 5)]),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(runs).toBe(1);
    // The next slot runs again.
    expect(await replicas[1].runTick(task, now + 60_000)).toBe(true);
    expect(runs).toBe(2);
  });

  it('never overlaps a slow tick with the next one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    const task: ScheduledTask = {
      spec: { name: 'slow' as any, intervalSeconds: 1 },
      tick: async () => {
        runs++;
        await gate;
      },
    };
    const a = replica();
    const first = a.runTick(task, 1_000_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(await replica().runTick(task, 1_001_000)).toBe(false); // next slot, but the first is still running
    release();
    expect(await first).toBe(true);
    expect(runs).toBe(1);
  });

  it('writes a heartbeat after a tick and keeps going after an error', async () => {
    const failing: ScheduledTask = {
      spec: { name: 'flaky' as any, intervalSeconds: 60 },
      tick: async () => {
        throw new Error('boom');
      },
    };
    const r = replica();
    expect(await r.runTick(failing, 0)).toBe(false);
    const ok: ScheduledTask = {
      spec: { name: 'steady' as any, intervalSeconds: 60 },
      tick: async () => 'did work',
    };
    expect(await r.runTick(ok)).toBe(true);
    const beats = await t.app.get(Heartbeats).read([{ name: 'steady', intervalSeconds: 60 }] as any);
    expect(beats.steady.status).toBe('up');
  });
});
