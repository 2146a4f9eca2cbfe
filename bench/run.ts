// `npm run bench`: every hot path of the service against the bare baseline (bench/baseline/server.ts), side by
// side in one run, plus the data-size, fixed-rate, end-to-end, job and memory scenarios (one file each in
// scenarios/). Writes bench/results/latest.json, prints a Markdown table and, after a whole run, rewrites
// docs/benchmarks.md (report.ts). How to read it: bench/README.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { COMMAND, CONNECTIONS, PROBE, QUICK, ROUNDS, SECONDS, selected } from './lib/context';
import { ROOT } from './lib/services';
import { SideBySide } from './lib/side-by-side';
import { Stack } from './lib/stack';
import { report, writeBenchmarksPage } from './report';
import { abuseTick } from './scenarios/abuse-detector';
import { clusterSpread } from './scenarios/cluster';
import { endToEnd } from './scenarios/end-to-end';
import { footprintBeforeGrowth, footprintOnboarded } from './scenarios/footprint';
import { clearMessages, growth } from './scenarios/growth';
import { healthLive } from './scenarios/health-live';
import { inboundSms } from './scenarios/inbound-sms';
import { messageAccept, messageRequest } from './scenarios/message-accept';
import { monitorDrain } from './scenarios/monitor-logger';
import { otpSend } from './scenarios/otp-send';
import { otpVerify, otpVerifyFixedRate } from './scenarios/otp-verify';
import { register } from './scenarios/register';
import { retentionTick } from './scenarios/retention';
import { sessionGet } from './scenarios/session-get';
import { soak } from './scenarios/soak';

const extra: Record<string, unknown> = {};
/** Seconds each part of the run took (the run must stay under 10 minutes). */
const phases: Record<string, number> = {};
let phaseStart = Date.now();
const phase = (name: string) => {
  phases[name] = Math.round((Date.now() - phaseStart) / 1000);
  phaseStart = Date.now();
};

async function main() {
  const started = Date.now();
  const stack = await Stack.open();
  const sbs = new SideBySide(stack);
  try {
    await stack.startApiAndBaseline();
    phase('start-up');

    // --- side by side: the HTTP floor, the Redis-only hot paths, then the paths that write to Postgres ---
    await healthLive(sbs);
    await register(sbs);
    extra.api_peak_rss_mb_register = stack.api.peakRssMb(); // start-up, warm-up and the register runs so far
    await inboundSms(sbs);
    await sessionGet(sbs, stack);
    const otpCodes = await otpVerify(sbs, stack);
    await otpSend(sbs);
    await messageAccept(sbs, stack);
    phase('side by side');

    if (!QUICK) {
      const { rows: client } = await stack.db.query('SELECT client_id FROM messages LIMIT 1');
      // OTP verify at 500 req/s here; register at 1,000 req/s is the soak, below.
      const verifyFixed = await otpVerifyFixedRate(stack, otpCodes);
      phase('fixed rate');

      const footprint = await footprintBeforeGrowth(stack.redis, stack.db);
      extra.growth = await growth(stack.apiPort, stack.prefixed, stack.db, client[0].client_id as string);
      extra.footprint = { ...footprint, ...(await footprintOnboarded(stack.redis)) };
      phase('growth');

      const soaked = await soak(stack);
      extra.fixed_rate = { register_1000rps: soaked.load, otp_verify_500rps: verifyFixed };
      extra.soak = soaked.summary;
      extra.api_peak_rss_mb_after_load = stack.api.peakRssMb();
      phase('soak');

      // --- the worker: message end to end, monitor-logger drain, abuse-detector tick, retention ---
      await clearMessages(stack.db, stack.prefixed);
      const worker = await stack.startWorker();
      extra.message_end_to_end = await endToEnd(stack.apiPort, stack.db, messageRequest);
      phase('end to end');
      extra.monitor_logger = await monitorDrain(stack.prefixed, worker);
      phase('monitor-logger');
      extra.abuse_detector = await abuseTick(stack.prefixed, worker);
      phase('abuse-detector');
      extra.retention = await retentionTick(stack.db);
      phase('retention');
    }
    if (!QUICK || selected('cluster')) {
      extra.cluster = await clusterSpread();
      phase('cluster');
    }
    extra.api_peak_rss_mb = stack.api.peakRssMb();
  } finally {
    await stack.close();
  }
  const result = {
    when: new Date().toISOString(),
    machine: `${cpus().length} cores, node ${process.version}`,
    node: process.version,
    command: COMMAND,
    settings: { seconds: SECONDS, rounds: ROUNDS, connections: CONNECTIONS, probe: PROBE },
    rows: sbs.rows,
    ...extra,
    phases,
    total_seconds: Math.round((Date.now() - started) / 1000),
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  // latest.json (and docs/benchmarks.md, written from it) hold whole runs only; a partial one goes to quick.json.
  const file = QUICK ? 'quick.json' : 'latest.json';
  writeFileSync(join(ROOT, 'bench', 'results', file), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(report(result));
  if (!QUICK) writeBenchmarksPage(result); // a whole run only: a partial one would read as the product's figures
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
