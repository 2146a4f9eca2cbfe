// The benchmark's report: the Markdown tables `npm run bench` prints, and docs/benchmarks.md, written from
// bench/results/latest.json so that nobody edits figures by hand. `npm run bench:report` rewrites the page from
// the latest results.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult } from './lib/load';
import { ROOT } from './lib/services';

export interface Row {
  scenario: string;
  service: LoadResult;
  baseline?: LoadResult;
  ratio?: number;
  redis_commands_per_req?: number;
  redis_commands?: Record<string, number>;
  redis_round_trips_per_req?: number;
  sql_per_req?: number;
  sql_writes?: string;
  probe_non2xx?: number;
  note?: string;
}

export type BenchResult = {
  rows: Row[];
  when?: string;
  machine?: string;
  node?: string;
  command?: string;
  settings?: Record<string, unknown>;
} & Record<string, unknown>;

/** A count as the tables print it: 1,000,000. */
const count = (n: number | undefined) => (n === undefined ? '—' : n.toLocaleString('en-US'));

/** The Markdown tables: the side-by-side rows, then (after a whole run) one line per other measure. */
export function report(r: BenchResult): string {
  const f = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(d));
  const lines = [
    '',
    `| scenario | service req/s | baseline req/s | ratio | p50 ms | p99 ms | errors | non-2xx (service / baseline) | Redis cmds/req | Redis round trips/req | SQL/req |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map(
      (x) =>
        `| ${x.scenario} | ${f(x.service.rps)} | ${f(x.baseline?.rps)} | ${f(x.ratio, 2)} | ${f(x.service.p50)} | ${f(x.service.p99)} | ${x.service.errors} | ${x.service.non2xx}${x.baseline ? ` / ${x.baseline.non2xx}` : ''} | ${f(x.redis_commands_per_req, 2)} | ${f(x.redis_round_trips_per_req, 2)} | ${f(x.sql_per_req, 2)}${x.sql_writes ? ` (${x.sql_writes})` : ''} |`,
    ),
    '',
  ];
  const c = r.cluster as Record<string, number | number[]> | undefined;
  if (c)
    lines.push(
      '| Redis Cluster, 3 masters, mixed workload | value |',
      '|---|---|',
      `| keys per master | ${(c.keys_per_master as number[]).join(' / ')} (${(c.keys_share_pct as number[]).join(' / ')} %) |`,
      `| commands served per master | ${(c.commands_share_pct as number[]).join(' / ')} % |`,
      `| mixed load | ${c.mixed_requests} requests, ${c.mixed_rps} req/s, non-2xx ${c.mixed_non2xx} |`,
      `| Redis commands / round trips per request on the cluster | register ${c.register_commands_per_req} / ${c.register_round_trips_per_req}, session get ${c.session_get_commands_per_req} / ${c.session_get_round_trips_per_req} |`,
      '',
    );
  if (!r.fixed_rate) return lines.join('\n');
  type Fixed = { p50: number; p99: number; p99_rounds: number[]; non2xx: number };
  const fx = r.fixed_rate as {
    register_1000rps: LoadResult;
    otp_verify_500rps: { service: Fixed; baseline: Fixed };
  };
  const ov = fx.otp_verify_500rps;
  type Size = { rows?: number; onboarded: number; register: number; message_list: number };
  const g = r.growth as {
    register_p50_ratio: number;
    message_list_p50_ratio: number;
    small: Size;
    large: Size;
  };
  const e = r.message_end_to_end as Record<string, number>;
  const m = r.monitor_logger as Record<string, number>;
  const a = r.abuse_detector as Record<string, number>;
  const s = r.soak as Record<string, number>;
  lines.push(
    '| measure | value |',
    '|---|---|',
    `| register p99 at 1,000 req/s (the soak) | ${f(fx.register_1000rps.p99)} ms (p50 ${f(fx.register_1000rps.p50)} ms, ${f(fx.register_1000rps.rps)} req/s, non-2xx ${fx.register_1000rps.non2xx}) |`,
    `| OTP verify p99 at 500 req/s (median of 5 rounds of 3 s) | service ${f(ov.service.p99)} ms (rounds ${ov.service.p99_rounds.join(', ')}; p50 ${f(ov.service.p50)} ms, non-2xx ${ov.service.non2xx}); baseline ${f(ov.baseline.p99)} ms (rounds ${ov.baseline.p99_rounds.join(', ')}; p50 ${f(ov.baseline.p50)} ms, non-2xx ${ov.baseline.non2xx}) |`,
    `| register p50 (sequential), ${count(g.small.onboarded)} → ${count(g.large.onboarded)} onboarded | ${f(g.small.register, 3)} → ${f(g.large.register, 3)} ms (× ${f(g.register_p50_ratio, 2)}) |`,
    `| message list p50 (sequential), ${count(g.small.rows ?? g.small.onboarded)} → ${count(g.large.rows ?? g.large.onboarded)} rows | ${f(g.small.message_list, 3)} → ${f(g.large.message_list, 3)} ms (× ${f(g.message_list_p50_ratio, 2)}) |`,
    `| message end to end at ${e.rate}/s for ${e.seconds} s | ${f(e.sent_per_second)} sent/s; ${e.accepted_202} accepted, ${e.sent} sent, ${e.lost} lost; max lag ${e.max_queue_lag}, drained ${f(e.drain_after_load_s, 1)} s after |`,
    `| monitor-logger drain | ${f(m.events_per_second)} events/s (${m.events} events in ${f(m.seconds, 1)} s) |`,
    `| abuse-detector tick, ${count(a.counters)} counters, ${count(a.offenders)} offenders | ${a.tick_ms} ms (${a.offenders_blacklisted} blacklisted) |`,
    ...(r.footprint
      ? Object.entries(r.footprint as Record<string, number | null>).map(
          ([k, v]) => `| footprint: ${k.replace(/_/g, ' ')} | ${v === null ? '—' : v} |`,
        )
      : []),
    ...(r.retention
      ? [
          `| retention tick, an expired day of ${count((r.retention as Record<string, number>).rows)} audit events | ${(r.retention as Record<string, number>).tick_ms} ms (partition dropped: ${String((r.retention as Record<string, unknown>).partition_dropped)}) |`,
        ]
      : []),
    `| API RSS, ${s.seconds} s register soak at 1,000 req/s | ${f(s.rss_start_mb)} MB at the start; median of the first quarter ${f(s.rss_first_quarter_mb)} MB → last quarter ${f(s.rss_last_quarter_mb)} MB; highest sample ${f(s.rss_max_mb)} MB |`,
    `| API peak RSS, start-up through the register scenarios | ${f(r.api_peak_rss_mb_register as number)} MB |`,
    `| API peak RSS, whole run | ${f(r.api_peak_rss_mb as number)} MB |`,
    `| run time | ${r.total_seconds} s (${Object.entries(r.phases as Record<string, number>)
      .map(([k, v]) => `${k} ${v} s`)
      .join(', ')}) |`,
    '',
  );
  return lines.join('\n');
}

/** docs/benchmarks.md: how the figures were made (date, Node, command, settings), then the tables. */
export function benchmarksPage(r: BenchResult): string {
  const node = r.node ?? /node (v[\d.]+)/.exec(String(r.machine))?.[1] ?? 'not recorded';
  return [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (and `npm run bench:report`) from `bench/results/latest.json`; do not edit by hand.',
    "The service and the bare baseline (`bench/baseline/server.ts`: Fastify, ioredis, pg and the service's own",
    'scripts, no framework) run side by side in one run, alternating rounds; the ratio is service ÷ baseline. How',
    'to run and read it: [bench/README.md](../bench/README.md).',
    '',
    `- date: ${String(r.when)}`,
    `- Node: ${node}`,
    `- command: ${r.command ? `\`${r.command}\`` : 'not recorded'}`,
    `- machine: ${String(r.machine)}`,
    `- settings: ${Object.entries(r.settings ?? {})
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(
        ', ',
      )} (seconds and rounds of each side-by-side measure, connections, sequential requests probed)`,
    report(r),
  ].join('\n');
}
export const writeBenchmarksPage = (r: BenchResult) =>
  writeFileSync(join(ROOT, 'docs', 'benchmarks.md'), benchmarksPage(r));

if (require.main === module) {
  const latest = JSON.parse(
    readFileSync(join(ROOT, 'bench', 'results', 'latest.json'), 'utf8'),
  ) as BenchResult;
  writeBenchmarksPage(latest);
  process.stdout.write('wrote docs/benchmarks.md\n');
}
