import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../config/app-config';
import { Heartbeats } from './heartbeats';
import { ScheduledJobName, scheduledJobs, ScheduledJobSpec } from './job-catalogue';
import { JobLock } from './job-lock';

/** The handler of a catalogued scheduled job: a provider marked `@ScheduledJob(name)`. */
export interface ScheduledJobHandler {
  /**
   * Does one tick of work in bounded batches; returns a one-line summary when it did something. `signal`
   * aborts when the tick's time is up (or its run lock was lost): stop after the current batch.
   */
  tick(signal?: AbortSignal): Promise<string | void>;
}

/**
 * Marks a provider as the handler of a scheduled job of the catalogue (src/workers/job-catalogue.ts, where
 * every job and its interval are declared). The scheduler finds handlers at boot through Nest's
 * DiscoveryService; a catalogued job without a handler stops the boot.
 */
export const ScheduledJob = DiscoveryService.createDecorator<ScheduledJobName>();

/** A catalogued job bound to its handler: what the scheduler runs. */
export interface ScheduledTask extends ScheduledJobHandler {
  readonly spec: ScheduledJobSpec;
}

/** Why a worker cannot start: the catalogue and the handlers disagree. */
export class ScheduledJobsMismatch extends Error {}

/**
 * The run lock's lease: one and a half intervals (at least 3 s), renewed every third of it while the tick
 * runs, so a worker that dies mid-tick blocks the job for about one interval, and a long tick is never run
 * twice at once.
 */
export const runLeaseMs = (intervalMs: number) => Math.max(3000, Math.round(intervalMs * 1.5));
/** A tick's time: two intervals, between 1 s and 5 minutes; then its signal aborts. */
export const tickDeadlineMs = (intervalMs: number) => Math.min(5 * 60_000, Math.max(1000, intervalMs * 2));

/**
 * Runs registered tasks on their intervals (@nestjs/schedule's registry), once per tick across replicas:
 * a tick first takes the run lock (lock:{job}, a lease renewed while the tick runs, released by its owner
 * only) so a slow tick never overlaps the next and a dead worker's lock lapses soon, then claims its time slot
 * (lock:{job}:{slot}, SET NX, never released, expires after two intervals), so replicas whose timers fire at
 * different moments of one interval still run it once. Each tick gets a signal that aborts at its deadline.
 * Every tick that ran writes the job's heartbeat; errors are logged and the schedule goes on.
 */
@Injectable()
export class JobScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Scheduler');
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Set<Promise<unknown>>();
  private stopped = false;
  /** Ticks this process actually ran, by job (tests count them across replicas). */
  readonly ticksRun = new Map<string, number>();

  constructor(
    private readonly registry: SchedulerRegistry,
    private readonly lock: JobLock,
    private readonly heartbeats: Heartbeats,
    private readonly discovery: DiscoveryService,
    private readonly config: AppConfig,
  ) {}

  /**
   * Every job of the catalogue with its handler. The worker job has none: the scheduler's own heartbeat proves
   * a worker is alive when no other job has work. A catalogued job without a handler, a handler of a job the
   * catalogue does not list, or two handlers of one job, is a ScheduledJobsMismatch.
   */
  private bind(): ScheduledTask[] {
    const handlers = new Map<string, ScheduledJobHandler>();
    const problems: string[] = [];
    const catalogue = scheduledJobs(this.config);
    for (const wrapper of this.discovery.getProviders({ metadataKey: ScheduledJob.KEY })) {
      const name = this.discovery.getMetadataByDecorator(ScheduledJob, wrapper);
      if (!name || !wrapper.instance) continue;
      if (handlers.has(name)) problems.push(`scheduled job ${name} has two handlers`);
      if (!catalogue.some((j) => j.name === name))
        problems.push(`${wrapper.name} handles ${name}, which the job catalogue does not list`);
      handlers.set(name, wrapper.instance as ScheduledJobHandler);
    }
    const tasks = catalogue.map((spec): ScheduledTask | undefined => {
      if (spec.name === ScheduledJobName.Worker) return { spec, tick: async () => undefined };
      const handler = handlers.get(spec.name);
      if (!handler) {
        problems.push(`scheduled job ${spec.name} has no handler (a provider marked @ScheduledJob)`);
        return undefined;
      }
      return { spec, tick: (signal) => handler.tick(signal) };
    });
    if (problems.length) throw new ScheduledJobsMismatch(problems.join('; '));
    return tasks as ScheduledTask[];
  }

  onApplicationBootstrap(): void {
    this.tasks.push(...this.bind());
    for (const task of this.tasks) {
      const ms = task.spec.intervalSeconds * 1000;
      const fire = () => void this.track(this.runTick(task));
      this.registry.addInterval(`job:${task.spec.name}`, setInterval(fire, ms));
      fire();
    }
  }

  /** Before Redis and Postgres close: stop the timers and let running ticks finish. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    for (const name of this.registry.getIntervals()) this.registry.deleteInterval(name);
    await Promise.allSettled([...this.running]);
  }

  /** Resolves when no tick of this process is running. */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  /**
   * Runs one tick now if this replica wins the slot; resolves to whether it ran. Each attempt leaves one debug
   * line (job, slot, outcome: ran, slot_taken or busy), so which replica ran which tick can be read from logs.
   */
  async runTick(task: ScheduledTask, now = Date.now()): Promise<boolean> {
    if (this.stopped) return false;
    const { name, intervalSeconds } = task.spec;
    const intervalMs = intervalSeconds * 1000;
    const slot = Math.floor(now / intervalMs);
    // A tick of this job still running here (or given up and not yet ended): leave the slot to another
    // replica rather than claim it and then find the run lock taken, which would waste it.
    if (this.ticking.has(name)) return this.skipped(name, slot, 'busy');
    let runToken: string | null = null;
    let givenUpTick = false;
    try {
      // The run lock first, then the slot: a replica that finds the job busy leaves the slot unclaimed, so
      // a replica firing later in the same slot (after the slow tick ended) still runs it.
      const leaseMs = runLeaseMs(intervalMs);
      runToken = await this.lock.acquire(name, leaseMs);
      if (!runToken) return this.skipped(name, slot, 'busy');
      const slotToken = await this.lock.acquire(`${name}:${slot}`, intervalMs * 2);
      if (!slotToken) return this.skipped(name, slot, 'slot_taken');
      const owned = runToken;
      const ending = new AbortController();
      // At the deadline the tick is given up: its signal aborts, its lease is no longer renewed (so it lapses
      // within one lease and another replica takes the job), and this replica stops waiting for it. A tick
      // stuck in a call that never returns (a stalled Postgres link) thus blocks the job for about one lease,
      // not for as long as the link hangs; the task stops at its next check of the signal, and Postgres
      // queries time out on the client's side too (query_timeout).
      let giveUp!: (err: Error) => void;
      const givenUp = new Promise<never>((_, reject) => (giveUp = reject));
      const deadline = setTimeout(() => {
        givenUpTick = true;
        clearInterval(renew);
        ending.abort(new Error('tick deadline'));
        giveUp(new Error(`tick deadline (${tickDeadlineMs(intervalMs)} ms) passed; given up`));
      }, tickDeadlineMs(intervalMs));
      const renew = setInterval(() => {
        this.lock.extend(name, owned, leaseMs).then(
          (ours) => ours || ending.abort(new Error('run lock lost')),
          () => undefined, // Redis away for a moment: the lease may still hold; the next renewal tells
        );
      }, leaseMs / 3);
      const started = Date.now();
      let summary: string | void;
      try {
        const ticking = task.tick(ending.signal);
        this.ticking.add(name);
        // Once given up, its end only frees the job on this replica.
        ticking.catch(() => undefined).finally(() => this.ticking.delete(name));
        summary = await Promise.race([ticking, givenUp]);
      } finally {
        clearInterval(renew);
        clearTimeout(deadline);
      }
      this.ticksRun.set(name, (this.ticksRun.get(name) ?? 0) + 1);
      await this.heartbeats.beat(name);
      const ms = Date.now() - started;
      this.logger.debug({ job: name, slot, outcome: 'ran', ms }, `${name} tick ${slot} ran`);
      if (summary) this.logger.log({ job: name, ms }, summary);
      return true;
    } catch (err) {
      this.logger.warn(`${name} tick failed: ${(err as Error).message}`);
      return false;
    } finally {
      // A tick given up keeps its lease until it lapses: it may still be finishing a step.
      if (runToken && !givenUpTick) await this.lock.release(name, runToken).catch(() => undefined);
    }
  }

  /** Jobs with a tick in progress on this replica, given-up ticks included until they end. */
  private readonly ticking = new Set<string>();

  private skipped(job: string, slot: number, outcome: 'slot_taken' | 'busy'): false {
    this.logger.debug({ job, slot, outcome }, `${job} tick ${slot} not run here: ${outcome}`);
    return false;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return p;
  }
}
