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

  it('leases the run lock for about an interval and renews it while a long tick runs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const task: ScheduledTask = {
      spec: { name: 'leased' as any, intervalSeconds: 1 },
      tick: () => gate, // longer than its lease and its deadline, ignoring the signal
    };
    const first = replica().runTick(task, 2_000_000);
    await sleep(100);
    const ttl = await t.redis.pttl(RedisKeys.lock('leased'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(runLeaseMs(1000));
    await sleep(runLeaseMs(1000) + 1000); // past the first lease: renewed, never run twice at once
    expect(await replica().runTick(task, 2_005_000)).toBe(false);
    release();
    expect(await first).toBe(true);
    expect(await t.redis.exists(RedisKeys.lock('leased'))).toBe(0); // released by its owner
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
