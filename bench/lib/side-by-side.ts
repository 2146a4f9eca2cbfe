// The side-by-side measure every hot-path scenario uses: rounds A B A B … (baseline, service) so that the
// machine's drift hits both, then the per-request Redis and SQL counts from sequential requests.
import type { Row } from '../report';
import { CONNECTIONS, log, PROBE, ROUNDS, SECONDS, selected } from './context';
import { drive, LoadOptions, LoadResult, median, once, readsProcessed, Req, sqlCounters } from './load';
import type { Stack } from './stack';

const WARM_UP_SECONDS = 1;

export const sum = (rs: LoadResult[], k: 'errors' | 'non2xx') => rs.reduce((n, r) => n + r[k], 0);

export class SideBySide {
  /** The table's rows, in the order the scenarios ran. */
  readonly rows: Row[] = [];

  constructor(private readonly stack: Stack) {}

  /**
   * A B A B …: baseline then service, ROUNDS times; the median of each side and of the round ratios. Null when
   * BENCH_ONLY leaves the scenario out. `baseNext` null: the service alone (no ratio).
   */
  async compare(
    name: string,
    svcNext: () => Req,
    baseNext: (() => Req) | null,
    opts: Partial<LoadOptions> = {},
  ): Promise<Row | null> {
    if (!selected(name)) return null;
    const { apiPort, basePort } = this.stack;
    log(`${name}`);
    const run = (port: number, next: () => Req) =>
      drive(port, next, { seconds: SECONDS, connections: CONNECTIONS, ...opts });
    // Warm-up at the measured load, so the rounds measure steady state: with half a second at 10 connections the
    // service (far more code to compile than the baseline) was still speeding up through the rounds (register,
    // repeated number, in a whole run: 12.6k, 13.5k, 15.7k, 18.3k req/s while the baseline held 21-22k).
    const warmUp = { seconds: WARM_UP_SECONDS, connections: CONNECTIONS };
    await drive(apiPort, svcNext, warmUp);
    if (baseNext) await drive(basePort, baseNext, warmUp);
    const svc: LoadResult[] = [];
    const base: LoadResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      if (baseNext) base.push(await run(basePort, baseNext));
      svc.push(await run(apiPort, svcNext));
      log(
        `  round ${i + 1}: service ${Math.round(svc[i].rps)}${baseNext ? `, baseline ${Math.round(base[i].rps)}` : ''} req/s`,
      );
    }
    const pick = (rs: LoadResult[]): LoadResult => {
      const m = median(rs.map((r) => r.rps));
      // Latencies of the round nearest the median (with an even count of rounds none is the median).
      const near = rs.reduce((a, b) => (Math.abs(b.rps - m) < Math.abs(a.rps - m) ? b : a));
      return {
        ...near,
        rps: m,
        errors: sum(rs, 'errors'),
        non2xx: sum(rs, 'non2xx'),
      };
    };
    const counts = await this.probe(apiPort, svcNext, true);
    const row: Row = {
      scenario: name,
      service: pick(svc),
      ...(baseNext && { baseline: pick(base), ratio: median(svc.map((s, i) => s.rps / base[i].rps)) }),
      redis_commands_per_req: counts.commands,
      redis_commands: counts.byCommand,
      redis_round_trips_per_req: counts.reads,
      sql_per_req: counts.sql,
      sql_writes: counts.writes,
      probe_non2xx: counts.failed,
    };
    this.rows.push(row);
    return row;
  }

  /**
   * Per-request counts from PROBE sequential requests: top-level Redis commands from MONITOR (commands a Lua
   * script runs are reported as source "lua" and not counted: a script is one command), round trips from
   * total_reads_processed (one read per request the server receives; a MULTI sent at once is one), SQL from
   * the service's statement counter. A window with no request calibrates what measuring costs by itself.
   */
  private async probe(port: number, next: () => Req, withSql: boolean) {
    const { redis } = this.stack;
    let failed = 0;
    const window = async (n: number) => {
      const s0 = withSql ? await sqlCounters(port) : { total: 0 };
      const r0 = await readsProcessed(redis);
      const monitor = await redis.monitor();
      const commands: Record<string, number> = {};
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source === 'lua') return;
        const name = String(args[0]).toLowerCase();
        commands[name] = (commands[name] ?? 0) + 1;
      });
      for (let i = 0; i < n; i++) if ((await once(port, next())) >= 300) failed++;
      await new Promise((r) => setTimeout(r, 100)); // the last MONITOR lines
      monitor.disconnect();
      const r1 = await readsProcessed(redis);
      const s1 = withSql ? await sqlCounters(port) : { total: 0 };
      const sql: Record<string, number> = {};
      for (const k of Object.keys(s1)) sql[k] = s1[k] - (s0[k] ?? 0);
      return { commands, reads: r1 - r0, sql };
    };
    await new Promise((r) => setTimeout(r, 500)); // requests the load left in flight finish first
    const idle = await window(0);
    const w = await window(PROBE);
    const perReq = (x: number) => x / PROBE;
    const commandTotal = Object.values(w.commands).reduce((a, b) => a + b, 0);
    const writes = ['insert', 'update', 'delete']
      .map((k) => [k, perReq((w.sql[k] ?? 0) - (idle.sql[k] ?? 0))] as const)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${v.toFixed(2)} ${k}`)
      .join(', ');
    return {
      commands: perReq(commandTotal),
      byCommand: Object.fromEntries(Object.entries(w.commands).map(([k, v]) => [k, perReq(v)])),
      reads: perReq(w.reads - idle.reads),
      sql: withSql ? perReq(w.sql.total - idle.sql.total) : undefined,
      writes,
      failed,
    };
  }
}
