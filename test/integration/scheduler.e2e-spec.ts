// Scheduled ticks run once per interval across replicas, write heartbeats, and survive errors.
import { Heartbeats } from '../../src/workers/heartbeats';
import { JobLock } from '../../src/workers/job-lock';
import { RedisKeys } from '../../src/redis/redis-keys';
import { Injectable, Module } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { SchedulerRegistry } from '@nestjs/schedule';
import { ScheduledJobName, scheduledJobs } from '../../src/workers/job-catalogue';
import {
  JobScheduler,
  runLeaseMs,
  ScheduledJob,
  ScheduledJobHandler,
  ScheduledJobsMismatch,
  ScheduledTask,
  tickDeadlineMs,
} from '../../src/workers/job-scheduler';
import { startTestApp, TestApp } from '../helpers/test-app';
import { testConfig } from '../helpers/test-env';
import { sleep, waitFor } from '../helpers/wait';

describe('JobScheduler', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const replica = () =>
    new JobScheduler({} as any, t.app.get(JobLock), t.app.get(Heartbeats), {} as any, t.config);

  it('runs a tick once per slot however many replicas fire in it', async () => {
    let runs = 0;
    const task: ScheduledTask = {
      spec: { name: `once-${process.pid}-${Date.now()}` as any, intervalSeconds: 60 },
      tick: async () => void runs++,
    };
    const replicas = [replica(), replica(), replica()];
    // Well inside one slot, so that now and now + 5 share it whatever the clock says.
    const now = Math.floor(Date.now() / 60_000) * 60_000 + 1_000;
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
      spec: { name: `slow-${process.pid}-${Date.now()}` as any, intervalSeconds: 1 },
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
    // The replica that found the job busy left its slot unclaimed: one firing later in that slot runs it.
    expect(await replica().runTick(task, 1_001_500)).toBe(true);
    expect(runs).toBe(2);
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

  it('leases the run lock for about an interval and renews it while a long tick runs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // 2.5 s: a lease of 3.75 s and a deadline of 5 s, so the tick outlives its first lease within its deadline.
    const task: ScheduledTask = {
      spec: { name: 'leased' as any, intervalSeconds: 2.5 },
      tick: () => gate,
    };
    const first = replica().runTick(task, 2_000_000);
    await sleep(100);
    const ttl = await t.redis.pttl(RedisKeys.lock('leased'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(runLeaseMs(2500));
    await sleep(runLeaseMs(2500) + 300); // past the first lease: renewed, never run twice at once
    expect(await replica().runTick(task, 2_005_000)).toBe(false);
    release();
    expect(await first).toBe(true);
    expect(await t.redis.exists(RedisKeys.lock('leased'))).toBe(0); // released by its owner
  });

  it('gives up a tick stuck past its deadline: another replica runs the job within a lease', async () => {
    // A tick stuck in a call that never returns and never looks at its signal (a stalled Postgres link).
    let stuckRuns = 0;
    const stuck: ScheduledTask = {
      spec: { name: 'stalled' as any, intervalSeconds: 1 },
      tick: () => {
        stuckRuns++;
        return new Promise(() => undefined);
      },
    };
    const a = replica();
    const started = Date.now();
    expect(await a.runTick(stuck, 4_000_000)).toBe(false); // given up at its deadline
    const gaveUp = Date.now() - started;
    expect(gaveUp).toBeGreaterThanOrEqual(tickDeadlineMs(1000) - 50);
    expect(gaveUp).toBeLessThan(tickDeadlineMs(1000) + 1000);
    // While its tick still hangs, this replica leaves the next slots to others instead of wasting them.
    expect(await a.runTick(stuck, 4_001_000)).toBe(false);
    expect(await t.redis.exists(RedisKeys.lock(`stalled:${4_001}`))).toBe(0);
    expect(stuckRuns).toBe(1);
    // Its lease is no longer renewed: a healthy replica runs the job within one lease.
    let runs = 0;
    const healthy: ScheduledTask = { spec: stuck.spec, tick: async () => void runs++ };
    const b = replica();
    await waitFor(() => b.runTick(healthy), 'a healthy replica runs it', 10000, 100);
    expect(Date.now() - started - gaveUp).toBeLessThanOrEqual(runLeaseMs(1000) + 500);
    expect(runs).toBe(1);
  });

  it('lets another replica run a job about one interval after its worker died mid-tick', async () => {
    // A worker took the run lock and died: nobody renews it.
    expect(await t.app.get(JobLock).acquire('orphaned', runLeaseMs(1000))).toBeTruthy();
    let runs = 0;
    const task: ScheduledTask = {
      spec: { name: 'orphaned' as any, intervalSeconds: 1 },
      tick: async () => void runs++,
    };
    const started = Date.now();
    await waitFor(() => replica().runTick(task), 'another replica runs it', 10000, 200);
    expect(Date.now() - started).toBeLessThan(runLeaseMs(1000) + 2000);
    expect(runs).toBe(1);
  });

  it('bounds every tick: its signal aborts at the deadline', async () => {
    const task: ScheduledTask = {
      spec: { name: 'bounded' as any, intervalSeconds: 1 },
      tick: (signal) =>
        new Promise((resolve) => signal!.addEventListener('abort', () => resolve('stopped at the deadline'))),
    };
    const started = Date.now();
    expect(await replica().runTick(task, 3_000_000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(tickDeadlineMs(1000) - 50);
  });
});

describe('scheduled jobs, declared once in the catalogue', () => {
  @Injectable()
  @ScheduledJob(ScheduledJobName.MessageRelay)
  class SecondRelay implements ScheduledJobHandler {
    async tick(): Promise<void> {}
  }
  @Module({ providers: [SecondRelay] })
  class SecondRelayModule {}

  it('binds every catalogued job to its handler at boot, the worker heartbeat to the scheduler itself', async () => {
    const t = await startTestApp({}, { role: 'all' });
    try {
      const scheduler = t.app.get(JobScheduler);
      const bound = (scheduler as unknown as { tasks: ScheduledTask[] }).tasks.map((x) => x.spec.name);
      expect(bound.sort()).toEqual(
        scheduledJobs(t.config)
          .map((j) => j.name)
          .sort(),
      );
    } finally {
      await t.close();
    }
  });

  it('stops the boot when a job has two handlers', async () => {
    await expect(startTestApp({}, { role: 'all', extraModules: [SecondRelayModule] })).rejects.toThrow(
      /scheduled job message-relay has two handlers/,
    );
  });

  it('stops the boot when a catalogued job has no handler', () => {
    // The handlers found: none (a worker whose module lost its task).
    const none = { getProviders: () => [] } as unknown as DiscoveryService;
    const registry = { addInterval: () => undefined } as unknown as SchedulerRegistry;
    const config = testConfig({}, 'worker');
    const scheduler = new JobScheduler(registry, {} as any, {} as any, none, config);
    let error: unknown;
    try {
      scheduler.onApplicationBootstrap();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ScheduledJobsMismatch);
    for (const job of scheduledJobs(config).filter((j) => j.name !== ScheduledJobName.Worker))
      expect((error as Error).message).toContain(`scheduled job ${job.name} has no handler`);
  });
});
