// `npm run bench:cpu -- [scenario …]`: the CPU time each request costs the service and the bare baseline
// (user + system time of each process, read from /proc, over a fixed number of requests). Unlike requests per
// second it hardly moves when other work shares the machine, so it answers "what does the framework cost per
// request" on a busy machine; rounds alternate baseline and service, medians are reported.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { drive, median, Req } from './lib/load';
import {
  freePort,
  imageNodeOptions,
  PrivateRedis,
  recreateDatabase,
  Service,
  startNode,
} from './lib/services';

const env = process.env;
const REQUESTS = Number(env.BENCH_CPU_REQUESTS ?? 20000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 5);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
const DATABASE_URL = env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sms_bridge_bench_cpu';
const PREFIX = 'smsb-bench-cpu:';
const KEY = 'bench-client-key-0123456789abcdef';
const SECRETS = {
  OTP_SECRET: 'bench-otp-secret-0123456789abcdef0123456789',
  JWT_SECRET: 'bench-jwt-secret-0123456789abcdef0123456789',
  ONBOARDING_SECRET: 'bench-onboarding-secret-0123456789abcdef',
  WEBHOOK_SIGNING_SECRET: 'bench-webhook-secret-0123456789abcdef',
};
const auth = { 'x-api-key': KEY };
const log = (s: string) => process.stderr.write(`[bench:cpu] ${s}\n`);
const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

/** User + system CPU time of a process so far, in µs (fields 14 and 15 of /proc/<pid>/stat). */
function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

let serial = 0;
const fresh = () => `+917${String(serial++).padStart(9, '0')}`;

async function main() {
  const redis = await PrivateRedis.start();
  await recreateDatabase(DATABASE_URL);
  const services: Service[] = [];
  try {
    const apiPort = await freePort();
    const api = await startNode(
      'api',
      // BENCH_CPU_PROF=<dir>: the service and the baseline write V8 CPU profiles there (service/, baseline/)
      // when they stop.
      [
        ...(env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${env.BENCH_CPU_PROF}/service`] : []),
        'dist/main.js',
      ],
      {
        NODE_ENV: 'production',
        NODE_OPTIONS: imageNodeOptions(),
        APP_ROLE: 'api',
        LOG_LEVEL: 'info',
        API_KEYS: KEY,
        SMS_CONSOLE_IN_PRODUCTION: 'true',
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: PREFIX,
        DATABASE_URL,
        ...SECRETS,
        PORT: String(apiPort),
      },
      apiPort,
      '/health/ready',
    );
    services.push(api);
    const basePort = await freePort();
    const baseline = await startNode(
      'baseline',
      [
        ...(env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${env.BENCH_CPU_PROF}/baseline`] : []),
        '-r',
        'ts-node/register/transpile-only',
        'bench/baseline/server.ts',
      ],
      {
        NODE_OPTIONS: imageNodeOptions(), // the API's runtime flags: the gap measures code
        ...SECRETS,
        PORT: String(basePort),
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: PREFIX,
        DATABASE_URL,
        API_KEY: KEY,
      },
      basePort,
      '/health/live',
    );
    services.push(baseline);

    const sessionIds: string[] = [];
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`http://127.0.0.1:${apiPort}/sessions`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ user_id: `bench-user-${i % 50}`, context: { plan: 'pro', n: i } }),
      });
      sessionIds.push(((await r.json()) as { session_id: string }).session_id);
    }
    let s = 0;
    const repeated = fresh();
    const scenarios: Record<string, () => Req> = {
      'health-live': () => ({ path: '/health/live' }),
      'register-repeated': () => ({ path: `/onboard/register/${repeated}`, headers: auth }),
      'register-fresh': () => ({ path: `/onboard/register/${fresh()}`, headers: auth }),
      'session-get': () => ({ path: `/sessions/${sessionIds[s++ % sessionIds.length]}`, headers: auth }),
      'inbound-sms': () => ({
        method: 'POST',
        path: '/onboard/sms',
        headers: auth,
        body: { mobile_number: fresh(), message: 'ONBOARD ABCDEFGHJK', sms_id: randomUUID() },
      }),
    };
    const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(scenarios);
    const lines: string[] = [
      '| scenario | service µs CPU/req | baseline µs CPU/req | baseline ÷ service | service non-2xx | baseline non-2xx |',
      '|---|---:|---:|---:|---:|---:|',
    ];
    for (const name of names) {
      const next = scenarios[name];
      if (!next) throw new Error(`unknown scenario ${name} (${Object.keys(scenarios).join(', ')})`);
      const measure = async (svc: Service) => {
        const before = cpuUs(svc.proc.pid!);
        const r = await drive(svc.port, next, { seconds: 600, connections: CONNECTIONS, amount: REQUESTS });
        return { us: (cpuUs(svc.proc.pid!) - before) / r.requests, non2xx: r.non2xx };
      };
      await measure(api);
      await measure(baseline); // warm-up (JIT)
      const a: number[] = [];
      const b: number[] = [];
      let non2xx = [0, 0];
      for (let i = 0; i < ROUNDS; i++) {
        const x = await measure(baseline);
        const y = await measure(api);
        b.push(x.us);
        a.push(y.us);
        non2xx = [non2xx[0] + y.non2xx, non2xx[1] + x.non2xx];
        log(`${name} round ${i + 1}: service ${y.us.toFixed(1)} µs, baseline ${x.us.toFixed(1)} µs`);
      }
      const ratio = median(a.map((v, i) => b[i] / v));
      lines.push(
        `| ${name} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${ratio.toFixed(2)} | ${non2xx[0]} | ${non2xx[1]} |`,
      );
    }
    process.stdout.write(
      `\n${lines.join('\n')}\n\n${ROUNDS} rounds of ${REQUESTS} requests, ${CONNECTIONS} connections; ` +
        'medians of the rounds and of the per-round ratios (CPU time of each server process only).\n',
    );
  } finally {
    for (const svc of services) await svc.stop();
    await redis.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
