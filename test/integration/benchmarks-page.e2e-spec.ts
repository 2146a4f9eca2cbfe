// docs/benchmarks.md is written by the benchmark (bench/report.ts) from bench/results/latest.json: nobody edits
// its figures by hand, and its labels say what the run measured (data sizes, date, Node, command).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchResult, benchmarksPage, report } from '../../bench/report';

const ROOT = join(__dirname, '..', '..');
const read = (...p: string[]) => readFileSync(join(ROOT, ...p), 'utf8');

const side = (rps: number) => ({ rps, p50: 2, p99: 9, requests: rps * 2, errors: 0, non2xx: 0 });

/** A whole run's results, shaped as bench/run.ts writes them, with sizes no real run uses. */
const whole: BenchResult = {
  when: '2026-12-01T10:00:00.000Z',
  machine: '2 cores, node v24.22.3',
  node: 'v24.22.3',
  command: 'BENCH_LARGE=30000 npm run bench',
  settings: { seconds: 2, rounds: 4, connections: 50, probe: 200 },
  rows: [
    {
      scenario: 'GET /health/live',
      service: side(24000),
      baseline: side(30000),
      ratio: 0.8,
      redis_commands_per_req: 0,
      redis_round_trips_per_req: 0,
      sql_per_req: 0,
    },
    { scenario: 'service alone', service: side(100) },
  ],
  growth: {
    small: { rows: 10_000, onboarded: 10_000, register: 0.5, message_list: 0.7 },
    large: { rows: 30_000, onboarded: 30_000, register: 0.6, message_list: 0.9 },
    register_p50_ratio: 1.2,
    message_list_p50_ratio: 1.29,
  },
  fixed_rate: {
    register_1000rps: side(1000),
    otp_verify_500rps: {
      service: { p50: 5, p99: 27, p99_rounds: [27, 22], non2xx: 0 },
      baseline: { p50: 4, p99: 23, p99_rounds: [21, 23], non2xx: 0 },
    },
  },
  message_end_to_end: { rate: 1100, seconds: 5, sent_per_second: 700, accepted_202: 10, sent: 10, lost: 0 },
  monitor_logger: { events_per_second: 26000, events: 50000, seconds: 1.9 },
  abuse_detector: { counters: 7_000, offenders: 100, tick_ms: 15, offenders_blacklisted: 100 },
  retention: { rows: 250_000, tick_ms: 60, partition_dropped: true },
  soak: {
    seconds: 5,
    rss_start_mb: 300,
    rss_first_quarter_mb: 300,
    rss_last_quarter_mb: 301,
    rss_max_mb: 302,
  },
  api_peak_rss_mb_register: 290,
  api_peak_rss_mb: 310,
  phases: { 'start-up': 3, 'side by side': 150 },
  total_seconds: 200,
};

describe('docs/benchmarks.md, written from the benchmark results', () => {
  it('is exactly what bench/report.ts makes of bench/results/latest.json (run npm run bench:report)', () => {
    const latest = JSON.parse(read('bench', 'results', 'latest.json')) as BenchResult;
    expect(read('docs', 'benchmarks.md')).toBe(benchmarksPage(latest));
  });

  it('has a row with service, baseline and ratio for every side-by-side scenario of the latest run', () => {
    const latest = JSON.parse(read('bench', 'results', 'latest.json')) as BenchResult;
    const page = read('docs', 'benchmarks.md');
    expect(latest.rows.length).toBeGreaterThan(0);
    for (const row of latest.rows)
      expect(page).toContain(
        `| ${row.scenario} | ${row.service.rps.toFixed(0)} | ${row.baseline!.rps.toFixed(0)} | ${row.ratio!.toFixed(2)} |`,
      );
  });

  it('names the date, the Node version and the command of the run', () => {
    const page = benchmarksPage(whole);
    expect(page).toContain('- date: 2026-12-01T10:00:00.000Z');
    expect(page).toContain('- Node: v24.22.3');
    expect(page).toContain('- command: `BENCH_LARGE=30000 npm run bench`');
    expect(benchmarksPage({ ...whole, node: undefined, command: undefined })).toMatch(
      /- Node: v24\.22\.3\n- command: not recorded/,
    );
  });

  it('labels the sizes the run used, not the defaults', () => {
    const page = benchmarksPage(whole);
    expect(page).toContain(
      '| register p50 (sequential), 10,000 → 30,000 onboarded | 0.500 → 0.600 ms (× 1.20) |',
    );
    expect(page).toContain('| message list p50 (sequential), 10,000 → 30,000 rows |');
    expect(page).toContain(
      '| abuse-detector tick, 7,000 counters, 100 offenders | 15 ms (100 blacklisted) |',
    );
    expect(page).toContain('| retention tick, an expired day of 250,000 audit events | 60 ms');
    expect(page).not.toMatch(/\b1 M\b|1,000,000/);
  });

  it('shows a scenario without a baseline as a dash, and a quick run as the side-by-side table alone', () => {
    expect(report(whole)).toContain('| service alone | 100 | — | — |');
    const quick = report({ rows: whole.rows });
    expect(quick).toContain('| GET /health/live | 24000 | 30000 | 0.80 |');
    expect(quick).not.toContain('| measure | value |');
  });
});
