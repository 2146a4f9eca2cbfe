// Two replicas of each process on one Redis: the scheduled jobs run each tick once however many workers
// compete for it (counted from both workers' logs, which name the job, the tick's slot and the outcome), and
// the rate limits hold across two API processes.
import { call, Fleet, Worker } from '../helpers/fleet';
import { randomMobile } from '../helpers/numbers';
import { OwnDatabase } from '../helpers/own-database';
import { RedisServer } from '../helpers/redis-server';
import { sleep, waitFor } from '../helpers/wait';

const JOBS = ['abuse-detector', 'monitor-logger'];
const WINDOW_MS = 10_000;

interface TickLine {
  worker: string;
  job: string;
  slot: number;
  outcome: 'ran' | 'slot_taken' | 'busy';
}

/** The scheduler's per-attempt debug lines of a worker. */
function tickLines(w: Worker): TickLine[] {
  const out: TickLine[] = [];
  for (const line of w.svc.output().split('\n')) {
    if (!line.includes('"slot"')) continue;
    try {
      const l = JSON.parse(line);
      if (JOBS.includes(l.job) && typeof l.slot === 'number')
        out.push({ worker: w.name, job: l.job, slot: l.slot, outcome: l.outcome });
    } catch {
      // not a JSON line
    }
  }
  return out;
}

describe('two replicas', () => {
  let redis: RedisServer;
  let fleet: Fleet;
  let ownDb: OwnDatabase;

  beforeAll(async () => {
    [redis, ownDb] = await Promise.all([RedisServer.start(), OwnDatabase.create('replicas')]);
    fleet = new Fleet({
      REDIS_URL: redis.url,
      DATABASE_URL: ownDb.url.toString(),
      ABUSE_CHECK_INTERVAL: '1',
      MONITOR_LOG_INTERVAL: '1',
      TRUST_PROXY: 'true',
      OTP_RESEND_COOLDOWN_SECONDS: '0',
    });
  });
  afterAll(async () => {
    await fleet?.stopAll();
    await redis?.destroy();
    await ownDb?.drop();
  });

  it('runs each abuse-detector and monitor-logger tick once across two workers', () =>
    fleet.diagnose(async () => {
      const workers = [fleet.startWorker({ LOG_LEVEL: 'debug' }), fleet.startWorker({ LOG_LEVEL: 'debug' })];
      // Both workers are up and competing for the ticks of both jobs.
      await waitFor(
        () => workers.every((w) => JOBS.every((job) => tickLines(w).some((l) => l.job === job))),
        'both workers attempt ticks of both jobs',
        60_000,
        200,
      );
      const firstSlot = Math.floor(Date.now() / 1000) + 1;
      await sleep(WINDOW_MS);
      const lastSlot = Math.floor(Date.now() / 1000) - 1; // the current second's tick may still be running
      await sleep(1500); // let the last ticks of the window be logged

      const lines = workers.flatMap(tickLines).filter((l) => l.slot >= firstSlot && l.slot <= lastSlot);
      const slots = lastSlot - firstSlot + 1;
      for (const job of JOBS) {
        const ofJob = lines.filter((l) => l.job === job);
        const runs = new Map<number, string[]>();
        for (const l of ofJob.filter((x) => x.outcome === 'ran'))
          runs.set(l.slot, [...(runs.get(l.slot) ?? []), l.worker]);
        // Never twice: no slot of the job ran in both workers, or twice in one.
        expect([job, [...runs].filter(([, by]) => by.length > 1)]).toEqual([job, []]);
        // And the job kept running: timers on a loaded machine may fire late and skip a second now and then,
        // so most (not all) one-second slots of the window have their run.
        expect(runs.size).toBeGreaterThanOrEqual(Math.floor(slots * 0.6));
        // Both workers were competing for the same ticks: each tried, and the loser found the job busy (the
        // winner's tick still running) or the slot taken (it had finished).
        for (const w of workers) {
          const tried = ofJob.filter((l) => l.worker === w.name).length;
          expect([job, w.name, tried >= Math.floor(slots * 0.6)]).toEqual([job, w.name, true]);
        }
        const lost = ofJob.filter((l) => l.outcome === 'slot_taken' || l.outcome === 'busy').length;
        expect([job, 'lost', lost >= Math.floor(slots * 0.6)]).toEqual([job, 'lost', true]);
      }
    }));

  it('holds the OTP rate limits across two API processes', () =>
    fleet.diagnose(async () => {
      const apis = await Promise.all([fleet.spawnApi(), fleet.spawnApi()]);
      await Promise.all(apis.map((a) => fleet.waitReady(a)));

      // 3 sends per 5 minutes per number: 10 concurrent sends for one number, half to each API, each from its
      // own client IP (so the per-IP limit stays out of the way): exactly 3 succeed (limits kept per process would
      // let 6 through).
      const mobile = randomMobile();
      const sends = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          call(apis[i % 2].url, '/otp/send', {
            method: 'POST',
            body: { mobile_number: mobile, channel: 'sms', resend: true },
            headers: { 'x-forwarded-for': `198.51.100.${i + 1}` },
          }),
        ),
      );
      const statuses = sends.map((s) => s.status).sort();
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
      for (const s of sends.filter((x) => x.status === 429)) {
        expect(s.body).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
        expect(Number(s.headers?.get('retry-after'))).toBeGreaterThan(0);
      }

      // 10 sends and verifies per minute per end-user IP: 14 concurrent sends for one end user (the `ip` field),
      // split between the APIs: exactly 10 pass.
      const fromOneIp = await Promise.all(
        Array.from({ length: 14 }, (_, i) =>
          call(apis[i % 2].url, '/otp/send', {
            method: 'POST',
            body: { mobile_number: randomMobile(), channel: 'sms', ip: '203.0.113.77' },
          }),
        ),
      );
      const byStatus = fromOneIp.map((r) => r.status).sort();
      expect(byStatus).toEqual([...Array(10).fill(200), ...Array(4).fill(429)]);
    }));
});
