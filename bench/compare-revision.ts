// `npm run bench:revision -- <git revision> [scenario …]`: the built service of an earlier revision, this
// checkout's service and the bare baseline, side by side in one run (rounds O N B O N B …, so that the machine's
// slow spells hit all three), on the hot paths named (default: OTP send and OTP verify). It answers "how much
// faster than before", which two separate runs of `npm run bench` cannot on a shared machine. The revision is
// checked out in a temporary git worktree, installed with `npm ci` and built; each service gets a database and a
// key prefix of its own on one private redis-server.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiEnv, auth, KEY, SECRETS } from './lib/context';
import { drive, LoadResult, median, Req } from './lib/load';
import {
  freePort,
  imageNodeOptions,
  PrivateRedis,
  recreateDatabase,
  ROOT,
  Service,
  startNode,
} from './lib/services';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 6);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
const log = (s: string) => process.stderr.write(`[bench:revision] ${s}\n`);

// A new valid Indian mobile for every request, distinct across the three servers (they share one Redis).
let serial = 0;
const fresh = () => `+918${String(serial++).padStart(9, '0')}`;

const SCENARIOS: Record<string, { next: () => Req; baseline: boolean }> = {
  'otp-send': {
    next: () => ({
      method: 'POST',
      path: '/otp/send',
      headers: auth,
      body: { mobile_number: fresh(), channel: 'sms' },
    }),
    baseline: true,
  },
  register: { next: () => ({ path: `/onboard/register/${fresh()}`, headers: auth }), baseline: true },
  'health-live': { next: () => ({ path: '/health/live' }), baseline: true },
  'message-accept': {
    next: () => ({
      method: 'POST',
      path: '/api/v1/messages/send',
      headers: auth,
      body: { to: fresh(), type: 'sms', body: 'Your parcel is on its way.' },
    }),
    baseline: true,
  },
};

function checkoutAndBuild(rev: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'smsb-rev-'));
  log(`checking out ${rev} in ${dir}`);
  execFileSync('git', ['worktree', 'add', '--detach', dir, rev], { cwd: ROOT, stdio: 'ignore' });
  log('npm ci (about a minute)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore' });
  execFileSync('npx', ['nest', 'build'], { cwd: dir, stdio: 'ignore' });
  return dir;
}

async function main() {
  const [rev, ...names] = process.argv.slice(2);
  if (!rev) throw new Error('usage: npm run bench:revision -- <git revision> [scenario …]');
  const scenarios = names.length ? names : ['otp-send'];
  for (const n of scenarios)
    if (!SCENARIOS[n]) throw new Error(`unknown scenario ${n} (${Object.keys(SCENARIOS).join(', ')})`);
  const oldDir = checkoutAndBuild(rev);
  const redis = await PrivateRedis.start();
  const services: Service[] = [];
  try {
    const common = apiEnv(redis.url, imageNodeOptions());
    const start = async (name: string, dir: string, db: string, prefix: string) => {
      const url = `postgres://postgres@127.0.0.1:5432/${db}`;
      await recreateDatabase(url);
      const port = await freePort();
      const svc = await startNode(
        name,
        [join(dir, 'dist', 'main.js')],
        { ...common, PORT: String(port), DATABASE_URL: url, REDIS_KEY_PREFIX: prefix },
        port,
        '/health/ready',
      );
      services.push(svc);
      return port;
    };
    const oldPort = await start('old', oldDir, 'sms_bridge_bench_old', 'smsb-old:');
    const newPort = await start('new', ROOT, 'sms_bridge_bench', 'smsb-bench:');
    const basePort = await freePort();
    services.push(
      await startNode(
        'baseline',
        ['-r', 'ts-node/register/transpile-only', 'bench/baseline/server.ts'],
        {
          NODE_OPTIONS: imageNodeOptions(), // the API's runtime flags: the gap measures code
          ...SECRETS,
          PORT: String(basePort),
          REDIS_URL: redis.url,
          REDIS_KEY_PREFIX: 'smsb-bench:',
          DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/sms_bridge_bench',
          API_KEY: KEY,
        },
        basePort,
        '/health/live',
      ),
    );
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
    const lines = [
      `| scenario | ${rev} req/s | ${head} req/s | baseline req/s | new ÷ old | old ÷ baseline | new ÷ baseline | p99 old / new ms |`,
      '|---|---|---|---|---|---|---|---|',
    ];
    for (const name of scenarios) {
      const { next, baseline } = SCENARIOS[name];
      const run = (port: number, seconds = SECONDS, connections = CONNECTIONS) =>
        drive(port, next, { seconds, connections });
      for (const port of [oldPort, newPort, ...(baseline ? [basePort] : [])]) await run(port, 0.5, 10);
      const o: LoadResult[] = [];
      const n: LoadResult[] = [];
      const b: LoadResult[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        o.push(await run(oldPort));
        n.push(await run(newPort));
        if (baseline) b.push(await run(basePort));
        log(
          `${name} round ${i + 1}: old ${Math.round(o[i].rps)}, new ${Math.round(n[i].rps)}${baseline ? `, baseline ${Math.round(b[i].rps)}` : ''} req/s`,
        );
      }
      const bad = [...o, ...n, ...b].reduce((k, r) => k + r.non2xx + r.errors, 0);
      if (bad) log(`${name}: ${bad} non-2xx answers or errors: the figures are not comparable`);
      const m = (rs: LoadResult[]) => median(rs.map((r) => r.rps));
      const ratio = (xs: LoadResult[], ys: LoadResult[]) => median(xs.map((x, i) => x.rps / ys[i].rps));
      lines.push(
        `| ${name} | ${Math.round(m(o))} | ${Math.round(m(n))} | ${baseline ? Math.round(m(b)) : '-'} | ` +
          `${ratio(n, o).toFixed(2)} | ${baseline ? ratio(o, b).toFixed(2) : '-'} | ${baseline ? ratio(n, b).toFixed(2) : '-'} | ` +
          `${median(o.map((r) => r.p99))} / ${median(n.map((r) => r.p99))} |`,
      );
    }
    process.stdout.write(
      `${lines.join('\n')}\n\n${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections; medians of the rounds and of the per-round ratios.\n`,
    );
  } finally {
    for (const s of services.reverse()) await s.stop();
    await redis.stop();
    execFileSync('git', ['worktree', 'remove', '--force', oldDir], { cwd: ROOT, stdio: 'ignore' });
    if (existsSync(oldDir)) rmSync(oldDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
